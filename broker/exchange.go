package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// RFC 8693 identifiers.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
)

// An ExchangeRequest is an RFC 8693 request, already parsed.
type ExchangeRequest struct {
	// SubjectToken is the workload's JWT. It is a credential: it is never
	// logged and never appears in an error (LogValue redacts it).
	SubjectToken       string
	SubjectTokenType   string
	RequestedTokenType string
	Scope              string
	Audiences          []string
	Resources          []string
}

// LogValue keeps the subject token out of any log line that prints a request.
func (r ExchangeRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("subject_token_type", r.SubjectTokenType),
		slog.Int("subject_token_bytes", len(r.SubjectToken)),
		slog.String("scope", r.Scope),
		slog.Any("audience", r.Audiences),
		slog.Any("resource", r.Resources),
	)
}

// An ExchangeResponse is the RFC 8693 §2.2.1 success response.
type ExchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	// Grant is what was recorded; not part of the response body.
	Grant *aicred.Grant `json:"-"`
}

// ExchangerConfig wires an Exchanger.
type ExchangerConfig struct {
	Proofs []Proof
	Roles  []Role
	// Policies are tried in order for a token's proof; the first whose
	// conditions match decides the role.
	Policies []Policy
	// Tokens stores issued tokens (by hash) and their grants: an
	// aicred.Store, or a MemoryTokenStore.
	Tokens TokenStore
	// Logger receives one line per issued token and per refusal, never
	// a token. Nil discards.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// StrictRFC8693Errors answers invalid_request for every subject token
	// that does not verify, as RFC 8693 §2.2.2 words it. By default a
	// well-formed token that fails verification or matches no policy is
	// invalid_grant (RFC 6749 §5.2, RFC 7523 §3.1), which is what most
	// clients and STS implementations expect; malformed requests and
	// tokens are invalid_request either way.
	StrictRFC8693Errors bool
	// Holds refuses workloads under a hold (invalid_grant,
	// ReasonWorkloadHeld); nil means Tokens when it answers holds
	// (aicred stores, grantcache.Cache and MemoryTokenStore do).
	Holds Holds
	// Audit receives a record of each exchange refused for a hold; nil
	// writes none (the refusal is logged either way).
	Audit Auditor
}

// An Exchanger trades verified workload identities for aicred tokens.
// It is safe for concurrent use and serves POST /oauth/token (http.go).
type Exchanger struct {
	proofs   map[string]Proof // by name
	byIssuer map[string]Proof
	policies map[string][]*Policy // by proof name, in config order
	roles    map[string]*Role
	tokens   TokenStore
	log      *slog.Logger
	now      func() time.Time
	strict   bool
	holds    Holds
	audit    Auditor
}

// NewExchanger checks the proofs, roles and policies together: names are
// unique, every policy names a known proof and role, and every policy pins
// a workload as its proof requires. Errors: ErrInvalid, naming the entry
// (and, through a config, its line).
func NewExchanger(cfg ExchangerConfig) (*Exchanger, error) {
	if cfg.Tokens == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "exchanger: no token store")
	}
	x := &Exchanger{
		proofs:   make(map[string]Proof, len(cfg.Proofs)),
		byIssuer: make(map[string]Proof, len(cfg.Proofs)),
		policies: make(map[string][]*Policy),
		roles:    make(map[string]*Role, len(cfg.Roles)),
		tokens:   cfg.Tokens,
		log:      cfg.Logger,
		now:      cfg.Clock,
		strict:   cfg.StrictRFC8693Errors,
		holds:    cfg.Holds,
		audit:    cfg.Audit,
	}
	if x.holds == nil {
		x.holds, _ = cfg.Tokens.(Holds)
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.now == nil {
		x.now = time.Now
	}
	for i, p := range cfg.Proofs {
		if _, dup := x.proofs[p.Name()]; dup {
			return nil, invalidAt([]any{"issuers", i, "name"}, "proof %q is defined twice", p.Name())
		}
		if other, dup := x.byIssuer[p.Issuer()]; dup {
			return nil, invalidAt([]any{"issuers", i, "issuer"}, "proofs %q and %q verify the same issuer %s; a token must route to one proof", other.Name(), p.Name(), p.Issuer())
		}
		x.proofs[p.Name()] = p
		x.byIssuer[p.Issuer()] = p
	}
	for i := range cfg.Roles {
		r := cfg.Roles[i] // a copy: the caller's slice is not modified
		if err := r.compile(); err != nil {
			return nil, prefixed([]any{"roles", i}, err)
		}
		if _, dup := x.roles[r.Name]; dup {
			return nil, invalidAt([]any{"roles", i, "name"}, "role %q is defined twice", r.Name)
		}
		x.roles[r.Name] = &r
	}
	names := make(map[string]bool, len(cfg.Policies))
	for i := range cfg.Policies {
		p := cfg.Policies[i]
		p.Claims = cloneConditions(p.Claims)
		p.conds = nil
		if err := p.compile(); err != nil {
			return nil, prefixed([]any{"policies", i}, err)
		}
		if names[p.Name] {
			return nil, invalidAt([]any{"policies", i, "name"}, "policy %q is defined twice", p.Name)
		}
		names[p.Name] = true
		proof, ok := x.proofs[p.Issuer]
		if !ok {
			return nil, invalidAt([]any{"policies", i, "issuer"}, "policy %q: no issuer named %q", p.Name, p.Issuer)
		}
		if _, ok := x.roles[p.Role]; !ok {
			return nil, invalidAt([]any{"policies", i, "role"}, "policy %q: no role named %q", p.Name, p.Role)
		}
		if err := proof.CheckPolicy(&p); err != nil {
			return nil, prefixed([]any{"policies", i}, err)
		}
		x.policies[p.Issuer] = append(x.policies[p.Issuer], &p)
	}
	return x, nil
}

