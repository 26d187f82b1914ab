package posture

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// A place is what kind of place a sighting is in, as a bit set: one bit
// from its source, more from its path (a committed workflow file is git,
// ci and config at once).
type place uint16

const (
	placeGit place = 1 << iota
	placeNotebook
	placeChat
	placeArchive
	placeStdin
	placeFile
	placeLog
	placeCode
	placeCI
	placeConfig
)

// placeNames lists the place names a policy may use, in bit order.
func placeNames() []string {
	return []string{"git", "notebook", "chat", "archive", "stdin", "file", "log", "code", "ci", "config"}
}

func placeByName(name string) place {
	if i := slices.Index(placeNames(), strings.ToLower(name)); i >= 0 {
		return 1 << i
	}
	return 0
}

func placesOf(names []string) place {
	var p place
	for _, n := range names {
		p |= placeByName(n)
	}
	return p
}

// String names the places in p, joined by "+".
func (p place) String() string {
	var out []string
	for i, n := range placeNames() {
		if p&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, "+")
}

// codeExts are file extensions of application source code.
func isCodeExt(ext string) bool {
	switch ext {
	case ".py", ".ipynb", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".java", ".kt", ".kts", ".scala",
		".rb", ".php", ".cs", ".rs", ".swift", ".c", ".cc", ".cpp", ".h", ".hpp", ".m", ".r", ".jl", ".lua",
		".pl", ".dart", ".sh", ".bash", ".zsh", ".ps1", ".sql", ".groovy", ".ex", ".exs", ".erl", ".clj", ".vue", ".svelte":
		return true
	}
	return false
}

func isConfigExt(ext string) bool {
	switch ext {
	case ".env", ".yaml", ".yml", ".json", ".toml", ".ini", ".cfg", ".conf", ".properties", ".xml", ".tf",
		".tfvars", ".hcl", ".npmrc", ".netrc", ".pypirc":
		return true
	}
	return false
}

// classifier turns sightings into places and environment classes. It is
// built once per evaluation from the policy.
type classifier struct {
	ci      []string // lower-case CI path patterns, each with a leading "/"
	prod    map[string]bool
	nonProd map[string]bool
}

func newClassifier(c *Config) *classifier {
	cl := &classifier{prod: map[string]bool{}, nonProd: map[string]bool{}}
	for _, p := range c.CIPaths {
		cl.ci = append(cl.ci, "/"+strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(p, "\\", "/"), "/")))
	}
	for _, m := range c.ProdMarkers {
		cl.prod[strings.ToLower(m)] = true
	}
	for _, m := range c.NonProdMarkers {
		cl.nonProd[strings.ToLower(m)] = true
	}
	return cl
}

// normPath is a sighting's path as the path rules see it: lower case,
// forward slashes, archive members as directories, with a leading "/" so
// that "/x" matches x as a whole segment.
func normPath(p string) string {
	p = strings.ToLower(strings.ReplaceAll(p, "\\", "/"))
	p = strings.ReplaceAll(p, "!", "/")
	return "/" + strings.TrimPrefix(p, "/")
}

func (cl *classifier) place(s *aicred.Sighting) place {
	var p place
	switch s.Source {
	case aicred.SourceGit, aicred.SourceStaged:
		p = placeGit
	case aicred.SourceNotebook:
		p = placeNotebook
	case aicred.SourceChat:
		p = placeChat
	case aicred.SourceArchive:
		p = placeArchive
	case aicred.SourceStdin:
		p = placeStdin
	default:
		p = placeFile
	}
	np := normPath(s.Path)
	base := path.Base(np)
	ext := path.Ext(base)
	switch {
	case ext == ".log" || strings.Contains(base, ".log.") || strings.Contains(np, "/logs/") || strings.Contains(np, "/log/"):
		p |= placeLog
	case isCodeExt(ext) || base == "dockerfile" || base == "makefile" || strings.HasPrefix(base, "dockerfile."):
		p |= placeCode
	case isConfigExt(ext) || strings.HasPrefix(base, ".env") || base == "credentials" || base == "config":
		p |= placeConfig
	}
	if cl.isCI(np) {
		p |= placeCI | placeConfig
	}
	return p
}

func (cl *classifier) isCI(np string) bool {
	for _, pat := range cl.ci {
		if strings.HasSuffix(pat, "/") {
			if strings.Contains(np, pat) {
				return true
			}
		} else if strings.HasSuffix(np, pat) {
			return true
		}
	}
	return false
}

// envClass says whether a name or path reads as prod, non-prod, both or
// neither, by its words.
type envClass uint8

const (
	envProd envClass = 1 << iota
	envNonProd
)

func (cl *classifier) env(text string) envClass {
	var e envClass
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if cl.prod[w] {
			e |= envProd
		}
		if cl.nonProd[w] {
			e |= envNonProd
		}
	}
	return e
}

// state is the latest liveness result, NotChecked when there was none.
func state(d *aicred.CredentialDetail) aicred.Verification {
	if d.Verification == "" {
		return aicred.NotChecked
	}
	return d.Verification
}

