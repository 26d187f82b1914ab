package respond

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/aicred/aicred"
)

func TestPolicyMatch(t *testing.T) {
	p := Policy{Rules: []Rule{
		{Provider: "openai", Environment: "prod*", Action: ActRotate, Admin: "hc_admin"},
		{Provider: "openai", Kind: "admin-key", Action: ActRevoke, Name: "admin keys"},
		{Provider: "aws", Action: ActSuspend},
		{Kind: "*-key", Environment: "dev", Action: ActRevoke},
	}}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		provider, kind, env string
		rule                string
		action              Action
	}{
		{"openai", "project-key", "prod", "rule 1", ActRotate},
		{"openai", "project-key", "prod-eu", "rule 1", ActRotate},
		{"openai", "admin-key", "prod", "rule 1", ActRotate}, // first match wins
		{"openai", "admin-key", "", "admin keys", ActRevoke},
		{"openai", "project-key", "", "default", ActNotify},
		{"aws", "access-key-id", "", "rule 3", ActSuspend},
		{"anthropic", "api-key", "dev", "rule 4", ActRevoke},
		{"anthropic", "api-key", "development", "default", ActNotify},
		{"anthropic", "admin", "dev", "default", ActNotify},
	} {
		r := p.Match(tc.provider, tc.kind, tc.env)
		if r.Name != tc.rule || r.Action != tc.action {
			t.Errorf("%s/%s in %q: %s %s, want %s %s", tc.provider, tc.kind, tc.env, r.Name, r.Action, tc.rule, tc.action)
		}
	}
	var none *Policy
	if r := none.Match("openai", "project-key", ""); r.Action != ActNotify {
		t.Errorf("no policy: %s", r.Action)
	}
	for _, bad := range []Rule{
		{Action: "delete"},
		{Action: ""},
		{Provider: "[", Action: ActNotify},
		{Environment: "prod[", Action: ActRotate},
		{Action: ActSuspend, Admin: "hc_admin"},
		{Action: ActNotify, Admin: "hc_admin"},
	} {
		p := Policy{Rules: []Rule{bad}}
		if err := p.Check(); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// hook is a webhook receiver that verifies each delivery with the
// Standard Webhooks library.
type hook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []Event
	bad    int
}

