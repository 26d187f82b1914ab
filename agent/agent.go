package agent

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config sets an Agent up.
type Config struct {
	// Server is the aicred server's base URL.
	Server string
	// Identity yields the workload's identity token at each exchange.
	Identity Identity
	// Audience and Scope narrow the token asked for (RFC 8693).
	Audience, Scope string
	// ExpectRole, when set, refuses a token of another role (the server's
	// trust policy picks the role; this checks it is the one meant).
	ExpectRole string
	// RefreshBefore: the token is exchanged again this long before it
	// expires (default: a third of its lifetime).
	RefreshBefore time.Duration
	// Client talks to the server (default: 30s timeout, no redirects).
	Client *http.Client
	// Transport forwards the job's calls (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	Log       *slog.Logger
	Now       func() time.Time
}

// Agent holds the current token and serves the loopback endpoint.
type Agent struct {
	cfg    Config
	server *url.URL
	secret string // the per-run secret the job presents
	s3id   string // the per-run S3 access key id the job signs with

	mu      sync.RWMutex
	token   string
	expires time.Time
	s3pair  *S3Pair
	gen     int // exchanges so far

	ln    net.Listener
	srv   *http.Server
	proxy *httputil.ReverseProxy
	s3    *s3Forwarder
}

// S3Pair is the fence key pair of the current token.
type S3Pair struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Expiration      string `json:"Expiration"`
}

// New checks cfg.
func New(cfg Config) (*Agent, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agent: server %q is not an http(s) URL", cfg.Server)
	}
	if cfg.Identity == nil {
		return nil, errors.New("agent: no identity")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	a := &Agent{cfg: cfg, server: u, secret: "aicred-agent-" + random(32), s3id: "AKAGENT" + strings.ToUpper(random(16))}
	return a, nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(b32.EncodeToString(b))[:n]
}

// Secret is the per-run secret the job presents as its API key.
func (a *Agent) Secret() string { return a.secret }

// S3AccessKeyID is the per-run access key id the job signs S3 calls with
// (Secret is its secret access key).
func (a *Agent) S3AccessKeyID() string { return a.s3id }

// Token returns the current aicred token and its expiry.
func (a *Agent) Token() (string, time.Time) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.token, a.expires
}

// Exchanges is how many tokens the agent has obtained.
func (a *Agent) Exchanges() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen
}

// Exchange trades a fresh identity token for an aicred token (RFC 8693)
// and, when the role reaches object storage, the token's S3 key pair.
func (a *Agent) Exchange(ctx context.Context) error {
	jwt, err := a.cfg.Identity.Token(ctx)
	if err != nil {
		return err
	}
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {jwt},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
	}
	if a.cfg.Audience != "" {
		form.Set("audience", a.cfg.Audience)
	}
	if a.cfg.Scope != "" {
		form.Set("scope", a.cfg.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.server.String()+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" || out.ExpiresIn <= 0 {
		return fmt.Errorf("token exchange refused: HTTP %d %s %s", resp.StatusCode, out.Error, out.Description)
	}
	expires := a.cfg.Now().Add(time.Duration(out.ExpiresIn) * time.Second)
	if a.cfg.ExpectRole != "" {
		role, err := a.whoamiRole(ctx, out.AccessToken)
		if err != nil {
			return err
		}
		if role != a.cfg.ExpectRole {
			return fmt.Errorf("the server issued a token of role %q, not %q", role, a.cfg.ExpectRole)
		}
	}
	pair, err := a.fetchS3Pair(ctx, out.AccessToken)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.token, a.expires, a.s3pair = out.AccessToken, expires, pair
	a.gen++
	a.mu.Unlock()
	a.cfg.Log.Info("aicred token obtained", "expires", expires, "identity", a.cfg.Identity.Name())
	return nil
}

