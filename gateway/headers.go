package gateway

import (
	"net/http"
	"strings"
)

// Request headers pass to a provider by an allow-list per surface: only
// the headers the provider documents for the routes served, the
// transport's own (Content-Type, Accept, User-Agent) and the official
// SDKs' telemetry. Anything else is dropped before the provider sees it,
// so a header the gateway never heard of cannot change what the provider
// runs or bills.
//
// Names are compared in canonical form. Some servers read "anthropic_beta"
// or "ANTHROPIC_BETA" as "anthropic-beta", so a name that folds (case,
// '_' for '-') to a listed one but is not spelled exactly as the
// canonical name is a variant: it is dropped like an unknown name. The
// gated names and values (billed above the metered rates) are refused in
// every spelling, by the checkHeaders stage, unless the token's role
// allows the name.
//
// Request trailers are never forwarded: readBody reads the body whole, so
// whatever trailers arrived are in the inbound request's Trailer only,
// and the outbound request carries none (a trailer "Anthropic-Beta"
// would otherwise reach the provider past every check).
type headerPolicy struct {
	// allow: canonical names forwarded as sent.
	allow map[string]bool
	// gated: canonical names that select a dearer tier or a feature
	// billed apart; refused unless the role allows the name, forwarded
	// when it does.
	gated map[string]bool
	// gatedValues: per canonical (allowed) name, value tokens that bill
	// above the metered rates (case-insensitive substrings of any
	// comma-separated element); refused on model calls unless the role
	// allows the name.
	gatedValues map[string][]string
}

// commonHeaders go to every provider: the transport's own.
var commonHeaders = []string{"Content-Type", "Accept", "User-Agent"}

// stainlessHeaders are the telemetry the official OpenAI and Anthropic
// SDKs (Stainless-generated) send on every request: language, OS,
// architecture, runtime and package version, the retry count and the
// client timeout. Their values are short fixed tokens that change neither
// what runs nor what is billed, and the providers use them to diagnose
// SDK issues; the set is closed (a new X-Stainless-* name is dropped).
var stainlessHeaders = []string{
	"X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-Os", "X-Stainless-Arch",
	"X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Retry-Count",
	"X-Stainless-Timeout", "X-Stainless-Helper", "X-Stainless-Helper-Method",
	"X-Stainless-Stream-Helper", "X-Stainless-Poll-Helper", "X-Stainless-Poll-Interval",
	"X-Stainless-Async",
}

func newHeaderPolicy(allow, gated []string, gatedValues map[string][]string) *headerPolicy {
	p := &headerPolicy{allow: map[string]bool{}, gated: map[string]bool{}, gatedValues: map[string][]string{}}
	for _, lists := range [][]string{commonHeaders, allow} {
		for _, k := range lists {
			p.allow[http.CanonicalHeaderKey(k)] = true
		}
	}
	for _, k := range gated {
		p.gated[http.CanonicalHeaderKey(k)] = true
	}
	for k, v := range gatedValues {
		k = http.CanonicalHeaderKey(k)
		p.allow[k] = true
		p.gatedValues[k] = v
	}
	return p
}

// OpenAI's documented request headers for the routes served: the
// idempotency key the SDK sends on some calls and the client request id
// for support. OpenAI-Organization and OpenAI-Project are not forwarded:
// they pick the held key's organization or project, the operator's
// business, not the workload's. OpenAI-Beta only selects beta APIs
// (Assistants, Realtime) the gateway does not route, so it is dropped.
var openAIHeaders = newHeaderPolicy(
	append([]string{"Idempotency-Key", "X-Client-Request-Id"}, stainlessHeaders...), nil, nil)

// compatHeaders: the OpenAI-compatible providers document nothing beyond
// what OpenAI's SDK sends.
var compatHeaders = openAIHeaders

// Anthropic's documented request headers: anthropic-version and
// anthropic-beta. Beta values that bill above the price table's rates
// (the 1M-token context window, fast mode) are gated. The workspace and
// user-profile headers attribute the call to another part of the held
// account (its limits, its billing): gated.
var anthropicHeaders = newHeaderPolicy(
	append([]string{"Anthropic-Version", "Idempotency-Key"}, stainlessHeaders...),
	[]string{"Anthropic-Workspace-Id", "Anthropic-User-Profile-Id"},
	map[string][]string{"Anthropic-Beta": {"context-1m", "fast-mode"}})

