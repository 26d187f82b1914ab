package broker

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred/provider"
)

// An Operation is a class of upstream API call a token may make.
type Operation string

// Operations, in the order scopes are written.
const (
	OpChat       Operation = "chat"
	OpResponses  Operation = "responses"
	OpEmbeddings Operation = "embeddings"
	OpImages     Operation = "images"
	OpAudio      Operation = "audio"
	OpFiles      Operation = "files"
	OpFineTuning Operation = "fine-tuning"
	OpBatches    Operation = "batches"
	OpModels     Operation = "models"
	OpAdmin      Operation = "admin"
)

// Operations returns every operation in canonical order.
func Operations() []Operation {
	return []Operation{OpChat, OpResponses, OpEmbeddings, OpImages, OpAudio, OpFiles, OpFineTuning, OpBatches, OpModels, OpAdmin}
}

func (o Operation) valid() bool {
	return slices.Contains(Operations(), o) || slices.Contains(MLOperations(), o)
}

// TTL bounds of a role's tokens.
const (
	DefaultTTL = 15 * time.Minute
	MaxTTL     = time.Hour
	MinTTL     = time.Minute
)

// A Role is the scope a token carries: what it may reach, for how long,
// and how much it may spend.
type Role struct {
	Name string `yaml:"name" json:"name"`
	// Providers are catalog provider ids (openai, anthropic, ...).
	Providers []string `yaml:"providers" json:"providers"`
	// Credentials are the ids of held upstream credentials the gateway
	// uses for this role's tokens.
	Credentials []string `yaml:"credentials" json:"credentials"`
	// Models is the model allowlist (globs: "gpt-4o*", "claude-*").
	Models []string `yaml:"models" json:"models"`
	// Operations the token may perform.
	Operations []Operation `yaml:"operations" json:"operations"`
	// Environment labels the tokens (prod, staging ...).
	Environment string `yaml:"environment,omitempty" json:"environment,omitempty"`
	// Audiences are extra logical target names a request may ask for
	// besides the provider ids.
	Audiences []string `yaml:"audiences,omitempty" json:"audiences,omitempty"`
	// Resources are absolute URIs a request may name as resource.
	Resources []string `yaml:"resources,omitempty" json:"resources,omitempty"`
	// TTL of issued tokens (default 15m, at most 1h).
	TTL time.Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
	// Budget and Rate are enforced by the gateway; 0 means no limit.
	Budget Budget     `yaml:"budget,omitempty" json:"budget,omitzero"`
	Rate   RateLimits `yaml:"rate,omitempty" json:"rate,omitzero"`
	// Anomaly says which of the gateway's abuse alerts suspend the
	// workload's tokens.
	Anomaly AnomalyPolicy `yaml:"anomaly,omitempty" json:"anomaly,omitzero"`
	// Repositories, Experiments, Indexes and HTTP scope the gateway's ML
	// stack surfaces (role_mlstack.go): model registry repositories,
	// MLflow experiments and W&B entity/projects, vector indexes and
	// collections, and methods and paths on upstreams of kind http.
	Repositories []ResourceGrant `yaml:"repositories,omitempty" json:"repositories,omitempty"`
	Experiments  []ResourceGrant `yaml:"experiments,omitempty" json:"experiments,omitempty"`
	Indexes      []ResourceGrant `yaml:"indexes,omitempty" json:"indexes,omitempty"`
	HTTP         []HTTPGrant     `yaml:"http,omitempty" json:"http,omitempty"`
	// Allow lets the role's tokens send what the gateway refuses by
	// default because it widens the scope or bills outside the metered
	// rates.
	Allow Allowances `yaml:"allow,omitempty" json:"allow,omitzero"`
	// SharedObjects: files and batches created through the gateway by any
	// workload of this role are reachable by every workload of the role
	// (default: only by the workload that created them).
	SharedObjects bool           `yaml:"shared_objects,omitempty" json:"shared_objects,omitempty"`
	Storage       []StorageScope `yaml:"storage,omitempty" json:"storage,omitempty"`

	models []*glob
}

