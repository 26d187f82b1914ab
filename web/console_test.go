package web

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// pages are every page a logged-in person can open.
func (w *world) pages() []string {
	fp := string(w.heldFP)
	return []string{"/ui/", "/ui/inventory", "/ui/inventory?q=settings&provider=openai&sort=age", "/ui/inventory?live=live&leaked=1",
		"/ui/credentials/" + fp, "/ui/credentials/" + string(w.leakFP),
		"/ui/credentials/" + fp + "/confirm?action=revoke&held=hc_openai", "/ui/credentials/" + fp + "/confirm?action=replace&held=hc_openai",
		"/ui/credentials/" + fp + "/confirm?action=rotate&held=hc_openai",
		"/ui/posture", "/ui/usage", "/ui/usage?days=1", "/ui/usage?days=90", "/ui/alerts", "/ui/tokens", "/ui/config", "/ui/audit",
		"/ui/audit?action=token.issued"}
}

// TestPagesRender opens every page logged in with a write token: each
// answers 200 with the security headers, and shows what it should.
func TestPagesRender(t *testing.T) {
	w := newWorld(t, nil)
	w.alert(t, "al_render")
	c := w.client(t)
	c.login(w.writeTok)
	want := map[string]string{
		"/ui/":                                "Spend today against each workload",
		"/ui/posture":                         "OWASP NHI Top 10",
		"/ui/usage":                           "Budgets today",
		"/ui/alerts":                          "al_render",
		"/ui/tokens":                          w.workID,
		"/ui/config":                          "per workload a day",
		"/ui/credentials/" + string(w.heldFP): "hc_openai",
	}
	for _, p := range w.pages() {
		resp, body := c.get(p)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %.400s", p, resp.StatusCode, body)
			continue
		}
		h := resp.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: security headers missing: %v", p, h)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "onclick") {
			t.Errorf("%s: inline script or style", p)
		}
		if s, ok := want[p]; ok && !strings.Contains(body, s) {
			t.Errorf("%s: %q not shown", p, s)
		}
	}
}

// TestCanary renders every page, the actions' answers, the alert stream,
// the export and the login's refusals, with a store holding a held
// credential, and searches every byte for every secret seeded (and the
// new secret given to a replacement).
func TestCanary(t *testing.T) {
	w := newWorld(t, nil)
	w.alert(t, "al_canary")
	c := w.client(t)
	var seen strings.Builder
	keep := func(resp *http.Response, body string) {
		for k, v := range resp.Header {
			seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
		seen.WriteString(body)
	}
	keep(c.post("/ui/login", url.Values{"token": {w.writeTok}})) // no csrf: refused
	_, lp := c.get("/ui/login")
	keep(c.post("/ui/login", url.Values{"csrf": {csrfOf(t, lp)}, "token": {w.openaiKey}}))
	csrf := c.login(w.writeTok)
	for _, p := range w.pages() {
		keep(c.get(p))
	}
	keep(c.post("/ui/audit/export", url.Values{"csrf": {csrf}}))
	keep(c.post("/ui/audit/verify", url.Values{"csrf": {csrf}}))
	// A replacement whose new secret is checked by the provider (refused
	// by the local provider: the old key is the only one it knows).
	fresh := "sk-proj-" + strings.Repeat("Q", 74) + "T3BlbkFJ" + strings.Repeat("q", 74)
	keep(c.post("/ui/credentials/"+string(w.heldFP)+"/act", url.Values{"csrf": {csrf}, "action": {"replace"}, "held": {"hc_openai"},
		"confirm": {"yes"}, "secret": {fresh}}))
	keep(c.post("/ui/credentials/"+string(w.heldFP)+"/act", url.Values{"csrf": {csrf}, "action": {"revoke"}, "held": {"hc_openai"},
		"confirm": {"yes"}, "cause": {"canary"}}))
	for _, p := range w.pages() {
		keep(c.get(p))
	}
	// The alert stream's first event.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.srv.URL+"/ui/alerts/stream?after=0", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), "</tr>") {
			break
		}
	}
	resp.Body.Close()
	all := seen.String()
	if !strings.Contains(all, "al_canary") || !strings.Contains(all, `"action":"token.issued"`) {
		t.Fatalf("the canary did not see the pages it should search (%d bytes)", len(all))
	}
	for _, s := range append(w.secrets, fresh) {
		for _, part := range []string{s, s[len(s)-24:]} {
			if strings.Contains(all, part) {
				t.Errorf("a secret (%s…) appears in a page or response", s[:8])
			}
		}
	}
}

