package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/httpapi"
)

// Cookie names. The session cookie holds a random id; the server keeps
// what it stands for. The login cookie carries the login form's CSRF
// token (double submit) and, for OIDC, the state of the flow.
const (
	sessionCookie = "aicred_console"
	loginCookie   = "aicred_console_login"
)

// A session is one person logged in: what the store keeps of it
// (aicred.ConsoleSession), and the CSRF token derived from the cookie.
type session struct {
	key      string // SHA-256 of the cookie's id
	actor    string // audit actor: admin:tok_..., oidc:subject
	name     string // shown in the header
	canWrite bool
	// tokenHash is the admin token's hash, looked up on every request;
	// "" for an OIDC session.
	tokenHash string
	csrf      string
	created   time.Time
	lastSeen  time.Time
}

// sessions are kept in the store (aicred.ConsoleSessionService), so every
// server sharing it knows them: a balancer may send each request to any
// server, a restart logs nobody out, and a logout or a timeout on one
// server ends the session on all.
type sessions struct {
	st        aicred.ConsoleSessionService
	idle, max time.Duration
	now       func() time.Time
}

func newSessions(st aicred.ConsoleSessionService, idle, max time.Duration, now func() time.Time) *sessions {
	return &sessions{st: st, idle: idle, max: max, now: now}
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// csrfFor derives a session's CSRF token from its cookie's id: no server
// keeps it, and the token, written into every form, tells nothing of the
// id (nor of the key the store keeps, a hash of another input).
func csrfFor(id string) string {
	sum := sha256.Sum256([]byte("aicred console csrf\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// start stores a session and returns the cookie's id.
func (ss *sessions) start(ctx context.Context, s *session) (string, error) {
	id := randomID()
	now := ss.now()
	s.key, s.csrf, s.created, s.lastSeen = hashID(id), csrfFor(id), now, now
	err := ss.st.StartConsoleSession(ctx, aicred.ConsoleSession{KeyHash: s.key, Actor: s.actor, Name: s.name, CanWrite: s.canWrite,
		TokenHash: s.tokenHash, CreatedAt: now, LastSeen: now, Expires: now.Add(ss.max)})
	if err != nil {
		return "", err
	}
	return id, nil
}

// get returns the request's live session (nil when there is none),
// refreshing its idle timer; an error when the store cannot tell.
func (ss *sessions) get(r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	cs, err := ss.st.ConsoleSession(r.Context(), hashID(ck.Value), ss.now(), ss.idle)
	switch {
	case aicred.KindOf(err) == aicred.ErrNotFound:
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &session{key: cs.KeyHash, actor: cs.Actor, name: cs.Name, canWrite: cs.CanWrite, tokenHash: cs.TokenHash,
		csrf: csrfFor(ck.Value), created: cs.CreatedAt, lastSeen: cs.LastSeen}, nil
}

// drop ends the session on every server.
func (ss *sessions) drop(ctx context.Context, s *session) error {
	return ss.st.EndConsoleSession(ctx, s.key)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: c.o.Secure, SameSite: http.SameSiteStrictMode}
	switch {
	case value == "":
		ck.MaxAge = -1
	case maxAge > 0:
		ck.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, ck)
}

// checkCSRF compares the form's csrf field with want in constant time,
// and refuses a request whose Origin names another site.
func (c *Console) checkCSRF(r *http.Request, want string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	got := r.PostFormValue("csrf")
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loginPage shows the login form; a fresh login cookie carries its CSRF
// token.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := c.sessions.get(r); err == nil && s != nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, code int, problem string) {
	tok := randomID()
	c.setCookie(w, loginCookie, tok, 10*time.Minute)
	c.render(w, r, code, "login", nil, "Log in", map[string]any{
		"CSRF": tok, "Next": safeNext(r.FormValue("next")), "Problem": problem, "OIDC": c.oidc != nil,
	})
}

// login takes an admin token from the form. The token is looked up by
// its hash and never kept, logged or echoed.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !c.checkCSRF(r, ck.Value) {
		c.showLogin(w, r, http.StatusForbidden, "The login form expired: try again.")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	g, err := httpapi.AuthenticateAdmin(r.Context(), c.o.Store, tok, c.o.Now())
	if err != nil {
		if aicred.KindOf(err) != aicred.ErrUnauthorized {
			c.o.Log.Warn("console: login lookup failed", "err", err)
			c.showLogin(w, r, http.StatusServiceUnavailable, "The store cannot be reached: try again shortly.")
			return
		}
		c.showLogin(w, r, http.StatusUnauthorized, "That is not an active admin token.")
		return
	}
	if !httpapi.AdminCan(g, "read") {
		c.showLogin(w, r, http.StatusForbidden, "That admin token has neither scope read nor write.")
		return
	}
	s := &session{actor: "admin:" + g.ID, name: "admin token " + g.ID, canWrite: httpapi.AdminCan(g, "write"), tokenHash: g.TokenHash}
	c.finishLogin(w, r, s, "admin-token", safeNext(r.PostFormValue("next")))
}

// finishLogin records the login, sets the session cookie and goes on.
func (c *Console) finishLogin(w http.ResponseWriter, r *http.Request, s *session, method, next string) {
	ctx := aicred.WithActor(r.Context(), s.actor)
	scope := "read"
	if s.canWrite {
		scope = "write"
	}
	if _, err := c.o.Store.AppendAudit(ctx, aicred.AuditEvent{Action: ActionLogin, Subject: s.actor,
		Data: map[string]string{"method": method, "scope": scope}}); err != nil {
		c.o.Log.Warn("console: login audit failed", "err", err)
		c.showLogin(w, r, http.StatusServiceUnavailable, "The store cannot be reached: try again shortly.")
		return
	}
	id, err := c.sessions.start(ctx, s)
	if err != nil {
		c.o.Log.Warn("console: session not stored", "err", err)
		c.showLogin(w, r, http.StatusServiceUnavailable, "The store cannot be reached: try again shortly.")
		return
	}
	c.setCookie(w, loginCookie, "", 0)
	c.setCookie(w, sessionCookie, id, 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	if err := c.sessions.drop(r.Context(), s); err != nil {
		// The cookie stays: the person is told and may try again.
		c.fail(w, r, s, aicred.Errorf(aicred.ErrUnavailable, "the store cannot be reached: the session is not ended, try again"))
		return
	}
	if _, err := c.o.Store.AppendAudit(r.Context(), aicred.AuditEvent{Action: ActionLogout, Subject: s.actor}); err != nil {
		c.o.Log.Warn("console: logout audit failed", "err", err)
	}
	c.setCookie(w, sessionCookie, "", 0)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// Audit actions of the console (its other actions are recorded by the
// services they call: token.revoked, credential.revoked ...).
const (
	ActionLogin            = "console.login"
	ActionLogout           = "console.logout"
	ActionAlertAcknowledge = "alert.acknowledged"
	ActionAuditExported    = "audit.exported"
	ActionAuditVerified    = "audit.verified"
)

// safeNext keeps a redirect target inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// Actor, Name and CanWrite are what pages show of a session.
func (s *session) Actor() string  { return s.actor }
func (s *session) Name() string   { return s.name }
func (s *session) CanWrite() bool { return s.canWrite }