func isLive(v aicred.Verification) bool { return v == aicred.Live || v == aicred.LiveNoPermission }

// byLiveness picks a severity by the latest liveness result: live, dead,
// or anything else (never checked, unknown). None means do not fire.
func byLiveness(v aicred.Verification, live, unverified, dead Severity) Severity {
	switch {
	case isLive(v):
		return live
	case v == aicred.Dead:
		return dead
	}
	return unverified
}

// liveAfter reports whether the credential answered live at some point
// after t: in its liveness history or as its latest verification.
func liveAfter(d *aicred.CredentialDetail, t time.Time) (time.Time, bool) {
	var last time.Time
	for _, c := range d.Liveness {
		if isLive(c.Result) && c.At.After(t) && c.At.After(last) {
			last = c.At
		}
	}
	if isLive(d.Verification) && d.VerifiedAt.After(t) && d.VerifiedAt.After(last) {
		last = d.VerifiedAt
	}
	return last, !last.IsZero()
}

// kindInfo is what the catalog says about a credential's kind; a kind
// outside the catalog keeps what the inventory recorded.
type kindInfo struct {
	name     string
	category string
	caps     []aicred.Capability
}

func lookupKind(d *aicred.CredentialDetail) kindInfo {
	ki := kindInfo{name: d.Provider + "/" + d.Kind, caps: d.Capabilities}
	if k, ok := provider.LookupKind(d.Provider, d.Kind); ok {
		ki.name = k.Name
		if p := k.Provider(); p != nil {
			ki.category = string(p.Category)
		}
		if len(ki.caps) == 0 {
			ki.caps = k.Capabilities
		}
	} else if p, ok := provider.Lookup(d.Provider); ok {
		ki.category = string(p.Category)
	}
	return ki
}

// isAdminClass reports whether a kind exists to administer: it can manage
// the organisation, or manage keys without serving inference (an AWS key
// whose policy may include IAM is broad, not admin-class).
func isAdminClass(caps []aicred.Capability) bool {
	return slices.Contains(caps, aicred.CapOrgAdmin) ||
		slices.Contains(caps, aicred.CapKeyAdmin) && !slices.Contains(caps, aicred.CapInference)
}

// isShortLived reports kinds that expire by design within hours, so age
// and expiry checks do not apply to them.
func isShortLived(providerID, kind string) bool {
	switch providerID + "/" + kind {
	case "aws/bedrock-short-term-key", "anthropic/oauth-token", "aicred/workload-token":
		return true
	}
	return false
}

// born is when the credential came to exist, as best the inventory knows:
// its creation time, else the earliest author date of a commit that holds
// it, else when it was first seen, else when it was recorded.
func born(d *aicred.CredentialDetail) (time.Time, string) {
	if !d.CreatedAt.IsZero() {
		return d.CreatedAt, "created_at"
	}
	var authored time.Time
	for i := range d.Sightings {
		if a := d.Sightings[i].AuthorDate; !a.IsZero() && (authored.IsZero() || a.Before(authored)) {
			authored = a
		}
	}
	if !authored.IsZero() {
		return authored, "author_date"
	}
	first := d.FirstSeen
	for i := range d.Sightings {
		if s := d.Sightings[i].SeenAt; !s.IsZero() && (first.IsZero() || s.Before(first)) {
			first = s
		}
	}
	if !first.IsZero() {
		return first, "first_seen"
	}
	if !d.RecordedAt.IsZero() {
		return d.RecordedAt, "recorded_at"
	}
	return time.Time{}, ""
}

// lastSeen is the last time a scan saw the credential anywhere.
func lastSeen(d *aicred.CredentialDetail) time.Time {
	last := d.LastSeen
	for i := range d.Sightings {
		s := &d.Sightings[i]
		for _, t := range []time.Time{s.SeenAt, s.LastSeenAt} {
			if t.After(last) {
				last = t
			}
		}
	}
	return last
}

// sprawl is the number of distinct places (origin and path) the credential
// was seen at: the stored count, or the count over its sightings when that
// is larger (a detail built by hand).
func sprawl(d *aicred.CredentialDetail) int {
	if len(d.Sightings) <= d.Sprawl {
		return d.Sprawl
	}
	places := make(map[placeKey]struct{}, len(d.Sightings))
	for i := range d.Sightings {
		places[placeKey{d.Sightings[i].Origin, d.Sightings[i].Path}] = struct{}{}
	}
	return max(d.Sprawl, len(places))
}

// placeKey is a distinct place: origin and path.
type placeKey struct{ origin, path string }

// sightingTime is when a sighting happened: the author date of its commit
// when known, else when it was first recorded.
func sightingTime(s *aicred.Sighting) time.Time {
	if !s.AuthorDate.IsZero() {
		return s.AuthorDate
	}
	return s.SeenAt
}

// days is the whole number of days in d, rounded down.
func days(d time.Duration) int { return int(d / (24 * time.Hour)) }
