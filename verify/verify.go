// Package verify checks whether found credentials are live, driven by the
// liveness spec each provider.Kind carries.
//
// A check is the provider's cheapest non-billable request. Only a definitive
// answer decides: a declared live status (with every body marker present) is
// Live, a declared rejection is Dead, a declared refusal is LiveNoPermission.
// Rate limits, server errors, timeouts, transport errors, redirects and
// anything unexpected are Unknown, never Dead.
//
// Secrets never reach a detail string: details are built from status codes
// and fixed words, and anything a provider's own Probe returns is scrubbed of
// the finding's secret material before it is passed on.
package verify

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// Defaults for Options.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 8
	DefaultRetries     = 2
	DefaultUserAgent   = "aicred-verify"
)

// Options configures a Verifier. The zero value is usable.
type Options struct {
	// Client sends the probes. Default: a client with dial, TLS and header
	// timeouts that does not follow redirects (a redirect would carry the
	// key to wherever it points). A caller's client is used as given, with
	// the User-Agent added to requests that carry none.
	Client *http.Client
	// Timeout bounds each request (each attempt), default 10s.
	Timeout time.Duration
	// Concurrency is the most probes in flight at once across the
	// Verifier, default 8.
	Concurrency int
	// Retries is how often a probe is repeated after a 429, a 5xx or a
	// transport error (including a timeout), default 2; negative means none.
	// Waits back off exponentially and honour Retry-After up to MaxRetryWait.
	Retries int
	// MaxRetryWait caps any single wait between attempts, default 10s. A
	// provider asking for a longer wait (Retry-After) is not retried.
	MaxRetryWait time.Duration
	// BaseURLs overrides a kind's base URL, keyed by "provider/kind" or by
	// provider id ("openai"); the more specific key wins. "{host}" in an
	// override takes the finding's host hint, as in the catalog.
	BaseURLs map[string]string
	// UserAgent is sent with every probe, default "aicred-verify".
	UserAgent string
	// Lookup resolves a finding's kind, default provider.LookupKind. Set it
	// to reach kinds outside the catalog, such as custom kinds.
	Lookup func(providerID, kindID string) (*provider.Kind, bool)
}

// A Verifier runs liveness checks. It is safe for concurrent use; results
// are cached for its lifetime, so use one per scan.
type Verifier struct {
	client   *http.Client
	timeout  time.Duration
	retries  int
	maxWait  time.Duration
	baseURLs map[string]string
	lookup   func(providerID, kindID string) (*provider.Kind, bool)
	workers  int
	sem      chan struct{} // one slot per probe in flight

	backoff time.Duration // wait before the first retry; doubles after

	mu       sync.Mutex
	cache    map[string]outcome
	inflight map[string]*call
}

// New returns a Verifier with opts, filling in defaults.
func New(opts Options) *Verifier {
	v := &Verifier{
		timeout:  opts.Timeout,
		retries:  opts.Retries,
		maxWait:  opts.MaxRetryWait,
		baseURLs: opts.BaseURLs,
		lookup:   opts.Lookup,
		workers:  opts.Concurrency,
		backoff:  250 * time.Millisecond,
		cache:    map[string]outcome{},
		inflight: map[string]*call{},
	}
	if v.timeout <= 0 {
		v.timeout = DefaultTimeout
	}
	switch {
	case v.retries == 0:
		v.retries = DefaultRetries
	case v.retries < 0:
		v.retries = 0
	}
	if v.maxWait <= 0 {
		v.maxWait = 10 * time.Second
	}
	if v.workers <= 0 {
		v.workers = DefaultConcurrency
	}
	if v.lookup == nil {
		v.lookup = provider.LookupKind
	}
	v.sem = make(chan struct{}, v.workers)
	ua := opts.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	c := opts.Client
	if c == nil {
		c = defaultClient(v.timeout, v.workers)
	}
	cc := *c // a copy, so the caller's client is not changed
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = userAgent{base: base, ua: ua}
	v.client = &cc
	return v
}