// whoamiRole asks the server which role a token has.
func (a *Agent) whoamiRole(ctx context.Context, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.server.String()+"/aicred/v1/whoami", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("whoami: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Grant struct {
			Role string `json:"role"`
		} `json:"grant"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("whoami: HTTP %d", resp.StatusCode)
	}
	return out.Grant.Role, nil
}

// ProcessCredentials returns the token's S3 key pair in the AWS
// credential_process shape; ok is false when the role reaches no storage.
func (a *Agent) ProcessCredentials() (map[string]any, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.s3pair == nil {
		return nil, false
	}
	return map[string]any{"Version": 1, "AccessKeyId": a.s3pair.AccessKeyID, "SecretAccessKey": a.s3pair.SecretAccessKey,
		"Expiration": a.s3pair.Expiration}, true
}

// fetchS3Pair asks for the token's fence key pair; nil when the server
// serves no storage or the role has none.
func (a *Agent) fetchS3Pair(ctx context.Context, token string) (*S3Pair, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.server.String()+"/aicred/v1/s3/credentials", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("s3 credentials: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusForbidden, http.StatusMethodNotAllowed:
		return nil, nil
	default:
		return nil, fmt.Errorf("s3 credentials: HTTP %d", resp.StatusCode)
	}
	var p S3Pair
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p); err != nil || p.AccessKeyID == "" {
		return nil, errors.New("s3 credentials: unreadable answer")
	}
	return &p, nil
}

// refreshAt is when the current token should be replaced.
func (a *Agent) refreshAt() time.Time {
	a.mu.RLock()
	defer a.mu.RUnlock()
	before := a.cfg.RefreshBefore
	if before <= 0 {
		before = a.expires.Sub(a.cfg.Now()) / 3
	}
	return a.expires.Add(-before)
}

// Start obtains the first token, listens on a loopback port and keeps the
// token fresh until ctx ends.
func (a *Agent) Start(ctx context.Context) error {
	if err := a.Exchange(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	a.ln = ln
	a.proxy = &httputil.ReverseProxy{
		Rewrite:       a.rewrite,
		Transport:     a.cfg.Transport,
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(a.cfg.Log.Handler(), slog.LevelWarn),
	}
	a.s3 = &s3Forwarder{a: a, client: &http.Client{Transport: a.cfg.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	go a.refreshLoop(ctx)
	return nil
}

// URL is the loopback endpoint's base URL.
func (a *Agent) URL() string { return "http://" + a.ln.Addr().String() }

// Close stops the endpoint.
func (a *Agent) Close() error {
	if a.srv == nil {
		return nil
	}
	return a.srv.Close()
}

func (a *Agent) refreshLoop(ctx context.Context) {
	for {
		wait := a.refreshAt().Sub(a.cfg.Now())
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff := time.Second
		for {
			err := a.Exchange(ctx)
			if err == nil {
				break
			}
			a.cfg.Log.Warn("aicred token refresh failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

// authHeaders are where SDKs put their API key.
var authHeaders = []string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// presented returns the key a request presents (Bearer or an API-key
// header).
func presented(r *http.Request) string {
	if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:])
	}
	for _, h := range authHeaders {
		if v := r.Header.Get(h); v != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func loopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// ServeHTTP forwards a call of the job to the server with the current
// token: S3 calls (SigV4-signed with the run's key pair) are re-signed
// with the token's fence pair; every other call must present the run's
// secret, which is replaced by the token.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopback(r) {
		http.Error(w, "aicred agent: loopback only", http.StatusForbidden)
		return
	}
	// Without full duplex net/http drains and closes the request body
	// once a streamed answer's header is flushed, racing the transport's
	// last read of it: a stream then breaks mid-way now and then.
	_ = http.NewResponseController(w).EnableFullDuplex()
	if strings.HasPrefix(r.URL.Path, "/s3/") {
		a.s3.ServeHTTP(w, r)
		return
	}
	if p := presented(r); p == "" || subtle.ConstantTimeCompare([]byte(p), []byte(a.secret)) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"type":"authentication_error","message":"aicred agent: present the run's key (the API key variables aicred run set)"}}`)
		return
	}
	a.proxy.ServeHTTP(w, r)
}

func (a *Agent) rewrite(pr *httputil.ProxyRequest) {
	tok, _ := a.Token()
	pr.SetURL(a.server)
	pr.Out.URL.Path = a.server.Path + pr.In.URL.Path
	pr.Out.URL.RawPath = ""
	if pr.In.URL.RawPath != "" {
		pr.Out.URL.RawPath = a.server.EscapedPath() + pr.In.URL.RawPath
	}
	pr.Out.Host = a.server.Host
	h := pr.Out.Header
	if v := h.Get("Authorization"); v != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	for _, name := range authHeaders {
		if h.Get(name) != "" {
			h.Set(name, tok)
		}
	}
	if h.Get("Authorization") == "" && !hasAny(h, authHeaders) {
		h.Set("Authorization", "Bearer "+tok)
	}
	h.Del("X-Forwarded-For")
}

func hasAny(h http.Header, names []string) bool {
	for _, n := range names {
		if h.Get(n) != "" {
			return true
		}
	}
	return false
}