// TestReadScopeCannotAct: a read token sees the console but every action
// is refused, and nothing changes.
func TestReadScopeCannotAct(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client(t)
	csrf := c.login(w.readTok)
	_, body := c.get("/ui/tokens")
	if strings.Contains(body, `action="/ui/tokens/revoke"`) || !strings.Contains(body, "read only") {
		t.Errorf("a read session is offered revocation")
	}
	for _, a := range []struct {
		path string
		form url.Values
	}{
		{"/ui/tokens/revoke", url.Values{"by": {"token"}, "value": {w.workID}}},
		{"/ui/credentials/" + string(w.heldFP) + "/act", url.Values{"action": {"revoke"}, "held": {"hc_openai"}, "confirm": {"yes"}}},
		{"/ui/alerts/ack", url.Values{"seq": {"1"}, "alert": {"x"}, "note": {"n"}}},
	} {
		a.form.Set("csrf", csrf)
		if resp, _ := c.post(a.path, a.form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with a read token: %d", a.path, resp.StatusCode)
		}
	}
	if resp, _ := c.get("/ui/credentials/" + string(w.heldFP) + "/confirm?action=revoke&held=hc_openai"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("confirm page with a read token: %d", resp.StatusCode)
	}
	if w.callGateway(t) != http.StatusOK {
		t.Errorf("the workload token stopped working")
	}
	if h, _ := w.st.GetHeldCredential(context.Background(), "hc_openai"); h.Status != aicred.HeldActive {
		t.Errorf("held credential changed: %s", h.Status)
	}
}

