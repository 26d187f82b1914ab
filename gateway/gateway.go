// Package gateway is the request path of aicred's proxy: a workload calls
// aicred exactly as it would call the provider, with an aicred token in
// place of a key; the gateway authenticates the token, authorizes the
// request against the token's scope, injects the real key and forwards
// with httputil.ReverseProxy, streams the answer back untouched, and
// writes one usage record per request.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// HeldStore returns held credentials; aicred.Store satisfies it.
type HeldStore interface {
	GetHeldCredential(ctx context.Context, id string) (*aicred.HeldCredential, error)
}

// Opener decrypts a held credential's sealed blob; seal.Keyring
// satisfies it.
type Opener interface {
	Open(blob, aad []byte) (aicred.Secret, error)
}

// Config wires a Gateway.
type Config struct {
	Tokens broker.TokenStore // a grantcache.Cache in production
	Held   HeldStore
	Opener Opener
	// Upstreams maps a provider id ("openai", "anthropic") to its base
	// URL ("https://api.openai.com"); a provider left out is not served.
	Upstreams map[string]string
	Usage     UsageRecorder
	// Refusals, when set, hears every refused request (the abuse
	// detector counts authorization failures there).
	Refusals RefusalObserver
	// Prices defaults to DefaultPrices.
	Prices *PriceTable
	// Unpriced, when set, is charged for models with no price; when nil
	// such requests are refused. Its rates must be positive.
	Unpriced *Price
	// MaxBodyBytes bounds a request body (default 32 MB; 413 beyond).
	MaxBodyBytes int64
	// UpstreamTimeout bounds the wait for the response headers (default
	// 5 minutes; 504 beyond). Streams may then run as long as they last.
	UpstreamTimeout time.Duration
	// StreamIdleTimeout bounds the pause between two reads of a response
	// body (default 2 minutes); past it the upstream request is cancelled
	// and the record says upstream_timeout.
	StreamIdleTimeout time.Duration
	// KeyTTL bounds how long a decrypted key stays in memory (default 5
	// minutes).
	KeyTTL time.Duration
	// Roles finds a token's role by name, for its budgets and rate
	// limits. When nil, no budget or rate limit is enforced; a role it
	// does not find is refused (403).
	Roles func(name string) (*broker.Role, bool)
	// Admission holds the reservations (default: a MemoryAdmission with
	// ReservationTTL, for one process).
	Admission Admission
	// ReservationTTL bounds how long an unsettled reservation holds
	// budget (default 10 minutes).
	ReservationTTL time.Duration
	// DefaultMaxOutput is the output assumed for the worst case when a
	// request sets no max_tokens (default 4096).
	DefaultMaxOutput int64
	Transport        http.RoundTripper // default: a clone of http.DefaultTransport
	Log              *slog.Logger
	Now              func() time.Time
}

// DefaultUpstreams are the providers' public base URLs.
func DefaultUpstreams() map[string]string {
	return map[string]string{"openai": "https://api.openai.com", "anthropic": "https://api.anthropic.com"}
}

// A stage is one step of the request path before forwarding. It either
// lets the exchange through or refuses it.
type stage interface {
	serve(x *exchange) error
}

// Gateway serves provider APIs. Build it with New; it is an http.Handler.
type Gateway struct {
	stages    []stage
	proxy     *httputil.ReverseProxy
	upstreams map[string]*url.URL
	usage     UsageRecorder
	refusals  RefusalObserver
	log       *slog.Logger
	now       func() time.Time
	keys      *keyCache
	mux       *http.ServeMux
	idle      time.Duration
	maxOut    int64
}

// exchange is one request on its way through the stages.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	route *route
	start time.Time

	grant     *aicred.Grant
	body      []byte
	facts     requestFacts
	hideUsage bool
	price     Price
	key       aicred.Secret
	meter     *meter
	// cancel ends the upstream request (a stalled stream).
	cancel context.CancelCauseFunc
	// defaultOut is the output assumed when the request sets no
	// max_tokens (0: defaultMaxOutput).
	defaultOut int64
	// adm and ticket: the admitted reservation, settled once.
	adm     Admission
	ticket  Ticket
	settled atomic.Bool
}

type exchangeKey struct{}

