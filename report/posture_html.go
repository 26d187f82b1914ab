package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
)

// The HTML report is one self-contained file: inline CSS, inline SVG
// charts computed here, no script, no external fonts, images or styles.
// html/template escapes every value taken from the inventory.

// Chart geometry, in SVG user units (the charts scale to the page width).
const (
	chartWidth     = 960
	barLabelWidth  = 190
	barRowHeight   = 26
	barHeight      = 16
	barChartTop    = 34
	maxBarRows     = 14
	colChartHeight = 280
	colPlotTop     = 36
	colPlotBottom  = 44
	colPlotLeft    = 52
	colPlotRight   = 12
)

type htmlView struct {
	R         *posture.Report
	Generated string
	Tiles     []htmlTile
	SevBar    []htmlSeg
	NHI       []htmlItem
	CSF       []htmlItem
	Providers htmlBars
	Leaks     htmlColumns
	Risks     []htmlRisk
	MoreRisks int
	Width     int
	LabelX    int
	Version   string
}

type htmlTile struct{ Label, Value, Note, Class string }

// htmlSeg is one coloured part of a stacked bar.
type htmlSeg struct {
	Class string
	X, W  float64
	Label string
	Count int
}

type htmlItem struct {
	ID, Ref, Name string
	Credentials   int
	Findings      int
	Worst         posture.Severity
	Segs          []htmlSeg
	Checks        []string
}

type htmlBars struct {
	Height int
	Rows   []htmlBarRow
	Legend []htmlLegend
	Empty  bool
	Note   string
}

type htmlBarRow struct {
	Y, TextY float64
	Label    string
	Total    int
	TotalX   float64
	Segs     []htmlSeg
}

type htmlLegend struct {
	X     float64
	Class string
	Label string
}

type htmlColumns struct {
	Height  int
	Empty   bool
	Grid    []htmlGrid
	Cols    []htmlCol
	Labels  []htmlLabel
	Legend  []htmlLegend
	Earlier int
	Total   int
	PlotL   float64
	PlotR   float64
	BaseY   float64
}

type htmlGrid struct {
	Y     float64
	Label string
}

type htmlCol struct {
	X, W           float64
	LiveY, LiveH   float64
	OtherY, OtherH float64
	Title          string
}

type htmlLabel struct {
	X     float64
	Label string
}

type htmlRisk struct {
	Rank  int
	C     *posture.CredentialPosture
	RiskW float64
}

func writePostureHTML(w io.Writer, r *posture.Report) error {
	return postureTemplate().Execute(w, buildHTMLView(r))
}

func buildHTMLView(r *posture.Report) *htmlView {
	t := &r.Totals
	v := &htmlView{R: r, Generated: r.GeneratedAt.UTC().Format("2 January 2006, 15:04 MST"), Width: chartWidth, LabelX: barLabelWidth - 10, Version: aicred.Version}
	v.Tiles = []htmlTile{
		{Label: "Credentials", Value: thousands(t.Credentials), Note: thousands(t.Held) + " held by aicred"},
		{Label: "With findings", Value: thousands(t.Affected), Note: pluralThousands(t.Findings, "finding", "findings")},
		{Label: "Critical", Value: thousands(t.BySeverity.Critical), Note: "by worst finding", Class: "critical"},
		{Label: "High", Value: thousands(t.BySeverity.High), Note: "by worst finding", Class: "high"},
		{Label: "Live", Value: thousands(t.Live), Note: "latest check answered"},
		{Label: "Live and leaked", Value: thousands(t.LiveLeaked), Note: "revoke these first", Class: "critical"},
	}
	v.SevBar = stackSegs(t.BySeverity, t.Clean, float64(max(t.Credentials, 1)), 100)
	for _, it := range r.NHI {
		v.NHI = append(v.NHI, htmlItemOf(it, posture.NHI(it.ID).Ref(), t.Credentials))
	}
	for _, it := range r.CSF {
		v.CSF = append(v.CSF, htmlItemOf(it, it.ID, t.Credentials))
	}
	v.Providers = providerBars(r.Providers)
	v.Leaks = leakColumns(r.Leaks)
	for i := range r.Credentials {
		c := &r.Credentials[i]
		if len(c.Findings) == 0 {
			break
		}
		if len(v.Risks) == postureTableRows {
			v.MoreRisks = t.Affected - postureTableRows
			break
		}
		v.Risks = append(v.Risks, htmlRisk{Rank: i + 1, C: c, RiskW: float64(c.Risk) * 0.6})
	}
	return v
}

