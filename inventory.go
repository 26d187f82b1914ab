package aicred

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A Credential is one secret known to the inventory, keyed by its
// fingerprint. The inventory never holds the secret itself: what it knows
// comes from sightings (where the secret was seen), liveness checks (whether
// it still works) and what people or the gateway say about it (owner,
// environments, workloads).
type Credential struct {
	Fingerprint  Fingerprint  `json:"fingerprint"`
	Provider     string       `json:"provider"`
	Kind         string       `json:"kind"`
	Capabilities []Capability `json:"capabilities"`
	Redacted     string       `json:"redacted"`

	// RecordedAt is when the credential entered the inventory.
	RecordedAt time.Time `json:"recorded_at"`
	// FirstSeen and LastSeen span the sightings; zero for a credential
	// known only because aicred holds it.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// SightingCount counts sightings (one per rule, place and commit);
	// Sprawl counts distinct places (origin and path), so a key committed
	// once and carried through 40 commits has a sprawl of 1.
	SightingCount int `json:"sighting_count"`
	Sprawl        int `json:"sprawl"`

	// Verification is the result of the latest liveness check, NotChecked
	// when there was none.
	Verification Verification `json:"verification"`
	VerifiedAt   time.Time    `json:"verified_at,omitzero"`

	Owner        string   `json:"owner,omitempty"`
	Environments []string `json:"environments,omitempty"`
	Workloads    []string `json:"workloads,omitempty"`

	// Lifecycle as reported by the provider or an operator.
	CreatedAt time.Time `json:"created_at,omitzero"`
	RotatedAt time.Time `json:"rotated_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	// Held is true when aicred keeps a sealed copy of the secret.
	Held bool `json:"held"`
}

// CredentialDetail is a credential with its full history.
type CredentialDetail struct {
	Credential
	Sightings []Sighting      `json:"sightings"`
	Liveness  []LivenessCheck `json:"liveness"`
}

// A Sighting is one credential seen by one rule at one place.
type Sighting struct {
	Fingerprint Fingerprint `json:"fingerprint"`
	Rule        string      `json:"rule"`
	// Origin is what was scanned, the root Path is relative to: an absolute
	// directory, a repository URL, "stdin". Two repositories that both leak
	// a key in ".env" are two places.
	Origin string     `json:"origin,omitempty"`
	Source SourceKind `json:"source"`
	Path   string     `json:"path"`
	Line   int        `json:"line"`
	Column int        `json:"column"`
	Commit string     `json:"commit,omitempty"`
	// Author is the commit's author as git records it ("Name <email>"),
	// for the people an incident needs to reach.
	Author     string    `json:"author,omitempty"`
	AuthorDate time.Time `json:"author_date,omitzero"`
	Locator    string    `json:"locator,omitempty"`
	ScanID     string    `json:"scan_id,omitempty"`
	// SeenAt is when this sighting was first recorded, LastSeenAt when it
	// was last recorded again (a later scan finding it at the same place).
	SeenAt     time.Time `json:"seen_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
}

// Key identifies the sighting: the same credential under the same rule at
// the same place (origin, source, path, commit, locator). Line and column
// are left out so that an edit above the secret does not make a new
// sighting. Recording a sighting with a known key refreshes it.
func (s *Sighting) Key() string {
	return hashFields(string(s.Fingerprint), s.Rule, s.Origin, string(s.Source), s.Path, s.Commit, s.Locator)
}

// Place identifies where the sighting is, for the sprawl count: origin and
// path.
func (s *Sighting) Place() string { return hashFields(s.Origin, s.Path) }