// New returns a gateway for c.
func New(c Config) (*Gateway, error) {
	if c.Tokens == nil || c.Held == nil || c.Opener == nil || c.Usage == nil {
		return nil, errors.New("gateway: Tokens, Held, Opener and Usage are required")
	}
	if c.Prices == nil {
		c.Prices = DefaultPrices()
	}
	if c.Unpriced != nil && (c.Unpriced.Input <= 0 || c.Unpriced.Output <= 0) {
		return nil, errors.New("gateway: the unpriced-model rates must be positive (never $0)")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = 5 * time.Minute
	}
	if c.StreamIdleTimeout <= 0 {
		c.StreamIdleTimeout = 2 * time.Minute
	}
	if c.KeyTTL <= 0 {
		c.KeyTTL = 5 * time.Minute
	}
	if c.DefaultMaxOutput <= 0 {
		c.DefaultMaxOutput = defaultMaxOutput
	}
	if c.Admission == nil {
		c.Admission = NewMemoryAdmission(c.ReservationTTL, c.Now)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = c.UpstreamTimeout
		t.MaxIdleConnsPerHost = 256
		c.Transport = t
	}
	g := &Gateway{usage: c.Usage, refusals: c.Refusals, log: c.Log, now: c.Now, upstreams: map[string]*url.URL{}, idle: c.StreamIdleTimeout, maxOut: c.DefaultMaxOutput}
	for p, base := range c.Upstreams {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("gateway: upstream " + p + ": want an absolute http(s) URL")
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		g.upstreams[p] = u
	}
	g.keys = newKeyCache(c.Held, c.Opener, c.KeyTTL, c.Now)

	// The request path, in order. Forwarding and metering follow.
	g.stages = []stage{
		authenticate{tokens: c.Tokens, now: c.Now},
		readBody{limit: c.MaxBodyBytes},
		authorize{},
		priceModel{prices: c.Prices, unpriced: c.Unpriced},
		askUsage{},
		credential{keys: g.keys, now: c.Now},
		// Last, so that nothing refuses after the reservation and the
		// estimate sees the body as forwarded.
		admit{roles: c.Roles, adm: c.Admission},
	}

	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		FlushInterval:  -1,
		Transport:      c.Transport,
		ErrorLog:       slog.NewLogLogger(c.Log.Handler(), slog.LevelDebug),
	}

	g.mux = http.NewServeMux()
	routes := map[string]*route{
		"/v1/chat/completions": {surface: openAI, operation: broker.OpChat, upstream: "/v1/chat/completions"},
		"/v1/responses":        {surface: openAIResponses, operation: broker.OpResponses, upstream: "/v1/responses"},
		"/v1/messages":         {surface: anthropicAPI, operation: broker.OpChat, upstream: "/v1/messages"},
	}
	for path, rt := range routes {
		prefixed := "/" + rt.surface.provider + path
		g.mux.Handle("POST "+path, g.handler(rt))
		g.mux.Handle("POST "+prefixed, g.handler(rt))
	}
	for prefix, s := range map[string]*surface{"/v1/": openAI, "/openai/": openAI, "/v1/messages/": anthropicAPI, "/anthropic/": anthropicAPI} {
		g.mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, http.StatusNotFound, "not_found_error", "unknown_route", "aicred gateway: no such route: "+r.Method+" "+r.URL.Path)
		})
	}
	return g, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

func (g *Gateway) handler(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.upstreams[rt.surface.provider]; !ok {
			rt.surface.writeError(w, http.StatusNotFound, "not_found_error", "unknown_route", "aicred gateway: provider "+rt.surface.provider+" is not configured")
			return
		}
		x := &exchange{w: w, r: r, route: rt, start: g.now(), defaultOut: g.maxOut}
		for _, s := range g.stages {
			if err := s.serve(x); err != nil {
				g.refuse(x, err)
				return
			}
		}
		ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), exchangeKey{}, x))
		defer cancel(nil)
		// Metering settles the reservation; if it never did (a panic),
		// the reservation is charged.
		defer x.settleReserved()
		x.r, x.cancel = r.WithContext(ctx), cancel
		g.proxy.ServeHTTP(w, x.r)
	})
}

// A refusal is a stage's answer to the client.
type refusal struct {
	status         int
	typ, code, msg string
	retryAfter     int64 // seconds; 0: no Retry-After
}

func (e *refusal) Error() string { return e.msg }

func refuse(status int, typ, code, msg string) error {
	return &refusal{status: status, typ: typ, code: code, msg: msg}
}