func cloneConditions(m map[string]Condition) map[string]Condition {
	if m == nil {
		return nil
	}
	out := make(map[string]Condition, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// invalidAt is an ErrInvalid error located at path in the config.
func invalidAt(path []any, format string, args ...any) error {
	return aicred.Errorf(aicred.ErrInvalid, "%w", fieldErrorf(path, format, args...))
}

// prefixed locates err (a *fieldError relative to an entry) under path.
func prefixed(path []any, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return aicred.Errorf(aicred.ErrInvalid, "%w", &fieldError{path: append(path[:len(path):len(path)], fe.path...), err: fe.err})
	}
	return aicred.Errorf(aicred.ErrInvalid, "%w", &fieldError{path: path, err: err})
}

// Role returns a role by name (compiled, with defaults applied). The
// caller must not modify it.
func (x *Exchanger) Role(name string) (*Role, bool) {
	r, ok := x.roles[name]
	return r, ok
}

// Exchange verifies the subject token, finds the policy and role, narrows
// the scope, mints a token and records its grant. It logs the outcome
// (without the token) and returns an *Error on refusal.
func (x *Exchanger) Exchange(ctx context.Context, req *ExchangeRequest) (*ExchangeResponse, error) {
	return x.exchangeLogged(ctx, req, nil)
}

// exchangeLogged runs an exchange and logs its outcome with extra attrs
// (the HTTP layer adds the remote address).
func (x *Exchanger) exchangeLogged(ctx context.Context, req *ExchangeRequest, extra []slog.Attr) (*ExchangeResponse, error) {
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, extra...)
	resp, err := x.exchange(ctx, req, &attrs)
	if err != nil {
		e := x.refusal(err)
		x.logRefusal(ctx, e, attrs)
		return nil, e
	}
	g := resp.Grant
	x.log.LogAttrs(ctx, slog.LevelInfo, "token issued", append(extra,
		slog.String("grant", g.ID),
		slog.String("iss", g.Issuer),
		slog.String("sub", truncate(g.Subject, 256)),
		slog.String("policy", g.Policy),
		slog.String("role", g.Role),
		slog.String("scope", resp.Scope),
		slog.Time("expires_at", g.ExpiresAt))...)
	return resp, nil
}

