package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// OIDCConfig lets people log in with an OpenID Connect provider: the
// authorization code flow with PKCE (S256) and a nonce; the ID token is
// verified with the provider's published keys (discovery, cached).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (https; http only on a
	// loopback host with AllowInsecureHTTP).
	Issuer   string
	ClientID string
	// ClientSecret authenticates the client at the token endpoint
	// (client_secret_post); empty for a public client (PKCE alone).
	ClientSecret string
	// RedirectURL is this console's callback, as registered with the
	// provider: https://HOST/ui/oidc/callback.
	RedirectURL string
	// AllowedEmails and AllowedGroups say who may log in: a person whose
	// verified email is listed, or whose GroupsClaim names a listed
	// group. At least one is required.
	AllowedEmails []string
	AllowedGroups []string
	// GroupsClaim names the ID token claim listing groups (default
	// "groups").
	GroupsClaim string
	// Write lets OIDC sessions act (rotate, revoke, acknowledge); false:
	// people logged in with OIDC only read.
	Write             bool
	AllowInsecureHTTP bool
	// Client makes the discovery, key and token requests (tests).
	Client *http.Client
}

type oidcClient struct {
	cfg    OIDCConfig
	v      *broker.Verifier
	now    func() time.Time
	client *http.Client

	mu        sync.Mutex
	endpoints *oidcEndpoints
}

type oidcEndpoints struct {
	Issuer    string `json:"issuer"`
	Authorize string `json:"authorization_endpoint"`
	Token     string `json:"token_endpoint"`
}

// oidcFlow is one login under way. No server keeps it: the browser's
// flow cookie holds a random secret, the page to go on to and the
// flow's end, and the state, PKCE verifier and nonce are derived from
// them, so the callback may reach any server sharing the store (or one
// restarted since), and a cookie whose page or end was changed no longer
// gives the state the provider sends back.
type oidcFlow struct {
	secret, next           string
	expires                time.Time
	state, verifier, nonce string
}

// newOIDCFlow derives a flow's values from its secret, next page and end.
func newOIDCFlow(secret, next string, expires time.Time) *oidcFlow {
	derive := func(label string, parts ...string) string {
		h := sha256.New()
		h.Write([]byte("aicred console oidc " + label))
		for _, p := range parts {
			h.Write([]byte{0})
			h.Write([]byte(p))
		}
		return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
	}
	end := strconv.FormatInt(expires.Unix(), 10)
	return &oidcFlow{secret: secret, next: next, expires: time.Unix(expires.Unix(), 0),
		state: derive("state", secret, next, end), verifier: derive("pkce", secret), nonce: derive("nonce", secret)}
}

// cookie is the flow cookie's value: secret.next.end.
func (f *oidcFlow) cookie() string {
	return f.secret + "." + base64.RawURLEncoding.EncodeToString([]byte(f.next)) + "." + strconv.FormatInt(f.expires.Unix(), 10)
}

// parseOIDCFlow reads a flow cookie; nil when it is malformed.
func parseOIDCFlow(v string) *oidcFlow {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || len(parts[0]) < 43 {
		return nil
	}
	next, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	end, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return nil
	}
	return newOIDCFlow(parts[0], string(next), time.Unix(end, 0))
}

// oidcFlowTTL bounds a login at the provider.
const oidcFlowTTL = 10 * time.Minute