func (g *Gateway) refuse(x *exchange, err error) {
	var rf *refusal
	if !errors.As(err, &rf) {
		switch aicred.KindOf(err) {
		case aicred.ErrUnauthorized:
			rf = &refusal{http.StatusUnauthorized, "authentication_error", "invalid_api_key", "aicred gateway: invalid or revoked token", 0}
		default:
			g.log.Error("gateway: refused on internal error", "token", x.grantID(), "err", err)
			rf = &refusal{http.StatusServiceUnavailable, "api_error", "unavailable", "aicred gateway: temporarily unavailable", 0}
		}
	}
	typ := rf.typ
	if rf.status == http.StatusTooManyRequests && x.route.surface == anthropicAPI {
		typ = "rate_limit_error"
	}
	retryAfterHeader(x.w, rf.retryAfter)
	x.route.surface.writeError(x.w, rf.status, typ, rf.code, rf.msg)
	if g.refusals != nil {
		e := Refusal{Time: x.start, Provider: x.route.surface.provider, Operation: string(x.route.operation),
			Status: rf.status, Code: rf.code, SourceIP: clientIP(x.r), UserAgent: userAgent(x.r)}
		if x.facts.HasModel {
			e.Model = x.facts.Model
		}
		if x.grant != nil {
			e.TokenID, e.Workload, e.Role = x.grant.ID, x.grant.Issuer+" "+x.grant.Subject, x.grant.Role
		}
		g.refusals.ObserveRefusal(context.WithoutCancel(x.r.Context()), e)
	}
}

// authenticate finds the grant of the aicred token in Authorization:
// Bearer or x-api-key. Both may be sent (the Anthropic SDK does when both
// are configured); then they must agree.
type authenticate struct {
	tokens broker.TokenStore
	now    func() time.Time
}

func (a authenticate) serve(x *exchange) error {
	h := x.r.Header
	var bearer string
	if v := h.Get("Authorization"); v != "" {
		// The scheme is case-insensitive (RFC 9110 section 11.1).
		if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
			return refuse(http.StatusUnauthorized, "authentication_error", "invalid_api_key", "aicred gateway: Authorization must be a Bearer token")
		}
		bearer = strings.TrimSpace(v[7:])
	}
	key := strings.TrimSpace(h.Get("X-Api-Key"))
	tok := bearer
	switch {
	case tok == "":
		tok = key
	case key != "" && key != tok:
		return refuse(http.StatusUnauthorized, "authentication_error", "invalid_api_key", "aicred gateway: Authorization and x-api-key carry different tokens")
	}
	if tok == "" {
		return refuse(http.StatusUnauthorized, "authentication_error", "missing_api_key", "aicred gateway: no aicred token (Authorization: Bearer or x-api-key)")
	}
	g, err := broker.ValidateToken(x.r.Context(), a.tokens, tok, a.now())
	if err != nil {
		return err
	}
	x.grant = g
	return nil
}

// readBody reads the body within the limit and extracts its facts.
type readBody struct{ limit int64 }

