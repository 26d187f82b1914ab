package respond

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
	"github.com/aicred/aicred/storetest"
)

func traceStore(t *testing.T) aicred.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "aicred.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestTraceInputs(t *testing.T) {
	st := traceStore(t)
	ctx := context.Background()
	g := provider.NewGen(31)
	for _, tc := range []struct {
		name string
		in   TraceInput
		kind aicred.ErrorKind
	}{
		{"nothing", TraceInput{}, aicred.ErrInvalid},
		{"two inputs", TraceInput{HeldID: "hc_x", TokenID: "tok_x"}, aicred.ErrInvalid},
		{"bad fingerprint", TraceInput{Fingerprint: "sha256:xyz"}, aicred.ErrInvalid},
		{"unknown fingerprint", TraceInput{Fingerprint: aicred.NewSecret("x").Fingerprint()}, aicred.ErrNotFound},
		{"unknown held id", TraceInput{HeldID: "hc_nosuch"}, aicred.ErrNotFound},
		{"unknown token id", TraceInput{TokenID: "tok_nosuch"}, aicred.ErrNotFound},
		{"unknown token", TraceInput{Token: aicred.NewSecret("aicw_" + g.Alnum(40))}, aicred.ErrNotFound},
		{"unknown kind named", TraceInput{Secret: aicred.NewSecret("hf_" + g.Letters(34)), Provider: "nope", Kind: "x"}, aicred.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Trace(ctx, st, tc.in, TraceOptions{})
			if aicred.KindOf(err) != tc.kind {
				t.Fatalf("error %v, want kind %v", err, tc.kind)
			}
			if tok := tc.in.Token.Reveal(); tok != "" && strings.Contains(err.Error(), tok) {
				t.Fatal("the error holds the token")
			}
		})
	}
}

