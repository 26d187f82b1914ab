package report

import (
	"io"
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
)

// ANSI styles for text output on a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGreen  = "\x1b[32m"
)

// WriteText writes findings for people, without colour.
func WriteText(w io.Writer, findings []*aicred.Finding) error {
	return New(findings).WriteText(w)
}

// WriteText writes one block per credential (secret fingerprint): what it
// is and unlocks, how bad it is, every place it was seen, and what to do
// next; then a one-line count. Nothing is written when nothing was found.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	st := style(r.Color)
	creds := Group(r.Findings)
	root := "."
	if len(r.Scan.Roots) > 0 && r.Scan.Roots[0] != "-" {
		root = r.Scan.Roots[0]
	}
	for _, c := range creds {
		ew.printf("%s  %s  %s  %s\n",
			st(severityStyle(c.Severity), strings.ToUpper(c.Severity.String())),
			st(ansiBold, c.Name), c.Redacted, st(ansiDim, "fp "+c.Fingerprint.Short()))
		ew.printf("  kind:     %s/%s\n", c.Provider, c.Kind)
		ew.printf("  unlocks:  %s\n", Unlocks(c.Capabilities))
		if c.Verification != aicred.NotChecked {
			line := st(verificationStyle(c.Verification), string(c.Verification))
			if c.VerifyDetail != "" {
				line += " (" + c.VerifyDetail + ")"
			}
			ew.printf("  liveness: %s\n", line)
		}
		inHistory := false
		for i, f := range c.Findings {
			label := "  found:    "
			if i > 0 {
				label = "            "
			}
			where := Where(f)
			if f.Encoding != "" {
				where += " (" + f.Encoding + "-encoded)"
			}
			ew.printf("%s%s\n", label, where)
			inHistory = inHistory || f.Commit != ""
		}
		ew.printf("  next:     ")
		if c.RevokeURL != "" {
			ew.printf("revoke or rotate it at %s\n            ", st(ansiCyan, c.RevokeURL))
		} else {
			ew.printf("revoke or rotate it with its issuer\n            ")
		}
		if inHistory {
			ew.printf("remove it from the files above and from git history (rotating matters more: clones keep it)\n            ")
		} else {
			ew.printf("remove it from the files above; load it from the environment or a secret manager\n            ")
		}
		ew.printf("track it: aicred scan --record %s, then aicred inventory show %s\n\n", shellWord(root), c.Fingerprint.Short())
	}
	if len(creds) > 0 {
		ew.printf("%s in %s (%s)\n", Plural(len(creds), "credential", "credentials"),
			Plural(placesAll(creds), "place", "places"), Plural(len(r.Findings), "finding", "findings"))
	}
	return ew.err
}

func placesAll(cs []*Credential) int {
	n := 0
	for _, c := range cs {
		n += places(c.Findings)
	}
	return n
}

// style returns a function that wraps text in an ANSI style when colour
// is on, and returns it unchanged otherwise.
func style(on bool) func(code, s string) string {
	return func(code, s string) string {
		if !on || code == "" {
			return s
		}
		return code + s + ansiReset
	}
}

func severityStyle(s posture.Severity) string {
	switch s {
	case posture.Critical:
		return ansiBold + ansiRed
	case posture.High:
		return ansiRed
	case posture.Medium:
		return ansiYellow
	}
	return ansiCyan
}

func verificationStyle(v aicred.Verification) string {
	switch v {
	case aicred.Live, aicred.LiveNoPermission:
		return ansiBold + ansiRed
	case aicred.Dead:
		return ansiGreen
	}
	return ansiYellow
}

// shellWord quotes a path for a command line when it needs it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