// Allowances name request headers and body fields that the gateway
// refuses unless a role allows them: those that select another model, a
// dearer service tier or a tool billed per use (Bedrock's service-tier
// header, OpenRouter's "models" fallbacks and "plugins"). Names compare
// without case; a header's "_" and "-" are one.
type Allowances struct {
	Headers []string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Fields  []string `yaml:"fields,omitempty" json:"fields,omitempty"`
}

// Header reports whether the request header name is allowed.
func (a Allowances) Header(name string) bool {
	n := headerName(name)
	for _, h := range a.Headers {
		if headerName(h) == n {
			return true
		}
	}
	return false
}

// Field reports whether the body field name (its JSON key, unescaped) is
// allowed.
func (a Allowances) Field(name string) bool {
	for _, f := range a.Fields {
		if strings.EqualFold(f, name) {
			return true
		}
	}
	return false
}

// headerName folds a header name for comparison: case and the
// underscore/dash spellings some servers treat as one.
func headerName(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
}

// Kinds of alert the gateway's abuse detector raises; a role's anomaly
// policy names them. They live here so that a role naming an unknown kind
// is refused when the configuration loads.
const (
	AnomalySpendSpike     = "spend_spike"
	AnomalyExpensiveModel = "expensive_model"
	AnomalyNewSource      = "new_source"
	AnomalyNewUserAgent   = "new_user_agent"
	AnomalyAuthFailures   = "auth_failures"
)

// AnomalyKinds returns every alert kind, in the order they are documented.
func AnomalyKinds() []string {
	return []string{AnomalySpendSpike, AnomalyExpensiveModel, AnomalyNewSource, AnomalyNewUserAgent, AnomalyAuthFailures}
}

// An AnomalyPolicy is what a role asks of the abuse detector.
type AnomalyPolicy struct {
	// Suspend lists the alert kinds that revoke every token of the
	// workload that caused them (the workload must prove its identity
	// again to get a new one).
	Suspend []string `yaml:"suspend,omitempty" json:"suspend,omitempty"`
}

// Suspends reports whether an alert of kind revokes the workload's tokens.
func (p AnomalyPolicy) Suspends(kind string) bool { return slices.Contains(p.Suspend, kind) }

// A Budget caps spend in US dollars.
type Budget struct {
	PerTokenUSD         float64 `yaml:"per_token_usd,omitempty" json:"per_token_usd,omitempty"`
	PerWorkloadDailyUSD float64 `yaml:"per_workload_daily_usd,omitempty" json:"per_workload_daily_usd,omitempty"`
}

// RateLimits cap request rate, token throughput and concurrency.
type RateLimits struct {
	RequestsPerMinute int `yaml:"requests_per_minute,omitempty" json:"requests_per_minute,omitempty"`
	TokensPerMinute   int `yaml:"tokens_per_minute,omitempty" json:"tokens_per_minute,omitempty"`
	Concurrent        int `yaml:"concurrent,omitempty" json:"concurrent,omitempty"`
}

