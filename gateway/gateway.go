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
	// DrainTimeout bounds how long, after the client went away, the
	// gateway keeps reading an unfinished answer for its usage (default
	// 30 seconds, at most maxDrainBytes); negative: the upstream request
	// is cancelled when the client leaves and the usage bound charged.
	DrainTimeout time.Duration
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
	// ReservationTTL bounds how long an unsettled reservation waits for
	// its settlement before it is charged in full (default 10 minutes).
	ReservationTTL time.Duration
	// DefaultMaxOutput is the output per choice assumed for the worst case
	// when neither the request nor the price table's max_output bounds it
	// (default 4096).
	DefaultMaxOutput int64
	// Objects records the files and batches workloads create through the
	// gateway, so that only their owners reach them (default: a
	// MemoryObjects for one process; several processes must share the
	// store's).
	Objects aicred.GatewayObjectService
	// BedrockRegion is the AWS region requests to Bedrock are signed for
	// (default: the region in Upstreams["aws"]'s host, else us-east-1).
	BedrockRegion string
	// MLStack configures the model registry, experiment tracking, vector
	// database and http surfaces (mlstack.go).
	MLStack   MLStack
	Transport http.RoundTripper // default: a clone of http.DefaultTransport
	Log       *slog.Logger
	Now       func() time.Time
}

// DefaultUpstreams are the providers' public base URLs, keyed by catalog
// provider id; the per-provider path prefix ("/openai/v1" for Groq) is in
// the mount table in New. Azure OpenAI has none: its host is per
// resource, so it is served only when configured.
func DefaultUpstreams() map[string]string {
	return map[string]string{
		"openai":      "https://api.openai.com",
		"anthropic":   "https://api.anthropic.com",
		"groq":        "https://api.groq.com",
		"mistral":     "https://api.mistral.ai",
		"together":    "https://api.together.xyz",
		"deepseek":    "https://api.deepseek.com",
		"openrouter":  "https://openrouter.ai",
		"xai":         "https://api.x.ai",
		"perplexity":  "https://api.perplexity.ai",
		"fireworks":   "https://api.fireworks.ai",
		"nvidia":      "https://integrate.api.nvidia.com",
		"cerebras":    "https://api.cerebras.ai",
		"google":      "https://generativelanguage.googleapis.com",
		"huggingface": "https://router.huggingface.co",
		"aws":         "https://bedrock-runtime.us-east-1.amazonaws.com",
	}
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
	objects   aicred.GatewayObjectService
	drain     time.Duration
	// routes lists every route served with its client path pattern.
	routes []mountedRoute
}

// A mountedRoute is a route as served: its path under the gateway.
type mountedRoute struct {
	path  string
	route *route
}

