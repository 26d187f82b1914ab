package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aicred/aicred"
)

// Defaults and bounds of a RemoteKeys cache.
const (
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxCacheAge        = 24 * time.Hour
	MaxMaxCacheAge            = 7 * 24 * time.Hour
	DefaultFetchTimeout       = 5 * time.Second
)

// RemoteKeysConfig says where an issuer's keys live and how long to trust
// a cached copy.
type RemoteKeysConfig struct {
	// Issuer is the issuer URL (https). Unless JWKSURL is set, the key set
	// is found through Issuer + "/.well-known/openid-configuration", whose
	// "issuer" must equal Issuer exactly (OpenID Connect Discovery §4.3).
	Issuer string
	// JWKSURL, when set, is fetched directly, skipping discovery
	// (Kubernetes serves /openid/v1/jwks).
	JWKSURL string
	// Client makes the requests; nil means a client with FetchTimeout.
	Client *http.Client
	// FetchTimeout bounds one refresh (discovery and key set).
	FetchTimeout time.Duration
	// RefreshInterval: a cache older than this is refreshed on use.
	RefreshInterval time.Duration
	// MinRefreshInterval: at most one fetch attempt per interval, however
	// many tokens name an unknown kid, so forged tokens cannot make the
	// broker hammer the issuer.
	MinRefreshInterval time.Duration
	// MaxCacheAge: cached keys keep serving while the endpoint is down,
	// until they are this old; then verification fails closed.
	MaxCacheAge time.Duration
	// Uses are the accepted JWK "use" values (nil: absent or "sig").
	Uses []string
	// AllowInsecureHTTP accepts http:// URLs for Issuer, JWKSURL and the
	// discovered jwks_uri, but only on a loopback host (an identity
	// provider on this machine, for development). https is always
	// accepted.
	AllowInsecureHTTP bool
	// Logger receives fetch failures; nil discards them.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// RemoteKeys is the key set of an issuer fetched over HTTPS and cached.
type RemoteKeys struct {
	cfg   RemoteKeysConfig
	state atomic.Pointer[keyState]
	// sem admits one fetch at a time; waiting on a channel honours ctx.
	sem chan struct{}

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
}

type keyState struct {
	keys      []Key
	fetchedAt time.Time
}

// NewRemoteKeys checks cfg and returns an empty cache: nothing is fetched
// until the first token needs a key. Errors: ErrInvalid.
func NewRemoteKeys(cfg RemoteKeysConfig) (*RemoteKeys, error) {
	if err := checkFetchURL("issuer", cfg.Issuer, cfg.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	if cfg.JWKSURL != "" {
		if err := checkFetchURL("jwks_uri", cfg.JWKSURL, cfg.AllowInsecureHTTP); err != nil {
			return nil, err
		}
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = min(DefaultMinRefreshInterval, cfg.RefreshInterval)
	}
	if cfg.MaxCacheAge == 0 {
		cfg.MaxCacheAge = max(DefaultMaxCacheAge, cfg.RefreshInterval)
	}
	switch {
	case cfg.FetchTimeout < 0 || cfg.RefreshInterval < 0 || cfg.MinRefreshInterval < 0 || cfg.MaxCacheAge < 0:
		return nil, aicred.Errorf(aicred.ErrInvalid, "key cache: negative duration")
	case cfg.MinRefreshInterval > cfg.RefreshInterval:
		return nil, aicred.Errorf(aicred.ErrInvalid, "key cache: min_refresh_interval (%s) exceeds refresh_interval (%s)", cfg.MinRefreshInterval, cfg.RefreshInterval)
	case cfg.RefreshInterval > cfg.MaxCacheAge:
		return nil, aicred.Errorf(aicred.ErrInvalid, "key cache: refresh_interval (%s) exceeds max_cache_age (%s)", cfg.RefreshInterval, cfg.MaxCacheAge)
	case cfg.MaxCacheAge > MaxMaxCacheAge:
		return nil, aicred.Errorf(aicred.ErrInvalid, "key cache: max_cache_age (%s) exceeds %s", cfg.MaxCacheAge, MaxMaxCacheAge)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.FetchTimeout, CheckRedirect: fetchRedirects(cfg.AllowInsecureHTTP)}
	}
	if cfg.Uses == nil {
		cfg.Uses = usesOIDC()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &RemoteKeys{cfg: cfg, sem: make(chan struct{}, 1)}, nil
}

// checkFetchURL accepts an https URL without user information, query or
// fragment; with allowHTTP, also such an http URL to a loopback host.
func checkFetchURL(what, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return aicred.Errorf(aicred.ErrInvalid, "%s %q: want an https URL without query or fragment", what, raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return aicred.Errorf(aicred.ErrInvalid, "%s %q: want an https URL without query or fragment", what, raw)
	case !allowHTTP:
		return aicred.Errorf(aicred.ErrInvalid, "%s %q: plain http is refused: want an https URL (for an issuer on this machine only, allow_insecure_http: true permits http on a loopback address)", what, raw)
	case !loopbackHost(u.Hostname()):
		return aicred.Errorf(aicred.ErrInvalid, "%s %q: plain http only to a loopback address (127.0.0.1, ::1, localhost), even with allow_insecure_http", what, raw)
	}
	return nil
}

// fetchRedirects follows at most 5 redirects, each to a URL checkFetchURL
// accepts: a redirect cannot turn an https fetch into plain http to
// another host.
func fetchRedirects(allowHTTP bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		u := *req.URL
		u.RawQuery, u.Fragment = "", ""
		return checkFetchURL("redirect", u.String(), allowHTTP)
	}
}

// loopbackHost reports whether host names this machine: localhost or a
// loopback IP address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Keys implements KeySource. A fresh cache answers without I/O. A stale
// cache, or a kid it does not know, leads to one refresh per
// MinRefreshInterval; when that fails, keys younger than MaxCacheAge keep
// serving, older ones are never used.
func (r *RemoteKeys) Keys(ctx context.Context, kid string) ([]Key, error) {
	now := r.cfg.Clock()
	st := r.state.Load()
	var have []Key
	if r.usable(st, now) {
		have = selectKeys(st.keys, kid)
		if len(have) > 0 && now.Sub(st.fetchedAt) < r.cfg.RefreshInterval {
			return have, nil
		}
	}
	// Keys in hand (stale): refresh only if no other request is already
	// doing so, and serve the cached keys whatever happens. No keys:
	// wait for the refresh, since there is nothing else to offer.
	if err := r.refresh(ctx, len(have) == 0); err != nil && len(have) > 0 {
		return have, nil
	}
	st = r.state.Load()
	now = r.cfg.Clock()
	if !r.usable(st, now) {
		r.mu.Lock()
		cause := r.lastErr
		r.mu.Unlock()
		if cause == nil {
			cause = fmt.Errorf("no key set fetched in the last %s", r.cfg.MaxCacheAge)
		}
		return nil, aicred.Errorf(aicred.ErrUnavailable, "keys of %s: %w", r.cfg.Issuer, cause)
	}
	return selectKeys(st.keys, kid), nil
}

func (r *RemoteKeys) usable(st *keyState, now time.Time) bool {
	return st != nil && now.Sub(st.fetchedAt) < r.cfg.MaxCacheAge
}

// refresh fetches the key set unless a fetch was attempted less than
// MinRefreshInterval ago. With wait false it gives up at once when another
// fetch is running.
func (r *RemoteKeys) refresh(ctx context.Context, wait bool) error {
	if wait {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case r.sem <- struct{}{}:
		default:
			return nil
		}
	}
	defer func() { <-r.sem }()

	now := r.cfg.Clock()
	r.mu.Lock()
	if !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.cfg.MinRefreshInterval {
		err := r.lastErr
		r.mu.Unlock()
		return err
	}
	r.lastAttempt = now
	r.mu.Unlock()

	// One caller's cancelled request must not abort a fetch every later
	// request depends on; the fetch has its own deadline.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FetchTimeout)
	defer cancel()
	keys, skipped, err := r.fetch(fctx)

	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
	if err != nil {
		r.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "key set refresh failed",
			slog.String("issuer", r.cfg.Issuer), slog.String("error", err.Error()))
		return err
	}
	if skipped > 0 {
		r.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "key set: skipped unusable keys",
			slog.String("issuer", r.cfg.Issuer), slog.Int("skipped", skipped))
	}
	r.state.Store(&keyState{keys: keys, fetchedAt: now})
	return nil
}

