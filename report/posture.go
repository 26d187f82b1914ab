package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
)

// postureFormats lists the formats of a posture report.
func postureFormats() []string { return []string{"md", "json", "html", "sarif"} }

// PostureFormats returns the names of the posture report formats.
func PostureFormats() []string { return postureFormats() }

// Rows of the risk table in the Markdown and HTML reports, and credentials
// with full evidence in Markdown; JSON and SARIF carry every credential.
const (
	postureTableRows    = 100
	postureEvidenceRows = 25
)

// WritePosture renders a posture report as md, json, html or sarif. Like
// every report, it holds fingerprints and redacted previews only.
func WritePosture(w io.Writer, format string, r *posture.Report) error {
	if r == nil {
		return aicred.Errorf(aicred.ErrInvalid, "posture report: nothing to write")
	}
	var write func(io.Writer, *posture.Report) error
	switch format {
	case "md", "markdown":
		write = writePostureMarkdown
	case "json":
		write = writePostureJSON
	case "html":
		write = writePostureHTML
	case "sarif":
		write = writePostureSARIF
	default:
		return aicred.Errorf(aicred.ErrInvalid, "unknown posture report format %q (want %s)", format, strings.Join(postureFormats(), ", "))
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	err := write(bw, r)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("report: write posture %s: %w", format, err)
	}
	return nil
}

func writePostureJSON(w io.Writer, r *posture.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writePostureMarkdown writes a summary a person can read in a pull
// request or a wiki, with the tables behind it.
func writePostureMarkdown(w io.Writer, r *posture.Report) error {
	ew := &errWriter{w: w}
	t := &r.Totals
	ew.printf("# aicred posture report\n\n")
	ew.printf("Generated %s against the OWASP Non-Human Identities Top 10 (2025) and NIST CSF 2.0 PR.AA. "+
		"Fingerprints and redacted previews only; no secret material.\n\n", r.GeneratedAt.Format("2006-01-02 15:04 MST"))
	ew.printf("**%s, %d with findings** (%d critical, %d high, %d medium, %d low, %d info by worst finding); "+
		"%d live, **%d live and leaked**.\n\n",
		Plural(t.Credentials, "credential", "credentials"), t.Affected, t.BySeverity.Critical, t.BySeverity.High, t.BySeverity.Medium, t.BySeverity.Low,
		t.BySeverity.Info, t.Live, t.LiveLeaked)

	ew.printf("## OWASP NHI Top 10 (2025)\n\n")
	writeItemTable(ew, "Item", r.NHI, func(it posture.ItemSummary) string {
		return it.ID + " " + it.Name
	})
	ew.printf("## NIST CSF 2.0 PR.AA\n\n")
	writeItemTable(ew, "Subcategory", r.CSF, func(it posture.ItemSummary) string {
		return it.ID + " " + it.Name
	})

	ew.printf("## Riskiest credentials\n\n")
	if t.Affected == 0 {
		ew.printf("No check fired.\n\n")
	} else {
		ew.printf("| # | Risk | Worst | Provider / kind | Credential | Liveness | Age (days) | Sprawl | Checks |\n")
		ew.printf("|--:|--:|---|---|---|---|--:|--:|---|\n")
		rows := 0
		for i := range r.Credentials {
			c := &r.Credentials[i]
			if len(c.Findings) == 0 || rows == postureTableRows {
				break
			}
			rows++
			ids := make([]string, len(c.Findings))
			for j, f := range c.Findings {
				ids[j] = f.Check
			}
			ew.printf("| %d | %d | %s | %s | %s | %s | %s | %d | %s |\n", rows, c.Risk, c.Worst,
				mdCell(c.Provider+"/"+c.Kind), mdCode(c.Redacted)+" "+mdCode(c.Fingerprint.Short()), c.Verification,
				ageText(c.AgeDays), c.Sprawl, mdCell(strings.Join(ids, ", ")))
		}
		if t.Affected > rows {
			ew.printf("\n%d more credentials with findings are in the JSON and SARIF reports.\n", t.Affected-rows)
		}
		ew.printf("\n")
	}

	if t.Affected > 0 {
		ew.printf("## Evidence\n\n")
		for i := range r.Credentials {
			c := &r.Credentials[i]
			if len(c.Findings) == 0 || i == postureEvidenceRows {
				break
			}
			ew.printf("### %d. %s %s (%s): risk %d, %s\n\n", i+1, mdCell(c.KindName), mdCode(c.Redacted),
				mdCode(c.Fingerprint.Short()), c.Risk, c.Worst)
			ew.printf("Liveness %s; age %s days; %d sightings at %d places", c.Verification, ageText(c.AgeDays), c.Sightings, c.Sprawl)
			if c.Owner != "" {
				ew.printf("; owner %s", mdCell(c.Owner))
			}
			if len(c.Environments) > 0 {
				ew.printf("; environments %s", mdCell(strings.Join(c.Environments, ", ")))
			}
			if len(c.Workloads) > 0 {
				ew.printf("; %d workloads", len(c.Workloads))
			}
			ew.printf(".\n\n")
			for _, f := range c.Findings {
				ew.printf("- **%s** `%s` (%s; %s): %s\n", f.Severity, f.Check, f.NHI.Ref(), joinCSF(f.CSF), mdCell(f.Reason))
			}
			if len(c.Locations) > 0 {
				ew.printf("- seen at: ")
				for j, l := range c.Locations {
					if j > 0 {
						ew.printf(", ")
					}
					ew.printf("%s", mdCode(locationText(l)))
				}
				if c.MoreLocations > 0 {
					ew.printf(" and %d more", c.MoreLocations)
				}
				ew.printf("\n")
			}
			ew.printf("\n")
		}
	}

	ew.printf("## Credentials by provider\n\n")
	ew.printf("| Provider | Credentials | Critical | High | Medium | Low | Info | Clean |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, p := range r.Providers {
		b := p.BySeverity
		ew.printf("| %s | %d | %d | %d | %d | %d | %d | %d |\n", mdCell(p.Name), p.Credentials, b.Critical, b.High, b.Medium, b.Low, b.Info, p.Clean)
	}
	ew.printf("\n## Leak sightings by month\n\n")
	if len(r.Leaks.Months) == 0 {
		ew.printf("No leak sightings.\n\n")
	} else {
		ew.printf("By commit author date when known, else when first recorded (UTC).\n\n")
		ew.printf("| Month | Sightings | Of live credentials | Credentials |\n|---|--:|--:|--:|\n")
		if r.Leaks.Earlier > 0 {
			ew.printf("| earlier | %d | | |\n", r.Leaks.Earlier)
		}
		for _, m := range r.Leaks.Months {
			ew.printf("| %s | %d | %d | %d |\n", m.Month, m.Sightings, m.Live, m.Credentials)
		}
		ew.printf("\n")
	}

	ew.printf("## Checks\n\n| Check | NHI | CSF | Severity | Threshold | Signal |\n|---|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		ew.printf("| `%s` %s | %s | %s | %s (%s) | %s | %s |\n", c.ID, mdCell(c.Title), c.NHI.Ref(), joinCSF(c.CSF),
			c.Severity, mdCell(c.Escalation), mdCell(c.Threshold), mdCell(c.Signal))
	}
	if len(r.Disabled) > 0 {
		ew.printf("\nDisabled by policy: %s.\n", strings.Join(r.Disabled, ", "))
	}
	return ew.err
}