// exchange is one request on its way through the stages.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	route *route
	start time.Time
	// query is the query string forwarded: the client's parameters that
	// the provider documents (fields.go); never "key" (a key or token in
	// a URL ends up in access logs) nor a response field mask.
	query string

	grant *aicred.Grant
	// role is the grant's role as configured now (nil when the gateway
	// has no Roles: no budgets, no allowances).
	role *broker.Role
	body []byte
	// deleteBody is what a DELETE carried, never forwarded unless a
	// surface's resolve has read it against its allow-list and made it
	// the body (resolveMLflow).
	deleteBody []byte
	facts      requestFacts
	hideUsage  bool
	price      Price
	// units: the model is priced per unit (image, second, character)
	// and Usage.InputTokens counts those units; price is per unit.
	units bool
	key   *keyEntry
	meter *meter
	// action is the model part of a "{model}:action" segment (Gemini).
	action string
	// cancel ends the upstream request (a stalled stream).
	cancel context.CancelCauseFunc
	// defaultOut is the output assumed when the request sets no
	// max_tokens (0: defaultMaxOutput).
	defaultOut int64
	// adm and ticket: the admitted reservation, settled once.
	adm     Admission
	ticket  Ticket
	settled atomic.Bool
	// clientGone: the client went away before the answer ended.
	clientGone atomic.Bool
	// target, when set (ML stack surfaces), is the upstream URL: its
	// scheme, host and path replace the route's.
	target *url.URL
	// ml is what an ML stack surface resolved from the request.
	ml mlRequest
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
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
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
	if c.Objects == nil {
		c.Objects = NewMemoryObjects()
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
	g := &Gateway{usage: c.Usage, refusals: c.Refusals, log: c.Log, now: c.Now, upstreams: map[string]*url.URL{}, idle: c.StreamIdleTimeout, maxOut: c.DefaultMaxOutput, objects: c.Objects, drain: c.DrainTimeout}
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
		findRole{roles: c.Roles},
		checkHeaders{},
		readBody{limit: c.MaxBodyBytes},
		authorize{},
		fieldCheck{},
		objectCheck{store: c.Objects},
		// The ML stack surfaces: the repository, experiment, index or path
		// named is checked against the role before anything goes upstream.
		resolveResource{upstreams: g.upstreams, objects: c.Objects},
		priceModel{prices: c.Prices, unpriced: c.Unpriced},
		boundInput{},
		askUsage{},
		credential{keys: g.keys, now: c.Now},
		// Last, so that nothing refuses after the reservation and the
		// estimate sees the body as forwarded.
		admit{adm: c.Admission},
	}

	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		FlushInterval:  -1,
		Transport:      c.Transport,
		ErrorLog:       slog.NewLogLogger(c.Log.Handler(), slog.LevelDebug),
	}

	region := c.BedrockRegion
	if region == "" {
		region = bedrockRegion(c.Upstreams["aws"])
	}
	compat := openAICompatible

	// OpenAI's API, relative to its /v1 root. Free routes (files,
	// fine-tuning jobs, batches, models) are not model calls:
	// they carry no per-request token usage, so they are recorded at
	// cost 0 with outcome ok. The work they start (a fine-tuning run, a
	// batch) is billed by the provider later and is not metered here.
	openAIRoutes := []route{
		{method: "POST", path: "/chat/completions", operation: broker.OpChat, usage: chatUsage, api: apiChat},
		{method: "POST", path: "/responses", operation: broker.OpResponses, usage: responsesUsage, api: apiResponses},
		{method: "POST", path: "/embeddings", operation: broker.OpEmbeddings, usage: chatUsage, api: apiEmbeddings},
		{method: "GET", path: "/models", operation: broker.OpModels, body: bodyAny, free: true},
		{method: "GET", path: "/models/{model}", operation: broker.OpModels, body: bodyAny, free: true},
		{method: "POST", path: "/images/generations", operation: broker.OpImages, usage: imagesUsage, unit: unitImages, defaultModel: "dall-e-2", api: apiImagesGen},
		{method: "POST", path: "/images/edits", operation: broker.OpImages, body: bodyMultipart, usage: imagesUsage, unit: unitImages, defaultModel: "dall-e-2", api: apiImagesEdit},
		{method: "POST", path: "/images/variations", operation: broker.OpImages, body: bodyMultipart, usage: imagesUsage, unit: unitImages, defaultModel: "dall-e-2", api: apiImagesEdit},
		{method: "POST", path: "/audio/transcriptions", operation: broker.OpAudio, body: bodyMultipart, usage: transcriptionUsage, unit: unitSeconds, api: apiTranscribe},
		{method: "POST", path: "/audio/translations", operation: broker.OpAudio, body: bodyMultipart, usage: transcriptionUsage, unit: unitSeconds, api: apiTranslate},
		{method: "POST", path: "/audio/speech", operation: broker.OpAudio, usage: speechUsage, unit: unitChars, api: apiSpeech},
		{method: "POST", path: "/files", operation: broker.OpFiles, body: bodyMultipart, free: true, api: apiFileUpload, obj: objectUse{aicred.ObjectFile, objCreate}},
		{method: "GET", path: "/files", operation: broker.OpFiles, body: bodyAny, free: true, obj: objectUse{aicred.ObjectFile, objList}},
		{method: "GET", path: "/files/{id}", operation: broker.OpFiles, body: bodyAny, free: true, obj: objectUse{aicred.ObjectFile, objOwn}},
		{method: "DELETE", path: "/files/{id}", operation: broker.OpFiles, body: bodyAny, free: true, obj: objectUse{aicred.ObjectFile, objOwn}},
		{method: "GET", path: "/files/{id}/content", operation: broker.OpFiles, body: bodyAny, free: true, obj: objectUse{aicred.ObjectFile, objOwn}},
		{method: "POST", path: "/fine_tuning/jobs", operation: broker.OpFineTuning, free: true, api: apiFineTune},
		{method: "GET", path: "/fine_tuning/jobs", operation: broker.OpFineTuning, body: bodyAny, free: true},
		{method: "GET", path: "/fine_tuning/jobs/{id}", operation: broker.OpFineTuning, body: bodyAny, free: true},
		{method: "POST", path: "/fine_tuning/jobs/{id}/cancel", operation: broker.OpFineTuning, body: bodyAny, free: true},
		{method: "GET", path: "/fine_tuning/jobs/{id}/events", operation: broker.OpFineTuning, body: bodyAny, free: true},
		{method: "POST", path: "/batches", operation: broker.OpBatches, free: true, api: apiBatchCreate, obj: objectUse{aicred.ObjectBatch, objCreate}},
		{method: "GET", path: "/batches", operation: broker.OpBatches, body: bodyAny, free: true, obj: objectUse{aicred.ObjectBatch, objList}},
		{method: "GET", path: "/batches/{id}", operation: broker.OpBatches, body: bodyAny, free: true, obj: objectUse{aicred.ObjectBatch, objOwn}},
		{method: "POST", path: "/batches/{id}/cancel", operation: broker.OpBatches, body: bodyAny, free: true, obj: objectUse{aicred.ObjectBatch, objOwn}},
	}
	anthropicRoutes := []route{
		{method: "POST", path: "/messages", operation: broker.OpChat, usage: messagesUsage, api: apiMessages},
		// Free per Anthropic's docs; the model is still authorized.
		{method: "POST", path: "/messages/count_tokens", operation: broker.OpChat, free: true, api: apiCountTokens},
		{method: "GET", path: "/models", operation: broker.OpModels, body: bodyAny, free: true},
		{method: "GET", path: "/models/{model}", operation: broker.OpModels, body: bodyAny, free: true},
	}
	azureRoutes := []route{
		{method: "POST", path: "/deployments/{deployment}/chat/completions", operation: broker.OpChat, usage: chatUsage, pathModel: "deployment", api: apiChat},
		{method: "POST", path: "/deployments/{deployment}/embeddings", operation: broker.OpEmbeddings, usage: chatUsage, pathModel: "deployment", api: apiEmbeddings},
		{method: "POST", path: "/v1/chat/completions", operation: broker.OpChat, usage: chatUsage, api: apiChat},
		{method: "POST", path: "/v1/embeddings", operation: broker.OpEmbeddings, usage: chatUsage, api: apiEmbeddings},
		{method: "POST", path: "/v1/responses", operation: broker.OpResponses, usage: responsesUsage, api: apiResponses},
		{method: "GET", path: "/v1/models", operation: broker.OpModels, body: bodyAny, free: true},
	}
	// Gemini names the model and the method in one path segment
	// ("{model}:generateContent"); such routes share one ServeMux pattern
	// and are told apart by the part after the colon.
	geminiRoutes := []route{
		{method: "POST", path: "/models/{model}:generateContent", operation: broker.OpChat, usage: geminiUsage, pathModel: "model", api: apiGeminiGenerate},
		{method: "POST", path: "/models/{model}:streamGenerateContent", operation: broker.OpChat, usage: geminiUsage, pathModel: "model", stream: true, api: apiGeminiGenerate},
		// Free: counting tokens is not billed.
		{method: "POST", path: "/models/{model}:countTokens", operation: broker.OpChat, pathModel: "model", free: true, api: apiGeminiCount},
		// embedContent reports no usage: charged at its reservation.
		{method: "POST", path: "/models/{model}:embedContent", operation: broker.OpEmbeddings, usage: geminiUsage, pathModel: "model", api: apiGeminiEmbed},
		{method: "GET", path: "/models", operation: broker.OpModels, body: bodyAny, free: true},
		{method: "GET", path: "/models/{model}", operation: broker.OpModels, body: bodyAny, free: true},
	}
	bedrockRoutes := []route{
		{method: "POST", path: "/model/{modelId}/converse", operation: broker.OpChat, usage: converseUsage, pathModel: "modelId", api: apiConverse},
		{method: "POST", path: "/model/{modelId}/converse-stream", operation: broker.OpChat, usage: converseUsage, pathModel: "modelId", stream: true, api: apiConverse},
		{method: "POST", path: "/model/{modelId}/invoke", operation: broker.OpChat, usage: invokeUsage, pathModel: "modelId", api: apiInvoke},
		{method: "POST", path: "/model/{modelId}/invoke-with-response-stream", operation: broker.OpChat, usage: invokeUsage, pathModel: "modelId", stream: true, api: apiInvoke},
	}

	// Where each provider is served: the client's path prefix, the path
	// prefix on the provider's base URL, the provider and its routes.
	// The first mount to claim a method and path wins: unprefixed /v1/models
	// is OpenAI's.
	g.mux = http.NewServeMux()
	mounts := []struct {
		prefix, upstream string
		surface          *surface
		routes           []route
	}{
		{"/v1", "/v1", openAI, openAIRoutes},
		{"/openai/v1", "/v1", openAI, openAIRoutes},
		{"/v1", "/v1", anthropicAPI, anthropicRoutes},
		{"/anthropic/v1", "/v1", anthropicAPI, anthropicRoutes},
		// OpenAI-compatible providers. askUsage is off where the API
		// reports stream usage unasked and may refuse unknown fields.
		{"/groq/v1", "/openai/v1", compat("groq", true), openAIRoutes},
		{"/mistral/v1", "/v1", compat("mistral", false), openAIRoutes},
		{"/together/v1", "/v1", compat("together", true), openAIRoutes},
		{"/deepseek/v1", "", compat("deepseek", true), openAIRoutes},
		{"/openrouter/v1", "/api/v1", compat("openrouter", true), openAIRoutes},
		{"/xai/v1", "/v1", compat("xai", true), openAIRoutes},
		// Perplexity serves its OpenAI-shaped API at the root of its base
		// URL (https://api.perplexity.ai/chat/completions), like DeepSeek.
		{"/perplexity/v1", "", compat("perplexity", false), openAIRoutes},
		{"/fireworks/v1", "/inference/v1", compat("fireworks", true), openAIRoutes},
		{"/nvidia/v1", "/v1", compat("nvidia", true), openAIRoutes},
		{"/cerebras/v1", "/v1", compat("cerebras", true), openAIRoutes},
		{"/huggingface/v1", "/v1", compat("huggingface", true), openAIRoutes},
		{"/azure/openai", "/openai", azureOpenAI, azureRoutes},
		{"/gemini/v1beta", "/v1beta", gemini, geminiRoutes},
		{"/gemini/v1", "/v1", gemini, geminiRoutes},
		{"/bedrock", "", bedrockSurface(region, c.Now), bedrockRoutes},
		{"/hf", "", hubSurface(), anyMethod(broker.OpRegistry)},
		{"/mlflow", "", mlflowSurface(c.MLStack), anyMethod(broker.OpTracking)},
		{"/wandb", "", wandbSurface(), anyMethod(broker.OpTracking)},
		{"/pinecone", "", pineconeSurface(c.MLStack), anyMethod(broker.OpVectors)},
		{"/qdrant", "", qdrantSurface(c.MLStack), anyMethod(broker.OpVectors)},
	}
	httpMounts, err := httpUpstreamMounts(g, c.MLStack.HTTP)
	if err != nil {
		return nil, err
	}
	mounts = append(mounts, httpMounts...)
	registered := map[string]bool{}
	actions := map[string]map[string]*route{} // pattern -> ":action" -> route
	for _, m := range mounts {
		for _, r := range m.routes {
			rt := r
			rt.surface, rt.upstream = m.surface, m.upstream+r.path
			// An ML stack surface resolves its own upstream path.
			rt.wild = hasWildcard(rt.upstream) && m.surface.resolve == nil
			rt.fields = fieldsFor(m.surface, r.api)
			key := r.method + " " + m.prefix + r.path
			if i := strings.Index(key, "}:"); i >= 0 {
				key, action := key[:i+1], key[i+1:]
				if actions[key] == nil {
					actions[key] = map[string]*route{}
				}
				actions[key][action] = &rt
				g.routes = append(g.routes, mountedRoute{m.prefix + r.path, &rt})
				continue
			}
			if registered[key] {
				continue
			}
			registered[key] = true
			g.mux.Handle(key, g.handler(&rt))
			g.routes = append(g.routes, mountedRoute{m.prefix + r.path, &rt})
		}
		if !registered[m.prefix+"/"] {
			registered[m.prefix+"/"] = true
			s := m.surface
			g.mux.HandleFunc(m.prefix+"/", func(w http.ResponseWriter, r *http.Request) {
				s.writeError(w, http.StatusNotFound, "not_found_error", "unknown_route", "aicred gateway: no such route: "+r.Method+" "+r.URL.Path)
			})
		}
	}
	for key, acts := range actions {
		g.mux.Handle(key, g.dispatch(acts))
	}
	// Unknown paths under /v1/messages/ answer in Anthropic's shape.
	g.mux.HandleFunc("/v1/messages/", func(w http.ResponseWriter, r *http.Request) {
		anthropicAPI.writeError(w, http.StatusNotFound, "not_found_error", "unknown_route", "aicred gateway: no such route: "+r.Method+" "+r.URL.Path)
	})
	return g, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

