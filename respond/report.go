package respond

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aicred/aicred"
)

// Report formats of a trace.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatMD   = "md"
	FormatHTML = "html"
)

// TraceFormats lists the formats WriteTrace writes.
var TraceFormats = []string{FormatText, FormatJSON, FormatMD, FormatHTML}

// reportShown caps the rows of a long list (tokens, audit records) in the
// text, Markdown and HTML forms; JSON holds every one.
const reportShown = 50

// WriteTrace writes r in format. The JSON form is the TraceReport itself
// (schema TraceSchema); the others are for people.
func WriteTrace(w io.Writer, r *TraceReport, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatText:
		return reportText(w, r)
	case FormatMD:
		return reportMarkdown(w, r)
	case FormatHTML:
		return reportHTML(w, r)
	}
	return aicred.Errorf(aicred.ErrInvalid, "trace: unknown format %q (want %s)", format, strings.Join(TraceFormats, ", "))
}

// reportWriter keeps the first write error.
type reportWriter struct {
	w   io.Writer
	err error
}

func (p *reportWriter) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func reportTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// reportTitle names the credential or token traced.
func reportTitle(r *TraceReport) string {
	if c := r.Credential; c != nil && c.Provider != "" && r.Token == nil {
		return fmt.Sprintf("%s/%s %s", c.Provider, c.Kind, c.Redacted)
	}
	if r.Token != nil {
		return fmt.Sprintf("aicred %s token %s", r.Token.Class, r.Token.ID)
	}
	return r.Subject.Value
}

func reportUSD(v float64) string { return fmt.Sprintf("$%.4f", v) }

func reportText(w io.Writer, r *TraceReport) error {
	p := &reportWriter{w: w}
	p.f("aicred trace: %s\n", reportTitle(r))
	p.f("  traced from:  %s %s\n", r.Subject.By, r.Subject.Value)
	p.f("  generated:    %s\n", reportTime(r.GeneratedAt))
	if c := r.Credential; c != nil {
		p.f("  fingerprint:  %s\n", c.Fingerprint)
		if c.Provider != "" {
			p.f("  provider:     %s (%s)\n", c.ProviderName, c.Provider)
			p.f("  kind:         %s (%s)\n", c.KindName, c.Kind)
		}
		if len(c.Candidates) > 0 {
			p.f("  may be:       %s\n", strings.Join(c.Candidates, ", "))
		}
		p.f("  inventory:    %v\n", c.InInventory)
		if inv := c.Inventory; inv != nil {
			p.f("  liveness:     %s %s\n", inv.Verification, reportTime(inv.VerifiedAt))
			if inv.Owner != "" {
				p.f("  owner:        %s\n", inv.Owner)
			}
		}
		if c.RevokeURL != "" {
			p.f("  revoke at:    %s\n", c.RevokeURL)
		}
		if len(c.Unlocks) > 0 {
			p.f("  unlocks:\n")
			for _, u := range c.Unlocks {
				p.f("    - %s: %s\n", u.Capability, u.Description)
			}
		}
	}
	if l := r.Live; l != nil {
		p.f("\nDeep trace: %s", l.Status)
		if l.Reason != "" {
			p.f(" (%s)", l.Reason)
		}
		p.f("\n")
		if l.Status != LiveSkipped {
			p.f("  at %s against %s", reportTime(l.At), l.BaseURL)
			if l.HeldID != "" {
				p.f(" with held credential %s", l.HeldID)
			}
			p.f("\n  docs: %s\n", l.Docs)
		}
		if x := l.Reach; x != nil {
			if x.Principal != "" {
				p.f("  principal:  %s\n", x.Principal)
			}
			if x.Account != "" {
				p.f("  account:    %s\n", x.Account)
			}
			if len(x.Scopes) > 0 {
				p.f("  scopes:     %s\n", strings.Join(x.Scopes, ", "))
			}
			for _, res := range x.Resources {
				p.f("  reaches:    %s %s", res.Type, reportOr(res.Name, res.ID))
				if res.Access != "" {
					p.f(" [%s]", res.Access)
				}
				p.f("\n")
			}
			for _, n := range x.Notes {
				p.f("  note:       %s\n", n)
			}
		}
	}
	if t := r.Token; t != nil {
		p.f("\nToken %s (%s):\n", t.ID, reportActive(t))
		p.f("  workload:     %s\n", t.Workload)
		p.f("  role:         %s (policy %s)\n", reportOr(t.Role, "-"), reportOr(t.Policy, "-"))
		p.f("  scope:        %s\n", traceList(t.Scope))
		p.f("  environment:  %s\n", reportOr(t.Environment, "-"))
		p.f("  credentials:  %s\n", traceList(t.Credentials))
		p.f("  issued:       %s, expires %s\n", reportTime(t.IssuedAt), reportTime(t.ExpiresAt))
		if !t.RevokedAt.IsZero() {
			p.f("  revoked:      %s (%s)\n", reportTime(t.RevokedAt), t.RevokeReason)
		}
	}
	p.f("\nSightings (%d):\n", len(r.Sightings))
	for _, s := range r.Sightings {
		p.f("  %s  [%s] first seen %s, last seen %s", tracePlace(&s), s.Source, reportTime(s.SeenAt), reportTime(s.LastSeenAt))
		if s.Commit != "" {
			p.f(", commit %.12s authored %s", s.Commit, reportTime(s.AuthorDate))
			if s.Author != "" {
				p.f(" by %s", s.Author)
			}
		}
		p.f("\n")
	}
	p.f("\nHeld by aicred (%d):\n", len(r.Held))
	for _, h := range r.Held {
		if h.Missing {
			p.f("  %s  (no longer held)\n", h.ID)
			continue
		}
		p.f("  %s  %s/%s %s env %s, held since %s\n", h.ID, h.Provider, h.Kind, h.Redacted, reportOr(h.Environment, "-"), reportTime(h.CreatedAt))
	}
	u := &r.Usage
	p.f("\nGateway use: %d requests, %s (%s estimated), %d errors; first %s, last %s\n",
		u.Total.Requests, reportUSD(u.Total.CostUSD), reportUSD(u.Total.EstimatedUSD), u.Total.Errors, reportTime(u.FirstUse), reportTime(u.LastUse))
	for _, wl := range u.Workloads {
		p.f("  workload %s: %d requests, models %s, %s .. %s\n", wl.Workload, wl.Requests, traceList(wl.Models), reportTime(wl.First), reportTime(wl.Last))
	}
	for _, m := range u.ByModel {
		p.f("  model %s: %d requests, %d in / %d out tokens, %s\n", reportOr(m.Model, "-"), m.Requests, m.InputTokens, m.OutputTokens, reportUSD(m.CostUSD))
	}
	for _, n := range u.Networks {
		p.f("  network %s: %d requests, %s .. %s\n", n.Network, n.Requests, reportTime(n.First), reportTime(n.Last))
	}
	if u.Truncated {
		p.f("  (first and last use and networks cover the first records only)\n")
	}
	p.f("\naicred tokens derived (%d):\n", len(r.Tokens))
	for i, t := range r.Tokens {
		if i == reportShown {
			p.f("  ... and %d more (see --format json)\n", len(r.Tokens)-reportShown)
			break
		}
		p.f("  %s  %s  role %s, %s, issued %s, %d requests %s\n", t.ID, t.Workload, reportOr(t.Role, "-"), reportActive(&t), reportTime(t.IssuedAt), t.Usage.Requests, reportUSD(t.Usage.CostUSD))
	}
	p.f("\nTimeline (%d):\n", len(r.Timeline))
	for _, e := range r.Timeline {
		p.f("  %s  %-11s %s\n", reportTime(e.Time), e.Event, e.Summary)
	}
	if len(r.Notes) > 0 {
		p.f("\nNotes:\n")
		for _, n := range r.Notes {
			p.f("  - %s\n", n)
		}
	}
	return p.err
}

func reportOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func reportActive(t *TraceToken) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case t.Active:
		return "active"
	}
	return "expired"
}

// reportMDCell escapes a Markdown table cell.
func reportMDCell(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\\\")
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "`", "'")
	s = strings.ReplaceAll(s, "<", "&lt;")
	return s
}

func reportMarkdown(w io.Writer, r *TraceReport) error {
	p := &reportWriter{w: w}
	c := reportMDCell
	p.f("# Incident trace: %s\n\n", c(reportTitle(r)))
	p.f("Traced from %s `%s`, generated %s by aicred.\n\n", r.Subject.By, c(r.Subject.Value), reportTime(r.GeneratedAt))
	if cr := r.Credential; cr != nil {
		p.f("## Credential\n\n| | |\n|---|---|\n")
		p.f("| Fingerprint | `%s` |\n", cr.Fingerprint)
		if cr.Provider != "" {
			p.f("| Provider | %s (`%s`) |\n| Kind | %s (`%s`) |\n", c(cr.ProviderName), cr.Provider, c(cr.KindName), cr.Kind)
		}
		if len(cr.Candidates) > 0 {
			p.f("| May be | %s |\n", c(strings.Join(cr.Candidates, ", ")))
		}
		p.f("| In inventory | %v |\n", cr.InInventory)
		if cr.RevokeURL != "" {
			p.f("| Revoke at | %s |\n", c(cr.RevokeURL))
		}
		if len(cr.Unlocks) > 0 {
			p.f("\n**Unlocks**\n\n")
			for _, u := range cr.Unlocks {
				p.f("- **%s**: %s\n", u.Capability, c(u.Description))
			}
		}
		p.f("\n")
	}
	if l := r.Live; l != nil {
		p.f("## Deep trace\n\nStatus: **%s**", l.Status)
		if l.Reason != "" {
			p.f(" (%s)", c(l.Reason))
		}
		p.f("\n\n")
		if x := l.Reach; x != nil {
			p.f("- Principal: %s\n- Account: %s\n- Scopes: %s\n", c(reportOr(x.Principal, "-")), c(reportOr(x.Account, "-")), c(traceList(x.Scopes)))
			if len(x.Resources) > 0 {
				p.f("\n| Type | Name | ID | Access |\n|---|---|---|---|\n")
				for _, res := range x.Resources {
					p.f("| %s | %s | %s | %s |\n", c(res.Type), c(res.Name), c(res.ID), c(res.Access))
				}
			}
			for _, n := range x.Notes {
				p.f("\n> %s\n", c(n))
			}
			p.f("\nSource: %s\n", c(l.Docs))
		}
		p.f("\n")
	}
	if t := r.Token; t != nil {
		p.f("## Token %s\n\n| | |\n|---|---|\n", t.ID)
		p.f("| Status | %s |\n| Workload | %s |\n| Role | %s |\n| Scope | %s |\n| Credentials | %s |\n| Issued | %s |\n| Expires | %s |\n\n",
			reportActive(t), c(t.Workload), c(reportOr(t.Role, "-")), c(traceList(t.Scope)), c(traceList(t.Credentials)), reportTime(t.IssuedAt), reportTime(t.ExpiresAt))
	}
	p.f("## Sightings (%d)\n\n", len(r.Sightings))
	if len(r.Sightings) > 0 {
		p.f("| Place | Source | First seen | Last seen | Commit | Author | Authored |\n|---|---|---|---|---|---|---|\n")
		for _, s := range r.Sightings {
			p.f("| %s | %s | %s | %s | %.12s | %s | %s |\n", c(tracePlace(&s)), s.Source, reportTime(s.SeenAt), reportTime(s.LastSeenAt), s.Commit, c(s.Author), reportTime(s.AuthorDate))
		}
		p.f("\n")
	}
	p.f("## Held by aicred (%d)\n\n", len(r.Held))
	for _, h := range r.Held {
		p.f("- `%s` %s/%s %s, environment %s, held since %s\n", h.ID, h.Provider, h.Kind, c(h.Redacted), c(reportOr(h.Environment, "-")), reportTime(h.CreatedAt))
	}
	u := &r.Usage
	p.f("\n## Gateway use\n\n%d requests, %s, %d errors; first use %s, last use %s.\n\n",
		u.Total.Requests, reportUSD(u.Total.CostUSD), u.Total.Errors, reportTime(u.FirstUse), reportTime(u.LastUse))
	if len(u.Workloads) > 0 {
		p.f("| Workload | Requests | Models | First | Last |\n|---|---:|---|---|---|\n")
		for _, wl := range u.Workloads {
			p.f("| %s | %d | %s | %s | %s |\n", c(wl.Workload), wl.Requests, c(traceList(wl.Models)), reportTime(wl.First), reportTime(wl.Last))
		}
		p.f("\n")
	}
	if len(u.Networks) > 0 {
		p.f("| Source network | Requests | First | Last |\n|---|---:|---|---|\n")
		for _, n := range u.Networks {
			p.f("| %s | %d | %s | %s |\n", c(n.Network), n.Requests, reportTime(n.First), reportTime(n.Last))
		}
		p.f("\n")
	}
	p.f("## aicred tokens derived (%d)\n\n", len(r.Tokens))
	if len(r.Tokens) > 0 {
		p.f("| Token | Workload | Role | Status | Issued | Requests | Cost |\n|---|---|---|---|---|---:|---:|\n")
		for i, t := range r.Tokens {
			if i == reportShown {
				p.f("\n%d more in the JSON form.\n", len(r.Tokens)-reportShown)
				break
			}
			p.f("| `%s` | %s | %s | %s | %s | %d | %s |\n", t.ID, c(t.Workload), c(t.Role), reportActive(&t), reportTime(t.IssuedAt), t.Usage.Requests, reportUSD(t.Usage.CostUSD))
		}
		p.f("\n")
	}
	p.f("## Timeline (%d)\n\n| Time | Event | What |\n|---|---|---|\n", len(r.Timeline))
	for _, e := range r.Timeline {
		p.f("| %s | %s | %s |\n", reportTime(e.Time), e.Event, c(e.Summary))
	}
	if len(r.Notes) > 0 {
		p.f("\n## Notes\n\n")
		for _, n := range r.Notes {
			p.f("- %s\n", c(n))
		}
	}
	p.f("\n_This report holds fingerprints and redacted previews only, never secret material._\n")
	return p.err
}
