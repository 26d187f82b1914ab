// Package web is aicred's console: a dashboard served by `aicred serve`
// under /ui/. Pages are rendered on the server with html/template from
// files embedded in the binary; charts are SVG computed here; a small
// script written here (no CDN, no build step) adds live alerts, the
// theme toggle and conveniences, and every page reads without it.
//
// Security: people log in with an admin token (scope read or write; read
// cannot act) or, when configured, with OIDC (authorization code with
// PKCE). Sessions are kept in this process's memory (one process; a
// restart logs everyone out) with idle and absolute timeouts, behind an
// HttpOnly, SameSite=Strict cookie (Secure under TLS). Every state change
// is a POST carrying the session's CSRF token, and is an audit record
// naming the person. Pages carry a strict Content-Security-Policy (no
// inline script or style) and never a secret: held credentials appear
// as fingerprints and redacted previews only.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/report"
	"github.com/aicred/aicred/respond"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// Defaults of Options.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxAge      = 12 * time.Hour
	DefaultPostureTTL  = 15 * time.Second
)

// Options configures a Console.
type Options struct {
	// Store is read for every page; actions go through Tokens and
	// Responder.
	Store aicred.Store
	// Tokens revokes grants (a grantcache.Cache in aicred serve, so the
	// gateway in this process refuses a revoked token at once); default
	// Store.
	Tokens aicred.TokenService
	// Responder rotates, revokes and replaces held credentials; nil:
	// the console offers no such action.
	Responder *respond.Responder
	// Broker is the configuration as loaded (issuers, policies, roles),
	// shown read-only; its roles' budgets are the usage page's.
	Broker *broker.Config
	// Posture is the policy the posture checks run with.
	Posture posture.Config
	// PostureTTL bounds how stale the posture shown may be: it is
	// evaluated again when older (default 15s) and after every action.
	PostureTTL time.Duration
	// Alerts is the live alert feed (NewAlerts); nil: one of its own,
	// which still sees alerts by reading the audit log every few seconds.
	Alerts *Alerts
	// OIDC, when set, lets people log in with an identity provider.
	OIDC *OIDCConfig
	// IdleTimeout ends a session unused this long (default 30m);
	// MaxAge ends any session this long after login (default 12h).
	IdleTimeout, MaxAge time.Duration
	// Secure marks the cookies Secure (the server speaks TLS).
	Secure bool
	// WorkloadHold is the hold a revocation by workload sets (zero:
	// aicred.DefaultWorkloadHold).
	WorkloadHold time.Duration
	Log          *slog.Logger
	Now          func() time.Time
}

// A Console serves the dashboard.
type Console struct {
	o        Options
	pages    map[string]*template.Template
	sessions *sessions
	alerts   *Alerts
	posture  *postureCache
	oidc     *oidcClient
	css      []byte
	assets   fs.FS
	mu       sync.Mutex
}

// New checks o and returns a Console.
func New(o Options) (*Console, error) {
	if o.Store == nil {
		return nil, errors.New("web: Store is required")
	}
	if o.Tokens == nil {
		o.Tokens = o.Store
	}
	if o.Broker == nil {
		o.Broker = &broker.Config{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.PostureTTL <= 0 {
		o.PostureTTL = DefaultPostureTTL
	}
	if o.Alerts == nil {
		o.Alerts = NewAlerts()
	}
	c := &Console{o: o, alerts: o.Alerts, sessions: newSessions(o.Store, o.IdleTimeout, o.MaxAge, o.Now)}
	c.posture = &postureCache{st: o.Store, cfg: o.Posture, ttl: o.PostureTTL, now: o.Now}
	c.posture.warm()
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	own, err := files.ReadFile("assets/console.css")
	if err != nil {
		return nil, err
	}
	// The posture report's style sheet, then the console's over it: the
	// same look, with the console's layout and dark theme.
	c.css = []byte(report.PostureStyle() + "\n" + string(own))
	if c.assets, err = fs.Sub(files, "assets"); err != nil {
		return nil, err
	}
	if o.OIDC != nil {
		if c.oidc, err = newOIDCClient(*o.OIDC, o.Now); err != nil {
			return nil, fmt.Errorf("web: oidc: %w", err)
		}
	}
	return c, nil
}

// Alerts returns the console's live alert feed.
func (c *Console) Alerts() *Alerts { return c.alerts }

// Handler returns the console's routes, all under Prefix.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/assets/{file}", c.asset)
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("GET /ui/oidc/start", c.oidcStart)
	mux.HandleFunc("GET /ui/oidc/callback", c.oidcCallback)
	mux.Handle("POST /ui/logout", c.auth(false, c.logout))

	mux.Handle("GET /ui/{$}", c.auth(false, c.overview))
	mux.Handle("GET /ui/inventory", c.auth(false, c.inventory))
	mux.Handle("GET /ui/credentials/{fp}", c.auth(false, c.credential))
	mux.Handle("GET /ui/credentials/{fp}/confirm", c.auth(true, c.confirm))
	mux.Handle("POST /ui/credentials/{fp}/act", c.auth(true, c.act))
	mux.Handle("GET /ui/posture", c.auth(false, c.posturePage))
	mux.Handle("GET /ui/usage", c.auth(false, c.usage))
	mux.Handle("GET /ui/alerts", c.auth(false, c.alertsPage))
	mux.Handle("GET /ui/alerts/stream", c.auth(false, c.alertStream))
	mux.Handle("POST /ui/alerts/ack", c.auth(true, c.ackAlert))
	mux.Handle("GET /ui/tokens", c.auth(false, c.tokens))
	mux.Handle("POST /ui/tokens/revoke", c.auth(true, c.revokeTokens))
	mux.Handle("GET /ui/config", c.auth(false, c.config))
	mux.Handle("GET /ui/audit", c.auth(false, c.auditPage))
	mux.Handle("POST /ui/audit/verify", c.auth(false, c.auditVerify))
	mux.Handle("POST /ui/audit/export", c.auth(false, c.auditExport))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, aicred.Errorf(aicred.ErrNotFound, "no such page"))
	})
	return secure(mux)
}