func (g *Gateway) handler(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, rt, "") })
}

// dispatch serves the routes that share a "{model}:action" pattern.
func (g *Gateway) dispatch(acts map[string]*route) http.Handler {
	var any *route
	for _, rt := range acts {
		any = rt
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.PathValue(any.pathModel)
		if i := strings.LastIndexByte(v, ':'); i > 0 {
			if rt := acts[v[i:]]; rt != nil {
				g.serve(w, r, rt, v[:i])
				return
			}
		}
		any.surface.writeError(w, http.StatusNotFound, "not_found_error", "unknown_route", "aicred gateway: no such route: "+r.Method+" "+r.URL.Path)
	})
}

// serve runs one request through the stages and the proxy; action is the
// model of a "{model}:action" path segment, if the route has one.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, rt *route, action string) {
	if _, ok := g.upstreams[rt.surface.base()]; !ok {
		rt.surface.writeError(w, http.StatusNotFound, "not_found_error", "unknown_route", "aicred gateway: provider "+rt.surface.provider+" is not configured")
		return
	}
	x := &exchange{w: w, r: r, route: rt, start: g.now(), defaultOut: g.maxOut, action: action}
	for _, s := range g.stages {
		if err := s.serve(x); err != nil {
			g.refuse(x, err)
			return
		}
	}
	// The upstream call does not end when the client leaves: the
	// provider bills what it runs, so the gateway keeps reading (bounded
	// by the upstream and idle timeouts and, once the client is gone, by
	// DrainTimeout) to meter the real usage instead of a bound.
	ctx, cancel := context.WithCancelCause(context.WithValue(context.WithoutCancel(r.Context()), exchangeKey{}, x))
	defer cancel(nil)
	stop := context.AfterFunc(r.Context(), func() {
		x.clientGone.Store(true)
		if g.drain < 0 {
			cancel(context.Canceled)
			return
		}
		time.AfterFunc(g.drain, func() { cancel(errDrained) })
	})
	defer stop()
	// Metering settles the reservation; if it never did (a panic),
	// the reservation is charged.
	defer x.settleReserved()
	x.r, x.cancel = r.WithContext(ctx), cancel
	g.proxy.ServeHTTP(w, x.r)
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
	retryAfterHeader(x.w, rf.retryAfter)
	x.route.surface.writeError(x.w, rf.status, rf.typ, rf.code, rf.msg)
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