func TestTraceSecretKinds(t *testing.T) {
	st := traceStore(t)
	g := provider.NewGen(32)
	// A marked key: one kind, whatever generic 40-hex rules exist.
	rep, err := Trace(context.Background(), st, TraceInput{Secret: aicred.NewSecret("r8_" + g.Alnum(37))}, TraceOptions{})
	if err != nil || rep.Credential.Provider != "replicate" || rep.Credential.InInventory || rep.Live.Status != LiveSkipped {
		t.Fatalf("%+v %v", rep.Credential, err)
	}
	// 40 hex digits fit several providers' context rules: candidates, no
	// live trace, until --provider and --kind say which.
	hexKey := aicred.NewSecret(g.Hex(40))
	rep, err = Trace(context.Background(), st, TraceInput{Secret: hexKey}, TraceOptions{Live: true})
	if err != nil || rep.Credential.Provider != "" || len(rep.Credential.Candidates) < 2 || rep.Live.Status != LiveSkipped {
		t.Fatalf("ambiguous: %+v %+v %v", rep.Credential, rep.Live, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"viewer":{"username":"jdoe","entity":"acme","teams":{"edges":[]}}}}`))
	}))
	defer srv.Close()
	rep, err = Trace(context.Background(), st, TraceInput{Secret: hexKey, Provider: "wandb", Kind: "api-key"},
		TraceOptions{Live: true, Client: srv.Client(), BaseURLs: map[string]string{"wandb": srv.URL}})
	if err != nil || rep.Live.Status != LiveTraced || rep.Live.Reach.Account != "acme" {
		t.Fatalf("named kind: %+v %v", rep.Live, err)
	}
	// Nothing known: no kind, an empty but complete report.
	rep, err = Trace(context.Background(), st, TraceInput{Secret: aicred.NewSecret("correct horse battery staple")}, TraceOptions{Live: true})
	if err != nil || rep.Credential.Provider != "" || len(rep.Notes) < 2 || rep.Sightings == nil || rep.Timeline == nil {
		t.Fatalf("unknown: %+v %v", rep, err)
	}
	for _, f := range TraceFormats {
		var b bytes.Buffer
		if err := WriteTrace(&b, rep, f); err != nil || b.Len() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if err := WriteTrace(&bytes.Buffer{}, rep, "pdf"); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("unknown format: %v", err)
	}
}

// A tracer that echoes the secret (a misbehaving provider) or fails with
// it in the error has it redacted.
func TestTraceScrubsWhatProvidersReturn(t *testing.T) {
	secret := aicred.NewSecret("pk-lf-" + provider.NewGen(33).UUID() + ":sk-lf-" + provider.NewGen(34).UUID())
	pk, sk, _ := strings.Cut(secret.Reveal(), ":")
	r := traceScrubReach(&provider.Reach{Principal: pk, Scopes: []string{"x " + sk}, Notes: []string{secret.Reveal()},
		Resources: []provider.Resource{{Type: "project", Name: sk}}}, secret)
	msg := traceScrub(errors.New("dial "+sk+" failed"), secret)
	for _, s := range append([]string{r.Principal, r.Resources[0].Name, msg}, append(r.Scopes, r.Notes...)...) {
		if strings.Contains(s, pk) || strings.Contains(s, sk) {
			t.Fatalf("not scrubbed: %q", s)
		}
	}
}

func TestTraceNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"10.1.2.3":          "10.1.2.0/24",
		"::ffff:10.1.2.3":   "10.1.2.0/24",
		"2001:db8:1:2:3::4": "2001:db8:1:2::/64",
		"not-an-ip":         "not-an-ip",
	} {
		if got := traceNetwork(in); got != want {
			t.Errorf("traceNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzTraceNetwork(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "::1", "", "1.2.3", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := traceNetwork(s)
		if s != "" && n == "" {
			t.Fatalf("address %q has no network", s)
		}
	})
}

// A token whose held credential is gone is still traced, and the use of
// the same credential by other tokens is left out of the token's usage.
func TestTraceTokenWithMissingHeld(t *testing.T) {
	st := traceStore(t)
	ctx := aicred.WithActor(context.Background(), "test")
	g, tok := storetest.NewGrant(t, "https://k8s.example", "ns/bot", "bot", "k8s", "hc_gone")
	if err := st.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.RecordUsage(ctx, []aicred.UsageRecord{
		{Time: now.Add(-time.Minute), TokenID: g.ID, CredentialID: "hc_gone", Provider: "openai", Model: "gpt-4o", Outcome: aicred.OutcomeOK, CostUSD: 1, SourceIP: "10.0.0.1"},
		{Time: now.Add(-time.Minute), TokenID: "tok_other", CredentialID: "hc_gone", Provider: "openai", Model: "gpt-4o", Outcome: aicred.OutcomeOK, CostUSD: 5},
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := Trace(ctx, st, TraceInput{Token: aicred.NewSecret(tok)}, TraceOptions{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Token == nil || rep.Token.ID != g.ID || rep.Token.TokenHash != "" || len(rep.Held) != 1 || !rep.Held[0].Missing ||
		rep.Usage.Total.Requests != 1 || rep.Usage.Total.CostUSD != 1 || len(rep.Audit) != 1 || rep.Audit[0].Action != aicred.ActionTokenIssued {
		t.Fatalf("%+v", rep)
	}
	var b bytes.Buffer
	for _, f := range TraceFormats {
		if err := WriteTrace(&b, rep, f); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(b.String(), tok) || strings.Contains(b.String(), g.TokenHash) {
		t.Fatal("a report holds the token or its hash")
	}
}

// A training job's token: its model calls, fence reads and ML stack calls
// are all in the trace, by provider and model (the fence's and the ML
// stack's model column is the resource, which only the provider tells
// apart from a model of the same name), with the bytes moved.
func TestTraceTokenSurfaces(t *testing.T) {
	st := traceStore(t)
	ctx := aicred.WithActor(context.Background(), "test")
	g, _ := storetest.NewGrant(t, "https://k8s.example", "ns/trainer", "trainer", "k8s", "hc_oai")
	if err := st.IssueGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)
	bytesOf := func(n int64) aicred.Usage { return aicred.Usage{Units: n, Unit: aicred.UnitByte} }
	if err := st.RecordUsage(ctx, []aicred.UsageRecord{
		{Time: now, TokenID: g.ID, Provider: "openai", Model: "gpt-4o-mini", Operation: "chat", Usage: aicred.Usage{InputTokens: 10, OutputTokens: 2}, CostUSD: 0.01, Outcome: aicred.OutcomeOK},
		{Time: now, TokenID: g.ID, Provider: "s3", Model: "main/datasets", Operation: "read", Usage: bytesOf(1000), Outcome: aicred.OutcomeOK},
		{Time: now, TokenID: g.ID, Provider: "s3", Model: "main/datasets", Operation: "read", Usage: bytesOf(500), Outcome: aicred.OutcomeOK},
		{Time: now, TokenID: g.ID, Provider: "databricks", Model: "train-demo", Operation: "tracking", Usage: bytesOf(200), Outcome: aicred.OutcomeOK},
		{Time: now, TokenID: g.ID, Provider: "huggingface", Model: "train-demo", Operation: "registry", Usage: bytesOf(300), Outcome: aicred.OutcomeOK},
		{Time: now, TokenID: "tok_other", Provider: "s3", Model: "main/datasets", Usage: bytesOf(1 << 20), Outcome: aicred.OutcomeOK},
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := Trace(ctx, st, TraceInput{TokenID: g.ID}, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, m := range rep.Usage.ByModel {
		got[m.Provider+" "+m.Model] = m.Requests
	}
	want := map[string]int64{"openai gpt-4o-mini": 1, "s3 main/datasets": 2, "databricks train-demo": 1, "huggingface train-demo": 1}
	if len(got) != len(want) {
		t.Fatalf("by model: %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("by model: %v, want %v", got, want)
		}
	}
	if rep.Usage.Total.Requests != 5 || rep.Usage.Bytes != 2000 || len(rep.Usage.Workloads) != 1 || rep.Usage.Workloads[0].Bytes != 2000 {
		t.Fatalf("usage: %+v", rep.Usage)
	}
	var b bytes.Buffer
	if err := WriteTrace(&b, rep, "json"); err != nil || !strings.Contains(b.String(), `"bytes": 2000`) {
		t.Fatalf("json: %v %s", err, b.String())
	}
}