// TestCSRFAndSessions: a POST without the session's CSRF token, or from
// another origin, is refused; the cookie is HttpOnly and SameSite=Strict;
// logout, idle and absolute timeouts, and a revoked admin token end the
// session.
func TestCSRFAndSessions(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client(t)
	_, lp := c.get("/ui/login")
	resp, _ := c.post("/ui/login", url.Values{"csrf": {csrfOf(t, lp)}, "token": {w.writeTok}, "next": {"/ui/"}})
	var ck *http.Cookie
	for _, r := range append([]*http.Response{resp}, resp.Request.Response) {
		if r == nil {
			continue
		}
		for _, k := range r.Cookies() {
			if k.Name == sessionCookie && k.Value != "" {
				ck = k
			}
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", ck)
	}
	_, page := c.get("/ui/tokens")
	csrf := csrfOf(t, page)
	form := url.Values{"by": {"token"}, "value": {w.workID}}
	if resp, _ := c.post("/ui/tokens/revoke", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no csrf: %d", resp.StatusCode)
	}
	form.Set("csrf", "wrong")
	if resp, _ := c.post("/ui/tokens/revoke", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong csrf: %d", resp.StatusCode)
	}
	form.Set("csrf", csrf)
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/ui/tokens/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := c.http.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %v %v", resp, err)
	}
	if w.callGateway(t) != http.StatusOK {
		t.Fatalf("a refused request revoked the token")
	}

	// Timeouts, on the console's clock.
	now := time.Now()
	w.con.sessions.now = func() time.Time { return now }
	c2 := w.client(t)
	c2.login(w.readTok)
	now = now.Add(DefaultIdleTimeout + time.Minute)
	if resp, _ := c2.get("/ui/"); resp.Request.URL.Path != "/ui/login" {
		t.Errorf("idle session still served: %s", resp.Request.URL)
	}
	c3 := w.client(t)
	c3.login(w.readTok)
	for range 2 * int(DefaultMaxAge/DefaultIdleTimeout) {
		now = now.Add(DefaultIdleTimeout - time.Minute)
		c3.get("/ui/config")
	}
	if resp, _ := c3.get("/ui/"); resp.Request.URL.Path != "/ui/login" {
		t.Errorf("session past its absolute timeout still served")
	}
	w.con.sessions.now = time.Now

	// Logout.
	c = w.client(t)
	c.login(w.readTok)
	_, page = c.get("/ui/")
	if resp, _ := c.post("/ui/logout", url.Values{"csrf": {csrfOf(t, page)}}); resp.Request.URL.Path != "/ui/login" {
		t.Errorf("logout: %s", resp.Request.URL)
	}
	if resp, _ := c.get("/ui/tokens"); resp.Request.URL.Path != "/ui/login" {
		t.Errorf("logged out session still served")
	}
	// A revoked admin token ends its session.
	c4 := w.client(t)
	c4.login(w.writeTok)
	gs, _ := w.st.ListGrants(context.Background(), aicred.TokenFilter{Class: aicred.TokenAdmin})
	for _, g := range gs {
		if g.TokenHash == aicred.HashToken(w.writeTok) {
			if err := w.st.Revoke(context.Background(), &aicred.Revocation{By: aicred.RevokeToken, Value: g.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp, _ := c4.get("/ui/"); resp.Request.URL.Path != "/ui/login" {
		t.Errorf("session of a revoked admin token still served")
	}
	// Login refusals never echo the token.
	_, lp = c.get("/ui/login")
	if resp, body := c.post("/ui/login", url.Values{"csrf": {csrfOf(t, lp)}, "token": {w.writeTok}}); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, w.writeTok) {
		t.Errorf("revoked token login: %d", resp.StatusCode)
	}
}

// TestActionsAudited: revoking a token refuses it at the gateway at once;
// acknowledging an alert and the revocation are audit records naming the
// person.
func TestActionsAudited(t *testing.T) {
	w := newWorld(t, nil)
	w.alert(t, "al_ack")
	c := w.client(t)
	csrf := c.login(w.writeTok)
	if got := w.callGateway(t); got != http.StatusOK {
		t.Fatalf("gateway before: %d", got)
	}
	resp, body := c.post("/ui/tokens/revoke", url.Values{"csrf": {csrf}, "by": {"token"}, "value": {w.workID}, "reason": {"test"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Revoked 1 token") {
		t.Fatalf("revoke: %d %.300s", resp.StatusCode, body)
	}
	if got := w.callGateway(t); got != http.StatusUnauthorized {
		t.Errorf("gateway after revocation: %d, want 401", got)
	}
	evs, _ := w.st.SearchAudit(context.Background(), aicred.AuditQuery{Actions: []string{gateway_anomaly}, Limit: 1})
	_, body = c.post("/ui/alerts/ack", url.Values{"csrf": {csrf}, "seq": {itoa(evs[0].Seq)}, "alert": {"al_ack"}, "note": {"budget raised after review"}})
	if !strings.Contains(body, "acknowledged by admin:") || !strings.Contains(body, "budget raised after review") {
		t.Errorf("acknowledgement not shown: %.500s", body)
	}
	actor := ""
	for _, a := range []string{aicred.ActionTokenRevoked, ActionAlertAcknowledge, ActionLogin} {
		got, _ := w.st.SearchAudit(context.Background(), aicred.AuditQuery{Actions: []string{a}, Limit: 1})
		if len(got) != 1 || !strings.HasPrefix(got[0].Actor, "admin:tok_") {
			t.Errorf("%s: not recorded naming the person: %+v", a, got)
			continue
		}
		if actor != "" && got[0].Actor != actor {
			t.Errorf("%s names %s, not %s", a, got[0].Actor, actor)
		}
		actor = got[0].Actor
	}
}