func htmlItemOf(it posture.ItemSummary, ref string, total int) htmlItem {
	return htmlItem{
		ID: it.ID, Ref: ref, Name: it.Name, Credentials: it.Credentials, Findings: it.Findings, Worst: it.Worst,
		Segs: stackSegs(it.BySeverity, 0, float64(max(total, 1)), 100), Checks: it.Checks,
	}
}

// stackSegs lays severity counts (worst first, then clean) side by side,
// scaled so that of counts fills width.
func stackSegs(c posture.SeverityCounts, clean int, of, width float64) []htmlSeg {
	var segs []htmlSeg
	x := 0.0
	add := func(class, label string, n int) {
		if n == 0 {
			return
		}
		w := float64(n) / of * width
		segs = append(segs, htmlSeg{Class: class, X: x, W: w, Label: label, Count: n})
		x += w
	}
	for _, s := range posture.Severities() {
		add(s.String(), s.String(), c.Get(s))
	}
	add("clean", "no finding", clean)
	return segs
}

func legend(x0 float64, entries ...string) []htmlLegend {
	var out []htmlLegend
	x := x0
	for i := 0; i+1 < len(entries); i += 2 {
		out = append(out, htmlLegend{X: x, Class: entries[i], Label: entries[i+1]})
		x += 24 + 7.5*float64(len(entries[i+1]))
	}
	return out
}

// providerBars is the "credentials by provider and severity" chart: one
// stacked bar per provider, the providers with most findings first, the
// rest summed into one row.
func providerBars(ps []posture.ProviderSummary) htmlBars {
	var b htmlBars
	b.Legend = legend(barLabelWidth, "critical", "critical", "high", "high", "medium", "medium", "low", "low", "info", "info", "clean", "no finding")
	if len(ps) == 0 {
		b.Empty, b.Height = true, 80
		return b
	}
	rows := ps
	if len(ps) > maxBarRows {
		// Summing the rest into one bar would dwarf the others; say it instead.
		rows = ps[:maxBarRows]
		n := 0
		for _, p := range ps[maxBarRows:] {
			n += p.Credentials
		}
		b.Note = fmt.Sprintf("%s more with %s are in the tables of the JSON and Markdown reports.",
			Plural(len(ps)-maxBarRows, "provider", "providers"), pluralThousands(n, "credential", "credentials"))
	}
	most := 1
	for _, p := range rows {
		most = max(most, p.Credentials)
	}
	plotW := float64(chartWidth - barLabelWidth - 60)
	for i, p := range rows {
		y := float64(barChartTop + i*barRowHeight)
		segs := stackSegs(p.BySeverity, p.Clean, float64(most), plotW)
		for j := range segs {
			segs[j].X += barLabelWidth
		}
		width := float64(p.Credentials) / float64(most) * plotW
		b.Rows = append(b.Rows, htmlBarRow{
			Y: y, TextY: y + barHeight - 3, Label: clipText(p.Name, 26), Total: p.Credentials,
			TotalX: barLabelWidth + width + 6, Segs: segs,
		})
	}
	b.Height = barChartTop + len(rows)*barRowHeight + 4
	return b
}