func writeItemTable(ew *errWriter, head string, items []posture.ItemSummary, name func(posture.ItemSummary) string) {
	ew.printf("| %s | Credentials | Critical | High | Medium | Low | Info | Checks |\n|---|--:|--:|--:|--:|--:|--:|---|\n", head)
	for _, it := range items {
		b := it.BySeverity
		ew.printf("| %s | %d | %d | %d | %d | %d | %d | %s |\n", mdCell(name(it)), it.Credentials,
			b.Critical, b.High, b.Medium, b.Low, b.Info, mdCell(strings.Join(it.Checks, ", ")))
	}
	ew.printf("\n")
}

func joinCSF(cs []posture.CSF) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

func ageText(days int) string {
	if days < 0 {
		return "?"
	}
	return strconv.Itoa(days)
}

// locationText is "origin/path:line @commit (locator)" for people.
func locationText(l posture.Location) string {
	s := l.Path
	if l.Line > 0 {
		s += ":" + strconv.Itoa(l.Line)
	}
	if l.Commit != "" {
		s += " @" + l.Commit[:min(len(l.Commit), 10)]
	}
	if l.Locator != "" {
		s += " (" + l.Locator + ")"
	}
	return string(l.Source) + " " + s
}

// mdCell makes text safe inside a Markdown table cell: no pipes, no line
// breaks, no raw HTML.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCode puts text in a code span; backticks and pipes inside are replaced
// because no escape works inside a span within a table.
func mdCode(s string) string {
	return "`" + strings.NewReplacer("`", "'", "|", "¦", "\n", " ", "\r", " ").Replace(s) + "`"
}