// authenticate finds the grant of the aicred token in the header the
// surface's SDK sends it in: Authorization: Bearer (OpenAI, Hugging Face,
// Bedrock API-key clients), x-api-key (Anthropic), api-key (Azure) or
// x-goog-api-key (Gemini). Several may be sent (the Anthropic SDK does
// when both are configured); then they must agree. A "key" query
// parameter is never read: tokens do not belong in URLs (access logs).
type authenticate struct {
	tokens broker.TokenStore
	now    func() time.Time
}

var tokenHeaders = [...]string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

func (a authenticate) serve(x *exchange) error {
	h := x.r.Header
	var tok string
	if v := h.Get("Authorization"); v != "" && x.route.surface.basicUser != "" && len(v) > 6 && strings.EqualFold(v[:6], "Basic ") {
		// W&B's SDK sends its key as the password of user "api".
		u, p, ok := x.r.BasicAuth()
		if !ok || u != x.route.surface.basicUser {
			return refuse(http.StatusUnauthorized, "authentication_error", "invalid_api_key", "aicred gateway: Basic credentials must be user "+x.route.surface.basicUser+" with the aicred token as password")
		}
		tok = strings.TrimSpace(p)
	} else if v != "" {
		// The scheme is case-insensitive (RFC 9110 section 11.1).
		if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
			return refuse(http.StatusUnauthorized, "authentication_error", "invalid_api_key", "aicred gateway: Authorization must be a Bearer token")
		}
		tok = strings.TrimSpace(v[7:])
	}
	for _, name := range tokenHeaders {
		key := strings.TrimSpace(h.Get(name))
		switch {
		case key == "":
		case tok == "":
			tok = key
		case key != tok:
			return refuse(http.StatusUnauthorized, "authentication_error", "invalid_api_key", "aicred gateway: the request carries different tokens in different headers")
		}
	}
	if tok == "" {
		return refuse(http.StatusUnauthorized, "authentication_error", "missing_api_key", "aicred gateway: no aicred token (Authorization: Bearer, x-api-key, api-key or x-goog-api-key)")
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
	rt := x.route
	if rt.method == http.MethodGet || rt.method == http.MethodDelete {
		// Nothing a GET or DELETE carries is read, so nothing is sent:
		// a body there could turn into a call the gateway never saw
		// (X-HTTP-Method-Override). A surface whose API puts a DELETE's
		// message in its body (MLflow's registry) reads deleteBody
		// against its allow-list and forwards it itself.
		if rt.method == http.MethodDelete {
			x.deleteBody = x.body
		}
		x.body = nil
	}
	if len(x.r.Header.Values("Content-Type")) > 1 {
		// The provider might parse the body by another one than the
		// gateway did (two multipart boundaries).
		return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_content_type", "aicred gateway: more than one Content-Type header")
	}
	if raw := x.r.URL.RawQuery; raw != "" {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_query", "aicred gateway: malformed query string")
		}
		x.query = forwardQuery(rt.surface, q)
	}
	switch rt.body {
	case bodyJSON:
		f, err := parseRequest(x.body)
		if err != nil {
			return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_json", "aicred gateway: "+err.Error())
		}
		x.facts = f
	case bodyMultipart:
		f, err := parseMultipart(x.body, x.r.Header.Get("Content-Type"))
		if err != nil {
			return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_multipart", "aicred gateway: "+err.Error())
		}
		x.facts = f
	}
	if !rt.wild {
		return nil
	}
	// A wildcard may not climb out of its place in the upstream path, even
	// escaped (%2E%2E, ..%2F): an upstream may decode before it routes.
	for _, name := range wildcards(rt.upstream) {
		v := x.pathValue(name)
		bad := v == "" || !wildcardValue(v, name == "modelId")
		for part := range strings.SplitSeq(v, "/") {
			bad = bad || part == "." || part == ".."
		}
		if bad {
			return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_path", "aicred gateway: invalid path segment {"+name+"}")
		}
	}
	if rt.pathModel != "" {
		x.facts.Model, x.facts.HasModel = x.pathValue(rt.pathModel), true
	}
	return nil
}