func (r *RemoteKeys) fetch(ctx context.Context) ([]Key, int, error) {
	jwksURL := r.cfg.JWKSURL
	if jwksURL == "" {
		u, err := r.discover(ctx)
		if err != nil {
			return nil, 0, err
		}
		jwksURL = u
	}
	body, err := r.get(ctx, jwksURL)
	if err != nil {
		return nil, 0, err
	}
	return ParseJWKS(body, r.cfg.Uses)
}

func (r *RemoteKeys) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(r.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	body, err := r.get(ctx, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", aicred.Errorf(aicred.ErrUnavailable, "discovery document: %w", err)
	}
	if doc.Issuer != r.cfg.Issuer {
		return "", aicred.Errorf(aicred.ErrUnavailable, "discovery document names issuer %q, want %q", doc.Issuer, r.cfg.Issuer)
	}
	if err := checkFetchURL("jwks_uri", doc.JWKSURI, r.cfg.AllowInsecureHTTP); err != nil {
		return "", aicred.Errorf(aicred.ErrUnavailable, "discovery document: %w", err)
	}
	return doc.JWKSURI, nil
}

func (r *RemoteKeys) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "GET %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, aicred.Errorf(aicred.ErrUnavailable, "GET %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "GET %s: %w", u, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "GET %s: larger than %d bytes", u, maxJWKSBytes)
	}
	return body, nil
}
