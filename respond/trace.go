// Package respond acts on leaked credentials: it traces what a credential
// reaches and what it was used for (trace*.go), and revokes or rotates it
// at its provider.
package respond

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/discover"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/report"
)

// TraceSchema names the shape of a TraceReport's JSON (see
// TraceReport). A change that removes or renames a field, or changes its
// meaning, gets a new version; fields may be added within one.
const TraceSchema = "aicred.trace/v1"

// What a trace starts from.
const (
	TraceBySecret      = "secret"      // a provider credential (never printed)
	TraceByFingerprint = "fingerprint" // an inventory fingerprint
	TraceByHeld        = "held"        // a held credential id (hc_...)
	TraceByToken       = "token"       // an aicred token (never printed)
	TraceByTokenID     = "token_id"    // a grant id (tok_...)
)

// A TraceInput names what to trace: exactly one of its fields.
type TraceInput struct {
	Secret      aicred.Secret
	Fingerprint aicred.Fingerprint
	HeldID      string
	Token       aicred.Secret
	TokenID     string
	// Provider and Kind say what Secret is when its fingerprint is not in
	// the inventory and its shape matches several kinds (optional).
	Provider, Kind string
	// Hints are non-secret facts for the deep trace (an API host, a
	// Langfuse public key).
	Hints map[string]string
}

func (in *TraceInput) by() (string, error) {
	var set []string
	if !in.Secret.IsZero() {
		set = append(set, TraceBySecret)
	}
	if in.Fingerprint != "" {
		set = append(set, TraceByFingerprint)
	}
	if in.HeldID != "" {
		set = append(set, TraceByHeld)
	}
	if !in.Token.IsZero() {
		set = append(set, TraceByToken)
	}
	if in.TokenID != "" {
		set = append(set, TraceByTokenID)
	}
	if len(set) != 1 {
		return "", aicred.Errorf(aicred.ErrInvalid, "trace: give exactly one of a secret, a fingerprint, a held credential id, a token or a token id (got %d)", len(set))
	}
	return set[0], nil
}

// TraceOptions says how a trace runs.
type TraceOptions struct {
	// Live runs the kind's deep trace (read-only calls to the provider
	// made with the credential) when the credential is at hand: given as
	// a secret, or held and Sealer is set.
	Live bool
	// Sealer opens a held credential for the deep trace; nil: a held
	// credential is not opened.
	Sealer aicred.Sealer
	// Client makes the deep trace's calls (default: a client with a 20 s
	// timeout).
	Client *http.Client
	// BaseURLs overrides a deep trace's API base, by "provider/kind" or
	// "provider" (tests point them at local servers).
	BaseURLs map[string]string
	// Now is the report's time (default time.Now).
	Now func() time.Time
	// MaxUsage caps the usage records read per held credential or token
	// for first and last use and source networks (default 100,000); the
	// totals always cover every record.
	MaxUsage int
}