// authorize checks provider, operation and model against the token's
// scope before anything goes upstream. An empty model list denies.
type authorize struct{}

func (authorize) serve(x *exchange) error {
	deny := func(msg string) error {
		return refuse(http.StatusForbidden, "permission_error", "forbidden", "aicred gateway: "+msg)
	}
	rt := x.route
	p := rt.surface.provider
	if !x.facts.HasModel && rt.defaultModel != "" {
		x.facts.Model, x.facts.HasModel = rt.defaultModel, true
	}
	if rt.stream {
		x.facts.Stream = true
	}
	// A model call must name its model; other routes are checked on the
	// model only when they name one (creating a fine-tuning job).
	if (!x.facts.HasModel || x.facts.Model == "") && (!rt.free || x.facts.HasModel) {
		return refuse(http.StatusBadRequest, "invalid_request_error", "missing_model", `aicred gateway: the request names no "model"`)
	}
	modelOK := !x.facts.HasModel
	var provOK, opOK bool
	for _, v := range x.grant.Scope {
		switch {
		case strings.HasPrefix(v, "provider:"):
			provOK = provOK || v[len("provider:"):] == p
		case strings.HasPrefix(v, "model:"):
			modelOK = modelOK || globMatch(v[len("model:"):], x.facts.Model)
		default:
			opOK = opOK || v == string(rt.operation)
		}
	}
	switch {
	case !provOK:
		return deny("this token may not use provider " + p)
	case !opOK:
		return deny("this token may not perform " + string(rt.operation))
	case !modelOK:
		return deny("this token may not use model " + quoteModel(x.facts.Model))
	case !rt.free && x.facts.ServerTool != "":
		// (Counting tokens with the tools declared is free.)
		// Billed per use on top of tokens, and no usage count says how
		// much: the gateway could not keep such a call within a budget.
		return refuse(http.StatusForbidden, "permission_error", "unmetered_tool",
			"aicred gateway: the server-side tool "+quoteModel(x.facts.ServerTool)+" is billed per use and cannot be metered, so it is not allowed")
	}
	// A batch file's lines run later on the held key: each operation and
	// model they name must be one this token may use directly.
	for _, c := range x.facts.Batch {
		opOK, modelOK := false, false
		for _, v := range x.grant.Scope {
			if m, ok := strings.CutPrefix(v, "model:"); ok {
				modelOK = modelOK || globMatch(m, c.model)
			} else {
				opOK = opOK || v == string(c.op)
			}
		}
		if !opOK {
			return deny("the batch file asks for " + string(c.op) + ", which this token may not perform")
		}
		if !modelOK {
			return deny("the batch file names model " + quoteModel(c.model) + ", which this token may not use")
		}
	}
	return nil
}

