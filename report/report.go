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

	"github.com/aicred/aicred"
)

// Formats lists the supported output formats.
var formats = []string{"text", "json", "sarif"}

// Formats returns the names of the supported formats.
func Formats() []string { return append([]string(nil), formats...) }

// Write renders findings in the named format.
func Write(w io.Writer, format string, findings []*aicred.Finding) error {
	switch format {
	case "", "text":
		return WriteText(w, findings)
	case "json":
		return WriteJSON(w, findings)
	case "sarif":
		return WriteSARIF(w, findings)
	}
	return aicred.Errorf(aicred.ErrInvalid, "unknown format %q (want %s)", format, strings.Join(formats, ", "))
}

// JSON is the shape of a JSON report.
type JSON struct {
	Findings []*aicred.Finding `json:"findings"`
}

// WriteJSON writes {"findings": [...]}, indented, with an empty array when
// nothing was found.
func WriteJSON(w io.Writer, findings []*aicred.Finding) error {
	if findings == nil {
		findings = []*aicred.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(JSON{Findings: findings}); err != nil {
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

// WriteText writes one block per finding, for people.
func WriteText(w io.Writer, findings []*aicred.Finding) error {
	ew := &errWriter{w: w}
	for _, f := range findings {
		ew.printf("%s/%s  %s", f.Provider, f.Kind, f.Redacted)
		if f.Verification != "" && f.Verification != aicred.NotChecked {
			ew.printf("  [%s]", f.Verification)
		}
		ew.printf("\n  where:   %s", Where(f))
		if f.Encoding != "" {
			ew.printf(" (%s-encoded)", f.Encoding)
		}
		ew.printf("\n  unlocks: %s\n", joinCaps(f.Capabilities))
		ew.printf("  rule:    %s  fingerprint %s\n", f.Rule, f.Fingerprint)
		if f.VerifyDetail != "" {
			ew.printf("  check:   %s\n", f.VerifyDetail)
		}
		ew.printf("\n")
	}
	return ew.err
}

// Where renders a finding's location as path:line:column plus its origin.
func Where(f *aicred.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d", f.Path, f.Line, f.Column)
	if f.Locator != "" {
		fmt.Fprintf(&b, " (%s)", f.Locator)
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
