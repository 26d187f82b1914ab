package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
)

// Proof types of IssuerConfig.Type.
const (
	TypeOIDC          = "oidc"
	TypeKubernetes    = "kubernetes"
	TypeGitHubActions = "github-actions"
	TypeSPIFFE        = "spiffe"
)

// Config is the broker's part of the server configuration: the issuers it
// trusts, the roles it grants and the policies joining them.
//
//	issuers:
//	  - name: github
//	    type: github-actions
//	    audiences: [https://aicred.example.com]
//	  - name: prod-cluster
//	    type: kubernetes
//	    issuer: https://kubernetes.default.svc
//	    audiences: [aicred]
//	    jwks_file: /etc/aicred/prod-cluster-jwks.json
//	roles:
//	  - name: ci-inference
//	    providers: [openai]
//	    credentials: [hc_0123456789abcdef01234567]
//	    models: ["gpt-4o*"]
//	    operations: [chat, embeddings]
//	    ttl: 15m
//	policies:
//	  - name: api-release
//	    issuer: github
//	    role: ci-inference
//	    claims:
//	      repository: acme/api
//	      ref: refs/heads/main
//
// Decoding a Config from YAML (ParseConfig, or yaml.Unmarshal of a larger
// document holding one) checks it: unknown keys, wrong types and invalid
// entries are errors naming their line.
type Config struct {
	Issuers  []IssuerConfig `yaml:"issuers"`
	Roles    []Role         `yaml:"roles"`
	Policies []Policy       `yaml:"policies"`

	node *yaml.Node
}

// IssuerConfig declares one proof: a trusted issuer and how to get its keys.
// Keys come from exactly one of: OIDC discovery on Issuer (the default),
// JWKSURI, JWKSFile or JWKS (inline JSON). A SPIFFE JWKSFile or JWKS is a
// trust bundle.
type IssuerConfig struct {
	Name        string   `yaml:"name"`
	Type        string   `yaml:"type"`
	Issuer      string   `yaml:"issuer,omitempty"`
	Audiences   []string `yaml:"audiences"`
	TrustDomain string   `yaml:"trust_domain,omitempty"`

	JWKSURI  string `yaml:"jwks_uri,omitempty"`
	JWKSFile string `yaml:"jwks_file,omitempty"`
	JWKS     string `yaml:"jwks,omitempty"`

	Leeway time.Duration `yaml:"leeway,omitempty"`
	MaxAge time.Duration `yaml:"max_age,omitempty"`
	// ReplayProtection refuses a second use of a token's jti.
	ReplayProtection bool `yaml:"replay_protection,omitempty"`
	RequireJTI       bool `yaml:"require_jti,omitempty"`

	RefreshInterval    time.Duration `yaml:"refresh_interval,omitempty"`
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval,omitempty"`
	MaxCacheAge        time.Duration `yaml:"max_cache_age,omitempty"`

	// CAFile is a PEM file of CA certificates trusted, beside the
	// system's, for discovery and key-set fetches: an issuer behind a
	// private CA.
	CAFile string `yaml:"ca_file,omitempty"`
	// AllowInsecureHTTP lets discovery and key-set fetches use plain
	// http, and only to a loopback address (127.0.0.1, ::1, localhost):
	// an identity provider running on this machine for development.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http,omitempty"`
}

// ManualIssuer is the issuer of the tokens an administrator issues by hand
// ('aicred token create', POST /admin/v1/tokens): the grant's subject is
// the workload name given. It is not a URL, so no OpenID Connect,
// Kubernetes, GitHub Actions or SPIFFE issuer can carry it, and the
// configuration refuses it (and every "aicred:" issuer) for an issuer entry.
const ManualIssuer = "aicred:manual"

// reservedIssuer reports whether an issuer name belongs to aicred itself.
func reservedIssuer(s string) bool { return strings.HasPrefix(strings.ToLower(s), "aicred:") }

// BuildOptions are the runtime parts of an Exchanger a config does not hold.
type BuildOptions struct {
	// HTTPClient fetches discovery documents and key sets; nil means a
	// client with DefaultFetchTimeout.
	HTTPClient *http.Client
	// Tokens stores issued tokens; nil means a MemoryTokenStore.
	Tokens TokenStore
	// Replay remembers jtis for issuers with replay_protection; nil
	// means a MemoryReplayCache, which protects one process only: a
	// server sharing its store with others passes a StoreReplayCache.
	Replay ReplayCache
	Logger *slog.Logger
	Clock  func() time.Time
	// StrictRFC8693Errors: see ExchangerConfig.
	StrictRFC8693Errors bool
	// Holds and Audit: see ExchangerConfig.
	Holds Holds
	Audit Auditor
}

