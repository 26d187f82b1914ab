package posture

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// maxLocations bounds the sightings a credential carries into the report.
const maxLocations = 10

// Report is the posture of an inventory at one instant.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Config is the policy the checks ran with, defaults filled in.
	Config Config `json:"config"`
	// Checks are the checks that ran; Disabled names those that did not.
	Checks   []Check  `json:"checks"`
	Disabled []string `json:"disabled,omitempty"`

	Totals    Totals            `json:"totals"`
	NHI       []ItemSummary     `json:"nhi"`
	CSF       []ItemSummary     `json:"csf"`
	Providers []ProviderSummary `json:"providers"`
	Leaks     Timeline          `json:"leak_timeline"`
	// Credentials are ranked by risk, the riskiest first.
	Credentials []CredentialPosture `json:"credentials"`
}

// Totals counts the whole inventory.
type Totals struct {
	Credentials int `json:"credentials"`
	// Affected credentials have at least one finding; Clean have none.
	Affected int `json:"affected"`
	Clean    int `json:"clean"`
	Findings int `json:"findings"`
	// Live counts credentials whose latest check says live; LiveLeaked
	// those of them with a leak finding.
	Live       int `json:"live"`
	LiveLeaked int `json:"live_leaked"`
	Held       int `json:"held"`
	// BySeverity counts credentials by their worst finding;
	// FindingsBySeverity counts findings.
	BySeverity         SeverityCounts `json:"by_severity"`
	FindingsBySeverity SeverityCounts `json:"findings_by_severity"`
}

// ItemSummary is the state of one OWASP NHI item or CSF subcategory.
type ItemSummary struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Checks []string `json:"checks"`
	// Credentials counts the credentials with a finding under this item;
	// BySeverity counts them by their worst finding under it.
	Credentials int            `json:"credentials"`
	Findings    int            `json:"findings"`
	BySeverity  SeverityCounts `json:"by_severity"`
	Worst       Severity       `json:"worst"`
}

// ProviderSummary counts one provider's credentials by worst severity.
type ProviderSummary struct {
	Provider    string         `json:"provider"`
	Name        string         `json:"name"`
	Credentials int            `json:"credentials"`
	BySeverity  SeverityCounts `json:"by_severity"`
	Clean       int            `json:"clean"`
}

// Timeline counts leak sightings per month, by the commit's author date
// when known, else when the sighting was first recorded (UTC).
type Timeline struct {
	Months []MonthCount `json:"months"`
	// Earlier counts leak sightings before the first month shown.
	Earlier int `json:"earlier"`
	Total   int `json:"total"`
}

// MonthCount is one month of the leak timeline.
type MonthCount struct {
	Month string `json:"month"` // "2025-03"
	// Sightings counts leak sightings in the month; Live those of them
	// whose credential is live now; Credentials the distinct credentials.
	Sightings   int `json:"sightings"`
	Live        int `json:"live"`
	Credentials int `json:"credentials"`
}

// CredentialPosture is one credential's evidence.
type CredentialPosture struct {
	Fingerprint  aicred.Fingerprint  `json:"fingerprint"`
	Provider     string              `json:"provider"`
	Kind         string              `json:"kind"`
	KindName     string              `json:"kind_name"`
	Category     string              `json:"category,omitempty"`
	Redacted     string              `json:"redacted"`
	Capabilities []aicred.Capability `json:"capabilities"`
	Verification aicred.Verification `json:"verification"`
	Owner        string              `json:"owner,omitempty"`
	Environments []string            `json:"environments,omitempty"`
	Workloads    []string            `json:"workloads,omitempty"`
	Held         bool                `json:"held"`
	// AgeDays is the age in whole days (-1 when unknown) and AgeFrom the
	// fact it was computed from.
	AgeDays   int    `json:"age_days"`
	AgeFrom   string `json:"age_from,omitempty"`
	Sprawl    int    `json:"sprawl"`
	Sightings int    `json:"sightings"`

	// Risk ranks credentials, 0 (no finding) to 100: its findings'
	// weights and its blast radius, scaled by liveness (see riskScore). It
	// is for ordering, not a probability.
	Risk     int        `json:"risk"`
	Worst    Severity   `json:"worst"`
	Findings []Evidence `json:"findings"`
	// Locations are the first sightings (at most 10) and MoreLocations
	// counts the rest.
	Locations     []Location `json:"locations,omitempty"`
	MoreLocations int        `json:"more_locations,omitempty"`
}

