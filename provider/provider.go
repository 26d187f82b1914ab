// Package provider is the catalog: one file per provider says everything
// aicred knows about it — its credential kinds and how to detect them, what
// each kind unlocks, and how to check whether a found credential is live.
//
// The catalog is the one global in aicred. Each provider file registers
// itself from init; Catalog returns the providers in a stable order.
package provider

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aicred/aicred"
)

// Category groups providers by what they offer.
type Category string

// Provider categories.
const (
	ModelAPI      Category = "model-api"
	CloudML       Category = "cloud-ml"
	MLOps         Category = "mlops"
	VectorDB      Category = "vector-db"
	Observability Category = "llm-observability"
	AgentTools    Category = "agent-tools"
	Compute       Category = "compute"
	Broker        Category = "broker"
)

// A Provider is a company or product whose credentials aicred knows.
type Provider struct {
	ID       string // stable id used in findings: "openai"
	Name     string // display name: "OpenAI"
	Category Category
	// RevokeURL is the provider's page where its credentials are revoked
	// or rotated (the key-management console); kinds without their own
	// RevokeURL take this one when the provider is registered.
	RevokeURL string
	Kinds     []*Kind
}

// A Kind is one type of credential a provider issues.
type Kind struct {
	ID           string // stable id within the provider: "project-key"
	Name         string // display name: "OpenAI project API key"
	Capabilities []aicred.Capability
	Rule         Rule
	Liveness     *Liveness // nil when no safe check is known
	// Trace is the deep trace of what one credential reaches (respond.go);
	// nil when the provider offers no read-only way to tell.
	Trace *Trace
	// Rotation replaces and revokes a credential through the provider's
	// admin API (respond.go); nil: guided rotation at RevokeURL.
	Rotation *Rotation
	// RevokeURL is the page where a credential of this kind is revoked or
	// rotated; empty in a provider file means the provider's RevokeURL.
	RevokeURL string

	provider *Provider
}

// Provider returns the provider that issues this kind.
func (k *Kind) Provider() *Provider { return k.provider }

// Rule describes how to detect a kind in text.
//
// The engine finds Keywords in one pass over the input (ignoring ASCII case),
// then runs Pattern only in a bounded window around each keyword. A rule
// whose value carries its own marker lists that marker (a prefix such as
// "sk-ant-api03-") as keyword. A rule whose value is too generic to stand
// alone (40 hex characters) sets ContextWindow: its keywords are then
// context words (a provider or variable name) and the secret must begin
// within ContextWindow bytes after one of them.
type Rule struct {
	ID          string // unique in the catalog; defaults to "<provider>-<kind>"
	Description string

	Keywords []string
	// Pattern is an RE2 expression with bounded repetition only. The secret
	// is the sub-match named "secret", or the whole match.
	Pattern       string
	ContextWindow int

	// Boundary is the character set (ranges as in a regexp class, e.g.
	// "A-Za-z0-9_-") that must not touch the secret on either side. Empty
	// means the default, letters, digits, '_' and '-'.
	Boundary string
	// MinEntropy is the least Shannon entropy, in bits per character, of the
	// secret. Zero means no entropy filter.
	MinEntropy float64
	// Validate, when set, must accept the secret (checksum, fixed structure).
	Validate func(secret string) bool
	// FullMatch, when set, reports whether a whole candidate is one match
	// of Pattern, as ^(?:Pattern)$ would: a hand-written matcher for a
	// pattern that begins and ends with literals and that Go's regexp runs
	// slowly (a PEM block, whose long counted repetition leaves the regexp
	// to its NFA at some 100 ns a byte). The engine then calls it in place
	// of the regexp on each candidate from the leading literal to the
	// trailing one; the scan package's tests hold it to Pattern on every
	// example, negative and fuzzed input.
	FullMatch func(candidate []byte) bool
	// Related finds secret material that belongs with the match (an AWS
	// secret key near its key id). Keyed by name.
	Related map[string]Near
	// Hints finds non-secret context near the match, such as an API host.
	Hints map[string]Near
	// Allow lists published example values that must never be reported.
	Allow []string

	// Examples and Negatives keep the rule honest: every example must be
	// found with exactly its secret, and no negative may be. They generate
	// key-shaped data at test time, so the repository holds none.
	Examples  func(g *Gen) []Example
	Negatives func(g *Gen) []string
}

// Near is a pattern searched within Window bytes on either side of a match.
// Its first sub-match (or the whole match) is the value.
type Near struct {
	Pattern string
	Window  int
}

// An Example is a text that contains exactly one secret of the rule's kind.
type Example struct {
	Text   string
	Secret string
}

// Ex builds an Example.
func Ex(text, secret string) Example { return Example{Text: text, Secret: secret} }