func (x *Exchanger) exchange(ctx context.Context, req *ExchangeRequest, attrs *[]slog.Attr) (*ExchangeResponse, error) {
	if err := checkTokenTypes(req.SubjectTokenType, req.RequestedTokenType); err != nil {
		return nil, err
	}
	proof, err := x.route(req.SubjectToken, attrs)
	if err != nil {
		return nil, err
	}
	*attrs = append(*attrs, slog.String("proof", proof.Name()))
	id, err := proof.Verify(ctx, req.SubjectToken)
	if err != nil {
		return nil, err
	}
	*attrs = append(*attrs, slog.String("iss", id.Issuer), slog.String("sub", truncate(id.Subject, 256)))
	// A held workload gets nothing new, whichever policy it would match.
	if err := x.checkHold(ctx, id); err != nil {
		return nil, err
	}

	var pol *Policy
	for _, p := range x.policies[proof.Name()] {
		if p.Match(id) {
			pol = p
			break
		}
	}
	if pol == nil {
		return nil, refuse(CodeInvalidGrant, ReasonNoPolicy, "no trust policy admits this workload", nil)
	}
	role := x.roles[pol.Role]
	*attrs = append(*attrs, slog.String("policy", pol.Name), slog.String("role", role.Name))
	scope, err := role.Narrow(req.Scope, req.Audiences, req.Resources)
	if err != nil {
		return nil, err
	}

	token := mintToken()
	now := x.now()
	g := &aicred.Grant{
		ID:        newGrantID(),
		TokenHash: aicred.HashToken(token),
		Class:     aicred.TokenWorkload,
		Issuer:    id.Issuer,
		Subject:   id.Subject,
		Policy:    pol.Name,
		Role:      role.Name,
		Scope:     scope.Values(),
		// Audiences and resources are URIs or names without spaces.
		Audience:    strings.Join(append(slices.Clone(scope.Audiences), scope.Resources...), " "),
		Environment: role.Environment,
		Credentials: slices.Clone(role.Credentials),
		IssuedAt:    now,
		ExpiresAt:   now.Add(role.TTL),
	}
	if err := x.tokens.IssueGrant(ctx, g); err != nil {
		// The store checks the hold again in the grant's transaction: a
		// revocation that landed after checkHold still wins.
		if aicred.KindOf(err) == aicred.ErrUnauthorized {
			return nil, errHeld()
		}
		return nil, asError(err)
	}
	return &ExchangeResponse{
		AccessToken:     token,
		IssuedTokenType: TokenTypeAccessToken,
		TokenType:       "Bearer",
		ExpiresIn:       int64(role.TTL / time.Second),
		Scope:           scope.String(),
		Grant:           g,
	}, nil
}

func checkTokenTypes(subject, requested string) error {
	if subject != TokenTypeJWT && subject != TokenTypeIDToken {
		return refuse(CodeInvalidRequest, ReasonTokenType, "subject_token_type must be "+TokenTypeJWT+" or "+TokenTypeIDToken, nil)
	}
	if requested != "" && requested != TokenTypeAccessToken {
		return refuse(CodeInvalidRequest, ReasonTokenType, "requested_token_type must be "+TokenTypeAccessToken, nil)
	}
	return nil
}

// route finds the proof for a subject token by its (unverified) iss, or
// for a SPIFFE JWT-SVID without iss by the trust domain of its sub. No
// key is looked up before a token is routed and its algorithm accepted.
func (x *Exchanger) route(raw string, attrs *[]slog.Attr) (Proof, error) {
	h, payload, err := splitJWT(raw)
	if err != nil {
		return nil, err
	}
	*attrs = append(*attrs, slog.String("alg", truncate(h.Alg, 32)), slog.String("kid", truncate(h.Kid, 128)))
	if err := checkHeader(h); err != nil {
		return nil, err
	}
	var peek struct {
		Iss any `json:"iss"`
		Sub any `json:"sub"`
	}
	if json.Unmarshal(payload, &peek) != nil {
		return nil, refuse(CodeInvalidRequest, ReasonMalformed, "subject_token is not a well-formed JWT: payload is not a JSON object", nil)
	}
	iss, _ := peek.Iss.(string)
	sub, _ := peek.Sub.(string)
	*attrs = append(*attrs, slog.String("claimed_iss", truncate(iss, 256)), slog.String("claimed_sub", truncate(sub, 256)))
	if p, ok := x.byIssuer[iss]; ok && iss != "" {
		return p, nil
	}
	if rest, ok := strings.CutPrefix(sub, "spiffe://"); ok {
		td, _, _ := strings.Cut(rest, "/")
		if p, ok := x.byIssuer["spiffe://"+td]; ok {
			return p, nil
		}
	}
	return nil, refuse(CodeInvalidGrant, ReasonUnknownIssuer, "token issuer is not trusted", nil)
}

// refusal turns err into the *Error the client sees.
func (x *Exchanger) refusal(err error) *Error {
	e := asError(err)
	if x.strict && e.Code == CodeInvalidGrant {
		c := *e
		c.Code = CodeInvalidRequest
		return &c
	}
	return e
}

func (x *Exchanger) logRefusal(ctx context.Context, e *Error, attrs []slog.Attr) {
	level := slog.LevelWarn
	if e.Code == CodeServerError || e.Code == CodeTemporarilyUnavailable {
		level = slog.LevelError
	}
	all := append([]slog.Attr{
		slog.String("error", e.Code),
		slog.String("reason", e.Reason),
		slog.String("description", e.Description),
	}, attrs...)
	if cause := errors.Unwrap(e); cause != nil {
		var ae *aicred.Error
		if errors.As(cause, &ae) && ae.Err != nil {
			all = append(all, slog.String("cause", ae.Err.Error()))
		}
	}
	x.log.LogAttrs(ctx, level, "token exchange refused", all...)
}
