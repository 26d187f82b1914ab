package aicred

import "time"

// Verification is the result of a liveness check.
type Verification string

// Verification states. Rate limits, server errors and timeouts are Unknown,
// never Dead: only a definitive rejection proves a credential dead.
const (
	NotChecked       Verification = "not-checked"
	Live             Verification = "live"
	Dead             Verification = "dead"
	Unknown          Verification = "unknown"
	LiveNoPermission Verification = "live-no-permission"
)

// SourceKind names where the bytes of a finding came from.
type SourceKind string

// Source kinds.
const (
	SourceFile     SourceKind = "file"
	SourceGit      SourceKind = "git"
	SourceStaged   SourceKind = "staged"
	SourceNotebook SourceKind = "notebook"
	SourceArchive  SourceKind = "archive"
	SourceStdin    SourceKind = "stdin"
	SourceChat     SourceKind = "chat"
)

// Location says where a piece of content was found. Path is relative to the
// scan root; members of archives are written "outer.zip!inner/file.txt".
type Location struct {
	Path    string     `json:"path"`
	Source  SourceKind `json:"source"`
	Commit  string     `json:"commit,omitempty"`
	Author  string     `json:"author,omitempty"`
	Date    *time.Time `json:"date,omitempty"`
	Locator string     `json:"locator,omitempty"` // finer position: "cell 3 output", "message 1712345678.0001"

	// Image names the container image the content came from: its first
	// repo tag, or its config digest when it has none.
	Image string `json:"image,omitempty"`
	// Layer is the digest of the image layer holding the file; empty for
	// the image config and build history.
	Layer string `json:"layer,omitempty"`
	// RemovedIn is the digest of an upper layer that deletes (whiteout),
	// hides (opaque directory) or replaces the file: the file is not in
	// the image's final filesystem, only in its layer history, which anyone
	// who pulls the image still gets.
	RemovedIn string `json:"removed_in,omitempty"`
}

// A Finding is one credential seen at one place. It carries the secret only
// as a Secret (which never prints) plus its fingerprint and a redacted preview.
type Finding struct {
	Provider     string       `json:"provider"`
	Kind         string       `json:"kind"`
	Rule         string       `json:"rule"`
	Description  string       `json:"description,omitempty"`
	Fingerprint  Fingerprint  `json:"fingerprint"`
	Redacted     string       `json:"redacted"`
	Line         int          `json:"line"`
	Column       int          `json:"column"`
	EndColumn    int          `json:"end_column,omitempty"`
	Encoding     string       `json:"encoding,omitempty"` // base64, url, json-escape when the secret was found decoded
	Entropy      float64      `json:"entropy"`
	Capabilities []Capability `json:"capabilities"`
	Verification Verification `json:"verification"`
	VerifyDetail string       `json:"verification_detail,omitempty"`
	Location

	// Secret is the raw credential; it never serialises or prints.
	Secret Secret `json:"-"`
	// Related holds secret material found next to the credential and needed
	// to check it (an AWS secret key beside its key id, a Langfuse public key
	// beside its secret key). Never serialised.
	Related map[string]Secret `json:"-"`
	// Hints holds non-secret context found nearby, such as an API host.
	Hints map[string]string `json:"hints,omitempty"`
}

// ID returns a stable identity for deduplication and baselines: the same
// secret under the same rule at the same place.
func (f *Finding) ID() string {
	return f.Rule + "|" + string(f.Fingerprint) + "|" + f.Path + "|" + f.Commit
}