// ParseConfig reads and checks a broker configuration.
// Errors: ErrInvalid, naming the line.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "broker config: %w", err)
	}
	if c.node == nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "broker config: empty document")
	}
	return &c, nil
}

// UnmarshalYAML decodes and checks a Config, so a server configuration
// embedding one gets the same line-numbered errors.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKnownKeys(n, reflect.TypeFor[Config]()); err != nil {
		return err
	}
	type plain Config
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = Config(p)
	c.node = n
	return c.Validate()
}

// Validate checks the configuration as Build would, without starting
// anything: no key is fetched, but key files are read.
// Errors: ErrInvalid, naming the line when the config came from YAML.
func (c *Config) Validate() error {
	_, err := c.Build(BuildOptions{})
	return err
}

// Build makes the proofs and the Exchanger. Nothing is fetched: remote
// keys are fetched when the first token needs them.
// Errors: ErrInvalid, naming the line when the config came from YAML.
func (c *Config) Build(opts BuildOptions) (*Exchanger, error) {
	x, err := c.build(opts)
	if err != nil {
		return nil, c.locate(err)
	}
	return x, nil
}

func (c *Config) build(opts BuildOptions) (*Exchanger, error) {
	if opts.Tokens == nil {
		opts.Tokens = NewMemoryTokenStore(opts.Clock)
	}
	proofs := make([]Proof, 0, len(c.Issuers))
	for i, ic := range c.Issuers {
		p, err := ic.proof(&opts)
		if err != nil {
			return nil, prefixed([]any{"issuers", i}, err)
		}
		proofs = append(proofs, p)
	}
	return NewExchanger(ExchangerConfig{
		Proofs: proofs, Roles: c.Roles, Policies: c.Policies,
		Tokens: opts.Tokens, Logger: opts.Logger, Clock: opts.Clock,
		StrictRFC8693Errors: opts.StrictRFC8693Errors,
		Holds:               opts.Holds, Audit: opts.Audit,
	})
}

// proof builds the Proof an issuer entry declares.
func (ic IssuerConfig) proof(opts *BuildOptions) (Proof, error) {
	if err := checkProofName(ic.Name); err != nil {
		return nil, &fieldError{path: []any{"name"}, err: err}
	}
	issuer := ic.Issuer
	if ic.Type == TypeGitHubActions && issuer == "" {
		issuer = GitHubActionsIssuer
	}
	if reservedIssuer(issuer) {
		return nil, fieldErrorf([]any{"issuer"}, "issuer %q: %q names aicred's own tokens (%s), not an identity provider", ic.Name, issuer, ManualIssuer)
	}
	keys, err := ic.keys(issuer, opts)
	if err != nil {
		return nil, err
	}
	vc := VerifierConfig{
		Issuer: issuer, Audiences: ic.Audiences, Keys: keys,
		Leeway: ic.Leeway, MaxAge: ic.MaxAge, RequireJTI: ic.RequireJTI,
		Clock: opts.Clock,
	}
	if ic.ReplayProtection || ic.RequireJTI {
		if opts.Replay == nil {
			opts.Replay = NewMemoryReplayCache(opts.Clock)
		}
		vc.Replay = opts.Replay
	}
	if len(ic.Audiences) == 0 {
		return nil, fieldErrorf([]any{"audiences"}, "issuer %q: audiences are required, so tokens minted for other services are refused", ic.Name)
	}
	var p Proof
	switch ic.Type {
	case TypeOIDC:
		p, err = NewOIDC(ic.Name, vc)
	case TypeKubernetes:
		p, err = NewKubernetes(ic.Name, vc)
	case TypeGitHubActions:
		p, err = NewGitHubActions(ic.Name, vc)
	case TypeSPIFFE:
		p, err = NewSPIFFE(ic.Name, ic.TrustDomain, vc)
	default:
		return nil, fieldErrorf([]any{"type"}, "issuer %q: unknown type %q (want %s, %s, %s or %s)", ic.Name, ic.Type, TypeOIDC, TypeKubernetes, TypeGitHubActions, TypeSPIFFE)
	}
	if err != nil {
		return nil, &fieldError{path: []any{"name"}, err: err}
	}
	return p, nil
}