// compile applies defaults and checks the role.
func (r *Role) compile() error {
	if r.Name == "" {
		return fieldErrorf([]any{"name"}, "a role needs a name")
	}
	if len(r.Providers) == 0 {
		return fieldErrorf([]any{"providers"}, "role %q names no provider", r.Name)
	}
	for i, p := range r.Providers {
		if _, ok := provider.Lookup(p); !ok {
			return fieldErrorf([]any{"providers", i}, "role %q: unknown provider %q", r.Name, p)
		}
	}
	if len(r.Credentials) == 0 {
		return fieldErrorf([]any{"credentials"}, "role %q names no held credential", r.Name)
	}
	for i, c := range r.Credentials {
		if strings.TrimSpace(c) == "" {
			return fieldErrorf([]any{"credentials", i}, "role %q: empty credential id", r.Name)
		}
	}
	if len(r.Models) == 0 {
		return fieldErrorf([]any{"models"}, "role %q has no model allowlist (use \"*\" to allow every model, deliberately)", r.Name)
	}
	r.models = make([]*glob, 0, len(r.Models))
	for i, m := range r.Models {
		g, err := compileGlob(m)
		if err != nil {
			return &fieldError{path: []any{"models", i}, err: err}
		}
		r.models = append(r.models, g)
	}
	if len(r.Operations) == 0 {
		return fieldErrorf([]any{"operations"}, "role %q allows no operation", r.Name)
	}
	for i, o := range r.Operations {
		if !o.valid() {
			return fieldErrorf([]any{"operations", i}, "role %q: unknown operation %q (want one of %s)", r.Name, o, joinOps(append(Operations(), MLOperations()...)))
		}
	}
	for i, a := range r.Audiences {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			return fieldErrorf([]any{"audiences", i}, "role %q: bad audience %q", r.Name, a)
		}
	}
	for i, res := range r.Resources {
		if err := checkResource(res); err != nil {
			return &fieldError{path: []any{"resources", i}, err: err}
		}
	}
	if r.TTL == 0 {
		r.TTL = DefaultTTL
	}
	if r.TTL < MinTTL || r.TTL > MaxTTL {
		return fieldErrorf([]any{"ttl"}, "role %q: ttl %s outside %s..%s", r.Name, r.TTL, MinTTL, MaxTTL)
	}
	if r.Budget.PerTokenUSD < 0 || r.Budget.PerWorkloadDailyUSD < 0 || r.Budget.PerTokenUSD != r.Budget.PerTokenUSD || r.Budget.PerWorkloadDailyUSD != r.Budget.PerWorkloadDailyUSD {
		return fieldErrorf([]any{"budget"}, "role %q: a budget is a non-negative amount", r.Name)
	}
	if r.Rate.RequestsPerMinute < 0 || r.Rate.TokensPerMinute < 0 || r.Rate.Concurrent < 0 {
		return fieldErrorf([]any{"rate"}, "role %q: a rate limit is a non-negative number", r.Name)
	}
	for i, h := range r.Allow.Headers {
		if h == "" || strings.ContainsAny(h, " \t\r\n:") {
			return fieldErrorf([]any{"allow", "headers", i}, "role %q: bad header name %q", r.Name, h)
		}
	}
	for i, f := range r.Allow.Fields {
		if f == "" {
			return fieldErrorf([]any{"allow", "fields", i}, "role %q: empty field name", r.Name)
		}
	}
	if err := r.checkStorage(); err != nil {
		return err
	}
	if err := r.compileMLStack(); err != nil {
		return err
	}
	for i, k := range r.Anomaly.Suspend {
		if !slices.Contains(AnomalyKinds(), k) {
			return fieldErrorf([]any{"anomaly", "suspend", i}, "role %q: unknown alert kind %q (want one of %s)", r.Name, k, strings.Join(AnomalyKinds(), ", "))
		}
	}
	return nil
}

func checkResource(res string) error {
	u, err := url.Parse(res)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" || strings.Contains(res, "#") {
		return fmt.Errorf("resource %q is not an absolute URI without fragment", res)
	}
	return nil
}

func joinOps(ops []Operation) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// A Scope is what one token may do: a subset of its role.
type Scope struct {
	Providers  []string    `json:"providers"`
	Models     []string    `json:"models"`
	Operations []Operation `json:"operations"`
	Audiences  []string    `json:"audiences,omitempty"`
	Resources  []string    `json:"resources,omitempty"`
}

// Values renders the scope as OAuth scope values: operations, then
// "model:<glob>" and "provider:<id>".
func (s Scope) Values() []string {
	v := make([]string, 0, len(s.Operations)+len(s.Models)+len(s.Providers))
	for _, o := range s.Operations {
		v = append(v, string(o))
	}
	for _, m := range s.Models {
		v = append(v, "model:"+m)
	}
	for _, p := range s.Providers {
		v = append(v, "provider:"+p)
	}
	return v
}