func newOIDCClient(cfg OIDCConfig, now func() time.Time) (*oidcClient, error) {
	switch {
	case cfg.ClientID == "":
		return nil, errors.New("client_id is required")
	case cfg.RedirectURL == "":
		return nil, errors.New("redirect_url is required")
	case len(cfg.AllowedEmails) == 0 && len(cfg.AllowedGroups) == 0:
		return nil, errors.New("allowed_emails or allowed_groups is required: who may log in")
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || u.Host == "" || !strings.HasSuffix(u.Path, Prefix+"oidc/callback") {
		return nil, fmt.Errorf("redirect_url %q: want an absolute URL ending in %soidc/callback", cfg.RedirectURL, Prefix)
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	keys, err := broker.NewRemoteKeys(broker.RemoteKeysConfig{Issuer: cfg.Issuer, Client: cfg.Client, AllowInsecureHTTP: cfg.AllowInsecureHTTP, Clock: now})
	if err != nil {
		return nil, err
	}
	v, err := broker.NewVerifier(broker.VerifierConfig{Issuer: cfg.Issuer, Audiences: []string{cfg.ClientID}, Keys: keys, Clock: now, MaxAge: 10 * time.Minute})
	if err != nil {
		return nil, err
	}
	return &oidcClient{cfg: cfg, v: v, now: now, client: cfg.Client}, nil
}

// discover reads the provider's endpoints once.
func (o *oidcClient) discover(ctx context.Context) (*oidcEndpoints, error) {
	o.mu.Lock()
	ep := o.endpoints
	o.mu.Unlock()
	if ep != nil {
		return ep, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(o.cfg.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "oidc discovery: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "oidc discovery: status %d", resp.StatusCode)
	}
	ep = &oidcEndpoints{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(ep); err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "oidc discovery: %v", err)
	}
	if ep.Issuer != o.cfg.Issuer || ep.Authorize == "" || ep.Token == "" {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "oidc discovery: the document names issuer %q and no usable endpoints", ep.Issuer)
	}
	for _, u := range []string{ep.Authorize, ep.Token} {
		pu, err := url.Parse(u)
		if err != nil || !(pu.Scheme == "https" || pu.Scheme == "http" && o.cfg.AllowInsecureHTTP && loopback(pu.Hostname())) {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "oidc discovery: endpoint %q is not https", u)
		}
	}
	o.mu.Lock()
	o.endpoints = ep
	o.mu.Unlock()
	return ep, nil
}

func loopback(h string) bool { return h == "127.0.0.1" || h == "::1" || h == "localhost" }

func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// oidcStart sends the browser to the provider with a fresh state, nonce
// and PKCE challenge; the state also goes in the login cookie, so a
// callback from another browser is refused.
func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.fail(w, r, nil, aicred.Errorf(aicred.ErrNotFound, "OIDC login is not configured"))
		return
	}
	o := c.oidc
	ep, err := o.discover(r.Context())
	if err != nil {
		c.o.Log.Warn("console: oidc", "err", err)
		c.showLogin(w, r, http.StatusServiceUnavailable, "The identity provider cannot be reached.")
		return
	}
	f := newOIDCFlow(randomID(), safeNext(r.URL.Query().Get("next")), o.now().Add(oidcFlowTTL))
	q := url.Values{"response_type": {"code"}, "client_id": {o.cfg.ClientID}, "redirect_uri": {o.cfg.RedirectURL},
		"scope": {"openid email profile"}, "state": {f.state}, "nonce": {f.nonce},
		"code_challenge": {pkceChallenge(f.verifier)}, "code_challenge_method": {"S256"}}
	// The callback is a navigation from the provider's site: a
	// SameSite=Lax cookie binds the flow to this browser (the session
	// cookie itself stays Strict).
	http.SetCookie(w, &http.Cookie{Name: loginCookie + "_oidc", Value: f.cookie(), Path: Prefix + "oidc/", HttpOnly: true, Secure: c.o.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcFlowTTL / time.Second)})
	sep := "?"
	if strings.Contains(ep.Authorize, "?") {
		sep = "&"
	}
	http.Redirect(w, r, ep.Authorize+sep+q.Encode(), http.StatusFound)
}