// Evidence is one check that fired on a credential.
type Evidence struct {
	Check    string         `json:"check"`
	Title    string         `json:"title"`
	NHI      NHI            `json:"nhi"`
	CSF      []CSF          `json:"csf"`
	Severity Severity       `json:"severity"`
	Reason   string         `json:"reason"`
	Metrics  map[string]int `json:"metrics,omitempty"`
}

// Location is where a credential was seen, without the secret.
type Location struct {
	Origin  string            `json:"origin,omitempty"`
	Source  aicred.SourceKind `json:"source"`
	Path    string            `json:"path"`
	Line    int               `json:"line,omitempty"`
	Column  int               `json:"column,omitempty"`
	Commit  string            `json:"commit,omitempty"`
	Locator string            `json:"locator,omitempty"`
	Date    time.Time         `json:"date,omitzero"`
}

// Evaluate runs the enabled checks of cfg over creds at the instant now.
// It does no I/O and is deterministic: the same arguments give the same
// report. cfg's zero fields take their defaults; an invalid cfg (see
// Config.Validate) gives a report whose meaning is undefined.
func Evaluate(creds []aicred.CredentialDetail, cfg Config, now time.Time) *Report {
	return EvaluateInventory(Inventory{Credentials: creds}, cfg, now)
}

// Inventory is what the checks read: the credentials with their history
// and, beside them, the workload tokens issued by hand.
type Inventory struct {
	Credentials []aicred.CredentialDetail
	// HandIssued are grants of tokens a person issued ('aicred token
	// create') rather than a workload exchanged for; Held maps held
	// credential ids to their fingerprints, so each grant is laid on the
	// credentials its tokens may use.
	HandIssued []aicred.Grant
	Held       map[string]aicred.Fingerprint
}