func newHook(t *testing.T, secret string) *hook {
	h := &hook{}
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := v.Verify(body, r.Header); err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Type string `json:"type"`
			Data Event  `json:"data"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Type != WebhookEventType || r.Header.Get("webhook-id") != p.Data.ID {
			h.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.events = append(h.events, p.Data)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) got() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// leakOf is a finding of s at a place in a repository.
func leakOf(s aicred.Secret) *aicred.Finding {
	return &aicred.Finding{Provider: "testprov", Kind: "api-key", Secret: s, Fingerprint: s.Fingerprint(), Redacted: s.Redacted(),
		Line: 3, Location: aicred.Location{Path: "config/prod.env", Source: aicred.SourceFile}}
}

// Each action end to end against the local admin API: the provider's key
// state, the store, the webhook and the respond.action audit record.
func TestPolicyActions(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, tc := range []struct {
		name   string
		rule   Rule
		check  func(t *testing.T, e *env, ev *Event)
		detail string
	}{
		{"notify", Rule{Provider: "testprov", Action: ActNotify}, func(t *testing.T, e *env, ev *Event) {
			if !e.api.live(e.old) || e.api.createdCount() != 0 {
				t.Fatal("notify changed the key at the provider")
			}
		}, "webhook sent"},
		{"rotate", Rule{Provider: "testprov", Action: ActRotate, Admin: "hc_admin"}, func(t *testing.T, e *env, ev *Event) {
			r, err := e.st.GetRotation(context.Background(), ev.Rotation)
			if err != nil {
				t.Fatal(err)
			}
			e.rotated(r)
		}, "rotated"},
		{"revoke", Rule{Provider: "testprov", Action: ActRevoke, Admin: "hc_admin"}, func(t *testing.T, e *env, ev *Event) {
			h, _ := e.st.GetHeldCredential(context.Background(), e.held.ID)
			if e.api.live(e.old) || h.Status != aicred.HeldRevoked {
				t.Fatalf("after revoke: live %v, status %q", e.api.live(e.old), h.Status)
			}
			e.flushed()
		}, "at provider true"},
		{"suspend", Rule{Kind: "api-*", Environment: "*", Action: ActSuspend}, func(t *testing.T, e *env, ev *Event) {
			h, _ := e.st.GetHeldCredential(context.Background(), e.held.ID)
			if !e.api.live(e.old) || h.Status != aicred.HeldSuspended || !strings.Contains(h.StatusReason, "config/prod.env:3") {
				t.Fatalf("after suspend: live %v, status %q (%s)", e.api.live(e.old), h.Status, h.StatusReason)
			}
			e.flushed()
		}, "gateways stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, path := sqliteStore(t)
			e := newEnv(t, st, path, false)
			hk := newHook(t, secret)
			wh, err := NewWebhook(WebhookConfig{URL: hk.srv.URL, Secret: []byte(secret)})
			if err != nil {
				t.Fatal(err)
			}
			tc.rule.Name = "leaks-" + tc.name
			p, err := NewPolicy(PolicyOptions{Policy: Policy{Rules: []Rule{tc.rule}}, Responder: e.x, Notifier: wh})
			if err != nil {
				t.Fatal(err)
			}
			ctx := aicred.WithActor(context.Background(), "watch")
			evs, err := p.Respond(ctx, leakOf(e.old), "/repo")
			if err != nil || len(evs) != 1 {
				t.Fatalf("respond: %v %v", evs, err)
			}
			ev := evs[0]
			if ev.Outcome != OutcomeDone || ev.Action != tc.rule.Action || ev.Liveness != aicred.Live || !strings.Contains(ev.Detail, tc.detail) {
				t.Fatalf("event %+v", ev)
			}
			tc.check(t, e, ev)
			// The webhook got the action's event, signed.
			got := hk.got()
			if hk.bad != 0 || len(got) != 1 || got[0].ID != ev.ID || got[0].Action != tc.rule.Action || got[0].Where != "config/prod.env:3" {
				t.Fatalf("webhook: %d bad, %+v", hk.bad, got)
			}
			// The audit names the rule, the place, the action and its outcome.
			var acts []aicred.AuditEvent
			all, _ := st.ListAudit(ctx, 1, 100000)
			for _, a := range all {
				if a.Action == ActionRespond {
					acts = append(acts, a)
				}
			}
			if len(acts) == 0 {
				t.Fatal("no respond.action record")
			}
			a := acts[0]
			if a.Subject != e.held.ID || a.Data["rule"] != tc.rule.Name || a.Data["where"] != "config/prod.env:3" ||
				a.Data["action"] != string(tc.rule.Action) || a.Data["outcome"] != OutcomeDone || a.Data["origin"] != "/repo" || a.Actor != "watch" {
				t.Fatalf("audit %+v", a)
			}
			if tc.rule.Action != ActNotify && (len(acts) != 2 || acts[1].Data["action"] != string(ActNotify)) {
				t.Fatalf("the notification of %s is not audited: %+v", tc.rule.Action, acts)
			}
			// Seen again: the key is rotated, revoked or suspended already.
			evs, err = p.Respond(ctx, leakOf(e.old), "/repo")
			switch tc.rule.Action {
			case ActRotate: // the old secret is no longer held
				if err != nil || len(evs) != 0 {
					t.Fatalf("second sighting: %+v %v", evs, err)
				}
			case ActRevoke, ActSuspend:
				if err != nil || len(evs) != 1 || evs[0].Outcome != OutcomeSkipped || !strings.Contains(evs[0].Detail, "already") {
					t.Fatalf("second sighting: %+v %v", evs, err)
				}
			}
			e.chain()
			assertNoSecret(t, e, hk)
		})
	}
}

func assertNoSecret(t *testing.T, e *env, hk *hook) {
	t.Helper()
	b, _ := json.Marshal(hk.got())
	all, _ := e.st.ListAudit(context.Background(), 1, 100000)
	a, _ := json.Marshal(all)
	for _, s := range []aicred.Secret{e.old, e.admin} {
		if strings.Contains(string(b)+string(a), s.Reveal()) {
			t.Fatal("a secret reached the webhook or the audit log")
		}
	}
}

// A dead key, a key aicred does not hold, and an action that fails.
func TestPolicySkipsAndFailures(t *testing.T) {
	st, path := sqliteStore(t)
	e := newEnv(t, st, path, false)
	ctx := context.Background()
	p, err := NewPolicy(PolicyOptions{Policy: Policy{Rules: []Rule{{Action: ActRotate}}}, Responder: e.x})
	if err != nil {
		t.Fatal(err)
	}
	// Not held: nothing happens, nothing is recorded.
	other := e.api.newKey("proj_1")
	if evs, err := p.Respond(ctx, leakOf(other), "/repo"); err != nil || len(evs) != 0 {
		t.Fatalf("not held: %v %v", evs, err)
	}
	// Rotate without the admin credential it needs: failed, audited, the
	// key untouched.
	evs, err := p.Respond(ctx, leakOf(e.old), "/repo")
	if err == nil || len(evs) != 1 || evs[0].Outcome != OutcomeFailed || !strings.Contains(evs[0].Detail, "--admin") || !e.api.live(e.old) {
		t.Fatalf("rotate without admin: %+v %v", evs, err)
	}
	if a := lastAudit(t, st); a.Action != ActionRespond || a.Data["outcome"] != OutcomeFailed {
		t.Fatalf("audit %+v", a)
	}
	// Dead at the provider: skipped.
	e.api.mu.Lock()
	e.api.keys[e.old.Reveal()].revoked = true
	e.api.mu.Unlock()
	evs, err = p.Respond(ctx, leakOf(e.old), "/repo")
	if err != nil || len(evs) != 1 || evs[0].Outcome != OutcomeSkipped || evs[0].Liveness != aicred.Dead || e.api.createdCount() != 0 {
		t.Fatalf("dead key: %+v %v", evs, err)
	}
}
