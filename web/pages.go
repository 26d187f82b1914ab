package web

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/gateway"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/respond"
)

// tile is one figure at the top of a page.
type tile struct{ Label, Value, Note, Class, Link string }

// seg is one coloured part of a stacked bar, in percent.
type seg struct {
	Class string
	X, W  float64
	Label string
	Count int
}

func sevSegs(c posture.SeverityCounts, clean, of int) []seg {
	var out []seg
	x := 0.0
	add := func(class, label string, n int) {
		if n == 0 {
			return
		}
		w := float64(n) / float64(max(of, 1)) * 100
		out = append(out, seg{Class: class, X: x, W: w, Label: label, Count: n})
		x += w
	}
	for _, s := range posture.Severities() {
		add(s.String(), s.String(), c.Get(s))
	}
	add("clean", "no finding", clean)
	return out
}

func leaked(cp *posture.CredentialPosture) bool {
	for _, f := range cp.Findings {
		if f.NHI == posture.NHI2 {
			return true
		}
	}
	return false
}

func isLive(v aicred.Verification) bool { return v == aicred.Live || v == aicred.LiveNoPermission }

func today(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// revocationRow is a token.revoked record read back.
type revocationRow struct {
	Time                   time.Time
	By, Value, Reason, Who string
	Count                  string
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	snap, err := c.posture.get(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	now := c.o.Now()
	day0 := today(now)
	// Both ranges are whole UTC days, which the store answers from its
	// daily rollup rather than the records (aicred.SplitUsageDays).
	todays, err := c.o.Store.SummarizeUsage(ctx, aicred.UsageQuery{Filter: aicred.UsageFilter{Since: day0}, By: []aicred.UsageGroup{aicred.GroupWorkload}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	week, err := c.o.Store.SummarizeUsage(ctx, aicred.UsageQuery{Filter: aicred.UsageFilter{Since: day0.AddDate(0, 0, -7), Until: day0}, By: []aicred.UsageGroup{aicred.GroupWorkload}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	baseline := map[string]float64{}
	for _, u := range week {
		baseline[u.Workload] = u.CostUSD / 7
	}
	slices.SortFunc(todays, func(a, b aicred.UsageSummary) int { return cmp.Compare(b.CostUSD, a.CostUSD) })
	var spent float64
	var items []barItem
	for _, u := range todays {
		spent += u.CostUSD
		base := baseline[u.Workload]
		class := "c-bar"
		if base > 0 && u.CostUSD > 2*base {
			class = "c-over"
		}
		items = append(items, barItem{Label: u.Workload, Value: usd(u.CostUSD) + " · base " + usd(base), Class: class,
			V: u.CostUSD, Mark: base, HasMark: true, Title: fmt.Sprintf("%s: %s today, %s a day over the last 7 days", u.Workload, usd(u.CostUSD), usd(base))})
	}
	alerts, err := c.loadAlerts(ctx, 200)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var open []alert
	for _, a := range alerts {
		if !a.Acked {
			open = append(open, a)
		}
	}
	revs, err := c.o.Store.SearchAudit(ctx, aicred.AuditQuery{Actions: []string{aicred.ActionTokenRevoked}, Since: now.Add(-24 * time.Hour), Limit: 100})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var revRows []revocationRow
	for _, e := range revs {
		if e.Data["by"] == aicred.RevokeHeldKey {
			continue // a rotation's signal to the gateways, not a revocation of tokens
		}
		revRows = append(revRows, revocationRow{Time: e.Time, By: e.Data["by"], Value: e.Data["value"], Reason: e.Data["reason"], Who: e.Actor, Count: e.Data["count"]})
	}
	t := &snap.R.Totals
	var risky, leaks []*posture.CredentialPosture
	for i := range snap.R.Credentials {
		cp := &snap.R.Credentials[i]
		if len(cp.Findings) > 0 && len(risky) < 8 {
			risky = append(risky, cp)
		}
		if isLive(cp.Verification) && leaked(cp) && len(leaks) < 8 {
			leaks = append(leaks, cp)
		}
	}
	c.render(w, r, http.StatusOK, "overview", s, "Overview", map[string]any{
		"Tiles": []tile{
			{Label: "Credentials", Value: thousands(t.Credentials), Note: thousands(t.Held) + " held by aicred", Link: "inventory"},
			{Label: "Critical", Value: thousands(t.BySeverity.Critical), Note: "by worst finding", Class: "critical", Link: "inventory?severity=critical"},
			{Label: "High", Value: thousands(t.BySeverity.High), Note: "by worst finding", Class: "high", Link: "inventory?severity=high"},
			{Label: "Live leaks", Value: thousands(t.LiveLeaked), Note: "live and leaked: revoke first", Class: "critical", Link: "inventory?live=live&leaked=1"},
			{Label: "Spend today", Value: usd(spent), Note: thousands(len(todays)) + " workloads", Link: "usage"},
			{Label: "Open alerts", Value: thousands(len(open)), Note: "last 7 days", Class: tileClass(len(open) > 0, "high"), Link: "alerts"},
		},
		"SevBar": sevSegs(t.BySeverity, t.Clean, t.Credentials),
		"Risky":  risky, "Leaks": leaks, "Spend": bars("spend today by workload, with each workload's daily baseline", items),
		"Open": open[:min(len(open), 6)], "OpenCount": len(open), "Revocations": revRows, "Posture": snap,
	})
}

func tileClass(on bool, class string) string {
	if on {
		return class
	}
	return ""
}

// inventory filters.
type invQuery struct {
	Q, Provider, Severity, Live, Held, Leaked, Sort string
	Page                                            int
}

const invPage = 50

func (c *Console) inventory(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	snap, err := c.posture.get(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	f := r.URL.Query()
	q := invQuery{Q: strings.TrimSpace(f.Get("q")), Provider: f.Get("provider"), Severity: f.Get("severity"), Live: f.Get("live"),
		Held: f.Get("held"), Leaked: f.Get("leaked"), Sort: f.Get("sort")}
	q.Page, _ = strconv.Atoi(f.Get("page"))
	q.Page = max(q.Page, 1)
	needle := strings.ToLower(q.Q)
	var rows []*posture.CredentialPosture
	for i := range snap.R.Credentials {
		cp := &snap.R.Credentials[i]
		switch {
		case q.Provider != "" && cp.Provider != q.Provider:
		case q.Severity != "" && cp.Worst.String() != q.Severity:
		case q.Live == "live" && !isLive(cp.Verification):
		case q.Live == "dead" && cp.Verification != aicred.Dead:
		case q.Live == "unchecked" && cp.Verification != aicred.NotChecked:
		case q.Held == "yes" && !cp.Held, q.Held == "no" && cp.Held:
		case q.Leaked == "1" && !leaked(cp):
		case needle != "" && !matchCred(cp, needle):
		default:
			rows = append(rows, cp)
		}
	}
	switch q.Sort {
	case "age":
		slices.SortStableFunc(rows, func(a, b *posture.CredentialPosture) int { return cmp.Compare(b.AgeDays, a.AgeDays) })
	case "sprawl":
		slices.SortStableFunc(rows, func(a, b *posture.CredentialPosture) int { return cmp.Compare(b.Sprawl, a.Sprawl) })
	case "provider":
		slices.SortStableFunc(rows, func(a, b *posture.CredentialPosture) int {
			return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Kind, b.Kind))
		})
	default:
		q.Sort = "risk" // the report's order
	}
	total := len(rows)
	pages := max((total+invPage-1)/invPage, 1)
	q.Page = min(q.Page, pages)
	rows = rows[(q.Page-1)*invPage : min(q.Page*invPage, total)]
	var provs []string
	for _, p := range snap.R.Providers {
		provs = append(provs, p.Provider)
	}
	sort.Strings(provs)
	c.render(w, r, http.StatusOK, "inventory", s, "Inventory", map[string]any{
		"Q": q, "Rows": rows, "Total": total, "Pages": pages, "Providers": provs, "Posture": snap,
		"Severities": []string{"critical", "high", "medium", "low", "info", "none"},
		"Sorts":      []string{"risk", "age", "sprawl", "provider"},
		"Prev":       max(q.Page-1, 0), "Next": map[bool]int{true: q.Page + 1, false: 0}[q.Page < pages],
	})
}

func matchCred(cp *posture.CredentialPosture, needle string) bool {
	for _, s := range []string{string(cp.Fingerprint), cp.Redacted, cp.Provider, cp.Kind, cp.KindName, cp.Owner,
		strings.Join(cp.Environments, " "), strings.Join(cp.Workloads, " ")} {
		if strings.Contains(strings.ToLower(s), needle) {
			return true
		}
	}
	for _, l := range cp.Locations {
		if strings.Contains(strings.ToLower(l.Path), needle) || strings.Contains(strings.ToLower(l.Origin), needle) {
			return true
		}
	}
	return false
}

// heldView is a held credential with what may be done to it.
type heldView struct {
	H         *aicred.HeldCredential
	CanRotate bool
	AdminKind string
	RevokeURL string
}

func (c *Console) fingerprint(r *http.Request) (aicred.Fingerprint, error) {
	fp := aicred.Fingerprint(r.PathValue("fp"))
	if !fp.Valid() {
		return "", aicred.Errorf(aicred.ErrInvalid, "malformed fingerprint")
	}
	return fp, nil
}

// traceUsageCap bounds the usage records a credential page reads for
// first and last use (the totals cover every record).
const traceUsageCap = 5000

func (c *Console) credential(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	fp, err := c.fingerprint(r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	tr, err := respond.Trace(ctx, c.o.Store, respond.TraceInput{Fingerprint: fp}, respond.TraceOptions{Now: c.o.Now, MaxUsage: traceUsageCap})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	snap, err := c.posture.get(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var held []heldView
	for _, th := range tr.Held {
		if th.Missing {
			continue
		}
		h, err := c.o.Store.GetHeldCredential(ctx, th.ID)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		hv := heldView{H: h}
		if k, ok := provider.LookupKind(h.Provider, h.Kind); ok {
			if k.Rotation != nil {
				hv.CanRotate = true
				if !k.Rotation.SelfAdmin {
					hv.AdminKind = k.Rotation.AdminKind
				}
			}
			hv.RevokeURL = tr.Credential.RevokeURL
		}
		held = append(held, hv)
	}
	var wl, models []barItem
	for _, u := range tr.Usage.ByWorkload {
		wl = append(wl, barItem{Label: u.Workload, V: u.CostUSD, Value: usd(u.CostUSD) + " · " + thousands(u.Requests) + " requests"})
	}
	for _, u := range tr.Usage.ByModel {
		models = append(models, barItem{Label: u.Model, V: u.CostUSD, Value: usd(u.CostUSD) + " · " + thousands(u.Requests) + " requests"})
	}
	byCost := func(a, b barItem) int { return cmp.Compare(b.V, a.V) }
	slices.SortFunc(wl, byCost)
	slices.SortFunc(models, byCost)
	timeline := tr.Timeline
	if len(timeline) > 200 {
		timeline = timeline[len(timeline)-200:]
	}
	audit := slices.Clone(tr.Audit)
	slices.Reverse(audit)
	audit = audit[:min(len(audit), 100)]
	title := fp.Short()
	if tr.Credential != nil && tr.Credential.KindName != "" {
		title = tr.Credential.KindName + " " + fp.Short()
	}
	c.render(w, r, http.StatusOK, "credential", s, title, map[string]any{
		"T": tr, "FP": fp, "P": snap.find(fp), "Held": held, "Timeline": timeline, "Audit": audit,
		"ByWorkload": bars("gateway spend by workload", wl), "ByModel": bars("gateway spend by model", models),
		"CanAct": s.canWrite && c.o.Responder != nil, "NoResponder": c.o.Responder == nil,
	})
}

// actions of the credential page.
var actionNames = map[string]string{"rotate": "Rotate", "revoke": "Revoke", "replace": "Replace"}

// heldOf returns held credential id when it holds fingerprint fp.
func (c *Console) heldOf(r *http.Request, fp aicred.Fingerprint, id string) (*aicred.HeldCredential, error) {
	h, err := c.o.Store.GetHeldCredential(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if h.Fingerprint != fp {
		return nil, aicred.Errorf(aicred.ErrInvalid, "held credential %s does not hold this credential", h.ID)
	}
	return h, nil
}

func (c *Console) confirm(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	fp, err := c.fingerprint(r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	action := r.URL.Query().Get("action")
	if actionNames[action] == "" {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "unknown action %q", aicred.StorableText(clip(action, 20))))
		return
	}
	if c.o.Responder == nil {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrUnavailable, "this server has no responder configured"))
		return
	}
	h, err := c.heldOf(r, fp, r.URL.Query().Get("held"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var adminKind string
	if k, ok := provider.LookupKind(h.Provider, h.Kind); ok && k.Rotation != nil && !k.Rotation.SelfAdmin {
		adminKind = k.Rotation.AdminKind
	}
	c.render(w, r, http.StatusOK, "confirm", s, actionNames[action]+" "+h.ID, map[string]any{
		"Action": action, "Name": actionNames[action], "H": h, "FP": fp, "AdminKind": adminKind,
	})
}

// act runs a confirmed action through the responder: the same service
// the CLI calls, which writes the audit records (naming this session's
// person through the context's actor).
func (c *Console) act(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	fp, err := c.fingerprint(r)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if c.o.Responder == nil {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrUnavailable, "this server has no responder configured"))
		return
	}
	action := r.PostFormValue("action")
	if actionNames[action] == "" {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "unknown action"))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "tick the confirmation box to %s", action))
		return
	}
	h, err := c.heldOf(r, fp, r.PostFormValue("held"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	cause := strings.TrimSpace(r.PostFormValue("cause"))
	if cause == "" {
		cause = "console: " + action + " by " + s.actor
	}
	admin := strings.TrimSpace(r.PostFormValue("admin"))
	var lines []string
	switch action {
	case "rotate":
		rot, err := c.o.Responder.Rotate(ctx, h.ID, admin)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		lines = append(lines, fmt.Sprintf("Rotation %s of %s: %s.", rot.ID, h.ID, rot.State))
		if rot.NewFingerprint != "" {
			lines = append(lines, "New fingerprint "+rot.NewFingerprint.Short()+" ("+rot.NewRedacted+").")
		}
	case "revoke":
		res, err := c.o.Responder.Revoke(ctx, h.ID, admin, cause)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		lines = append(lines, fmt.Sprintf("%s revoked in aicred; %d token(s) using it revoked.", h.ID, res.Grants))
		if res.AtProvider {
			lines = append(lines, "Revoked at the provider.")
		} else if res.RevokeURL != "" {
			lines = append(lines, "Revoke it at the provider too: "+res.RevokeURL)
		}
		lines = append(lines, "Liveness now: "+string(res.Liveness.State)+".")
	case "replace":
		secret := aicred.NewSecret(r.PostFormValue("secret"))
		r.PostForm.Del("secret")
		if secret.IsZero() {
			c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "paste the new credential made at the provider"))
			return
		}
		res, err := c.o.Responder.Replace(ctx, h.ID, secret, cause)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		lines = append(lines, fmt.Sprintf("%s now holds %s; the new one is %s.", h.ID, res.NewFingerprint.Short(), res.New.State))
		if res.OldLive {
			lines = append(lines, "The old credential still works: revoke it at "+res.RevokeURL)
		}
	}
	c.posture.invalidate()
	c.render(w, r, http.StatusOK, "done", s, actionNames[action]+" done", map[string]any{
		"Lines": lines, "Back": Prefix + "credentials/" + string(fp), "BackLabel": "Back to the credential",
	})
}

func (c *Console) posturePage(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	snap, err := c.posture.get(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	type item struct {
		posture.ItemSummary
		Ref  string
		Segs []seg
	}
	var nhi, csf []item
	n := snap.R.Totals.Credentials
	for _, it := range snap.R.NHI {
		nhi = append(nhi, item{it, posture.NHI(it.ID).Ref(), sevSegs(it.BySeverity, 0, n)})
	}
	for _, it := range snap.R.CSF {
		csf = append(csf, item{it, it.ID, sevSegs(it.BySeverity, 0, n)})
	}
	c.render(w, r, http.StatusOK, "posture", s, "Posture", map[string]any{"P": snap, "NHI": nhi, "CSF": csf,
		"SevBar": sevSegs(snap.R.Totals.BySeverity, snap.R.Totals.Clean, n)})
}

// usageRanges are the periods the usage page offers, in days.
var usageRanges = []int{1, 7, 30, 90}

type budgetRow struct {
	Workload, Role     string
	Spent, Limit, Left float64
	Pct                float64
	Over               bool
	Requests           int64
}

func (c *Console) usage(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	days, _ := strconv.Atoi(r.URL.Query().Get("days"))
	if !slices.Contains(usageRanges, days) {
		days = 30
	}
	now := c.o.Now()
	day0 := today(now)
	since := day0.AddDate(0, 0, -(days - 1))
	// Whole UTC days from since on: the store answers from its daily
	// rollup rather than the records (aicred.SplitUsageDays).
	f := aicred.UsageFilter{Since: since}
	sum := func(by ...aicred.UsageGroup) ([]aicred.UsageSummary, error) {
		return c.o.Store.SummarizeUsage(ctx, aicred.UsageQuery{Filter: f, By: by})
	}
	// One query over the period by workload, model, provider and day;
	// the charts are totals of its rows.
	rows, err := sum(aicred.GroupWorkload, aicred.GroupModel, aicred.GroupProvider, aicred.GroupDay)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	byDay := map[string]float64{}
	acc := func(m map[string]*aicred.UsageSummary, key string, u aicred.UsageSummary) {
		if m[key] == nil {
			m[key] = &aicred.UsageSummary{}
		}
		m[key].Add(u)
	}
	wl, models, provs := map[string]*aicred.UsageSummary{}, map[string]*aicred.UsageSummary{}, map[string]*aicred.UsageSummary{}
	var total aicred.UsageSummary
	for _, u := range rows {
		byDay[u.Day] += u.CostUSD
		acc(wl, u.Workload, u)
		acc(models, u.Model, u)
		acc(provs, u.Provider, u)
		total.Add(u)
	}
	chart := func(label string, m map[string]*aicred.UsageSummary, link func(string) string) (barChart, []kvSum) {
		list := make([]kvSum, 0, len(m))
		for k, v := range m {
			list = append(list, kvSum{k, *v})
		}
		slices.SortFunc(list, func(a, b kvSum) int { return cmp.Or(cmp.Compare(b.S.CostUSD, a.S.CostUSD), cmp.Compare(a.K, b.K)) })
		var items []barItem
		for _, e := range list {
			it := barItem{Label: orNone(e.K), V: e.S.CostUSD, Value: usd(e.S.CostUSD)}
			if link != nil {
				it.Link = link(e.K)
			}
			items = append(items, it)
		}
		return bars(label, items), list
	}
	wlChart, top := chart("spend by workload", wl, nil)
	modelChart, _ := chart("spend by model", models, nil)
	provChart, _ := chart("spend by provider", provs, nil)
	// Budgets: each workload's daily budget (its role's) against today.
	todays, err := c.o.Store.SummarizeUsage(ctx, aicred.UsageQuery{Filter: aicred.UsageFilter{Since: day0}, By: []aicred.UsageGroup{aicred.GroupWorkload, aicred.GroupRole}})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var budgets []budgetRow
	for _, u := range todays {
		role, ok := c.role(u.Role)
		if !ok || role.Budget.PerWorkloadDailyUSD <= 0 {
			continue
		}
		lim := role.Budget.PerWorkloadDailyUSD
		b := budgetRow{Workload: u.Workload, Role: u.Role, Spent: u.CostUSD, Limit: lim, Left: max(lim-u.CostUSD, 0), Requests: u.Requests}
		b.Pct = min(u.CostUSD/lim*100, 100)
		b.Over = u.CostUSD >= lim
		budgets = append(budgets, b)
	}
	slices.SortFunc(budgets, func(a, b budgetRow) int { return cmp.Compare(b.Pct, a.Pct) })
	c.render(w, r, http.StatusOK, "usage", s, "Usage and spend", map[string]any{
		"Days": days, "Ranges": usageRanges, "Since": since, "Total": total,
		"ByDay":      dayColumns("spend per day", since, days, byDay, usd),
		"ByWorkload": wlChart, "ByModel": modelChart, "ByProvider": provChart,
		"Top": top[:min(len(top), 15)], "Budgets": budgets,
	})
}

type kvSum struct {
	K string
	S aicred.UsageSummary
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (c *Console) role(name string) (roleView, bool) {
	for i := range c.o.Broker.Roles {
		if c.o.Broker.Roles[i].Name == name {
			return roleView{&c.o.Broker.Roles[i]}, true
		}
	}
	return roleView{}, false
}

func (c *Console) alertsPage(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	alerts, err := c.loadAlerts(ctx, 500)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	head, err := c.o.Store.SearchAudit(ctx, aicred.AuditQuery{Limit: 1})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var after int64
	if len(head) == 1 {
		after = head[0].Seq
	}
	open := 0
	for _, a := range alerts {
		if !a.Acked {
			open++
		}
	}
	c.render(w, r, http.StatusOK, "alerts", s, "Alerts", map[string]any{"Alerts": alerts, "Open": open, "After": after})
}

func (c *Console) ackAlert(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	seq, _ := strconv.ParseInt(r.PostFormValue("seq"), 10, 64)
	id := r.PostFormValue("alert")
	note := strings.TrimSpace(aicred.StorableText(r.PostFormValue("note")))
	if note == "" {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "say in a note what was done about the alert"))
		return
	}
	if len(note) > 1000 || strings.Contains(note, "aicw_") || strings.Contains(note, "aica_") {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "the note is too long or holds a token"))
		return
	}
	evs, err := c.o.Store.ListAudit(ctx, max(seq, 1), 1)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if len(evs) != 1 || evs[0].Seq != seq || evs[0].Action != gateway.ActionAnomalyDetected || evs[0].Data["alert"] != id || id == "" {
		c.fail(w, r, s, aicred.Errorf(aicred.ErrNotFound, "no such alert"))
		return
	}
	if _, err := c.o.Store.AppendAudit(ctx, aicred.AuditEvent{Action: ActionAlertAcknowledge, Subject: id, Data: map[string]string{
		"note": note, "kind": evs[0].Data["kind"], "workload": evs[0].Subject, "alert_seq": strconv.FormatInt(seq, 10)}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, Prefix+"alerts", http.StatusSeeOther)
}