func (s readBody) serve(x *exchange) error {
	tooLarge := refuse(http.StatusRequestEntityTooLarge, "request_too_large", "request_too_large", "aicred gateway: request body over the limit")
	if x.r.ContentLength > s.limit {
		return tooLarge
	}
	var buf bytes.Buffer
	if x.r.ContentLength > 0 {
		buf.Grow(int(x.r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(x.w, x.r.Body, s.limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return tooLarge
		}
		return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_body", "aicred gateway: could not read the request body")
	}
	x.body = buf.Bytes()
	f, err := parseRequest(x.body)
	if err != nil {
		return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_json", "aicred gateway: "+err.Error())
	}
	x.facts = f
	return nil
}

// authorize checks provider, operation and model against the token's
// scope before anything goes upstream. An empty model list denies.
type authorize struct{}

func (authorize) serve(x *exchange) error {
	deny := func(msg string) error {
		return refuse(http.StatusForbidden, "permission_error", "forbidden", "aicred gateway: "+msg)
	}
	p := x.route.surface.provider
	if !x.facts.HasModel || x.facts.Model == "" {
		return refuse(http.StatusBadRequest, "invalid_request_error", "missing_model", `aicred gateway: the request names no "model"`)
	}
	var provOK, opOK, modelOK bool
	for _, v := range x.grant.Scope {
		switch {
		case strings.HasPrefix(v, "provider:"):
			provOK = provOK || v[len("provider:"):] == p
		case strings.HasPrefix(v, "model:"):
			modelOK = modelOK || globMatch(v[len("model:"):], x.facts.Model)
		default:
			opOK = opOK || v == string(x.route.operation)
		}
	}
	switch {
	case !provOK:
		return deny("this token may not use provider " + p)
	case !opOK:
		return deny("this token may not perform " + string(x.route.operation))
	case !modelOK:
		return deny("this token may not use model " + quoteModel(x.facts.Model))
	}
	return nil
}

// askUsage makes an OpenAI chat stream report its usage: it sets
// stream_options.include_usage when the client did not, and the meter
// then hides the extra usage chunk from that client.
type askUsage struct{}

func (askUsage) serve(x *exchange) error {
	if x.route.surface != openAI || !x.facts.Stream || x.facts.IncludeUsage {
		return nil
	}
	b, err := withIncludeUsage(x.body, x.facts)
	if err != nil {
		return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_json", "aicred gateway: "+err.Error())
	}
	x.body, x.hideUsage = b, true
	return nil
}

func quoteModel(m string) string {
	if len(m) > 100 {
		m = m[:100] + "..."
	}
	return `"` + strings.ToValidUTF8(m, "?") + `"`
}

// priceModel refuses a model with no known price unless a fallback rate
// is configured: usage is never recorded at $0.
type priceModel struct {
	prices   *PriceTable
	unpriced *Price
}

func (s priceModel) serve(x *exchange) error {
	if p, ok := s.prices.Lookup(x.route.surface.provider, x.facts.Model); ok {
		x.price = p
		return nil
	}
	if s.unpriced != nil {
		x.price = *s.unpriced
		return nil
	}
	return refuse(http.StatusForbidden, "permission_error", "unpriced_model", "aicred gateway: no price is known for model "+quoteModel(x.facts.Model)+", so it cannot be metered")
}

// credential picks the token's held credential for the provider.
type credential struct {
	keys *keyCache
	now  func() time.Time
}

func (s credential) serve(x *exchange) error {
	p := x.route.surface.provider
	for _, id := range x.grant.Credentials {
		e, err := s.keys.get(x.r.Context(), id)
		if err != nil {
			if aicred.KindOf(err) == aicred.ErrNotFound {
				continue
			}
			// A store that cannot be read or a blob that cannot be opened
			// (wrong master key) is the gateway's fault, never the token's.
			return aicred.Errorf(aicred.ErrUnavailable, "held credential %s: %v", id, err)
		}
		env := e.environment == "" || x.grant.Environment == "" || e.environment == x.grant.Environment
		if e.provider == p && env && (e.heldExpires.IsZero() || s.now().Before(e.heldExpires)) {
			x.key = e.key
			return nil
		}
	}
	return refuse(http.StatusForbidden, "permission_error", "no_credential", "aicred gateway: this token holds no usable credential for provider "+p)
}

// rewrite points the request at the provider and swaps the aicred token
// for the real key.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(exchangeKey{}).(*exchange)
	base := g.upstreams[x.route.surface.provider]
	out := pr.Out
	out.URL.Scheme, out.URL.Host = base.Scheme, base.Host
	out.URL.Path, out.URL.RawPath = base.Path+x.route.upstream, ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = ""
	h := out.Header
	for _, k := range []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Cookie",
		"Openai-Organization", "Openai-Project", "Accept-Encoding", "Content-Length"} {
		h.Del(k)
	}
	x.route.surface.inject(h, x.key.Reveal())
	out.Body = io.NopCloser(bytes.NewReader(x.body))
	out.ContentLength = int64(len(x.body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(x.body)), nil }
}

func (g *Gateway) modifyResponse(resp *http.Response) error {
	x := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if resp.StatusCode == http.StatusUnauthorized {
		// The provider refused the held key; its message may quote part of
		// it. The workload's token was fine, so this is a gateway fault.
		_ = resp.Body.Close()
		m := &meter{g: g, x: x, status: http.StatusBadGateway}
		m.requestID = resp.Header.Get(x.route.surface.requestID)
		m.record(OutcomeUpstreamError)
		return errHeldRejected
	}
	// Headers that describe the held credential's account, or set
	// cookies for the provider's domain, are not the workload's business.
	for _, k := range []string{"Set-Cookie", "Openai-Organization", "Openai-Project", "Anthropic-Organization-Id"} {
		resp.Header.Del(k)
	}
	g.meterResponse(x, resp)
	return nil
}

var errHeldRejected = errors.New("upstream rejected the held credential")

// proxyError answers when the upstream cannot be reached, is too slow or
// rejected the held key, in the provider's shape and without the key.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(exchangeKey{}).(*exchange)
	s := x.route.surface
	switch {
	case errors.Is(err, errHeldRejected):
		s.writeError(w, http.StatusBadGateway, "api_error", "upstream_auth", "aicred gateway: the provider rejected the held credential")
		return
	case r.Context().Err() != nil:
		m := &meter{g: g, x: x, status: 499}
		m.record(OutcomeClientClosed)
		return
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		m := &meter{g: g, x: x, status: http.StatusGatewayTimeout}
		m.record(OutcomeTimeout)
		s.writeError(w, http.StatusGatewayTimeout, "timeout_error", "upstream_timeout", "aicred gateway: the provider did not answer in time")
		return
	}
	m := &meter{g: g, x: x, status: http.StatusBadGateway}
	m.record(OutcomeUnreachable)
	s.writeError(w, http.StatusBadGateway, "api_error", "upstream_unreachable", "aicred gateway: the provider cannot be reached")
}

func (x *exchange) grantID() string {
	if x.grant == nil {
		return ""
	}
	return x.grant.ID
}