// oidcCallback exchanges the code (with the PKCE verifier), verifies the
// ID token (signature, issuer, audience, expiry, nonce) and checks the
// person is allowed.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if c.oidc == nil {
		c.fail(w, r, nil, aicred.Errorf(aicred.ErrNotFound, "OIDC login is not configured"))
		return
	}
	o := c.oidc
	q := r.URL.Query()
	state := q.Get("state")
	var f *oidcFlow
	if ck, err := r.Cookie(loginCookie + "_oidc"); err == nil {
		f = parseOIDCFlow(ck.Value)
	}
	if f == nil || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.state)) != 1 {
		c.showLogin(w, r, http.StatusForbidden, "The login did not start in this browser: try again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie + "_oidc", Path: Prefix + "oidc/", MaxAge: -1, HttpOnly: true, Secure: c.o.Secure, SameSite: http.SameSiteLaxMode})
	if o.now().After(f.expires) {
		c.showLogin(w, r, http.StatusForbidden, "The login expired: try again.")
		return
	}
	if e := q.Get("error"); e != "" {
		c.showLogin(w, r, http.StatusForbidden, "The identity provider refused: "+clip(aicred.StorableText(e), 80))
		return
	}
	who, err := o.exchange(r.Context(), q.Get("code"), f)
	if err != nil {
		c.o.Log.Warn("console: oidc login refused", "err", err)
		c.showLogin(w, r, http.StatusForbidden, "The identity provider's answer was refused.")
		return
	}
	if !o.allowed(who) {
		c.showLogin(w, r, http.StatusForbidden, who.email+" may not use this console.")
		return
	}
	name := who.email
	if name == "" {
		name = who.subject
	}
	s := &session{actor: "oidc:" + name, name: name, canWrite: o.cfg.Write}
	// A navigation that began on the provider's site does not carry
	// SameSite=Strict cookies, even through redirects: a page of ours
	// sends the browser on, so the next request is same-site.
	ctx := aicred.WithActor(r.Context(), s.actor)
	if _, err := c.o.Store.AppendAudit(ctx, aicred.AuditEvent{Action: ActionLogin, Subject: s.actor,
		Data: map[string]string{"method": "oidc", "issuer": o.cfg.Issuer, "subject": who.subject, "scope": map[bool]string{true: "write", false: "read"}[s.canWrite]}}); err != nil {
		c.showLogin(w, r, http.StatusServiceUnavailable, "The store cannot be reached: try again shortly.")
		return
	}
	id, err := c.sessions.start(ctx, s)
	if err != nil {
		c.o.Log.Warn("console: session not stored", "err", err)
		c.showLogin(w, r, http.StatusServiceUnavailable, "The store cannot be reached: try again shortly.")
		return
	}
	c.setCookie(w, sessionCookie, id, 0)
	c.render(w, r, http.StatusOK, "done", s, "Logged in", map[string]any{"Lines": []string{"Logged in as " + name + "."},
		"Back": safeNext(f.next), "BackLabel": "Continue", "Refresh": safeNext(f.next)})
}

type oidcPerson struct {
	subject, email string
	verified       bool
	groups         []string
}

func (o *oidcClient) exchange(ctx context.Context, code string, f *oidcFlow) (*oidcPerson, error) {
	if code == "" {
		return nil, errors.New("no code")
	}
	ep, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.cfg.RedirectURL},
		"client_id": {o.cfg.ClientID}, "code_verifier": {f.verifier}}
	if o.cfg.ClientSecret != "" {
		form.Set("client_secret", o.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var tr struct {
		IDToken string `json:"id_token"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("token endpoint: status %d: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || tr.IDToken == "" {
		return nil, fmt.Errorf("token endpoint: status %d, error %q", resp.StatusCode, clip(aicred.StorableText(tr.Error), 60))
	}
	jwt, err := o.v.Verify(ctx, tr.IDToken)
	if err != nil {
		return nil, fmt.Errorf("id token: %w", err)
	}
	if n, _ := jwt.Claims["nonce"].(string); n == "" || n != f.nonce {
		return nil, errors.New("id token: nonce does not match")
	}
	p := &oidcPerson{subject: jwt.Subject}
	p.email, _ = jwt.Claims["email"].(string)
	p.verified, _ = jwt.Claims["email_verified"].(bool)
	if gs, ok := jwt.Claims[o.cfg.GroupsClaim].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				p.groups = append(p.groups, s)
			}
		}
	}
	if p.subject == "" {
		return nil, errors.New("id token: no subject")
	}
	return p, nil
}

// allowed: a listed, verified email, or a listed group.
func (o *oidcClient) allowed(p *oidcPerson) bool {
	if p.email != "" && p.verified && slices.ContainsFunc(o.cfg.AllowedEmails, func(e string) bool { return strings.EqualFold(e, p.email) }) {
		return true
	}
	for _, g := range p.groups {
		if slices.Contains(o.cfg.AllowedGroups, g) {
			return true
		}
	}
	return false
}

// CheckOIDC checks an OIDC configuration as New would, without
// contacting the provider.
func CheckOIDC(cfg OIDCConfig) (*OIDCConfig, error) {
	if _, err := newOIDCClient(cfg, time.Now); err != nil {
		return nil, err
	}
	return &cfg, nil
}