// EvaluateInventory is Evaluate over a whole Inventory, tokens issued by
// hand included. It is as pure as Evaluate.
func EvaluateInventory(inv Inventory, cfg Config, now time.Time) *Report {
	creds := inv.Credentials
	cfg = cfg.withDefaults()
	p := newPolicy(cfg)
	p.manual = map[aicred.Fingerprint][]*aicred.Grant{}
	for i := range inv.HandIssued {
		g := &inv.HandIssued[i]
		for _, id := range g.Credentials {
			if fp, ok := inv.Held[id]; ok && !slices.Contains(p.manual[fp], g) {
				p.manual[fp] = append(p.manual[fp], g)
			}
		}
	}
	r := &Report{GeneratedAt: now.UTC(), Config: cfg}
	for _, c := range p.checks() {
		if slices.Contains(cfg.Disable, c.ID) {
			r.Disabled = append(r.Disabled, c.ID)
			continue
		}
		if s, ok := cfg.Severity[c.ID]; ok {
			c.Severity = s
			c.Escalation = "pinned to " + s.String() + " by policy"
		}
		r.Checks = append(r.Checks, c)
	}

	nhi := map[NHI]*ItemSummary{}
	for _, n := range NHIItems() {
		r.NHI = append(r.NHI, ItemSummary{ID: string(n), Name: n.Name()})
	}
	for i := range r.NHI {
		nhi[NHI(r.NHI[i].ID)] = &r.NHI[i]
	}
	csf := map[CSF]*ItemSummary{}
	for _, c := range CSFSubcategories() {
		r.CSF = append(r.CSF, ItemSummary{ID: string(c), Name: c.Title()})
	}
	for i := range r.CSF {
		csf[CSF(r.CSF[i].ID)] = &r.CSF[i]
	}
	for _, c := range r.Checks {
		nhi[c.NHI].Checks = append(nhi[c.NHI].Checks, c.ID)
		for _, s := range c.CSF {
			csf[s].Checks = append(csf[s].Checks, c.ID)
		}
	}

	providers := map[string]*ProviderSummary{}
	months := map[string]*monthAcc{}
	r.Credentials = make([]CredentialPosture, 0, len(creds))
	for i := range creds {
		d := &creds[i]
		cp := assess(d, r.Checks, cfg.Severity, now)
		r.Credentials = append(r.Credentials, cp)
		r.tally(&cp, nhi, csf, providers)
		p.timeline(d, months)
	}
	r.Leaks = buildTimeline(months, cfg.TimelineMonths)

	for _, ps := range providers {
		r.Providers = append(r.Providers, *ps)
	}
	slices.SortFunc(r.Providers, func(a, b ProviderSummary) int {
		return cmp.Or(cmp.Compare(b.Credentials-b.Clean, a.Credentials-a.Clean), cmp.Compare(b.Credentials, a.Credentials), cmp.Compare(a.Provider, b.Provider))
	})
	slices.SortFunc(r.Credentials, func(a, b CredentialPosture) int {
		return cmp.Or(cmp.Compare(b.Risk, a.Risk), cmp.Compare(b.Worst, a.Worst), cmp.Compare(a.Provider, b.Provider),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	return r
}

// assess runs the checks on one credential; pinned holds the severities
// the policy fixes per check.
func assess(d *aicred.CredentialDetail, checks []Check, pinned map[string]Severity, now time.Time) CredentialPosture {
	ki := lookupKind(d)
	cp := CredentialPosture{
		Fingerprint: d.Fingerprint, Provider: d.Provider, Kind: d.Kind, KindName: ki.name, Category: ki.category,
		Redacted: d.Redacted, Capabilities: ki.caps, Verification: state(d), Owner: d.Owner,
		Environments: d.Environments, Workloads: d.Workloads, Held: d.Held,
		AgeDays: -1, Sprawl: sprawl(d), Sightings: max(d.SightingCount, len(d.Sightings)),
	}
	if b, from := born(d); !b.IsZero() && !b.After(now) {
		cp.AgeDays, cp.AgeFrom = days(now.Sub(b)), from
	}
	for _, c := range checks {
		h, ok := c.Eval(d, now)
		if !ok {
			continue
		}
		if s, ok := pinned[c.ID]; ok {
			h.Severity = s
		}
		cp.Findings = append(cp.Findings, Evidence{
			Check: c.ID, Title: c.Title, NHI: c.NHI, CSF: c.CSF, Severity: h.Severity, Reason: h.Reason, Metrics: h.Metrics,
		})
		cp.Worst = max(cp.Worst, h.Severity)
	}
	// Worst first, then in check order (stable).
	slices.SortStableFunc(cp.Findings, func(a, b Evidence) int { return cmp.Compare(b.Severity, a.Severity) })
	cp.Risk = riskScore(&cp, ki.caps)
	for i := range d.Sightings {
		if len(cp.Locations) == maxLocations {
			cp.MoreLocations = len(d.Sightings) - maxLocations
			break
		}
		s := &d.Sightings[i]
		cp.Locations = append(cp.Locations, Location{
			Origin: s.Origin, Source: s.Source, Path: s.Path, Line: s.Line, Column: s.Column,
			Commit: s.Commit, Locator: s.Locator, Date: sightingTime(s),
		})
	}
	return cp
}

// riskScore ranks a credential: each finding adds its severity's weight
// (critical 40, high 20, medium 8, low 3, info 1), its blast radius adds 2
// per capability and 10 for administration, and the sum s is scaled by how
// sure we are that it works (live 1, unknown or unchecked 0.8, dead 0.25).
// The score is 100·(1−e^(−s/60)), at least 1: it keeps ordering among the
// worst credentials instead of flattening them at a cap.
func riskScore(cp *CredentialPosture, caps []aicred.Capability) int {
	if len(cp.Findings) == 0 {
		return 0
	}
	var s float64
	for _, f := range cp.Findings {
		s += f.Severity.weight()
	}
	s += 2 * float64(len(caps))
	if isAdminClass(caps) {
		s += 10
	}
	switch {
	case isLive(cp.Verification):
	case cp.Verification == aicred.Dead:
		s *= 0.25
	default:
		s *= 0.8
	}
	return int(math.Max(1, math.Round(100*(1-math.Exp(-s/60)))))
}

// tally adds a credential to the totals and summaries.
func (r *Report) tally(cp *CredentialPosture, nhi map[NHI]*ItemSummary, csf map[CSF]*ItemSummary, providers map[string]*ProviderSummary) {
	t := &r.Totals
	t.Credentials++
	if cp.Held {
		t.Held++
	}
	live := isLive(cp.Verification)
	if live {
		t.Live++
	}
	ps := providers[cp.Provider]
	if ps == nil {
		ps = &ProviderSummary{Provider: cp.Provider, Name: cp.Provider}
		if p, ok := provider.Lookup(cp.Provider); ok {
			ps.Name = p.Name
		}
		providers[cp.Provider] = ps
	}
	ps.Credentials++
	if len(cp.Findings) == 0 {
		t.Clean++
		ps.Clean++
		return
	}
	t.Affected++
	t.BySeverity.Add(cp.Worst)
	ps.BySeverity.Add(cp.Worst)
	worstNHI := map[NHI]Severity{}
	worstCSF := map[CSF]Severity{}
	leaked := false
	for _, f := range cp.Findings {
		t.Findings++
		t.FindingsBySeverity.Add(f.Severity)
		nhi[f.NHI].Findings++
		worstNHI[f.NHI] = max(worstNHI[f.NHI], f.Severity)
		for _, c := range f.CSF {
			csf[c].Findings++
			worstCSF[c] = max(worstCSF[c], f.Severity)
		}
		leaked = leaked || f.Check == "AIC-NHI2-LEAK"
	}
	if live && leaked {
		t.LiveLeaked++
	}
	for n, s := range worstNHI {
		it := nhi[n]
		it.Credentials++
		it.BySeverity.Add(s)
		it.Worst = max(it.Worst, s)
	}
	for c, s := range worstCSF {
		it := csf[c]
		it.Credentials++
		it.BySeverity.Add(s)
		it.Worst = max(it.Worst, s)
	}
}

type monthAcc struct {
	sightings, live int
	creds           map[aicred.Fingerprint]bool
}

// timeline adds a credential's leak sightings to the monthly counts.
func (p *policy) timeline(d *aicred.CredentialDetail, months map[string]*monthAcc) {
	live := isLive(state(d))
	for i := range d.Sightings {
		s := &d.Sightings[i]
		t := sightingTime(s)
		if t.IsZero() || p.cl.place(s)&p.leak == 0 {
			continue
		}
		key := t.UTC().Format("2006-01")
		m := months[key]
		if m == nil {
			m = &monthAcc{creds: map[aicred.Fingerprint]bool{}}
			months[key] = m
		}
		m.sightings++
		if live {
			m.live++
		}
		m.creds[d.Fingerprint] = true
	}
}

// buildTimeline lays the months out without gaps, ending at the latest
// month with a leak and at most n months long.
func buildTimeline(months map[string]*monthAcc, n int) Timeline {
	var tl Timeline
	if len(months) == 0 {
		return tl
	}
	keys := sortedKeys(months)
	last, _ := time.Parse("2006-01", keys[len(keys)-1])
	first, _ := time.Parse("2006-01", keys[0])
	if earliest := last.AddDate(0, -(n - 1), 0); first.Before(earliest) {
		first = earliest
	}
	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		key := m.Format("2006-01")
		mc := MonthCount{Month: key}
		if a := months[key]; a != nil {
			mc.Sightings, mc.Live, mc.Credentials = a.sightings, a.live, len(a.creds)
		}
		tl.Months = append(tl.Months, mc)
	}
	firstKey := first.Format("2006-01")
	for _, k := range keys {
		tl.Total += months[k].sightings
		if k < firstKey {
			tl.Earlier += months[k].sightings
		}
	}
	return tl
}