func hashFields(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// An Observation is what a scan tells the inventory: the facts about a
// credential that a finding carries, and where it was seen.
type Observation struct {
	Provider     string       `json:"provider"`
	Kind         string       `json:"kind"`
	Capabilities []Capability `json:"capabilities"`
	Redacted     string       `json:"redacted"`
	Sighting
}

// ObservationOf turns a finding into an observation. origin names the
// scanned root (see Sighting.Origin). The secret itself is not copied.
func ObservationOf(f *Finding, origin, scanID string, seenAt time.Time) Observation {
	o := Observation{
		Provider:     f.Provider,
		Kind:         f.Kind,
		Capabilities: append([]Capability(nil), f.Capabilities...),
		Redacted:     f.Redacted,
		Sighting: Sighting{
			Fingerprint: f.Fingerprint,
			Rule:        f.Rule,
			Origin:      origin,
			Source:      f.Source,
			Path:        f.Path,
			Line:        f.Line,
			Column:      f.Column,
			Commit:      f.Commit,
			Author:      f.Author,
			Locator:     f.Locator,
			ScanID:      scanID,
			SeenAt:      seenAt,
		},
	}
	if f.Date != nil {
		o.AuthorDate = *f.Date
	}
	return o
}

// Prepare makes o ready to store: it fills SeenAt with now when unset,
// replaces text that no database can hold (invalid UTF-8, NUL bytes), and
// checks the required fields. Errors are ErrInvalid.
func (o *Observation) Prepare(now time.Time) error {
	for _, p := range []*string{&o.Provider, &o.Kind, &o.Redacted, &o.Rule, &o.Origin, &o.Path, &o.Commit, &o.Author, &o.Locator, &o.ScanID} {
		*p = StorableText(*p)
	}
	o.Source = SourceKind(StorableText(string(o.Source)))
	switch {
	case !o.Fingerprint.Valid():
		return Errorf(ErrInvalid, "observation: malformed fingerprint %q", o.Fingerprint)
	case o.Provider == "" || o.Kind == "":
		return Errorf(ErrInvalid, "observation of %s: provider and kind are required", o.Fingerprint.Short())
	case o.Rule == "":
		return Errorf(ErrInvalid, "observation of %s: rule is required", o.Fingerprint.Short())
	case o.Source == "":
		return Errorf(ErrInvalid, "observation of %s: source is required", o.Fingerprint.Short())
	case o.Line < 0 || o.Column < 0:
		return Errorf(ErrInvalid, "observation of %s: negative line or column", o.Fingerprint.Short())
	}
	for _, c := range o.Capabilities {
		if !c.Valid() {
			return Errorf(ErrInvalid, "observation of %s: unknown capability %q", o.Fingerprint.Short(), c)
		}
	}
	if o.SeenAt.IsZero() {
		o.SeenAt = now
	}
	o.SeenAt = StoreTime(o.SeenAt)
	o.LastSeenAt = o.SeenAt
	o.AuthorDate = StoreTime(o.AuthorDate)
	return nil
}

// A LivenessCheck is one answer to "does this credential still work?".
type LivenessCheck struct {
	Fingerprint Fingerprint  `json:"fingerprint"`
	At          time.Time    `json:"at"`
	Result      Verification `json:"result"`
	Detail      string       `json:"detail,omitempty"`
}

// Prepare fills At with now when unset and checks c. Errors are ErrInvalid.
func (c *LivenessCheck) Prepare(now time.Time) error {
	c.Detail = StorableText(c.Detail)
	if !c.Fingerprint.Valid() {
		return Errorf(ErrInvalid, "liveness check: malformed fingerprint %q", c.Fingerprint)
	}
	switch c.Result {
	case Live, Dead, Unknown, LiveNoPermission:
	default:
		return Errorf(ErrInvalid, "liveness check of %s: result %q is not a check result", c.Fingerprint.Short(), c.Result)
	}
	if c.At.IsZero() {
		c.At = now
	}
	c.At = StoreTime(c.At)
	return nil
}

// CredentialFilter selects credentials; zero fields match everything.
// Risk is not a stored fact: posture ranks what the filter returns.
type CredentialFilter struct {
	Provider     string
	Kind         string
	Environment  string
	Owner        string
	Capability   Capability
	Verification Verification // latest liveness result; NotChecked selects never-checked
	Held         *bool
	SeenSince    time.Time // last seen at or after
	Limit        int       // 0: no limit
	Offset       int
}

// CredentialUpdate changes what people know about a credential. Nil fields
// are left alone; a pointer to a zero value clears the field.
type CredentialUpdate struct {
	Owner        *string
	Environments *[]string
	Workloads    *[]string
	CreatedAt    *time.Time
	RotatedAt    *time.Time
	ExpiresAt    *time.Time
}

// Prepare cleans the text of u, sorts and deduplicates its sets and checks
// them. Errors are ErrInvalid.
func (u *CredentialUpdate) Prepare() error {
	if u.Owner != nil {
		v := StorableText(*u.Owner)
		u.Owner = &v
	}
	for _, set := range []**[]string{&u.Environments, &u.Workloads} {
		if *set == nil {
			continue
		}
		clean, err := cleanSet(**set)
		if err != nil {
			return err
		}
		*set = &clean
	}
	for _, t := range []**time.Time{&u.CreatedAt, &u.RotatedAt, &u.ExpiresAt} {
		if *t != nil {
			v := StoreTime(**t)
			*t = &v
		}
	}
	return nil
}

// Changed lists the names of the fields u sets, for the audit record.
func (u *CredentialUpdate) Changed() []string {
	var out []string
	if u.Owner != nil {
		out = append(out, "owner")
	}
	if u.Environments != nil {
		out = append(out, "environments")
	}
	if u.Workloads != nil {
		out = append(out, "workloads")
	}
	if u.CreatedAt != nil {
		out = append(out, "created_at")
	}
	if u.RotatedAt != nil {
		out = append(out, "rotated_at")
	}
	if u.ExpiresAt != nil {
		out = append(out, "expires_at")
	}
	return out
}

func cleanSet(in []string) ([]string, error) {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(StorableText(s))
		if s == "" {
			return nil, Errorf(ErrInvalid, "empty name in a set")
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// StoreTime is t as stores keep it: UTC, to the microsecond (the finest
// PostgreSQL holds), so that both backends return the same instants.
func StoreTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// A HeldCredential is an upstream credential that aicred keeps to use on a
// workload's behalf. The secret is stored only sealed (see Sealer); the
// plaintext exists in memory at the moment of use and nowhere else.
type HeldCredential struct {
	ID          string            `json:"id"`
	Provider    string            `json:"provider"`
	Kind        string            `json:"kind"`
	Fingerprint Fingerprint       `json:"fingerprint"`
	Redacted    string            `json:"redacted"`
	Environment string            `json:"environment,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	RotatedAt   time.Time         `json:"rotated_at,omitzero"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	// KeyID names the master key that wraps the data key of Sealed.
	KeyID string `json:"key_id"`
	// Sealed is the encrypted secret; only a Sealer with the master key
	// named by KeyID opens it, and only with AAD().
	Sealed []byte `json:"-"`
	// Status says whether gateways may inject it (SetHeldStatus); ""
	// reads as HeldActive. StatusReason and StatusAt tell the last change.
	Status       HeldStatus `json:"status,omitempty"`
	StatusReason string     `json:"status_reason,omitempty"`
	StatusAt     time.Time  `json:"status_at,omitzero"`
}

// NewHeldID returns a fresh random id for a held credential.
func NewHeldID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "hc_" + hex.EncodeToString(b[:])
}

// AAD returns the additional authenticated data that binds a sealed blob to
// this record: its id and fingerprint. A blob copied onto another record
// fails to open.
func (h *HeldCredential) AAD() []byte {
	return []byte("aicred/held/v1\x00" + h.ID + "\x00" + string(h.Fingerprint))
}

// Prepare fills CreatedAt with now when unset, cleans text and checks h.
// Errors are ErrInvalid.
func (h *HeldCredential) Prepare(now time.Time) error {
	for _, p := range []*string{&h.Provider, &h.Kind, &h.Redacted, &h.Environment, &h.KeyID} {
		*p = StorableText(*p)
	}
	if len(h.Labels) > 0 {
		clean := make(map[string]string, len(h.Labels))
		for k, v := range h.Labels {
			clean[StorableText(k)] = StorableText(v)
		}
		h.Labels = clean
	}
	switch {
	case !validID(h.ID):
		return Errorf(ErrInvalid, "held credential: id %q must be 1-64 letters, digits, '-' or '_'", h.ID)
	case !h.Fingerprint.Valid():
		return Errorf(ErrInvalid, "held credential %s: malformed fingerprint", h.ID)
	case h.Provider == "" || h.Kind == "":
		return Errorf(ErrInvalid, "held credential %s: provider and kind are required", h.ID)
	case h.KeyID == "" || len(h.Sealed) == 0:
		return Errorf(ErrInvalid, "held credential %s: sealed secret and key id are required", h.ID)
	}
	if h.Status == "" {
		h.Status = HeldActive
	}
	if !h.Status.Valid() {
		return Errorf(ErrInvalid, "held credential %s: status %q: want active, suspended or revoked", h.ID, h.Status)
	}
	h.StatusReason = StorableText(h.StatusReason)
	if h.CreatedAt.IsZero() {
		h.CreatedAt = now
	}
	h.CreatedAt = StoreTime(h.CreatedAt)
	h.StatusAt = StoreTime(h.StatusAt)
	h.RotatedAt = StoreTime(h.RotatedAt)
	h.ExpiresAt = StoreTime(h.ExpiresAt)
	return nil
}

// Rotated returns h with the secret of next (fingerprint, redacted, sealed
// blob, key id) and next's expiry; RotatedAt is next's or now. The id,
// labels and creation time stay. Errors: ErrInvalid (next is malformed or
// holds the same secret).
func (h *HeldCredential) Rotated(next *HeldCredential, now time.Time) (*HeldCredential, error) {
	n := *h
	n.Fingerprint, n.Redacted, n.Sealed, n.KeyID = next.Fingerprint, next.Redacted, next.Sealed, next.KeyID
	n.ExpiresAt, n.RotatedAt = next.ExpiresAt, next.RotatedAt
	if n.RotatedAt.IsZero() {
		n.RotatedAt = now
	}
	if err := n.Prepare(now); err != nil {
		return nil, err
	}
	if n.Fingerprint == h.Fingerprint {
		return nil, Errorf(ErrInvalid, "rotate held credential %s: the new secret is the old one", h.ID)
	}
	return &n, nil
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// HeldFilter selects held credentials; zero fields match everything.
type HeldFilter struct {
	Provider    string
	Kind        string
	Environment string
	KeyID       string
}

// StorableText returns s with invalid UTF-8 and NUL bytes replaced by
// U+FFFD, so that every database (and the audit log's JSON) stores exactly
// what it was given. File names on Linux may be any bytes.
func StorableText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
