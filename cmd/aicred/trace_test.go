package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/sqlite"
	"github.com/aicred/aicred/storetest"
)

// traceFixture is an inventory, a held credential, grants, usage and audit
// records around one generated Hugging Face token, and a local Hugging
// Face answering whoami-v2 as documented.
type traceFixture struct {
	dir, keyFile    string
	key             string
	fp              aicred.Fingerprint
	heldID          string
	active, revoked *aicred.Grant
	activeToken     string
	unrelated       *aicred.Grant
	hf              *httptest.Server
	hfCalls         *atomic.Int64
	printed         *bytes.Buffer
}

func newTraceFixture(t *testing.T) *traceFixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	g := provider.NewGen(2026)
	fx := &traceFixture{dir: t.TempDir(), key: "hf_" + g.Letters(34), heldID: "hc_hf_trace", printed: &bytes.Buffer{}, hfCalls: &atomic.Int64{}}
	fx.fp = aicred.NewSecret(fx.key).Fingerprint()
	store := filepath.Join(fx.dir, "data", "aicred.db")
	t.Setenv("AICRED_STORE", store)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(fx.dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	fx.keyFile = filepath.Join(fx.dir, "leaked.txt")
	if err := os.WriteFile(fx.keyFile, []byte(fx.key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A repository whose history held the token (authored 2024-03-01),
	// and a notebook directory that still holds it.
	repo := filepath.Join(fx.dir, "repo")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=Dev", "-c", "user.email=dev@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2024-03-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-03-01T10:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	writeFile(t, filepath.Join(repo, "upload.py"), "HF_TOKEN = \""+fx.key+"\"\n")
	git("add", ".")
	git("commit", "-qm", "upload script")
	notebooks := filepath.Join(fx.dir, "notebooks")
	writeFile(t, filepath.Join(notebooks, "finetune.ipynb"), `{"cells":[{"source":["login(token=\"`+fx.key+`\")"]}]}`)
	fx.run(t, exitFindings, "", "scan", "--git", "--record", repo)
	fx.run(t, exitFindings, "", "scan", "--record", notebooks)
	fx.run(t, exitOK, "", "credential", "add", "--provider", "huggingface", "--kind", "access-token", "--id", fx.heldID, "--env", "prod", "--file", fx.keyFile)

	// Grants derived from the held token, usage through the gateway and an
	// audit record of the incident, written through the store as broker,
	// gateway and admin API write them.
	st, err := sqlite.Open(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := aicred.WithActor(context.Background(), "test")
	fx.active, fx.activeToken = storetest.NewGrant(t, "https://token.actions.githubusercontent.com", "repo:acme/train:ref:refs/heads/main", "trainer", "gha-main", fx.heldID)
	fx.revoked, _ = storetest.NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:eval", "eval", "k8s-ml", fx.heldID, "hc_other")
	fx.unrelated, _ = storetest.NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:other", "other", "k8s-ml", "hc_other")
	for _, gr := range []*aicred.Grant{fx.active, fx.revoked, fx.unrelated} {
		if err := st.IssueGrant(ctx, gr); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeToken, Value: fx.revoked.ID, Reason: "eval job finished"}); err != nil {
		t.Fatal(err)
	}
	// The gateway used the key after aicred came to hold it.
	now := time.Now().UTC()
	use := func(after time.Duration, g *aicred.Grant, cred, model, ip string, cost float64) aicred.UsageRecord {
		return aicred.UsageRecord{Time: now.Add(after), TokenID: g.ID, CredentialID: cred, Workload: g.Issuer + " " + g.Subject, Role: g.Role,
			Provider: "huggingface", Model: model, Usage: aicred.Usage{InputTokens: 100, OutputTokens: 20}, CostUSD: cost,
			Status: 200, Outcome: aicred.OutcomeOK, SourceIP: ip}
	}
	if err := st.RecordUsage(ctx, []aicred.UsageRecord{
		use(100*time.Millisecond, fx.active, fx.heldID, "meta-llama/Llama-3.1-8B-Instruct", "10.1.2.3", 0.25),
		use(200*time.Millisecond, fx.active, fx.heldID, "meta-llama/Llama-3.1-8B-Instruct", "10.1.2.77", 0.25),
		use(300*time.Millisecond, fx.revoked, fx.heldID, "mistralai/Mistral-7B-Instruct", "203.0.113.9", 0.5),
		use(400*time.Millisecond, fx.revoked, "hc_other", "other-model", "198.51.100.1", 7),
		use(500*time.Millisecond, fx.unrelated, "hc_other", "other-model", "198.51.100.1", 9),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendAudit(ctx, aicred.AuditEvent{Action: "incident.opened", Subject: string(fx.fp), Data: map[string]string{"ticket": "SEC-42"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendAudit(ctx, aicred.AuditEvent{Action: "incident.opened", Subject: "sha256:" + strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}

	// Hugging Face's whoami-v2, as documented, for this token only.
	fx.hf = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fx.hfCalls.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/api/whoami-v2" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+fx.key {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"Invalid credentials in Authorization header"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"user","id":"6412a1b2c3","name":"jdoe","fullname":"J. Doe",
		  "orgs":[{"type":"org","id":"64aa","name":"acme-ml","roleInOrg":"admin"}],
		  "auth":{"type":"access_token","accessToken":{"displayName":"upload","role":"fineGrained","createdAt":"2024-02-01T00:00:00.000Z",
		    "fineGrained":{"canReadGatedRepos":false,"global":[],"scoped":[{"entity":{"_id":"64aa","type":"org","name":"acme-ml"},"permissions":["repo.write"]}]}}}}`))
	}))
	t.Cleanup(fx.hf.Close)
	return fx
}

func (fx *traceFixture) run(t *testing.T, want int, stdin string, args ...string) result {
	t.Helper()
	r := runCLI(t, stdin, args...)
	fx.printed.WriteString(r.stdout + r.stderr)
	if r.code != want {
		t.Fatalf("aicred %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func (fx *traceFixture) trace(t *testing.T, stdin string, args ...string) *respond.TraceReport {
	t.Helper()
	r := fx.run(t, exitOK, stdin, append([]string{"trace", "--format", "json", "--base-url", "huggingface=" + fx.hf.URL}, args...)...)
	var rep respond.TraceReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	return &rep
}

func TestTraceCommand(t *testing.T) {
	fx := newTraceFixture(t)

	rep := fx.trace(t, "", "--file", fx.keyFile)
	t.Run("credential and deep trace", func(t *testing.T) {
		c := rep.Credential
		if rep.Schema != respond.TraceSchema || rep.Subject.By != respond.TraceBySecret || c == nil || c.Fingerprint != fx.fp ||
			c.Provider != "huggingface" || c.Kind != "access-token" || !c.InInventory || c.RevokeURL == "" {
			t.Fatalf("credential %+v subject %+v", c, rep.Subject)
		}
		if !slices.ContainsFunc(c.Unlocks, func(u respond.TraceUnlock) bool {
			return u.Capability == aicred.CapModelRegistry && u.Description != ""
		}) {
			t.Errorf("unlocks %+v", c.Unlocks)
		}
		l := rep.Live
		if l == nil || l.Status != respond.LiveTraced || l.Reach == nil || l.Reach.Principal != "user jdoe" ||
			!slices.Contains(l.Reach.Scopes, "org:acme-ml:repo.write") || l.Docs == "" {
			t.Fatalf("live %+v", l)
		}
	})
	t.Run("sightings", func(t *testing.T) {
		var commit, file bool
		for _, s := range rep.Sightings {
			switch {
			case s.Commit != "" && s.AuthorDate.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) && strings.HasSuffix(s.Path, "upload.py") &&
				strings.Contains(s.Author, "dev@example.invalid"):
				commit = true
			case strings.HasSuffix(s.Path, "finetune.ipynb"):
				file = true
			}
		}
		if !commit || !file {
			t.Fatalf("sightings %+v", rep.Sightings)
		}
	})
	t.Run("held and gateway use", func(t *testing.T) {
		if len(rep.Held) != 1 || rep.Held[0].ID != fx.heldID || rep.Held[0].Environment != "prod" {
			t.Fatalf("held %+v", rep.Held)
		}
		u := rep.Usage
		if u.Total.Requests != 3 || u.Total.CostUSD < 0.999 || u.Total.CostUSD > 1.001 {
			t.Fatalf("usage total %+v", u.Total)
		}
		if len(u.Workloads) != 2 || len(u.ByModel) != 2 || !u.FirstUse.Before(u.LastUse) {
			t.Fatalf("usage %+v", u)
		}
		var nets []string
		for _, n := range u.Networks {
			nets = append(nets, n.Network)
		}
		if !slices.Equal(nets, []string{"10.1.2.0/24", "203.0.113.0/24"}) {
			t.Fatalf("networks %v (the other credential's 198.51.100.0/24 must not appear)", nets)
		}
	})
	t.Run("derived tokens", func(t *testing.T) {
		var ids []string
		for _, tk := range rep.Tokens {
			ids = append(ids, tk.ID)
		}
		slices.Sort(ids)
		want := []string{fx.active.ID, fx.revoked.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("tokens %v, want %v", ids, want)
		}
		for _, tk := range rep.Tokens {
			if tk.ID == fx.revoked.ID && (tk.Active || tk.RevokedAt.IsZero() || tk.Usage.Requests != 2) {
				t.Fatalf("revoked token %+v", tk)
			}
		}
	})
	t.Run("audit and timeline", func(t *testing.T) {
		var actions []string
		for _, e := range rep.Audit {
			actions = append(actions, e.Action)
		}
		for _, a := range []string{aicred.ActionCredentialDiscovered, aicred.ActionSightingRecorded, aicred.ActionHeldAdded,
			aicred.ActionTokenIssued, aicred.ActionTokenRevoked, "incident.opened"} {
			if !slices.Contains(actions, a) {
				t.Errorf("audit lacks %s: %v", a, actions)
			}
		}
		if n := strings.Count(strings.Join(actions, " "), "incident.opened"); n != 1 {
			t.Errorf("%d incident records, want the one naming this credential", n)
		}
		tl := rep.Timeline
		if len(tl) < 10 {
			t.Fatalf("timeline of %d entries", len(tl))
		}
		if !slices.IsSortedFunc(tl, func(a, b respond.TimelineEntry) int { return a.Time.Compare(b.Time) }) {
			t.Fatal("timeline not in time order")
		}
		if tl[0].Event != respond.EventCommitted || !strings.Contains(tl[0].Summary, "upload.py") {
			t.Fatalf("first entry %+v, want the commit of 2024-03-01", tl[0])
		}
		events := map[string]bool{}
		for _, e := range tl {
			events[e.Event] = true
		}
		for _, e := range []string{respond.EventSeen, respond.EventHeld, respond.EventFirstUse, respond.EventLastUse, respond.EventNetwork, respond.EventAudit, respond.EventTraced} {
			if !events[e] {
				t.Errorf("timeline lacks %s", e)
			}
		}
	})

	t.Run("every format", func(t *testing.T) {
		for _, format := range []string{"text", "md", "html"} {
			out := fx.run(t, exitOK, "", "trace", "--file", fx.keyFile, "--format", format, "--base-url", "huggingface="+fx.hf.URL).stdout
			for _, want := range []string{string(fx.fp), "user jdoe", "acme-ml", "upload.py", "finetune.ipynb", fx.heldID,
				"repo:acme/train:ref:refs/heads/main", "10.1.2.0/24", fx.active.ID, fx.revoked.ID, "incident.opened", "model-registry"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: lacks %q", format, want)
				}
			}
			if strings.Contains(out, "198.51.100") || strings.Contains(out, fx.unrelated.ID) {
				t.Errorf("%s: names another credential's use", format)
			}
			if format == "html" && (!strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(out, ".tile{") ||
				strings.Contains(out, "<script") || strings.Contains(out, "src=\"http")) {
				t.Errorf("html: not a self-contained report in the posture style")
			}
			// Timeline order in the rendered form: the commit of 2024, then
			// the sightings, the hold, the incident record (written before
			// the fixture's usage records' times) and gateway use.
			tl := out[strings.LastIndex(out, "Timeline ("):]
			last := -1
			for _, step := range []string{"commit ", "first seen at", "held by aicred as " + fx.heldID, "incident.opened", "first gateway use by"} {
				i := strings.Index(tl, step)
				if i <= last {
					t.Errorf("%s: timeline entry %q at %d, not after the previous one (%d)", format, step, i, last)
				}
				last = i
			}
		}
	})

	t.Run("by fingerprint, held id, token and token id", func(t *testing.T) {
		byFP := fx.trace(t, "", strings.TrimPrefix(string(fx.fp), "sha256:")[:12])
		if byFP.Subject.By != respond.TraceByFingerprint || len(byFP.Sightings) != len(rep.Sightings) || len(byFP.Tokens) != 2 {
			t.Fatalf("by fingerprint: %+v", byFP.Subject)
		}
		// The held credential is opened with the master key for the deep trace.
		calls := fx.hfCalls.Load()
		byHeld := fx.trace(t, "", fx.heldID)
		if byHeld.Live == nil || byHeld.Live.Status != respond.LiveTraced || byHeld.Live.HeldID != fx.heldID || fx.hfCalls.Load() != calls+1 {
			t.Fatalf("by held id: live %+v", byHeld.Live)
		}
		noLive := fx.trace(t, "", fx.heldID, "--no-live")
		if noLive.Live.Status != respond.LiveSkipped || fx.hfCalls.Load() != calls+1 {
			t.Fatalf("--no-live called the provider: %+v", noLive.Live)
		}
		byTok := fx.trace(t, fx.activeToken+"\n")
		if byTok.Subject.By != respond.TraceByToken || byTok.Token == nil || byTok.Token.ID != fx.active.ID ||
			byTok.Token.Role != "trainer" || len(byTok.Held) != 1 || byTok.Held[0].ID != fx.heldID || byTok.Usage.Total.Requests != 2 {
			t.Fatalf("by token: %+v", byTok)
		}
		byID := fx.trace(t, "", fx.revoked.ID)
		if byID.Token == nil || byID.Token.RevokedAt.IsZero() || len(byID.Held) != 2 || !byID.Held[1].Missing ||
			byID.Usage.Total.Requests != 2 || len(byID.Usage.Networks) != 2 {
			t.Fatalf("by token id: %+v", byID)
		}
		txt := fx.run(t, exitOK, "", "trace", fx.active.ID, "--format", "text").stdout
		for _, want := range []string{"repo:acme/train", "trainer", fx.heldID, "chat, embeddings"} {
			if !strings.Contains(txt, want) {
				t.Errorf("token text lacks %q", want)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		r := fx.run(t, exitError, "", "trace", fx.key)
		if !strings.Contains(r.stderr, "never on the command line") {
			t.Errorf("secret in argv: %s", r.stderr)
		}
		fx.run(t, exitError, "", "trace", "tok_nosuch")
		fx.run(t, exitError, "", "trace", "hc_nosuch")
		fx.run(t, exitError, "", "trace", "--format", "pdf", fx.heldID)
		fx.run(t, exitError, "", "trace", "--base-url", "huggingface=ftp://x", fx.heldID)
		fx.run(t, exitError, fx.key+"\n", "trace", "--provider", "huggingface")
		fx.run(t, exitError, "\n", "trace")
		// A secret aicred never saw is still traced: catalog and deep trace.
		other := "hf_" + provider.NewGen(7).Letters(34)
		rep := fx.trace(t, other+"\n")
		if rep.Credential.InInventory || rep.Credential.Kind != "access-token" || rep.Live.Status != respond.LiveTraced ||
			rep.Live.Reach.Principal != "" || len(rep.Live.Reach.Notes) == 0 {
			t.Fatalf("unknown secret: %+v %+v", rep.Credential, rep.Live)
		}
		// A provider that cannot be reached is a result, not an error.
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		r = fx.run(t, exitOK, "", "trace", "--file", fx.keyFile, "--format", "json", "--base-url", "huggingface/access-token="+down.URL)
		if !strings.Contains(r.stdout, `"status": "failed"`) {
			t.Fatalf("unreachable provider: %s", r.stdout)
		}
	})

	t.Run("canary", func(t *testing.T) {
		forms := []string{fx.key, fx.key[3:], base64.StdEncoding.EncodeToString([]byte(fx.key)), hex.EncodeToString([]byte(fx.key)), fx.activeToken}
		for _, f := range forms {
			if strings.Contains(fx.printed.String(), f) {
				t.Fatal("an output or error holds the secret or the token")
			}
		}
		if fx.printed.Len() < 10_000 {
			t.Fatalf("only %d bytes printed: the canary saw little", fx.printed.Len())
		}
	})
}

// TestTraceGatewayUse drives a chat completion through `aicred serve`'s
// gateway with a held OpenAI key, then traces the held key: the usage
// record the gateway wrote names it, so the workload, model and token
// show up.
func TestTraceGatewayUse(t *testing.T) {
	e := startServe(t, 7, func(oaiURL, _ string) string {
		return "  upstreams:\n    openai: " + oaiURL + "\n    anthropic: off"
	})
	code, body := httpDo(t, "POST", e.base+"/openai/v1/chat/completions", e.tok,
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	if code != http.StatusOK {
		t.Fatalf("chat through the gateway: %d %s", code, body)
	}
	if res := e.stop(); res.code != exitOK {
		t.Fatalf("serve: exit %d: %s", res.code, res.stderr)
	}
	r := runCLI(t, "", "trace", "hc_e2e_openai", "--no-live", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("trace: %d %s", r.code, r.stderr)
	}
	var rep respond.TraceReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	u := rep.Usage
	if u.Total.Requests != 1 || len(u.Workloads) != 1 || !strings.HasSuffix(u.Workloads[0].Workload, "repo:acme/agent:ref:refs/heads/main") ||
		!slices.Equal(u.Workloads[0].Models, []string{"gpt-4o-mini"}) || len(u.Networks) != 1 || u.Networks[0].Network != "127.0.0.0/24" {
		t.Fatalf("gateway use %+v", u)
	}
	if len(rep.Tokens) != 1 || rep.Tokens[0].Usage.Requests != 1 || rep.Tokens[0].Role != "sdk-e2e" {
		t.Fatalf("derived tokens %+v", rep.Tokens)
	}
	// The Anthropic key was never used: the record names the key chosen.
	r = runCLI(t, "", "trace", "hc_e2e_anthropic", "--no-live", "--format", "json")
	var other respond.TraceReport
	if err := json.Unmarshal([]byte(r.stdout), &other); r.code != exitOK || err != nil || other.Usage.Total.Requests != 0 || len(other.Tokens) != 1 {
		t.Fatalf("anthropic key: %d %+v", r.code, other.Usage)
	}
	assertNoLeak(t, "trace of held keys", e.held, r.stdout, r.stderr)
}