// fieldCheck refuses body fields the route does not forward (fields.go).
type fieldCheck struct{}

func (fieldCheck) serve(x *exchange) error { return checkFields(x) }

// askUsage makes an OpenAI chat stream report its usage: it sets
// stream_options.include_usage when the client did not, and the meter
// then hides the extra usage chunk from that client.
type askUsage struct{}

func (askUsage) serve(x *exchange) error {
	if x.route.usage != chatUsage || !x.route.surface.askUsage || !x.facts.Stream || x.facts.IncludeUsage || x.route.operation != broker.OpChat {
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
	rt := x.route
	if rt.free {
		return nil // not a model call: nothing to price
	}
	if p, ok := s.prices.Lookup(rt.surface.provider, x.facts.Model); ok {
		if rate, ok := p.unitRate(rt.unit); ok {
			x.price, x.units = Price{Provider: p.Provider, Model: p.Model, Input: rate * 1e6, Source: p.Source, AsOf: p.AsOf}, true
			return nil
		}
		// Embeddings have no output; any other call needs both rates.
		if p.Input > 0 && (p.Output > 0 || rt.operation == broker.OpEmbeddings) {
			x.price = p
			return nil
		}
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
		usable := x.route.surface.usable == nil || x.route.surface.usable(e)
		// A suspended or revoked credential is skipped: its status change
		// made every gateway drop the cached entry (a held-key revocation).
		active := e.status == "" || e.status == aicred.HeldActive
		if e.provider == p && env && usable && active && (e.heldExpires.IsZero() || s.now().Before(e.heldExpires)) {
			x.key = e
			return nil
		}
	}
	return refuse(http.StatusForbidden, "permission_error", "no_credential", "aicred gateway: this token holds no usable credential for provider "+p)
}

// rewrite points the request at the provider and swaps the aicred token
// for the real key.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(exchangeKey{}).(*exchange)
	rt := x.route
	base := g.upstreams[rt.surface.base()]
	out := pr.Out
	out.URL.Scheme, out.URL.Host = base.Scheme, base.Host
	if rt.wild {
		esc := base.EscapedPath() + x.fill(rt.upstream)
		out.URL.Path, _ = url.PathUnescape(esc)
		out.URL.RawPath = esc
	} else {
		out.URL.Path, out.URL.RawPath = base.Path+rt.upstream, ""
	}
	if t := x.target; t != nil {
		out.URL.Scheme, out.URL.Host, out.URL.Path, out.URL.RawPath = t.Scheme, t.Host, t.Path, t.RawPath
	}
	out.URL.RawQuery = x.query
	out.Host = ""
	// Only the surface's allow-list passes (headers.go): never the
	// client's token, cookies, method overrides, Accept-Encoding (the
	// transport asks for gzip itself and decompresses, so the response
	// can be scrubbed) or its own X-Amz-* signing headers; no trailers.
	// Before inject: Bedrock signs the headers as filtered.
	x.filterRequestHeaders(out)
	if len(x.body) == 0 {
		out.Body, out.ContentLength, out.GetBody = http.NoBody, 0, nil
	} else {
		out.Body = io.NopCloser(bytes.NewReader(x.body))
		out.ContentLength = int64(len(x.body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(x.body)), nil }
	}
	rt.surface.inject(out, x.key, x.body)
}