// Liveness says how to check a credential with the provider's cheapest
// non-billable request. The declarative form covers most providers; Probe
// replaces it where a request must be signed or otherwise computed.
type Liveness struct {
	Method  string // default GET
	BaseURL string // "https://api.openai.com"; "https://{host}" takes the host hint
	Path    string // "/v1/models"
	Auth    Auth
	Header  map[string]string
	Body    string
	// ContentType of Body; default application/json when Body is set.
	ContentType string

	Live         []int    // status codes meaning live (default 200)
	Dead         []int    // status codes meaning revoked or invalid (nil: 401; empty: none, only DeadBody decides)
	NoPermission []int    // status codes meaning live but refused for this probe
	LiveBody     []string // every one must appear in a live answer's body
	DeadBody     []string // any one in the body (of any status) means dead

	// Probe, when set, performs the check itself. base is the configured or
	// default base URL. It returns the state and a short detail that must
	// not contain secret material.
	Probe func(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error)
}

// Auth says how a credential is presented in a liveness request.
type Auth struct {
	// Header is the header that carries the key; default "Authorization".
	Header string
	// Scheme prefixes the key in the header: "Bearer", "Token", "Key", ...
	// Empty with Header "Authorization" means the raw key.
	Scheme string
	// BasicUser, when set, sends HTTP Basic auth: user BasicUser, password
	// the key. With BasicUser "-" the key itself is the user name and the
	// password is empty.
	BasicUser string
	// Related names a Related value sent as the Basic password instead (the
	// key is then the user). Used for key pairs such as Langfuse pk:sk.
	Related string
}

// Bearer is the common "Authorization: Bearer <key>" style.
var Bearer = Auth{Scheme: "Bearer"}

// HeaderAuth sends the raw key in the named header.
func HeaderAuth(name string) Auth { return Auth{Header: name} }

var (
	mu        sync.Mutex
	providers = map[string]*Provider{}
)

// register adds a provider to the catalog. It panics on a programming error
// (duplicate ids), which the catalog test catches at build time.
func register(p *Provider) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := providers[p.ID]; dup {
		panic("provider: duplicate provider id " + p.ID)
	}
	for _, k := range p.Kinds {
		k.provider = p
		if k.RevokeURL == "" {
			k.RevokeURL = p.RevokeURL
		}
		if k.Rule.ID == "" {
			k.Rule.ID = p.ID + "-" + k.ID
		}
	}
	providers[p.ID] = p
}

// Catalog returns every provider, sorted by id.
func Catalog() []*Provider {
	mu.Lock()
	defer mu.Unlock()
	out := make([]*Provider, 0, len(providers))
	for _, p := range providers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Kinds returns every kind of every provider in catalog order.
func Kinds() []*Kind {
	var out []*Kind
	for _, p := range Catalog() {
		out = append(out, p.Kinds...)
	}
	return out
}

// Lookup returns a provider by id.
func Lookup(id string) (*Provider, bool) {
	mu.Lock()
	defer mu.Unlock()
	p, ok := providers[id]
	return p, ok
}

// LookupKind returns a kind by provider and kind id.
func LookupKind(providerID, kindID string) (*Kind, bool) {
	p, ok := Lookup(providerID)
	if !ok {
		return nil, false
	}
	i := slices.IndexFunc(p.Kinds, func(k *Kind) bool { return k.ID == kindID })
	if i < 0 {
		return nil, false
	}
	return p.Kinds[i], true
}

// Describe returns "provider/kind" for messages.
func (k *Kind) Describe() string {
	if k.provider == nil {
		return k.ID
	}
	return fmt.Sprintf("%s/%s", k.provider.ID, k.ID)
}

// caps is shorthand for a capability list.
func caps(c ...aicred.Capability) []aicred.Capability { return c }

// assign renders the ways a secret commonly appears next to a variable name:
// shell and .env assignments, YAML, JSON and Python.
func assign(name, secret string) []Example {
	lower := strings.ToLower(name)
	return []Example{
		Ex("export "+name+"="+secret+"\n", secret),
		Ex(name+"=\""+secret+"\"", secret),
		Ex(lower+": "+secret+"\n", secret),
		Ex(`{"`+lower+`": "`+secret+`"}`, secret),
		Ex("os.environ[\""+name+"\"] = '"+secret+"'", secret),
	}
}

// NewCustomKind attaches a user-defined kind (from .aicred.yaml) to a
// provider outside the catalog, so it flows through the engine and reports
// exactly like a built-in one. The provider is not registered.
func NewCustomKind(p *Provider, k *Kind) *Kind {
	k.provider = p
	if k.Rule.ID == "" {
		k.Rule.ID = p.ID + "-" + k.ID
	}
	p.Kinds = append(p.Kinds, k)
	return k
}