// csp is the Content-Security-Policy of every answer: scripts, styles and
// connections to this origin only, no inline script or style, no frames.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the security headers of every answer.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if hd.Get("Cache-Control") == "" {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	var body []byte
	var ctype string
	switch {
	case name == "console.css":
		body, ctype = c.css, "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		b, err := fs.ReadFile(c.assets, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		body, ctype = b, "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		b, err := fs.ReadFile(c.assets, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		body, ctype = b, "image/svg+xml"
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
}

// ctxKey carries the session in a request's context.
type ctxKey struct{}

func sessionOf(ctx context.Context) *session {
	s, _ := ctx.Value(ctxKey{}).(*session)
	return s
}

// auth requires a live session; write requires one that may act. For
// an admin token's session the token is looked up again on every
// request, so a revoked or expired admin token ends the session at once.
// A POST must carry the session's CSRF token (and, when the browser
// sends one, an Origin of this host).
func (c *Console) auth(write bool, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.sessions.get(r)
		if err != nil {
			c.o.Log.Warn("console: session check failed", "err", err)
			c.fail(w, r, nil, aicred.Errorf(aicred.ErrUnavailable, "the store cannot be reached"))
			return
		}
		if s != nil && s.tokenHash != "" {
			g, err := c.o.Store.LookupGrant(r.Context(), s.tokenHash)
			switch {
			case err != nil && aicred.KindOf(err) != aicred.ErrNotFound:
				c.o.Log.Warn("console: session check failed", "err", err)
				c.fail(w, r, nil, aicred.Errorf(aicred.ErrUnavailable, "the store cannot be reached"))
				return
			case err != nil || !g.Active(c.o.Now()):
				if err := c.sessions.drop(r.Context(), s); err != nil {
					c.o.Log.Warn("console: ending the session of a lapsed admin token", "err", err)
				}
				s = nil
			}
		}
		if s == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/stream") {
				http.Redirect(w, r, Prefix+"login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !c.checkCSRF(r, s.csrf) {
			c.fail(w, r, s, aicred.Errorf(aicred.ErrUnauthorized, "the form's CSRF token is missing or wrong: reload the page and try again"))
			return
		}
		if write && !s.canWrite {
			c.fail(w, r, s, aicred.Errorf(aicred.ErrUnauthorized, "%s may read but not act (an admin token with scope write can)", s.name))
			return
		}
		ctx := aicred.WithActor(context.WithValue(r.Context(), ctxKey{}, s), s.actor)
		next(w, r.WithContext(ctx))
	})
}

// fail renders an error page with the status of err's kind. Server
// errors are logged and not detailed.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code >= 500 && code != http.StatusServiceUnavailable {
		c.o.Log.Warn("console: request failed", "path", r.URL.Path, "err", err)
		msg = http.StatusText(code)
	}
	c.render(w, r, code, "error", s, "Error", map[string]any{"Code": code, "Message": msg})
}

func statusOf(err error) int {
	switch aicred.KindOf(err) {
	case aicred.ErrInvalid:
		return http.StatusBadRequest
	case aicred.ErrNotFound:
		return http.StatusNotFound
	case aicred.ErrConflict:
		return http.StatusConflict
	case aicred.ErrUnauthorized:
		return http.StatusForbidden
	case aicred.ErrUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