// pathValue is the request's value of a path wildcard; the model of a
// "{model}:action" segment is the part before the action.
func (x *exchange) pathValue(name string) string {
	if x.action != "" && name == x.route.pathModel {
		return x.action
	}
	return x.r.PathValue(name)
}

// fill replaces each {name} in tmpl by the request's value, escaped as
// one path segment.
func (x *exchange) fill(tmpl string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl, '}')
		if i < 0 || j < i {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		b.WriteString(escapeSegment(x.pathValue(tmpl[i+1 : j])))
		tmpl = tmpl[j+1:]
	}
}

// wildcards lists the {names} in a path template.
func wildcards(tmpl string) []string {
	var names []string
	for {
		i := strings.IndexByte(tmpl, '{')
		j := strings.IndexByte(tmpl, '}')
		if i < 0 || j < i {
			return names
		}
		names = append(names, tmpl[i+1:j])
		tmpl = tmpl[j+1:]
	}
}

// escapeSegment percent-encodes everything but RFC 3986's unreserved
// characters, as AWS's SDKs do for a path segment (a Bedrock model id's
// ':' becomes %3A); other providers accept the same form.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func (g *Gateway) modifyResponse(resp *http.Response) error {
	x := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if g.heldRejected(x.route.surface, resp) {
		// The provider refused the held key; its message may quote part of
		// it. The workload's token was fine, so this is a gateway fault.
		// The key may have been rotated: read it again next time.
		_ = resp.Body.Close()
		if x.key != nil {
			g.keys.forget(x.key)
		}
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
	// No header, trailer or body byte holding the held key reaches the
	// client (scrub.go); object tracking and the meter then read the
	// scrubbed body.
	if !g.fenceResponse(x, resp) {
		return nil // answered with the gateway's own 502, recorded
	}
	if err := g.trackObjects(x, resp); err != nil {
		return err
	}
	if a := x.route.surface.answer; a != nil {
		if err := a(g, x, resp); err != nil {
			return err
		}
	}
	g.meterResponse(x, resp)
	return nil
}