func (c *Console) tokens(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	q := r.URL.Query()
	gs, err := c.o.Store.ListGrants(ctx, aicred.TokenFilter{Class: q.Get("class"), Role: q.Get("role"), Limit: 500})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	holds, err := c.o.Store.ListWorkloadHolds(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	now := c.o.Now()
	var active []aicred.WorkloadHold
	for _, h := range holds {
		if h.Active(now) {
			active = append(active, h)
		}
	}
	var roles []string
	for _, ro := range c.o.Broker.Roles {
		roles = append(roles, ro.Name)
	}
	c.render(w, r, http.StatusOK, "tokens", s, "Tokens", map[string]any{"Grants": gs, "Holds": active, "Class": q.Get("class"),
		"Role": q.Get("role"), "Roles": roles, "Flash": q.Get("done")})
}

// revokeTokens revokes by token, workload, role or credential through
// the token service (in aicred serve the grant cache, so this process's
// gateway refuses at once; the store records token.revoked naming the
// person).
func (c *Console) revokeTokens(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	by := r.PostFormValue("by")
	switch by {
	case aicred.RevokeToken, aicred.RevokeWorkload, aicred.RevokeRole, aicred.RevokeCredential:
	default:
		c.fail(w, r, s, aicred.Errorf(aicred.ErrInvalid, "revoke by token, workload, role or credential"))
		return
	}
	rv := &aicred.Revocation{By: by, Value: strings.TrimSpace(r.PostFormValue("value")), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	if rv.Reason == "" {
		rv.Reason = "revoked in the console"
	}
	if by == aicred.RevokeWorkload {
		rv.Hold = c.o.WorkloadHold
	}
	if err := c.o.Tokens.Revoke(ctx, rv); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.posture.invalidate()
	msg := fmt.Sprintf("Revoked %d token(s) by %s %s.", rv.Grants, rv.By, rv.Value)
	http.Redirect(w, r, Prefix+"tokens?done="+urlQueryEscape(msg), http.StatusSeeOther)
}

func (c *Console) config(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	var roles []roleView
	for i := range c.o.Broker.Roles {
		roles = append(roles, roleView{&c.o.Broker.Roles[i]})
	}
	c.render(w, r, http.StatusOK, "config", s, "Configuration", map[string]any{"B": c.o.Broker, "Roles": roles, "Posture": c.o.Posture})
}

const auditPage = 100

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	aq := aicred.AuditQuery{Subject: strings.TrimSpace(q.Get("subject")), Actor: strings.TrimSpace(q.Get("actor")), BeforeSeq: max(before, 0), Limit: auditPage}
	if a := strings.TrimSpace(q.Get("action")); a != "" {
		aq.Actions = []string{a}
	}
	evs, err := c.o.Store.SearchAudit(ctx, aq)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var next int64
	if len(evs) == auditPage {
		next = evs[len(evs)-1].Seq
	}
	type row struct {
		aicred.AuditEvent
		Pairs []kv
	}
	rows := make([]row, len(evs))
	for i, e := range evs {
		rows[i] = row{AuditEvent: e}
		for _, k := range sortedKeys(e.Data) {
			rows[i].Pairs = append(rows[i].Pairs, kv{k, e.Data[k]})
		}
	}
	c.render(w, r, http.StatusOK, "audit", s, "Audit", map[string]any{"Rows": rows, "Action": q.Get("action"), "Subject": aq.Subject,
		"Actor": aq.Actor, "Next": next})
}

func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	v, err := c.o.Store.VerifyAudit(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	ok := strconv.FormatBool(v.OK())
	if _, err := c.o.Store.AppendAudit(ctx, aicred.AuditEvent{Action: ActionAuditVerified, Subject: "audit", Data: map[string]string{
		"ok": ok, "records": strconv.FormatInt(v.Records, 10), "head_seq": strconv.FormatInt(v.Head.Seq, 10), "head_hash": v.Head.Hash}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	var lines []string
	if v.OK() {
		lines = append(lines, fmt.Sprintf("The chain holds: %s records verified.", thousands(v.Records)),
			fmt.Sprintf("Head: record %d, hash %s. Keep it outside the database to prove later that the log was not cut short.", v.Head.Seq, v.Head.Hash))
	} else {
		lines = append(lines, fmt.Sprintf("The chain is BROKEN at record %d: %s.", v.BadSeq, v.Problem),
			fmt.Sprintf("%s records read; the last good one is %d.", thousands(v.Records), v.Head.Seq))
	}
	c.render(w, r, http.StatusOK, "done", s, "Audit verification", map[string]any{"Lines": lines, "Back": Prefix + "audit", "BackLabel": "Back to the audit log",
		"Bad": !v.OK()})
}

func (c *Console) auditExport(w http.ResponseWriter, r *http.Request) {
	ctx, s := r.Context(), sessionOf(r.Context())
	if _, err := c.o.Store.AppendAudit(ctx, aicred.AuditEvent{Action: ActionAuditExported, Subject: "audit", Data: map[string]string{"format": "jsonl", "via": "console"}}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="aicred-audit-`+c.o.Now().UTC().Format("20060102T150405Z")+`.jsonl"`)
	if _, err := auditExport(ctx, w, c.o.Store); err != nil {
		c.o.Log.Warn("console: audit export cut short", "err", err)
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