func defaultClient(timeout time.Duration, conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = min(timeout, 5*time.Second)
	t.ResponseHeaderTimeout = timeout
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConnsPerHost = conns
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// userAgent sets the User-Agent on requests that carry none, including
// those made by a provider's own Probe.
type userAgent struct {
	base http.RoundTripper
	ua   string
}

func (u userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", u.ua)
	}
	return u.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (u userAgent) CloseIdleConnections() {
	if c, ok := u.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// outcome is a check's result. cancelled marks a result cut short by the
// caller's context: it is neither cached nor handed to other waiters.
type outcome struct {
	state     aicred.Verification
	detail    string
	cancelled bool
}

// cacheable reports whether an outcome is worth keeping for the Verifier's
// lifetime. Unknown answers are transient, so a later call tries again.
func (o outcome) cacheable() bool { return !o.cancelled && o.state != aicred.Unknown }

type call struct {
	done chan struct{}
	res  outcome
}

// Verify checks one finding and returns its state and a detail that never
// contains secret material. It does not modify f. Results are cached per
// (kind, rule, secret fingerprint, related-secret fingerprints, hints), never
// per secret alone: the same string under two rules is two checks.
func (v *Verifier) Verify(ctx context.Context, f *aicred.Finding) (aicred.Verification, string) {
	if f == nil {
		return aicred.NotChecked, "no finding"
	}
	o := v.verify(ctx, f, cacheKey(f))
	return o.state, o.detail
}

// VerifyAll sets Verification and VerifyDetail on every finding. Findings
// with the same cache key are probed once; distinct ones run concurrently
// within the Verifier's limit.
func (v *Verifier) VerifyAll(ctx context.Context, fs []*aicred.Finding) {
	groups := map[string][]*aicred.Finding{}
	var order []string
	for _, f := range fs {
		if f == nil {
			continue
		}
		k := cacheKey(f)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(v.workers, len(order)) {
		wg.Go(func() {
			for k := range work {
				g := groups[k]
				o := v.verify(ctx, g[0], k)
				for _, f := range g {
					f.Verification, f.VerifyDetail = o.state, o.detail
				}
			}
		})
	}
	for _, k := range order {
		work <- k
	}
	close(work)
	wg.Wait()
}

// verify answers from the cache, joins a check already in flight for the
// same key, or runs the check.
func (v *Verifier) verify(ctx context.Context, f *aicred.Finding, key string) outcome {
	for {
		v.mu.Lock()
		if o, ok := v.cache[key]; ok {
			v.mu.Unlock()
			return o
		}
		if c, ok := v.inflight[key]; ok {
			v.mu.Unlock()
			select {
			case <-c.done:
				if c.res.cancelled && ctx.Err() == nil {
					continue // the leader's caller gave up; this one has not
				}
				return c.res
			case <-ctx.Done():
				return notStarted
			}
		}
		c := &call{done: make(chan struct{})}
		v.inflight[key] = c
		v.mu.Unlock()

		o := v.check(ctx, f)
		o.detail = scrub(o.detail, f)

		v.mu.Lock()
		delete(v.inflight, key)
		if o.cacheable() {
			v.cache[key] = o
		}
		v.mu.Unlock()
		c.res = o
		close(c.done)
		return o
	}
}

var (
	notStarted = outcome{state: aicred.NotChecked, detail: "check cancelled", cancelled: true}
	cutShort   = outcome{state: aicred.Unknown, detail: "check cancelled", cancelled: true}
)

// check runs the kind's liveness check for f.
func (v *Verifier) check(ctx context.Context, f *aicred.Finding) outcome {
	if ctx.Err() != nil {
		return notStarted
	}
	if f.Secret.IsZero() {
		return outcome{state: aicred.NotChecked, detail: "no secret material to check"}
	}
	k, ok := v.lookup(f.Provider, f.Kind)
	if !ok || k == nil {
		return outcome{state: aicred.NotChecked, detail: "kind not in the catalog"}
	}
	l := k.Liveness
	if l == nil {
		return outcome{state: aicred.NotChecked, detail: "no safe liveness check known"}
	}
	base, problem := v.baseURL(l, f)
	if problem != "" {
		return outcome{state: aicred.Unknown, detail: problem}
	}
	if l.Probe != nil {
		return v.attempts(ctx, func(actx context.Context) attempt { return v.probeOnce(ctx, actx, l, base, f) })
	}
	p, problem := prepare(l, base, f)
	if problem != "" {
		return outcome{state: aicred.Unknown, detail: problem}
	}
	return v.attempts(ctx, func(actx context.Context) attempt { return v.httpOnce(ctx, actx, l, p) })
}

// baseURL resolves the base URL for f: an override by "provider/kind" or
// provider id, else the kind's own, with "{host}" replaced by the host hint.
func (v *Verifier) baseURL(l *provider.Liveness, f *aicred.Finding) (string, string) {
	b := l.BaseURL
	if o, ok := v.baseURLs[f.Provider+"/"+f.Kind]; ok {
		b = o
	} else if o, ok := v.baseURLs[f.Provider]; ok {
		b = o
	}
	if strings.Contains(b, "{host}") {
		h := f.Hints["host"]
		if h == "" {
			return "", "needs host: no API host was found near the credential"
		}
		if !validHost(h) {
			return "", "needs host: the host found near the credential is not a plain host name"
		}
		b = strings.ReplaceAll(b, "{host}", h)
	}
	if b == "" {
		return "", "the liveness check has no base URL"
	}
	u, err := url.Parse(b)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", "the liveness check has an invalid base URL"
	}
	return strings.TrimRight(b, "/"), ""
}

// validHost accepts a DNS name or IPv4 address with an optional port, and
// nothing that could change the URL's meaning (userinfo, path, query).
func validHost(h string) bool {
	name, port, hasPort := strings.Cut(h, ":")
	if name == "" || len(name) > 253 || hasPort && (port == "" || len(port) > 5) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return name[0] != '-' && name[0] != '.'
}

// cacheKey identifies a check without secret material: the kind and rule,
// the secret's fingerprint, the related secrets' fingerprints and the hints
// (a host hint changes where the check goes).
func cacheKey(f *aicred.Finding) string {
	var b strings.Builder
	b.WriteString(f.Provider + "/" + f.Kind + "\x00" + f.Rule + "\x00" + string(f.Secret.Fingerprint()))
	for _, name := range slices.Sorted(maps.Keys(f.Related)) {
		b.WriteString("\x00r:" + name + "=" + string(f.Related[name].Fingerprint()))
	}
	for _, name := range slices.Sorted(maps.Keys(f.Hints)) {
		b.WriteString("\x00h:" + name + "=" + f.Hints[name])
	}
	return b.String()
}

// maxDetail bounds a detail passed on from a provider's Probe.
const maxDetail = 200

// scrub removes the finding's secret material from a detail, a last guard
// for details written by a provider's Probe. Details built here never hold
// secrets in the first place.
func scrub(detail string, f *aicred.Finding) string {
	secrets := []aicred.Secret{f.Secret}
	for _, s := range f.Related {
		secrets = append(secrets, s)
	}
	for _, s := range secrets {
		// Very short values would blank out ordinary words; real keys are longer.
		if s.Len() >= 8 {
			detail = strings.ReplaceAll(detail, s.Reveal(), "[REDACTED]")
		}
	}
	if len(detail) > maxDetail {
		n := maxDetail
		for n > 0 && !utf8.RuneStart(detail[n]) {
			n--
		}
		detail = detail[:n] + "..."
	}
	return detail
}