// A TraceReport is everything aicred knows about one credential or token.
// Its JSON is stable within TraceSchema: times are RFC 3339 in UTC, absent
// optional objects are omitted, lists are present (possibly empty). The
// shape, field by field as below:
//
//	{
//	  "schema": "aicred.trace/v1",
//	  "generated_at": time,
//	  "subject": {"by": "secret|fingerprint|held|token|token_id", "value": redacted secret or token, fingerprint or id},
//	  "credential": {"fingerprint", "redacted", "provider", "provider_name", "kind", "kind_name",
//	                 "candidates": ["provider/kind"], "unlocks": [{"capability", "description"}],
//	                 "revoke_url", "in_inventory": bool, "inventory": aicred.Credential},      (optional)
//	  "live": {"status": "traced|skipped|failed", "reason", "at", "base_url", "docs", "held_id",
//	           "reach": {"principal", "account", "scopes": [], "resources": [{"type", "id", "name", "access"}], "notes": []}},
//	  "sightings": [aicred.Sighting], "liveness": [aicred.LivenessCheck],
//	  "held": [{"id", "provider", "kind", "fingerprint", "redacted", "environment", "labels", "created_at", "rotated_at", "expires_at", "missing"}],
//	  "usage": {"total": aicred.UsageSummary, "by_workload": [...], "by_model": [... by provider and model], "bytes",
//	            "networks": [{"network", "requests", "first", "last"}], "first_use", "last_use",
//	            "workloads": [{"workload", "requests", "models", "bytes", "first", "last"}], "truncated"},
//	  "token": grant + {"workload", "active", "usage"},                                         (token input only)
//	  "tokens": [grant + {"workload", "active", "usage"}],
//	  "audit": [aicred.AuditEvent],
//	  "timeline": [{"time", "event", "summary", "ref"}],
//	  "notes": []
//	}
//
// Timeline events are the Event* constants. A grant is aicred.Grant's
// JSON (never the token nor its hash).
type TraceReport struct {
	Schema      string       `json:"schema"`
	GeneratedAt time.Time    `json:"generated_at"`
	Subject     TraceSubject `json:"subject"`
	// Credential is the provider credential traced (nil for a token that
	// names no credential aicred knows).
	Credential *TraceCredential `json:"credential,omitempty"`
	// Live is the deep trace, or why there is none.
	Live      *TraceLive             `json:"live,omitempty"`
	Sightings []aicred.Sighting      `json:"sightings"`
	Liveness  []aicred.LivenessCheck `json:"liveness"`
	// Held are the held credentials with this fingerprint (for a token
	// input: those the token may use).
	Held []TraceHeld `json:"held"`
	// Usage is the gateway's use of the held credentials (for a token
	// input: of the token).
	Usage TraceUsage `json:"usage"`
	// Token is the grant traced, for a token input.
	Token *TraceToken `json:"token,omitempty"`
	// Tokens are the aicred tokens derived from the held credentials:
	// the grants that may use them, newest first.
	Tokens []TraceToken `json:"tokens"`
	// Audit is every audit record naming the fingerprint, a held id or a
	// token id, in log order.
	Audit []aicred.AuditEvent `json:"audit"`
	// Timeline merges the above into one story, oldest first.
	Timeline []TimelineEntry `json:"timeline"`
	Notes    []string        `json:"notes"`
}

// A TraceSubject says what the trace started from. Value is the
// fingerprint or id given, or a redacted preview of a secret or token.
type TraceSubject struct {
	By    string `json:"by"`
	Value string `json:"value"`
}

// A TraceCredential is the credential's identity and blast radius.
type TraceCredential struct {
	Fingerprint  aicred.Fingerprint `json:"fingerprint"`
	Redacted     string             `json:"redacted,omitempty"`
	Provider     string             `json:"provider"`
	ProviderName string             `json:"provider_name,omitempty"`
	Kind         string             `json:"kind"`
	KindName     string             `json:"kind_name,omitempty"`
	// Candidates are "provider/kind" when the kind could not be told
	// apart (Provider and Kind are then empty).
	Candidates  []string           `json:"candidates,omitempty"`
	Unlocks     []TraceUnlock      `json:"unlocks"`
	RevokeURL   string             `json:"revoke_url,omitempty"`
	InInventory bool               `json:"in_inventory"`
	Inventory   *aicred.Credential `json:"inventory,omitempty"`
}

// A TraceUnlock is one capability and what it lets a holder do.
type TraceUnlock struct {
	Capability  aicred.Capability `json:"capability"`
	Description string            `json:"description"`
}

// Live trace states.
const (
	LiveTraced  = "traced"  // the provider answered; Reach says what it reaches
	LiveSkipped = "skipped" // not run (Reason says why)
	LiveFailed  = "failed"  // the calls could not be made or answered
)

// A TraceLive is the deep trace's outcome.
type TraceLive struct {
	Status  string          `json:"status"`
	Reason  string          `json:"reason,omitempty"`
	At      time.Time       `json:"at,omitzero"`
	BaseURL string          `json:"base_url,omitempty"`
	Docs    string          `json:"docs,omitempty"`
	HeldID  string          `json:"held_id,omitempty"` // the held credential opened for it
	Reach   *provider.Reach `json:"reach,omitempty"`
}