var errHeldRejected = errors.New("upstream rejected the held credential")

// heldRejected reports whether resp says the provider refused the held
// key. For a surface that tells so in a 400 or 403 body, that error body
// is read (bounded) and put back for the client.
func (g *Gateway) heldRejected(s *surface, resp *http.Response) bool {
	if s.rejected == nil {
		return resp.StatusCode == http.StatusUnauthorized
	}
	if resp.StatusCode < 400 {
		return false
	}
	var body []byte
	if resp.StatusCode == http.StatusBadRequest {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxRejectedBody))
		if err != nil {
			// The client gets what was read, then the read error.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), errReader{err}), resp.Body}
			return false
		}
		body = b
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	}
	return s.rejected(resp.StatusCode, resp.Header, body)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// proxyError answers when the upstream cannot be reached, is too slow or
// rejected the held key, in the provider's shape and without the key.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(exchangeKey{}).(*exchange)
	s := x.route.surface
	switch {
	case errors.Is(err, errHeldRejected):
		s.writeError(w, http.StatusBadGateway, "api_error", "upstream_auth", "aicred gateway: the provider rejected the held credential")
		return
	case errors.Is(err, errObjects):
		m := &meter{g: g, x: x, status: http.StatusServiceUnavailable}
		m.record(OutcomeUpstreamError)
		s.writeError(w, http.StatusServiceUnavailable, "api_error", "unavailable", "aicred gateway: the answer could not be recorded; try again")
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

// wildcardValue reports whether v may fill a path wildcard: ids, model and
// deployment names are letters, digits, '.', '_' and '-'; a Bedrock model
// id may also be an ARN or a versioned id (':' and '/'). Anything else
// (a second ":action", backslashes, spaces, control bytes) could be read
// differently upstream than the gateway read it.
func wildcardValue(v string, bedrockModel bool) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		case bedrockModel && (c == ':' || c == '/'):
		default:
			return false
		}
	}
	return true
}
