package broker

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/sqlite"
)

type auditSink struct {
	mu  sync.Mutex
	evs []aicred.AuditEvent
}

func (a *auditSink) AppendAudit(_ context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evs = append(a.evs, e)
	return e, nil
}

type holdsFunc func(ctx context.Context, workload string) (*aicred.WorkloadHold, error)

func (f holdsFunc) WorkloadHold(ctx context.Context, w string) (*aicred.WorkloadHold, error) {
	return f(ctx, w)
}

// TestExchangeWorkloadHold: the same JWT, exchanged again at once after
// its workload was revoked, is refused for the hold period; a revocation
// by role holds nothing; the hold ends by itself or when lifted.
func TestExchangeWorkloadHold(t *testing.T) {
	sink := &auditSink{}
	f := newFixture(t, func(o *BuildOptions) { o.Audit = sink })
	ctx := context.Background()
	jwt := f.oidcToken(nil) // corp has no replay protection: the JWT may be used again
	wl := f.oidc.issuer + " svc-1"
	exchange := func() (int, tokenResponse) {
		rec := f.post(exchangeForm(jwt))
		return rec.Code, decodeResponse(t, rec)
	}
	if code, r := exchange(); code != http.StatusOK {
		t.Fatalf("first exchange: %d %+v", code, r)
	}

	// A revocation by role (or policy, credential, token) holds nothing.
	if err := f.tokens.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeRole, Value: "ci"}); err != nil {
		t.Fatal(err)
	}
	if code, r := exchange(); code != http.StatusOK {
		t.Fatalf("after a revocation by role: %d %+v", code, r)
	}

	if err := f.tokens.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeWorkload, Value: wl, Reason: "suspended"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		code, r := exchange()
		if code != http.StatusBadRequest || r.Error != CodeInvalidGrant || r.AccessToken != "" {
			t.Fatalf("exchange %d of a held workload: %d %+v", i, code, r)
		}
		if strings.Contains(r.ErrorDescription, "svc-1") {
			t.Fatalf("the refusal names the workload: %q", r.ErrorDescription)
		}
	}
	recs := f.logRecords("token exchange refused")
	if len(recs) != 5 || recs[0]["reason"] != ReasonWorkloadHeld {
		t.Fatalf("refusal log lines: %v", recs)
	}
	assertNoSecret(t, "log", f.logBuf.String(), jwt)
	if len(sink.evs) != 5 || sink.evs[0].Action != ActionExchangeRefused || sink.evs[0].Subject != wl ||
		sink.evs[0].Data["reason"] != ReasonWorkloadHeld || sink.evs[0].Data["held_until"] == "" {
		t.Fatalf("audit of held refusals: %+v", sink.evs)
	}
	for _, e := range sink.evs {
		for _, v := range e.Data {
			if strings.Contains(v, jwt[:40]) {
				t.Fatal("the audit record holds the JWT")
			}
		}
	}
	// Another workload of the same issuer is not held.
	if rec := f.post(exchangeForm(f.githubToken(nil))); rec.Code != http.StatusOK {
		t.Fatalf("another workload: %d %s", rec.Code, rec.Body)
	}

	// The hold ends by itself after DefaultWorkloadHold.
	f.clock.Advance(aicred.DefaultWorkloadHold - time.Minute)
	jwt = f.oidcToken(nil)
	if code, _ := exchange(); code != http.StatusBadRequest {
		t.Fatalf("a minute before the hold ends: %d", code)
	}
	f.clock.Advance(2 * time.Minute)
	jwt = f.oidcToken(nil)
	if code, r := exchange(); code != http.StatusOK {
		t.Fatalf("after the hold: %d %+v", code, r)
	}

	// A configured hold, lifted by an administrator.
	if err := f.tokens.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeWorkload, Value: wl, Hold: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	jwt = f.oidcToken(nil)
	if code, _ := exchange(); code != http.StatusBadRequest {
		t.Fatalf("inside a 24h hold: %d", code)
	}
	if err := f.tokens.LiftWorkloadHold(ctx, wl, "cleared"); err != nil {
		t.Fatal(err)
	}
	if code, r := exchange(); code != http.StatusOK {
		t.Fatalf("after lifting: %d %+v", code, r)
	}
}