// keys builds the key source of an issuer entry.
func (ic IssuerConfig) keys(issuer string, opts *BuildOptions) (KeySource, error) {
	set := 0
	for _, s := range []string{ic.JWKSURI, ic.JWKSFile, ic.JWKS} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return nil, fieldErrorf([]any{"jwks_uri"}, "issuer %q: give at most one of jwks_uri, jwks_file and jwks", ic.Name)
	}
	uses := usesOIDC()
	if ic.Type == TypeSPIFFE {
		uses = usesSPIFFE()
	}
	switch {
	case ic.JWKSFile != "":
		k, err := LoadStaticKeys(ic.JWKSFile, uses)
		if err != nil {
			return nil, &fieldError{path: []any{"jwks_file"}, err: err}
		}
		return k, nil
	case ic.JWKS != "":
		k, err := NewStaticKeys([]byte(ic.JWKS), uses)
		if err != nil {
			return nil, &fieldError{path: []any{"jwks"}, err: err}
		}
		return k, nil
	}
	if issuer == "" && ic.JWKSURI == "" {
		return nil, fieldErrorf([]any{"issuer"}, "issuer %q: give issuer (for discovery), jwks_uri, jwks_file or jwks", ic.Name)
	}
	client := opts.HTTPClient
	if ic.CAFile != "" {
		c, err := caClient(ic.CAFile, client, ic.AllowInsecureHTTP)
		if err != nil {
			return nil, &fieldError{path: []any{"ca_file"}, err: fmt.Errorf("issuer %q: %w", ic.Name, err)}
		}
		client = c
	}
	discovery := issuer
	if discovery == "" {
		// A SPIFFE entry with only jwks_uri: the URL is checked, the
		// issuer is never used for discovery.
		discovery = ic.JWKSURI
	}
	k, err := NewRemoteKeys(RemoteKeysConfig{
		Issuer: discovery, JWKSURL: ic.JWKSURI, Client: client, AllowInsecureHTTP: ic.AllowInsecureHTTP,
		RefreshInterval: ic.RefreshInterval, MinRefreshInterval: ic.MinRefreshInterval,
		MaxCacheAge: ic.MaxCacheAge, Logger: opts.Logger, Clock: opts.Clock,
	})
	if err != nil {
		path := "issuer"
		if ic.JWKSURI != "" {
			path = "jwks_uri"
		}
		return nil, &fieldError{path: []any{path}, err: fmt.Errorf("issuer %q: %w", ic.Name, err)}
	}
	return k, nil
}

// caClient returns a client for an issuer behind a private CA: the
// system's roots and the PEM certificates of caFile. A base client's
// timeout is kept; its transport is not (it would not trust the CA).
func caClient(caFile string, base *http.Client, allowHTTP bool) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c := &http.Client{Timeout: DefaultFetchTimeout, Transport: tr, CheckRedirect: fetchRedirects(allowHTTP)}
	if base != nil && base.Timeout > 0 {
		c.Timeout = base.Timeout
	}
	return c, nil
}

// locate turns a *fieldError into "line N: path: message" when the config
// came from YAML.
func (c *Config) locate(err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	if l := lineOf(c.node, fe.path...); l > 0 {
		return aicred.Errorf(aicred.ErrInvalid, "line %d: %s", l, fe.Error())
	}
	return aicred.Errorf(aicred.ErrInvalid, "%s", fe.Error())
}

// lineOf finds the line of a value in a YAML document: a path of mapping
// keys (string) and sequence indexes (int). It returns the line of the
// deepest step found, 0 when root is nil.
func lineOf(root *yaml.Node, path ...any) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
			if next == nil {
				return line
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return line
			}
			n = n.Content[s]
			line = n.Line
		}
	}
	return line
}

// checkKnownKeys refuses mapping keys that name no field of t (following
// yaml tags), recursively through structs, slices and maps. Types that
// decode themselves (yaml.Unmarshaler) check their own keys.
func checkKnownKeys(n *yaml.Node, t reflect.Type) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			if err := checkKnownKeys(c, t); err != nil {
				return err
			}
		}
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != reflect.TypeFor[Config]() && reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // the decoder reports the type error
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown field %q", k.Line, k.Value)
			}
			if err := checkKnownKeys(n.Content[i+1], ft); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for _, c := range n.Content {
			if err := checkKnownKeys(c, t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := checkKnownKeys(n.Content[i], t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps the YAML names of t's exported fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