// leakColumns is the "leak sightings over time" chart: one column per
// month, the sightings of credentials still live at the bottom in red.
func leakColumns(tl posture.Timeline) htmlColumns {
	c := htmlColumns{Height: colChartHeight, Earlier: tl.Earlier, Total: tl.Total,
		PlotL: colPlotLeft, PlotR: chartWidth - colPlotRight, BaseY: colChartHeight - colPlotBottom}
	c.Legend = legend(colPlotLeft, "critical", "credential live now", "other", "dead or not proven live")
	if len(tl.Months) == 0 {
		c.Empty, c.Height = true, 80
		return c
	}
	most := 0
	for _, m := range tl.Months {
		most = max(most, m.Sightings)
	}
	top, step := niceScale(most)
	plotH := float64(colChartHeight - colPlotTop - colPlotBottom)
	for val := 0; val <= top; val += step {
		c.Grid = append(c.Grid, htmlGrid{Y: c.BaseY - float64(val)/float64(top)*plotH, Label: thousands(val)})
	}
	slot := (c.PlotR - c.PlotL) / float64(len(tl.Months))
	every := int(math.Ceil(float64(len(tl.Months)) / 12))
	for i, m := range tl.Months {
		x := c.PlotL + float64(i)*slot
		liveH := float64(m.Live) / float64(top) * plotH
		otherH := float64(m.Sightings-m.Live) / float64(top) * plotH
		c.Cols = append(c.Cols, htmlCol{
			X: x + slot*0.15, W: slot * 0.7,
			LiveY: c.BaseY - liveH, LiveH: liveH,
			OtherY: c.BaseY - liveH - otherH, OtherH: otherH,
			Title: fmt.Sprintf("%s: %s of %s, %d of them live", monthLabel(m.Month),
				Plural(m.Sightings, "leak sighting", "leak sightings"), Plural(m.Credentials, "credential", "credentials"), m.Live),
		})
		if i%every == 0 || i == len(tl.Months)-1 && every == 1 {
			c.Labels = append(c.Labels, htmlLabel{X: x + slot/2, Label: monthLabel(m.Month)})
		}
	}
	return c
}

// niceScale picks the axis for a maximum of n: a step of 1, 2 or 5 times a
// power of ten giving at most four grid lines, and the top line at or
// above n.
func niceScale(n int) (top, step int) {
	n = max(n, 1)
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if step = m * p; step*4 >= n {
				return (n + step - 1) / step * step, step
			}
		}
	}
}

func monthLabel(m string) string {
	t, err := time.Parse("2006-01", m)
	if err != nil {
		return m
	}
	return t.Format("Jan 2006")
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// thousands writes n with thin separators: 12,345.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func postureTemplate() *template.Template {
	return template.Must(template.New("posture").Funcs(template.FuncMap{
		"f1":        func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"num":       thousands,
		"age":       ageText,
		"loc":       locationText,
		"short":     func(c *posture.CredentialPosture) string { return c.Fingerprint.Short() },
		"join":      strings.Join,
		"csf":       joinCSF,
		"inc":       func(i int) int { return i + 1 },
		"firstLocs": firstLocs,
		"moreLocs":  moreLocs,
	}).Parse(postureHTML))
}

// shownLocs is how many locations the table lists for a credential.
const shownLocs = 3

// firstLocs is the first locations of a credential for the table.
func firstLocs(c *posture.CredentialPosture) []posture.Location {
	return c.Locations[:min(len(c.Locations), shownLocs)]
}

// moreLocs is how many locations the table does not list: those carried
// beyond the first few plus those the report left out (MoreLocations).
func moreLocs(c *posture.CredentialPosture) int {
	return max(len(c.Locations)-shownLocs, 0) + c.MoreLocations
}

const postureHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>aicred posture report, {{.Generated}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;background:#f1f5f9;color:#0f172a;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#0f172a;color:#e2e8f0;padding:28px 0 22px}
.wrap{max-width:1180px;margin:0 auto;padding:0 24px}
h1{margin:0;font-size:26px;font-weight:650;color:#fff;letter-spacing:-.01em}
h2{font-size:18px;margin:34px 0 4px}
h2+p.lead{margin:0 0 14px;color:#475569}
header p{margin:6px 0 0;color:#94a3b8}
.tiles{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-top:20px}
.tile{background:#1e293b;border-radius:10px;padding:12px 14px}
.tile .v{font-size:28px;font-weight:700;color:#fff;line-height:1.1}
.tile .l{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:#94a3b8}
.tile .n{font-size:12px;color:#94a3b8}
.tile.critical .v{color:#fca5a5}.tile.high .v{color:#fdba74}
.sevbar{margin-top:18px}
.sevbar svg{display:block;width:100%;height:14px;border-radius:7px;background:#334155}
.legend{display:flex;flex-wrap:wrap;gap:14px;margin-top:8px;font-size:12px;color:#cbd5e1}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:16px 18px}
.grid5{display:grid;grid-template-columns:repeat(5,1fr);gap:12px}
.item .id{font:600 12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#64748b}
.item{display:flex;flex-direction:column}
.item .name{font-weight:600;margin:2px 0 8px;flex:1 0 auto}
.item .count{font-size:26px;font-weight:700}
.item .of{color:#64748b;font-size:12px}
.item svg{display:block;width:100%;height:8px;margin:8px 0;background:#e2e8f0;border-radius:4px}
.item .checks{font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#64748b;margin-top:6px;min-height:42px}
.item.none .count{color:#94a3b8}
svg.chart{display:block;width:100%;height:auto}
svg.chart text{font:12px -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Arial,sans-serif;fill:#334155}
svg.chart text.muted{fill:#94a3b8}
svg.chart line{stroke:#e2e8f0}
.c-critical,.legend i.c-critical{fill:#b91c1c;background:#b91c1c}
.c-high,.legend i.c-high{fill:#ea580c;background:#ea580c}
.c-medium,.legend i.c-medium{fill:#eab308;background:#eab308}
.c-low,.legend i.c-low{fill:#3b82f6;background:#3b82f6}
.c-info,.legend i.c-info{fill:#94a3b8;background:#94a3b8}
.c-clean,.legend i.c-clean{fill:#cbd5e1;background:#cbd5e1}
.c-other{fill:#64748b}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #e2e8f0;border-radius:10px;overflow:hidden}
th,td{text-align:left;vertical-align:top;padding:8px 10px;border-bottom:1px solid #eef2f6}
th{background:#f8fafc;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#475569;white-space:nowrap}
th.sorted::after{content:" \25BC";color:#0f172a}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#f8fafc}
code,.mono{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.sev{display:inline-block;min-width:58px;text-align:center;border-radius:999px;padding:1px 8px;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.03em;color:#fff}
.sev.critical{background:#b91c1c}.sev.high{background:#ea580c}.sev.medium{background:#ca8a04}.sev.low{background:#3b82f6}.sev.info{background:#94a3b8}.sev.none{background:#e2e8f0;color:#64748b}
.risk{font-weight:700;font-size:15px}
.riskbar{display:block;width:60px;height:5px;background:#e2e8f0;border-radius:3px;margin-top:3px}
.riskbar rect{fill:#b91c1c}
.kind{font-weight:600}
.sub{color:#64748b;font-size:12px}
.live{color:#b91c1c;font-weight:600}.dead{color:#64748b}
ul.f{list-style:none;margin:0;padding:0}
ul.f li{margin:0 0 6px}
ul.f .cid{font:600 11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#334155;margin:0 4px}
ul.f .why{display:block;color:#475569;font-size:12.5px;margin-left:2px}
.locs{color:#64748b;font-size:11.5px;margin-top:4px;word-break:break-all}
.note{color:#64748b;font-size:12.5px;margin:8px 2px}
footer{color:#64748b;font-size:12px;padding:30px 0 40px}
@media (max-width:900px){.tiles{grid-template-columns:repeat(3,1fr)}.grid5{grid-template-columns:repeat(2,1fr)}}
@media print{body{background:#fff}header{background:#fff;color:#0f172a}h1{color:#0f172a}.tile{background:#f1f5f9}.tile .v{color:#0f172a}tr{break-inside:avoid}}
</style>
</head>
<body>
<header>
<div class="wrap">
<h1>Non-human identity posture</h1>
<p>aicred · generated {{.Generated}} · OWASP Top 10 Non-Human Identities Risks (2025) · NIST CSF 2.0 PR.AA</p>
<div class="tiles">{{range .Tiles}}
<div class="tile {{.Class}}"><div class="l">{{.Label}}</div><div class="v">{{.Value}}</div><div class="n">{{.Note}}</div></div>{{end}}
</div>
<div class="sevbar">
<svg viewBox="0 0 100 1" preserveAspectRatio="none" role="img" aria-label="credentials by worst severity">{{range .SevBar}}<rect class="c-{{.Class}}" x="{{f1 .X}}" y="0" width="{{f1 .W}}" height="1"><title>{{.Label}}: {{num .Count}}</title></rect>{{end}}</svg>
<div class="legend">{{range .SevBar}}<span><i class="c-{{.Class}}"></i>{{.Label}} {{num .Count}}</span>{{end}}</div>
</div>
</div>
</header>
<main class="wrap">

<h2 id="nhi">OWASP NHI Top 10 (2025)</h2>
<p class="lead">Credentials with at least one finding under each item, coloured by their worst finding there; the bar spans the whole inventory.</p>
<div class="grid5">{{range .NHI}}
<div class="card item{{if eq .Credentials 0}} none{{end}}">
<div class="id">{{.Ref}}</div>
<div class="name">{{.Name}}</div>
<div><span class="count">{{num .Credentials}}</span> <span class="of">of {{num $.R.Totals.Credentials}}</span></div>
<svg viewBox="0 0 100 1" preserveAspectRatio="none">{{range .Segs}}<rect class="c-{{.Class}}" x="{{f1 .X}}" y="0" width="{{f1 .W}}" height="1"><title>{{.Label}}: {{num .Count}}</title></rect>{{end}}</svg>
<div>{{if .Credentials}}<span class="sev {{.Worst}}">{{.Worst}}</span> <span class="of">{{num .Findings}} findings</span>{{else}}<span class="of">no finding</span>{{end}}</div>
<div class="checks">{{range .Checks}}<div>{{.}}</div>{{end}}</div>
</div>{{end}}
</div>

<h2 id="providers">Credentials by provider and severity</h2>
<p class="lead">Each credential counted once, by its worst finding; providers with the most affected credentials first.</p>
<div class="card">
<svg class="chart" viewBox="0 0 {{.Width}} {{.Providers.Height}}" role="img" aria-label="credentials by provider and severity">
{{range .Providers.Legend}}<rect class="c-{{.Class}}" x="{{f1 .X}}" y="4" width="12" height="12" rx="2"></rect><text x="{{f1 .X}}" dx="17" y="14">{{.Label}}</text>
{{end}}{{if .Providers.Empty}}<text x="{{.Width}}" y="56" text-anchor="end" class="muted">No credentials in the inventory.</text>
{{end}}{{range .Providers.Rows}}<text x="{{$.LabelX}}" y="{{f1 .TextY}}" text-anchor="end">{{.Label}}</text>
{{$y := .Y}}{{range .Segs}}<rect class="c-{{.Class}}" x="{{f1 .X}}" y="{{f1 $y}}" width="{{f1 .W}}" height="16"><title>{{.Label}}: {{num .Count}}</title></rect>{{end}}
<text x="{{f1 .TotalX}}" y="{{f1 .TextY}}" class="muted">{{num .Total}}</text>
{{end}}</svg>
{{if .Providers.Note}}<p class="note">{{.Providers.Note}}</p>{{end}}
</div>

<h2 id="leaks">Leak sightings over time</h2>
<p class="lead">Sightings in leak places ({{join .R.Config.LeakPlaces ", "}}) per month, by commit author date when known, else when first recorded (UTC).{{if .Leaks.Earlier}} {{num .Leaks.Earlier}} earlier sightings are not shown.{{end}}</p>
<div class="card">
<svg class="chart" viewBox="0 0 {{.Width}} {{.Leaks.Height}}" role="img" aria-label="leak sightings over time">
{{range .Leaks.Legend}}<rect class="c-{{.Class}}" x="{{f1 .X}}" y="4" width="12" height="12" rx="2"></rect><text x="{{f1 .X}}" dx="17" y="14">{{.Label}}</text>
{{end}}{{if .Leaks.Empty}}<text x="{{f1 .Leaks.PlotL}}" y="56" class="muted">No leak sightings.</text>
{{else}}{{range .Leaks.Grid}}<line x1="{{f1 $.Leaks.PlotL}}" x2="{{f1 $.Leaks.PlotR}}" y1="{{f1 .Y}}" y2="{{f1 .Y}}"></line><text x="{{f1 $.Leaks.PlotL}}" dx="-8" y="{{f1 .Y}}" dy="4" text-anchor="end" class="muted">{{.Label}}</text>
{{end}}{{range .Leaks.Cols}}<g><title>{{.Title}}</title><rect class="c-other" x="{{f1 .X}}" y="{{f1 .OtherY}}" width="{{f1 .W}}" height="{{f1 .OtherH}}"></rect><rect class="c-critical" x="{{f1 .X}}" y="{{f1 .LiveY}}" width="{{f1 .W}}" height="{{f1 .LiveH}}"></rect></g>
{{end}}{{range .Leaks.Labels}}<text x="{{f1 .X}}" y="{{f1 $.Leaks.BaseY}}" dy="20" text-anchor="middle">{{.Label}}</text>
{{end}}{{end}}</svg>
</div>

<h2 id="risks">Riskiest credentials</h2>
<p class="lead">Ranked by risk (0 to 100): the weight of each finding plus the blast radius, scaled by liveness.{{if .MoreRisks}} The {{num .MoreRisks}} further credentials with findings are in the JSON and SARIF reports.{{end}}</p>
{{if .Risks}}<table>
<thead><tr><th class="n">#</th><th class="sorted">Risk</th><th>Worst</th><th>Credential</th><th>Liveness</th><th class="n">Age (days)</th><th class="n">Places</th><th>Findings</th></tr></thead>
<tbody>
{{range .Risks}}{{$c := .C}}<tr>
<td class="n">{{.Rank}}</td>
<td><span class="risk">{{$c.Risk}}</span><svg class="riskbar" viewBox="0 0 60 5" preserveAspectRatio="none"><rect x="0" y="0" width="{{f1 .RiskW}}" height="5"></rect></svg></td>
<td><span class="sev {{$c.Worst}}">{{$c.Worst}}</span></td>
<td><div class="kind">{{$c.KindName}}</div><div class="sub"><code>{{$c.Redacted}}</code> · <code>{{short $c}}</code></div>{{if $c.Owner}}<div class="sub">owner {{$c.Owner}}</div>{{end}}{{if $c.Environments}}<div class="sub">env {{join $c.Environments ", "}}</div>{{end}}{{if $c.Workloads}}<div class="sub">{{len $c.Workloads}} workloads</div>{{end}}</td>
<td><span class="{{if eq (print $c.Verification) "live" "live-no-permission"}}live{{else if eq (print $c.Verification) "dead"}}dead{{end}}">{{$c.Verification}}</span></td>
<td class="n">{{age $c.AgeDays}}</td>
<td class="n">{{$c.Sprawl}}</td>
<td><ul class="f">{{range $c.Findings}}<li><span class="sev {{.Severity}}">{{.Severity}}</span><span class="cid">{{.Check}}</span><span class="why">{{.Reason}}</span></li>{{end}}</ul>{{if $c.Locations}}<div class="locs">{{range $i, $l := firstLocs $c}}{{if $i}} · {{end}}{{loc $l}}{{end}}{{with moreLocs $c}} · and {{num .}} more{{end}}</div>{{end}}</td>
</tr>
{{end}}</tbody>
</table>{{else}}<div class="card">No check fired: nothing to rank.</div>{{end}}

<h2 id="csf">NIST CSF 2.0 PR.AA</h2>
<p class="lead">The same findings by CSF subcategory.</p>
<table>
<thead><tr><th>Subcategory</th><th class="n">Credentials</th><th class="n">Critical</th><th class="n">High</th><th class="n">Medium</th><th class="n">Low</th><th class="n">Info</th><th>Checks</th></tr></thead>
<tbody>
{{range .R.CSF}}<tr><td><b>{{.ID}}</b> <span class="sub">{{.Name}}</span></td><td class="n">{{num .Credentials}}</td><td class="n">{{num .BySeverity.Critical}}</td><td class="n">{{num .BySeverity.High}}</td><td class="n">{{num .BySeverity.Medium}}</td><td class="n">{{num .BySeverity.Low}}</td><td class="n">{{num .BySeverity.Info}}</td><td class="mono">{{join .Checks " "}}</td></tr>
{{end}}</tbody>
</table>

<h2 id="checks">Checks and thresholds</h2>
<p class="lead">The policy this report ran with.{{if .R.Disabled}} Disabled: {{join .R.Disabled ", "}}.{{end}}</p>
<table>
<thead><tr><th>Check</th><th>Maps to</th><th>Threshold</th><th>Severity</th><th>Signal</th></tr></thead>
<tbody>
{{range .R.Checks}}<tr><td><code>{{.ID}}</code><div class="kind">{{.Title}}</div></td><td class="mono">{{.NHI.Ref}}<br/>{{csf .CSF}}</td><td>{{.Threshold}}</td><td><span class="sev {{.Severity}}">{{.Severity}}</span><div class="sub">{{.Escalation}}</div></td><td class="sub">{{.Signal}}<div><i>{{.Remediation}}</i></div></td></tr>
{{end}}</tbody>
</table>
</main>
<footer><div class="wrap">aicred {{.Version}} · This report holds fingerprints and redacted previews only, never secret material.</div></footer>
</body>
</html>
`
