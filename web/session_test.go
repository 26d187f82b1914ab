package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred/sqlite"
)

// otherServer is a second console on the world's database, opened as
// another aicred serve process would open it (its own Store, nothing
// shared in memory), behind its own server.
func (w *world) otherServer(t *testing.T, oidc *OIDCConfig) (*Console, *httptest.Server) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), w.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	con, err := New(Options{Store: st, OIDC: oidc, Log: quiet, PostureTTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", con.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return con, srv
}

// TestSessionsAcrossServers: behind a balancer, a session opened on one
// server is served by another sharing the store, with the same CSRF
// token; a logout on either ends it on both.
func TestSessionsAcrossServers(t *testing.T) {
	w := newWorld(t, nil)
	_, srvB := w.otherServer(t, nil)
	c := w.client(t)
	csrfA := c.login(w.readTok)
	// Cookies are not kept by port: the browser sends the session to B.
	resp, err := c.http.Get(srvB.URL + "/ui/tokens")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.Request.URL.Path != "/ui/tokens" || !strings.Contains(body, "admin token") {
		t.Fatalf("server B did not serve the session opened on A: %s %.200s", resp.Request.URL, body)
	}
	if got := csrfOf(t, body); got != csrfA {
		t.Fatalf("server B's CSRF token differs from A's")
	}
	// Logout on B.
	form := url.Values{"csrf": {csrfA}}
	resp, err = c.http.PostForm(srvB.URL+"/ui/logout", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/ui/login" {
		t.Fatalf("logout on B: %s", resp.Request.URL)
	}
	if resp, _ := c.get("/ui/"); resp.Request.URL.Path != "/ui/login" {
		t.Fatalf("server A still serves a session ended on B")
	}
}

// TestOIDCAcrossServers: a login started on one server and called back
// on another (the balancer chose another server for the callback) logs
// the person in on both.
func TestOIDCAcrossServers(t *testing.T) {
	p := newIDP(t)
	cfg := OIDCConfig{Issuer: p.srv.URL, ClientID: "aicred-console", ClientSecret: p.secret, RedirectURL: "http://127.0.0.1/ui/oidc/callback",
		AllowedEmails: []string{"alice@example.com"}, AllowInsecureHTTP: true}
	w := newWorld(t, &cfg)
	cfgB := cfg
	conB, srvB := w.otherServer(t, &cfgB)
	// Both name B's callback, as servers behind one public address name
	// the same one.
	w.con.oidc.cfg.RedirectURL = srvB.URL + "/ui/oidc/callback"
	conB.oidc.cfg.RedirectURL = srvB.URL + "/ui/oidc/callback"
	c := w.client(t)
	resp, body := c.get("/ui/oidc/start?next=%2Fui%2Ftokens")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Logged in as alice@example.com") || !strings.HasPrefix(resp.Request.URL.String(), srvB.URL) {
		t.Fatalf("oidc login started on A, called back on B: %d %s %.300s", resp.StatusCode, resp.Request.URL, body)
	}
	if _, body := c.get("/ui/tokens"); !strings.Contains(body, "alice@example.com") {
		t.Fatalf("server A does not serve the session made on B: %.200s", body)
	}
	// A flow cookie whose page was changed no longer gives the state.
	f := newOIDCFlow(randomID(), "/ui/tokens", w.con.o.Now().Add(oidcFlowTTL))
	forged := *f
	forged.next = "/ui/config"
	if g := parseOIDCFlow(forged.cookie()); g == nil || g.state == f.state {
		t.Fatalf("a changed page kept the flow's state")
	}
	if parseOIDCFlow("short.x.1") != nil || parseOIDCFlow(f.cookie()+".x") != nil {
		t.Fatalf("a malformed flow cookie was read")
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSessionStoreDown: when the store cannot answer, a request with a
// session cookie is refused with 503: not let in, and not sent to log in
// again as if the session had ended.
func TestSessionStoreDown(t *testing.T) {
	w := newWorld(t, nil)
	c := w.client(t)
	c.login(w.readTok)
	w.st.Close()
	resp, _ := c.get("/ui/tokens")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("store down: %d %s", resp.StatusCode, resp.Request.URL)
	}
}