// Azure OpenAI: OpenAI's headers (its SDKs are OpenAI's with Azure
// options) and Azure's client request id.
var azureHeaders = newHeaderPolicy(
	append([]string{"Idempotency-Key", "X-Client-Request-Id", "X-Ms-Client-Request-Id"}, stainlessHeaders...), nil, nil)

// Gemini: the Google client libraries' x-goog-api-client telemetry and
// the server timeout. X-Goog-User-Project names the project to bill:
// gated. (X-Goog-FieldMask and the rest are dropped: a field mask can hide
// usageMetadata from the meter.)
var geminiHeaders = newHeaderPolicy(
	[]string{"X-Goog-Api-Client", "X-Server-Timeout"},
	[]string{"X-Goog-User-Project"}, nil)

// Bedrock Runtime's InvokeModel / InvokeModelWithResponseStream headers
// (Converse takes everything in the body) and the AWS SDKs' invocation
// id and retry attempt. The service tier (priority bills above the
// on-demand rate), the latency-optimized performance configuration (its
// own rates) and guardrails (billed per text unit on top of tokens) are
// gated. The client's own X-Amz-* signing headers are never forwarded:
// the gateway signs with the held key after filtering.
var bedrockHeaders = newHeaderPolicy(
	[]string{"X-Amzn-Bedrock-Accept", "X-Amzn-Bedrock-Trace", "Amz-Sdk-Invocation-Id", "Amz-Sdk-Request"},
	[]string{"X-Amzn-Bedrock-Service-Tier", "X-Amzn-Bedrock-Performanceconfig-Latency",
		"X-Amzn-Bedrock-Guardrailidentifier", "X-Amzn-Bedrock-Guardrailversion"}, nil)

// lookup returns the canonical name of the allowed or gated name that
// name folds to (case, '_' read as '-', as some servers compare them),
// and whether there is one.
func (p *headerPolicy) lookup(name string) (canon string, ok bool) {
	c := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
	if p.allow[c] || p.gated[c] {
		return c, true
	}
	return "", false
}

// roleAllows reports whether the exchange's role allows the header name.
func (x *exchange) roleAllows(name string) bool {
	return x.role != nil && x.role.Allow.Header(name)
}

// checkHeaders refuses a request carrying a gated header, or a gated value
// of an allowed one, in any spelling, unless the role allows it. It runs
// right after findRole, before anything is read or reserved.
type checkHeaders struct{}

func (checkHeaders) serve(x *exchange) error {
	p := x.route.surface.headers
	if p == nil {
		return nil
	}
	for k, vv := range x.r.Header {
		canon, ok := p.lookup(k)
		if !ok || x.roleAllows(canon) {
			continue
		}
		if p.gated[canon] {
			return headerRefusal(canon, "selects a service tier or a feature billed above the metered rates")
		}
		if gv := p.gatedValues[canon]; gv != nil && !x.route.free {
			for _, v := range vv {
				v = strings.ToLower(v)
				for _, bad := range gv {
					if strings.Contains(v, bad) {
						return headerRefusal(canon, "asks for a feature billed above the metered rates ("+bad+")")
					}
				}
			}
		}
	}
	return nil
}

// headerRefusal names the header, never its value (it could hold anything).
func headerRefusal(name, why string) error {
	return refuse(http.StatusForbidden, "permission_error", "header_not_allowed",
		"aicred gateway: header "+safeHeaderName(name)+" "+why+", so it is not allowed for this token's role")
}

// safeHeaderName is name bounded and reduced to token characters, fit
// for an error message.
func safeHeaderName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '?'
	}, name)
}

// filterRequestHeaders replaces out's headers by those of the surface's
// allow-list spelled exactly as their canonical names (gated ones only
// when the role allows them), and drops every trailer. It runs in rewrite
// before the key is injected (and the request signed, on Bedrock).
func (x *exchange) filterRequestHeaders(out *http.Request) {
	p := x.route.surface.headers
	if p == nil {
		p = &headerPolicy{}
	}
	h := make(http.Header, len(commonHeaders)+4)
	for k, vv := range out.Header {
		if !p.allow[k] && !(p.gated[k] && x.roleAllows(k)) {
			continue
		}
		h[k] = vv
	}
	out.Header = h
	out.Trailer = nil
}