// A hold that lands between the exchange's check and the grant's write is
// caught by the store, and a hold check that fails refuses (fail closed).
func TestExchangeHoldRaceAndFailure(t *testing.T) {
	cases := []struct {
		name     string
		holds    holdsFunc
		hold     bool // revoke by workload in the token store first
		code     int
		errCode  string
		wantHeld bool
	}{
		{"hold seen only by the store", func(context.Context, string) (*aicred.WorkloadHold, error) {
			return nil, aicred.Errorf(aicred.ErrNotFound, "none")
		}, true, http.StatusBadRequest, CodeInvalidGrant, true},
		{"holds unavailable", func(context.Context, string) (*aicred.WorkloadHold, error) {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "database down")
		}, false, http.StatusServiceUnavailable, CodeTemporarilyUnavailable, false},
		{"holds broken", func(context.Context, string) (*aicred.WorkloadHold, error) {
			return nil, aicred.Errorf(aicred.ErrInternal, "bug")
		}, false, http.StatusServiceUnavailable, CodeTemporarilyUnavailable, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(o *BuildOptions) { o.Holds = c.holds })
			if c.hold {
				if err := f.tokens.Revoke(context.Background(), &aicred.Revocation{By: aicred.RevokeWorkload, Value: f.oidc.issuer + " svc-1"}); err != nil {
					t.Fatal(err)
				}
			}
			rec := f.post(exchangeForm(f.oidcToken(nil)))
			r := decodeResponse(t, rec)
			if rec.Code != c.code || r.Error != c.errCode || r.AccessToken != "" {
				t.Fatalf("%d %+v", rec.Code, r)
			}
			if held := len(f.logRecords("token exchange refused")) == 1 && f.logRecords("token exchange refused")[0]["reason"] == ReasonWorkloadHeld; held != c.wantHeld {
				t.Fatalf("refused for a hold: %v, want %v", held, c.wantHeld)
			}
			if f.tokens.Len() != 0 {
				t.Fatal("a token was issued")
			}
		})
	}
}

// TestStoreReplayCacheAcrossProcesses: two exchangers on one SQLite file,
// as two aicred processes, refuse a JWT the other has seen.
func TestStoreReplayCacheAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aicred.db")
	open := func() *sqlite.Store {
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := open(), open()
	fa := newFixture(t, func(o *BuildOptions) { o.Replay = NewStoreReplayCache(a) })
	// The second process trusts the same issuers (same keys and clock).
	fb := &fixture{t: t, keys: fa.keys, clock: fa.clock, github: fa.github, oidc: fa.oidc, k8sIss: fa.k8sIss, logBuf: &syncBuffer{}, cfg: fa.cfg}
	fb.tokens = NewMemoryTokenStore(fb.clock.Now)
	var err error
	fb.x, err = fa.cfg.Build(BuildOptions{HTTPClient: fa.github.srv.Client(), Tokens: fb.tokens, Clock: fb.clock.Now, Replay: NewStoreReplayCache(b),
		Logger: slog.New(slog.NewJSONHandler(fb.logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// github has replay_protection. The store keeps keys by real time:
	// move the fixture's clock there.
	fa.clock.ns.Store(time.Now().UnixNano())
	jwt := fa.githubToken(nil)
	if rec := fa.post(exchangeForm(jwt)); rec.Code != http.StatusOK {
		t.Fatalf("first use: %d %s", rec.Code, rec.Body)
	}
	for _, f := range []*fixture{fb, fa} {
		rec := f.post(exchangeForm(jwt))
		if r := decodeResponse(t, rec); rec.Code != http.StatusBadRequest || r.Error != CodeInvalidGrant {
			t.Fatalf("replay: %d %+v", rec.Code, r)
		}
		if recs := f.logRecords("token exchange refused"); len(recs) == 0 || recs[len(recs)-1]["reason"] != ReasonReplayed {
			t.Fatalf("replay refusal: %v", recs)
		}
	}
	// A closed store fails closed.
	b.Close()
	rec := fb.post(exchangeForm(fa.githubToken(nil)))
	if r := decodeResponse(t, rec); rec.Code != http.StatusServiceUnavailable || r.Error != CodeTemporarilyUnavailable {
		t.Fatalf("replay cache down: %d %+v", rec.Code, r)
	}
}
