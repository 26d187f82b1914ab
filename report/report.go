// Package report writes scan findings as text, JSON or SARIF 2.1.0, and
// reads a JSON report back (for baselines and inventory import). No format
// ever carries a raw secret: findings hold only fingerprints and redacted
// previews, and aicred.Secret refuses to serialise.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// Formats lists the supported output formats.
var formats = []string{"text", "json", "sarif"}

// Formats returns the names of the supported formats.
func Formats() []string { return append([]string(nil), formats...) }

// Write renders findings in the named format, with this build as the tool
// and no scan details.
func Write(w io.Writer, format string, findings []*aicred.Finding) error {
	return New(findings).Write(w, format)
}

// A Report is a scan's findings with what produced them.
type Report struct {
	Tool Tool
	// Scan says what was scanned; its zero value leaves it out.
	Scan     ScanInfo
	Findings []*aicred.Finding
	// Color writes ANSI colours in text output (for a terminal).
	Color bool
}

// New returns a report of findings by this build of aicred.
func New(findings []*aicred.Finding) *Report {
	return &Report{Tool: ThisTool(), Findings: findings}
}

// Write renders the report in the named format.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "", "text":
		return r.WriteText(w)
	case "json":
		return r.WriteJSON(w)
	case "sarif":
		return r.WriteSARIF(w)
	}
	return aicred.Errorf(aicred.ErrInvalid, "unknown format %q (want %s)", format, strings.Join(formats, ", "))
}

// Tool names the program that wrote a report.
type Tool struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
}

// ThisTool describes this build of aicred.
func ThisTool() Tool {
	b := aicred.BuildInfo()
	return Tool{Name: "aicred", Version: b.Version, Commit: b.Commit, Modified: b.Modified}
}

// ScanInfo says what a scan covered.
type ScanInfo struct {
	Roots      []string  `json:"roots"` // what was scanned, as given: a path, "-" for stdin
	Mode       string    `json:"mode"`  // files, git, staged or stdin
	Start      time.Time `json:"start"`
	DurationMS int64     `json:"duration_ms"`
	Files      int       `json:"files"`
	Bytes      int64     `json:"bytes"`
}

// Summary counts a report's findings.
type Summary struct {
	Findings    int `json:"findings"`
	Credentials int `json:"credentials"` // distinct secrets (fingerprints)
	// BySeverity counts credentials by severity (critical, high, medium, low).
	BySeverity map[string]int `json:"by_severity"`
	// ByProvider counts credentials by provider id.
	ByProvider map[string]int `json:"by_provider"`
	// ByVerification counts credentials by liveness result.
	ByVerification map[string]int `json:"by_verification"`
}

// Summarize counts findings and the credentials they hold.
func Summarize(findings []*aicred.Finding) Summary {
	s := Summary{Findings: len(findings), BySeverity: map[string]int{}, ByProvider: map[string]int{}, ByVerification: map[string]int{}}
	for _, c := range Group(findings) {
		s.Credentials++
		s.BySeverity[c.Severity.String()]++
		s.ByProvider[c.Provider]++
		s.ByVerification[string(c.Verification)]++
	}
	return s
}

// JSON is the shape of a JSON report. Tool, Scan and Summary describe the
// run; Findings is what baselines and inventory import read.
type JSON struct {
	Tool     *Tool             `json:"tool,omitempty"`
	Scan     *ScanInfo         `json:"scan,omitempty"`
	Summary  *Summary          `json:"summary,omitempty"`
	Findings []*aicred.Finding `json:"findings"`
}

// WriteJSON writes a report holding only findings (and the tool).
func WriteJSON(w io.Writer, findings []*aicred.Finding) error {
	return New(findings).WriteJSON(w)
}

// WriteJSON writes {"tool", "scan", "summary", "findings": [...]},
// indented, with an empty array when nothing was found.
func (r *Report) WriteJSON(w io.Writer) error {
	findings := r.Findings
	if findings == nil {
		findings = []*aicred.Finding{}
	}
	sum := Summarize(findings)
	rep := JSON{Tool: &r.Tool, Summary: &sum, Findings: findings}
	if !r.Scan.Start.IsZero() {
		sc := r.Scan
		if sc.Roots == nil {
			sc.Roots = []string{}
		}
		rep.Scan = &sc
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("report: write json: %w", err)
	}
	return nil
}

// ReadJSON reads a JSON report written by WriteJSON.
func ReadJSON(r io.Reader) ([]*aicred.Finding, error) {
	var rep JSON
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, aicred.Errorf(aicred.ErrInvalid, "report: not a JSON findings report: %v", err)
	}
	for i, f := range rep.Findings {
		if f == nil || !f.Fingerprint.Valid() || f.Rule == "" {
			return nil, aicred.Errorf(aicred.ErrInvalid, "report: finding %d lacks a rule or a valid fingerprint", i)
		}
	}
	return rep.Findings, nil
}

// Where renders a finding's location as path:line:column plus its origin.
func Where(f *aicred.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d", f.Path, f.Line, f.Column)
	if f.Locator != "" {
		fmt.Fprintf(&b, " (%s)", f.Locator)
	}
	if f.Image != "" {
		fmt.Fprintf(&b, " in image %s", f.Image)
		if f.Layer != "" {
			fmt.Fprintf(&b, " layer %s", shortDigest(f.Layer))
		}
		if f.RemovedIn != "" {
			fmt.Fprintf(&b, ", removed in layer %s (still in the image's history)", shortDigest(f.RemovedIn))
		}
	}
	if f.Commit != "" {
		c := f.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		fmt.Fprintf(&b, " in commit %s", c)
		if f.Date != nil {
			fmt.Fprintf(&b, " of %s", f.Date.Format("2006-01-02"))
		}
		if f.Author != "" {
			fmt.Fprintf(&b, " by %s", f.Author)
		}
	}
	return b.String()
}

// shortDigest shortens "sha256:<64 hex>" to its algorithm and 12 hex digits.
func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

func joinCaps(cs []aicred.Capability) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// Sort orders findings by path, line, column and rule, for stable output.
func Sort(fs []*aicred.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Commit != b.Commit {
			return a.Commit < b.Commit
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Rule < b.Rule
	})
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// FormatOK checks a format name.
func FormatOK(format string) (string, error) {
	for _, f := range formats {
		if f == format {
			return f, nil
		}
	}
	return "", aicred.Errorf(aicred.ErrInvalid, "unknown format %q (want %s)", format, strings.Join(formats, ", "))
}