// String is the space-delimited OAuth scope.
func (s Scope) String() string { return strings.Join(s.Values(), " ") }

// maxScopeValues bounds the number of scope, audience and resource values.
const maxScopeValues = 64

// Narrow returns the part of the role a request asks for. scope is the
// space-delimited OAuth scope: operation names, "model:<name or glob>" and
// "provider:<id>"; a kind left out keeps the role's full list. audiences
// may name the role's providers (narrowing to them) or its extra
// audiences; resources must be among the role's resources.
// Errors: *Error invalid_scope (asks for more than the role, or an unknown
// scope value), invalid_target (an audience or resource outside the role),
// invalid_request (a malformed value).
func (r *Role) Narrow(scope string, audiences, resources []string) (Scope, error) {
	out := Scope{}
	fields := strings.Fields(scope)
	if len(fields) > maxScopeValues || len(audiences) > maxScopeValues || len(resources) > maxScopeValues {
		return out, refuse(CodeInvalidRequest, ReasonRequest, "too many scope, audience or resource values", nil)
	}
	badScope := func(what string) error {
		return refuse(CodeInvalidScope, ReasonScope, "requested scope exceeds the role: "+what, nil)
	}
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f, "model:"):
			m := strings.TrimPrefix(f, "model:")
			g, err := compileGlob(m)
			if err != nil {
				return out, refuse(CodeInvalidScope, ReasonScope, "malformed model scope", nil)
			}
			if !slices.ContainsFunc(r.models, func(rg *glob) bool { return rg.covers(g) }) {
				return out, badScope("model not in the role's allowlist")
			}
			out.Models = appendUnique(out.Models, m)
		case strings.HasPrefix(f, "provider:"):
			p := strings.TrimPrefix(f, "provider:")
			if !slices.Contains(r.Providers, p) {
				return out, badScope("provider not in the role")
			}
			out.Providers = appendUnique(out.Providers, p)
		default:
			o := Operation(f)
			if !o.valid() {
				return out, refuse(CodeInvalidScope, ReasonScope, "unknown scope value", nil)
			}
			if !slices.Contains(r.Operations, o) {
				return out, badScope("operation not allowed by the role")
			}
			if !slices.Contains(out.Operations, o) {
				out.Operations = append(out.Operations, o)
			}
		}
	}
	if out.Operations == nil {
		out.Operations = slices.Clone(r.Operations)
	}
	// Canonical order, so equal scopes print equally.
	slices.SortFunc(out.Operations, func(a, b Operation) int {
		return opRank(a) - opRank(b)
	})
	if out.Models == nil {
		out.Models = slices.Clone(r.Models)
	}
	if out.Providers == nil {
		out.Providers = slices.Clone(r.Providers)
	}

	var byAudience []string
	for _, a := range audiences {
		switch {
		case a == "":
			return out, refuse(CodeInvalidRequest, ReasonRequest, "empty audience", nil)
		case slices.Contains(r.Providers, a):
			byAudience = appendUnique(byAudience, a)
		case slices.Contains(r.Audiences, a):
		default:
			return out, refuse(CodeInvalidTarget, ReasonTarget, "requested audience is outside the role", nil)
		}
		out.Audiences = appendUnique(out.Audiences, a)
	}
	if byAudience != nil {
		out.Providers = slices.DeleteFunc(out.Providers, func(p string) bool { return !slices.Contains(byAudience, p) })
		if len(out.Providers) == 0 {
			return out, refuse(CodeInvalidTarget, ReasonTarget, "requested audience and scope name no common provider", nil)
		}
	}
	for _, res := range resources {
		if checkResource(res) != nil {
			return out, refuse(CodeInvalidRequest, ReasonRequest, "resource must be an absolute URI without fragment", nil)
		}
		if !slices.Contains(r.Resources, res) {
			return out, refuse(CodeInvalidTarget, ReasonTarget, "requested resource is outside the role", nil)
		}
		out.Resources = appendUnique(out.Resources, res)
	}
	return out, nil
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