// A TraceHeld is a held credential (never its secret).
type TraceHeld struct {
	ID          string             `json:"id"`
	Provider    string             `json:"provider"`
	Kind        string             `json:"kind"`
	Fingerprint aicred.Fingerprint `json:"fingerprint"`
	Redacted    string             `json:"redacted"`
	Environment string             `json:"environment,omitempty"`
	Labels      map[string]string  `json:"labels,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
	RotatedAt   time.Time          `json:"rotated_at,omitzero"`
	ExpiresAt   time.Time          `json:"expires_at,omitzero"`
	// Missing: a token names this id but no such held credential exists.
	Missing bool `json:"missing,omitempty"`
}

// TraceUsage is gateway use, totalled.
type TraceUsage struct {
	Total      aicred.UsageSummary   `json:"total"`
	ByWorkload []aicred.UsageSummary `json:"by_workload"`
	// ByModel is by provider and model: the model column of the fence and
	// the ML stack surfaces is the resource reached (a store and bucket,
	// an experiment, a repository), which only the provider tells apart.
	ByModel []aicred.UsageSummary `json:"by_model"`
	// Bytes is the volume moved by calls metered in bytes (the S3 fence,
	// registries, tracking, vector databases, http upstreams): request
	// and answer bytes, which no token count or cost shows.
	Bytes int64 `json:"bytes,omitempty"`
	// Networks are the callers' source networks (IPv4 /24, IPv6 /64).
	Networks []TraceNetwork `json:"networks"`
	FirstUse time.Time      `json:"first_use,omitzero"`
	LastUse  time.Time      `json:"last_use,omitzero"`
	// Workloads: each workload's first and last use.
	Workloads []TraceWorkloadUse `json:"workloads"`
	// Truncated: more records than MaxUsage; first and last use, networks
	// and workloads cover the first MaxUsage of each credential or token.
	Truncated bool `json:"truncated,omitempty"`
}

// A TraceNetwork is one source network of gateway calls.
type TraceNetwork struct {
	Network  string    `json:"network"`
	Requests int64     `json:"requests"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// A TraceWorkloadUse is one workload's use of the credential.
type TraceWorkloadUse struct {
	Workload string    `json:"workload"`
	Requests int64     `json:"requests"`
	Models   []string  `json:"models"`
	Bytes    int64     `json:"bytes,omitempty"` // moved by calls metered in bytes
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// A TraceToken is an aicred grant (never the token nor its hash).
type TraceToken struct {
	aicred.Grant
	Workload string `json:"workload"`
	Active   bool   `json:"active"`
	// Usage totals the token's gateway use (every provider).
	Usage aicred.UsageSummary `json:"usage"`
}

// Timeline entry kinds.
const (
	EventCommitted = "committed" // a sighting's commit was authored
	EventSeen      = "seen"      // first seen at a place
	EventSeenAgain = "seen-again"
	EventChecked   = "checked"
	EventHeld      = "held"
	EventRotated   = "rotated"
	EventFirstUse  = "first-use"
	EventLastUse   = "last-use"
	EventNetwork   = "new-network"
	EventAudit     = "audit"
	EventTraced    = "traced"
)

// A TimelineEntry is one dated fact.
type TimelineEntry struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Summary string    `json:"summary"`
	// Ref names what the entry is about: a place, a held id, a token id,
	// a workload, an audit seq ("audit:12").
	Ref string `json:"ref,omitempty"`
}

// Trace gathers everything st knows about in, and runs the deep trace
// when asked and possible. Errors: ErrInvalid (not exactly one input, a
// malformed fingerprint), ErrNotFound (a fingerprint, held id, token or
// token id aicred does not know; a secret need not be known), and the
// store's. A failed deep trace is a result (Live.Status "failed"), not an
// error. Nothing in the report or an error holds the secret or token.
func Trace(ctx context.Context, st aicred.Store, in TraceInput, opt TraceOptions) (*TraceReport, error) {
	by, err := in.by()
	if err != nil {
		return nil, err
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxUsage <= 0 {
		opt.MaxUsage = 100_000
	}
	t := &tracer{st: st, in: in, opt: opt, r: &TraceReport{
		Schema: TraceSchema, GeneratedAt: opt.Now().UTC(),
		Sightings: []aicred.Sighting{}, Liveness: []aicred.LivenessCheck{}, Held: []TraceHeld{},
		Tokens: []TraceToken{}, Audit: []aicred.AuditEvent{}, Timeline: []TimelineEntry{}, Notes: []string{},
		Usage: TraceUsage{ByWorkload: []aicred.UsageSummary{}, ByModel: []aicred.UsageSummary{}, Networks: []TraceNetwork{}, Workloads: []TraceWorkloadUse{}},
	}}
	t.r.Subject.By = by
	if err := t.run(ctx, by); err != nil {
		return nil, err
	}
	return t.r, nil
}

type tracer struct {
	st  aicred.Store
	in  TraceInput
	opt TraceOptions
	r   *TraceReport
	// names are what audit records may name: fingerprints, held ids,
	// token ids.
	names map[string]bool
	// heldIDs are the held credentials whose use is traced.
	heldIDs []string
}

func (t *tracer) name(s string) {
	if s == "" {
		return
	}
	if t.names == nil {
		t.names = map[string]bool{}
	}
	t.names[s] = true
}

func (t *tracer) note(format string, args ...any) {
	t.r.Notes = append(t.r.Notes, fmt.Sprintf(format, args...))
}

func (t *tracer) run(ctx context.Context, by string) error {
	var fp aicred.Fingerprint
	switch by {
	case TraceBySecret:
		t.r.Subject.Value = t.in.Secret.Redacted()
		found, err := t.identifySecret(ctx)
		if err != nil {
			return err
		}
		fp = found
	case TraceByFingerprint:
		if !t.in.Fingerprint.Valid() {
			return aicred.Errorf(aicred.ErrInvalid, "trace: %q is not a fingerprint (sha256:<64 hex>)", string(t.in.Fingerprint))
		}
		t.r.Subject.Value = string(t.in.Fingerprint)
		fp = t.in.Fingerprint
		if err := t.loadCredential(ctx, fp, true); err != nil {
			return err
		}
	case TraceByHeld:
		t.r.Subject.Value = t.in.HeldID
		h, err := t.st.GetHeldCredential(ctx, t.in.HeldID)
		if err != nil {
			return fmt.Errorf("trace: held credential %s: %w", t.in.HeldID, err)
		}
		fp = h.Fingerprint
		if err := t.loadCredential(ctx, fp, false); err != nil {
			return err
		}
		if t.r.Credential == nil {
			t.r.Credential = t.describe(fp, h.Redacted, h.Provider, h.Kind)
		}
	case TraceByToken, TraceByTokenID:
		return t.runToken(ctx, by)
	}
	if err := t.loadHeld(ctx, fp); err != nil {
		return err
	}
	if err := t.loadDerived(ctx); err != nil {
		return err
	}
	if err := t.loadUsage(ctx, func(f *aicred.UsageFilter, id string) { f.CredentialID = id }, t.heldIDs); err != nil {
		return err
	}
	t.live(ctx, by)
	return t.finish(ctx)
}

// identifySecret finds the secret in the inventory by fingerprint (the
// whole input, then each of its fields: a key pair "ID:SECRET" or a
// Langfuse pair), else tells its kind by its shape.
func (t *tracer) identifySecret(ctx context.Context) (aicred.Fingerprint, error) {
	raw := t.in.Secret.Reveal()
	candidates := []aicred.Secret{t.in.Secret}
	if fs := strings.FieldsFunc(raw, func(r rune) bool { return r == ':' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }); len(fs) > 1 {
		for _, f := range fs {
			candidates = append(candidates, aicred.NewSecret(f))
		}
	}
	for _, c := range candidates {
		fp := c.Fingerprint()
		d, err := t.st.GetCredential(ctx, fp)
		switch {
		case aicred.KindOf(err) == aicred.ErrNotFound:
			continue
		case err != nil:
			return "", fmt.Errorf("trace: inventory: %w", err)
		}
		t.useDetail(d)
		return fp, nil
	}
	fp := t.in.Secret.Fingerprint()
	t.note("the secret is not in the inventory: no scan has recorded it")
	if t.in.Provider != "" || t.in.Kind != "" {
		if _, ok := provider.LookupKind(t.in.Provider, t.in.Kind); !ok {
			return "", aicred.Errorf(aicred.ErrInvalid, "trace: unknown credential kind %s/%s (see 'aicred catalog')", t.in.Provider, t.in.Kind)
		}
		t.r.Credential = t.describe(fp, t.in.Secret.Redacted(), t.in.Provider, t.in.Kind)
		return fp, nil
	}
	kinds := traceKindsOf(candidates)
	switch len(kinds) {
	case 0:
		t.r.Credential = t.describe(fp, t.in.Secret.Redacted(), "", "")
		t.note("the secret matches no credential kind in the catalog")
	case 1:
		t.r.Credential = t.describe(fp, t.in.Secret.Redacted(), kinds[0].Provider().ID, kinds[0].ID)
	default:
		c := t.describe(fp, t.in.Secret.Redacted(), "", "")
		for _, k := range kinds {
			c.Candidates = append(c.Candidates, k.Describe())
		}
		t.r.Credential = c
		t.note("the secret has the shape of %d kinds; name one with --provider and --kind", len(kinds))
	}
	return fp, nil
}

// traceKindsOf returns the kinds any candidate has the shape of. A kind
// whose value carries its own marker (no context window) outranks the
// generic ones (40 hex digits after a provider's name).
func traceKindsOf(candidates []aicred.Secret) []*provider.Kind {
	var marked, generic []*provider.Kind
	for _, k := range provider.Kinds() {
		for _, c := range candidates {
			if discover.MatchesKind(k, c) {
				if k.Rule.ContextWindow == 0 {
					marked = append(marked, k)
				} else {
					generic = append(generic, k)
				}
				break
			}
		}
	}
	if len(marked) > 0 {
		return marked
	}
	return generic
}

// loadCredential reads fp's inventory record; required: a credential not
// in the inventory is ErrNotFound.
func (t *tracer) loadCredential(ctx context.Context, fp aicred.Fingerprint, required bool) error {
	d, err := t.st.GetCredential(ctx, fp)
	switch {
	case aicred.KindOf(err) == aicred.ErrNotFound && !required:
		return nil
	case err != nil:
		return fmt.Errorf("trace: inventory: %w", err)
	}
	t.useDetail(d)
	return nil
}

func (t *tracer) useDetail(d *aicred.CredentialDetail) {
	c := t.describe(d.Fingerprint, d.Redacted, d.Provider, d.Kind)
	c.InInventory = true
	inv := d.Credential
	c.Inventory = &inv
	if len(d.Capabilities) > 0 {
		c.Unlocks = traceUnlocks(d.Capabilities)
	}
	t.r.Credential = c
	t.r.Sightings = append(t.r.Sightings, d.Sightings...)
	t.r.Liveness = append(t.r.Liveness, d.Liveness...)
}

// describe fills a credential's identity and what its kind unlocks from
// the catalog.
func (t *tracer) describe(fp aicred.Fingerprint, redacted, prov, kind string) *TraceCredential {
	t.name(string(fp))
	c := &TraceCredential{Fingerprint: fp, Redacted: redacted, Provider: prov, Kind: kind, Unlocks: []TraceUnlock{}}
	if p, ok := provider.Lookup(prov); ok {
		c.ProviderName = p.Name
		c.RevokeURL = p.RevokeURL
	}
	if k, ok := provider.LookupKind(prov, kind); ok {
		c.KindName = k.Name
		c.Unlocks = traceUnlocks(k.Capabilities)
		if k.RevokeURL != "" {
			c.RevokeURL = k.RevokeURL
		}
	}
	return c
}

func traceUnlocks(caps []aicred.Capability) []TraceUnlock {
	out := make([]TraceUnlock, 0, len(caps))
	for _, c := range caps {
		out = append(out, TraceUnlock{Capability: c, Description: report.CapabilityText(c)})
	}
	return out
}

// loadHeld finds the held credentials with fingerprint fp.
func (t *tracer) loadHeld(ctx context.Context, fp aicred.Fingerprint) error {
	var f aicred.HeldFilter
	if c := t.r.Credential; c != nil && c.Provider != "" {
		f.Provider = c.Provider
	}
	hs, err := t.st.ListHeldCredentials(ctx, f)
	if err != nil {
		return fmt.Errorf("trace: held credentials: %w", err)
	}
	for i := range hs {
		if hs[i].Fingerprint == fp || hs[i].ID == t.in.HeldID {
			t.addHeld(&hs[i])
			continue
		}
		// A held credential that held this secret before a rotation: its
		// gateway use, tokens and rotation belong to the story too.
		rs, err := t.st.ListRotations(ctx, aicred.RotationFilter{HeldID: hs[i].ID})
		if err != nil {
			return fmt.Errorf("trace: rotations of %s: %w", hs[i].ID, err)
		}
		for _, r := range rs {
			if r.OldFingerprint == fp {
				t.addHeld(&hs[i])
				t.note("held credential %s held this secret until rotation %s (%s); its gateway use below includes the secret that replaced it", hs[i].ID, r.ID, r.State)
				t.name(r.ID)
				break
			}
		}
	}
	return nil
}

func (t *tracer) addHeld(h *aicred.HeldCredential) {
	t.r.Held = append(t.r.Held, TraceHeld{
		ID: h.ID, Provider: h.Provider, Kind: h.Kind, Fingerprint: h.Fingerprint, Redacted: h.Redacted,
		Environment: h.Environment, Labels: h.Labels, CreatedAt: h.CreatedAt, RotatedAt: h.RotatedAt, ExpiresAt: h.ExpiresAt,
	})
	t.heldIDs = append(t.heldIDs, h.ID)
	t.name(h.ID)
	t.name(string(h.Fingerprint))
}

// loadDerived lists the grants that may use the held credentials.
func (t *tracer) loadDerived(ctx context.Context) error {
	seen := map[string]bool{}
	for _, id := range t.heldIDs {
		gs, err := t.st.ListGrants(ctx, aicred.TokenFilter{Credential: id, IncludeExpired: true})
		if err != nil {
			return fmt.Errorf("trace: tokens using %s: %w", id, err)
		}
		for i := range gs {
			if seen[gs[i].ID] {
				continue
			}
			seen[gs[i].ID] = true
			tt, err := t.token(ctx, &gs[i])
			if err != nil {
				return err
			}
			t.r.Tokens = append(t.r.Tokens, *tt)
		}
	}
	sort.SliceStable(t.r.Tokens, func(i, j int) bool {
		a, b := &t.r.Tokens[i], &t.r.Tokens[j]
		if !a.IssuedAt.Equal(b.IssuedAt) {
			return a.IssuedAt.After(b.IssuedAt)
		}
		return a.ID > b.ID
	})
	return nil
}

func (t *tracer) token(ctx context.Context, g *aicred.Grant) (*TraceToken, error) {
	t.name(g.ID)
	tt := &TraceToken{Grant: *g, Workload: g.Issuer + " " + g.Subject, Active: g.Active(t.opt.Now())}
	tt.TokenHash = ""
	sums, err := t.st.SummarizeUsage(ctx, aicred.UsageQuery{Filter: aicred.UsageFilter{TokenID: g.ID}})
	if err != nil {
		return nil, fmt.Errorf("trace: usage of %s: %w", g.ID, err)
	}
	if len(sums) == 1 {
		tt.Usage = sums[0]
	}
	return tt, nil
}

// runToken traces an aicred token: its grant, the held credentials it may
// use, its use, and, if the token itself was seen somewhere (a scan
// records leaked aicred tokens), its sightings.
func (t *tracer) runToken(ctx context.Context, by string) error {
	var g *aicred.Grant
	if by == TraceByToken {
		t.r.Subject.Value = t.in.Token.Redacted()
		got, err := t.st.LookupGrant(ctx, aicred.HashToken(t.in.Token.Reveal()))
		if err != nil {
			return fmt.Errorf("trace: token %s: %w", t.in.Token.Redacted(), err)
		}
		g = got
		// A leaked token a scan recorded is in the inventory.
		if err := t.loadCredential(ctx, t.in.Token.Fingerprint(), false); err != nil {
			return err
		}
	} else {
		t.r.Subject.Value = t.in.TokenID
		gs, err := t.st.ListGrants(ctx, aicred.TokenFilter{ID: t.in.TokenID, IncludeExpired: true})
		if err != nil {
			return fmt.Errorf("trace: token %s: %w", t.in.TokenID, err)
		}
		if len(gs) != 1 {
			return aicred.Errorf(aicred.ErrNotFound, "trace: no token with id %s", t.in.TokenID)
		}
		g = &gs[0]
	}
	tt, err := t.token(ctx, g)
	if err != nil {
		return err
	}
	t.r.Token = tt
	for _, id := range g.Credentials {
		h, err := t.st.GetHeldCredential(ctx, id)
		switch {
		case aicred.KindOf(err) == aicred.ErrNotFound:
			t.r.Held = append(t.r.Held, TraceHeld{ID: id, Missing: true})
			t.name(id)
			continue
		case err != nil:
			return fmt.Errorf("trace: held credential %s: %w", id, err)
		}
		t.addHeld(h)
	}
	t.heldIDs = nil // the usage traced is the token's, not its credentials'
	if err := t.loadUsage(ctx, func(f *aicred.UsageFilter, id string) { f.TokenID = id }, []string{g.ID}); err != nil {
		return err
	}
	t.r.Live = &TraceLive{Status: LiveSkipped, Reason: "an aicred token is traced in aicred's own records; its held credentials can be traced by id"}
	return t.finish(ctx)
}

// loadUsage totals the usage records selected by each id.
func (t *tracer) loadUsage(ctx context.Context, set func(*aicred.UsageFilter, string), ids []string) error {
	u := &t.r.Usage
	byWorkload := map[string]*aicred.UsageSummary{}
	byModel := map[string]*aicred.UsageSummary{}
	nets := map[string]*TraceNetwork{}
	wls := map[string]*TraceWorkloadUse{}
	for _, id := range ids {
		var f aicred.UsageFilter
		set(&f, id)
		for _, by := range [][]aicred.UsageGroup{{aicred.GroupWorkload}, {aicred.GroupProvider, aicred.GroupModel}} {
			sums, err := t.st.SummarizeUsage(ctx, aicred.UsageQuery{Filter: f, By: by})
			if err != nil {
				return fmt.Errorf("trace: usage: %w", err)
			}
			for _, s := range sums {
				m, key := byWorkload, s.Workload
				if by[0] != aicred.GroupWorkload {
					m, key = byModel, s.Provider+"\x00"+s.Model
				}
				if m[key] == nil {
					m[key] = &aicred.UsageSummary{Workload: s.Workload, Provider: s.Provider, Model: s.Model}
				}
				m[key].Add(s)
				if by[0] == aicred.GroupWorkload {
					u.Total.Add(s)
				}
			}
		}
		f.Limit = t.opt.MaxUsage + 1
		recs, err := t.st.ListUsage(ctx, f)
		if err != nil {
			return fmt.Errorf("trace: usage: %w", err)
		}
		if len(recs) > t.opt.MaxUsage {
			recs, u.Truncated = recs[:t.opt.MaxUsage], true
		}
		for i := range recs {
			r := &recs[i]
			if u.FirstUse.IsZero() || r.Time.Before(u.FirstUse) {
				u.FirstUse = r.Time
			}
			if r.Time.After(u.LastUse) {
				u.LastUse = r.Time
			}
			if n := traceNetwork(r.SourceIP); n != "" {
				tn := nets[n]
				if tn == nil {
					tn = &TraceNetwork{Network: n, First: r.Time, Last: r.Time}
					nets[n] = tn
				}
				tn.Requests++
				tn.First, tn.Last = traceMinTime(tn.First, r.Time), traceMaxTime(tn.Last, r.Time)
			}
			w := wls[r.Workload]
			if w == nil {
				w = &TraceWorkloadUse{Workload: r.Workload, First: r.Time, Last: r.Time, Models: []string{}}
				wls[r.Workload] = w
			}
			w.Requests++
			if r.Usage.Unit == aicred.UnitByte {
				u.Bytes += r.Usage.Units
				w.Bytes += r.Usage.Units
			}
			w.First, w.Last = traceMinTime(w.First, r.Time), traceMaxTime(w.Last, r.Time)
			if r.Model != "" && !slices.Contains(w.Models, r.Model) {
				w.Models = append(w.Models, r.Model)
			}
		}
	}
	for _, k := range traceSortedKeys(byWorkload) {
		u.ByWorkload = append(u.ByWorkload, *byWorkload[k])
	}
	for _, k := range traceSortedKeys(byModel) {
		u.ByModel = append(u.ByModel, *byModel[k])
	}
	for _, k := range traceSortedKeys(nets) {
		u.Networks = append(u.Networks, *nets[k])
	}
	for _, k := range traceSortedKeys(wls) {
		slices.Sort(wls[k].Models)
		u.Workloads = append(u.Workloads, *wls[k])
	}
	if u.Total.Workload != "" {
		u.Total.Workload = ""
	}
	return nil
}

// traceNetwork is the network of a source address: IPv4 /24, IPv6 /64;
// "" for none, the address itself when it does not parse.
func traceNetwork(ip string) string {
	if ip == "" {
		return ""
	}
	a := net.ParseIP(ip)
	switch {
	case a == nil:
		return ip
	case a.To4() != nil:
		return (&net.IPNet{IP: a.To4().Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}).String()
	}
	return (&net.IPNet{IP: a.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

func traceMinTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func traceMaxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func traceSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// live runs the kind's deep trace when the credential is at hand.
func (t *tracer) live(ctx context.Context, by string) {
	c := t.r.Credential
	skip := func(reason string) { t.r.Live = &TraceLive{Status: LiveSkipped, Reason: reason} }
	if !t.opt.Live {
		skip("not asked (--no-live)")
		return
	}
	if c == nil || c.Provider == "" {
		skip("the credential's kind is not known")
		return
	}
	k, ok := provider.LookupKind(c.Provider, c.Kind)
	if !ok || k.Trace == nil || k.Trace.Run == nil {
		skip(fmt.Sprintf("%s/%s has no read-only API aicred knows to trace with", c.Provider, c.Kind))
		return
	}
	secret, heldID := t.in.Secret, ""
	if by != TraceBySecret {
		if len(t.heldIDs) == 0 {
			skip("the secret is not at hand: give it on stdin or with --file")
			return
		}
		if t.opt.Sealer == nil {
			skip("the credential is held, but no master key is available to open it")
			return
		}
		heldID = t.heldIDs[0]
		if t.in.HeldID != "" {
			heldID = t.in.HeldID
		}
		h, err := t.st.GetHeldCredential(ctx, heldID)
		if err != nil {
			skip(fmt.Sprintf("held credential %s: %v", heldID, err))
			return
		}
		s, err := t.opt.Sealer.Open(h.Sealed, h.AAD())
		if err != nil {
			skip(fmt.Sprintf("held credential %s cannot be opened: %v", heldID, err))
			return
		}
		secret = s
	}
	base := k.Trace.BaseURL
	for _, key := range []string{k.Describe(), c.Provider} {
		if u := t.opt.BaseURLs[key]; u != "" {
			base = u
			break
		}
	}
	client := t.opt.Client
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	hints := t.in.Hints
	at := t.opt.Now().UTC()
	reach, err := k.Trace.Run(ctx, client, base, secret, hints)
	l := &TraceLive{At: at, BaseURL: base, Docs: k.Trace.Docs, HeldID: heldID}
	if err != nil {
		l.Status, l.Reason = LiveFailed, traceScrub(err, secret)
	} else {
		l.Status, l.Reach = LiveTraced, traceScrubReach(reach, secret)
	}
	t.r.Live = l
}

// traceScrub returns err's text with any part of the secret replaced:
// errors come from transports and servers aicred does not control.
func traceScrub(err error, secret aicred.Secret) string {
	msg := err.Error()
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		msg = "timed out: " + msg
	}
	return traceRedactIn(msg, secret)
}

func traceRedactIn(s string, secret aicred.Secret) string {
	raw := secret.Reveal()
	if raw == "" {
		return s
	}
	s = strings.ReplaceAll(s, raw, secret.Redacted())
	for _, f := range strings.FieldsFunc(raw, func(r rune) bool { return r == ':' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		if len(f) >= 8 {
			s = strings.ReplaceAll(s, f, aicred.Redact(f))
		}
	}
	return s
}

// traceScrubReach applies traceRedactIn to every text of r (a Tracer
// returns no secret material; this makes it so whatever it returns).
func traceScrubReach(r *provider.Reach, secret aicred.Secret) *provider.Reach {
	if r == nil {
		return &provider.Reach{}
	}
	out := *r
	f := func(s string) string { return traceRedactIn(s, secret) }
	out.Principal, out.Account = f(r.Principal), f(r.Account)
	out.Scopes = make([]string, len(r.Scopes))
	for i, s := range r.Scopes {
		out.Scopes[i] = f(s)
	}
	out.Notes = make([]string, len(r.Notes))
	for i, s := range r.Notes {
		out.Notes[i] = f(s)
	}
	out.Resources = make([]provider.Resource, len(r.Resources))
	for i, x := range r.Resources {
		out.Resources[i] = provider.Resource{Type: f(x.Type), ID: f(x.ID), Name: f(x.Name), Access: f(x.Access)}
	}
	return &out
}
