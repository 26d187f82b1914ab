package respond

import (
	"html/template"
	"io"
	"strconv"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/report"
)

// The HTML incident report is one self-contained file in the posture
// report's look (its style sheet, shared through report.PostureStyle): no
// script, nothing fetched. html/template escapes every value.

type reportHTMLView struct {
	R         *TraceReport
	Title     string
	Generated string
	Style     template.CSS
	Tiles     []reportTile
	Tokens    []TraceToken
	MoreTok   int
	Version   string
}

type reportTile struct{ Label, Value, Note, Class string }

func reportHTML(w io.Writer, r *TraceReport) error {
	v := &reportHTMLView{
		R: r, Title: reportTitle(r), Generated: r.GeneratedAt.UTC().Format("2 January 2006, 15:04 MST"),
		Style: template.CSS(report.PostureStyle()), Version: aicred.Version,
	}
	live := "not traced"
	if r.Live != nil {
		live = r.Live.Status
	}
	liveClass := ""
	if r.Credential != nil && r.Credential.Inventory != nil && r.Credential.Inventory.Verification == aicred.Live {
		liveClass = "critical"
	}
	v.Tiles = []reportTile{
		{Label: "Sightings", Value: strconv.Itoa(len(r.Sightings)), Note: "places it was seen", Class: reportTileClass(len(r.Sightings) > 0, "high")},
		{Label: "Gateway requests", Value: strconv.FormatInt(r.Usage.Total.Requests, 10), Note: reportUSD(r.Usage.Total.CostUSD) + " spent"},
		{Label: "Workloads", Value: strconv.Itoa(len(r.Usage.Workloads)), Note: strconv.Itoa(len(r.Usage.Networks)) + " source networks"},
		{Label: "Tokens derived", Value: strconv.Itoa(len(r.Tokens)), Note: strconv.Itoa(reportActiveCount(r.Tokens)) + " active", Class: reportTileClass(reportActiveCount(r.Tokens) > 0, "high")},
		{Label: "Audit records", Value: strconv.Itoa(len(r.Audit)), Note: strconv.Itoa(len(r.Timeline)) + " timeline entries"},
		{Label: "Deep trace", Value: live, Note: reportLiveNote(r), Class: liveClass},
	}
	v.Tokens = r.Tokens
	if len(v.Tokens) > reportShown {
		v.Tokens, v.MoreTok = v.Tokens[:reportShown], len(r.Tokens)-reportShown
	}
	t := template.Must(template.New("trace").Funcs(template.FuncMap{
		"time":   reportTime,
		"usd":    reportUSD,
		"list":   traceList,
		"place":  func(s aicred.Sighting) string { return tracePlace(&s) },
		"status": func(t TraceToken) string { return reportActive(&t) },
		"or":     reportOr,
	}).Parse(reportHTMLTemplate))
	return t.Execute(w, v)
}

func reportTileClass(on bool, class string) string {
	if on {
		return class
	}
	return ""
}

func reportActiveCount(ts []TraceToken) int {
	n := 0
	for _, t := range ts {
		if t.Active {
			n++
		}
	}
	return n
}

func reportLiveNote(r *TraceReport) string {
	if r.Credential != nil && r.Credential.Inventory != nil {
		return "last check: " + string(r.Credential.Inventory.Verification)
	}
	return ""
}

const reportHTMLTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>aicred incident trace: {{.Title}}</title>
<style>{{.Style}}
.kv{display:grid;grid-template-columns:170px 1fr;gap:6px 14px}
.kv div:nth-child(odd){color:#64748b;font-size:12.5px}
td.t{white-space:nowrap;font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.ev{display:inline-block;border-radius:999px;padding:1px 8px;font-size:11px;font-weight:700;background:#e2e8f0;color:#334155}
.ev.seen,.ev.committed{background:#fee2e2;color:#991b1b}.ev.first-use,.ev.last-use,.ev.new-network{background:#ffedd5;color:#9a3412}.ev.audit{background:#e0e7ff;color:#3730a3}
</style>
</head>
<body>
<header>
<div class="wrap">
<h1>Incident trace: {{.Title}}</h1>
<p>aicred · generated {{.Generated}} · traced from {{.R.Subject.By}} <code>{{.R.Subject.Value}}</code></p>
<div class="tiles">{{range .Tiles}}
<div class="tile {{.Class}}"><div class="l">{{.Label}}</div><div class="v">{{.Value}}</div><div class="n">{{.Note}}</div></div>{{end}}
</div>
</div>
</header>
<main class="wrap">
{{with .R.Credential}}
<h2 id="credential">Credential</h2>
<p class="lead">What it is and what it unlocks, from the catalog.</p>
<div class="card"><div class="kv">
<div>Fingerprint</div><div><code>{{.Fingerprint}}</code></div>
{{if .Provider}}<div>Provider</div><div>{{.ProviderName}} <code>{{.Provider}}</code></div>
<div>Kind</div><div class="kind">{{.KindName}} <code>{{.Kind}}</code></div>{{end}}
{{if .Candidates}}<div>May be</div><div>{{list .Candidates}}</div>{{end}}
<div>Redacted</div><div><code>{{.Redacted}}</code></div>
<div>In inventory</div><div>{{.InInventory}}{{with .Inventory}} · liveness <span class="{{.Verification}}">{{.Verification}}</span> {{time .VerifiedAt}}{{if .Owner}} · owner {{.Owner}}{{end}}{{end}}</div>
{{if .RevokeURL}}<div>Revoke at</div><div><a href="{{.RevokeURL}}">{{.RevokeURL}}</a></div>{{end}}
<div>Unlocks</div><div><ul class="f">{{range .Unlocks}}<li><b>{{.Capability}}</b><span class="why">{{.Description}}</span></li>{{else}}<li>unknown</li>{{end}}</ul></div>
</div></div>
{{end}}
{{with .R.Live}}
<h2 id="live">Deep trace</h2>
<p class="lead">Read-only calls made with the credential itself: {{.Status}}{{if .Reason}} ({{.Reason}}){{end}}.</p>
{{if .Reach}}{{with .Reach}}<div class="card"><div class="kv">
<div>Principal</div><div>{{or .Principal "-"}}</div>
<div>Account</div><div>{{or .Account "-"}}</div>
<div>Scopes</div><div class="mono">{{list .Scopes}}</div>
</div></div>
{{if .Resources}}<table><thead><tr><th>Type</th><th>Name</th><th>ID</th><th>Access</th></tr></thead><tbody>
{{range .Resources}}<tr><td>{{.Type}}</td><td>{{.Name}}</td><td class="mono">{{.ID}}</td><td>{{.Access}}</td></tr>
{{end}}</tbody></table>{{end}}
{{range .Notes}}<p class="note">{{.}}</p>{{end}}{{end}}
<p class="note">At {{time .At}} against {{.BaseURL}}{{if .HeldID}} with held credential {{.HeldID}}{{end}} · {{.Docs}}</p>{{end}}
{{end}}
{{with .R.Token}}
<h2 id="token">Token {{.ID}}</h2>
<div class="card"><div class="kv">
<div>Status</div><div>{{status .}}</div>
<div>Workload</div><div>{{.Workload}}</div>
<div>Role</div><div>{{or .Role "-"}} (policy {{or .Policy "-"}})</div>
<div>Scope</div><div class="mono">{{list .Scope}}</div>
<div>Environment</div><div>{{or .Environment "-"}}</div>
<div>Credentials</div><div class="mono">{{list .Credentials}}</div>
<div>Issued</div><div>{{time .IssuedAt}}, expires {{time .ExpiresAt}}</div>
{{if not .RevokedAt.IsZero}}<div>Revoked</div><div>{{time .RevokedAt}} ({{.RevokeReason}})</div>{{end}}
</div></div>
{{end}}
<h2 id="sightings">Sightings ({{len .R.Sightings}})</h2>
<p class="lead">Every place a scan found it.</p>
{{if .R.Sightings}}<table><thead><tr><th>Place</th><th>Source</th><th>First seen</th><th>Last seen</th><th>Commit</th><th>Author</th><th>Authored</th></tr></thead><tbody>
{{range .R.Sightings}}<tr><td class="locs">{{place .}}</td><td>{{.Source}}</td><td class="t">{{time .SeenAt}}</td><td class="t">{{time .LastSeenAt}}</td><td class="mono">{{printf "%.12s" .Commit}}</td><td>{{.Author}}</td><td class="t">{{time .AuthorDate}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="note">No sighting recorded.</p>{{end}}
<h2 id="held">Held by aicred ({{len .R.Held}})</h2>
{{if .R.Held}}<table><thead><tr><th>Id</th><th>Kind</th><th>Redacted</th><th>Environment</th><th>Held since</th></tr></thead><tbody>
{{range .R.Held}}<tr><td class="mono">{{.ID}}</td><td>{{if .Missing}}no longer held{{else}}{{.Provider}}/{{.Kind}}{{end}}</td><td class="mono">{{.Redacted}}</td><td>{{or .Environment "-"}}</td><td class="t">{{time .CreatedAt}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="note">aicred does not hold it.</p>{{end}}
<h2 id="usage">Gateway use</h2>
{{with .R.Usage}}<p class="lead">{{.Total.Requests}} requests, {{usd .Total.CostUSD}} ({{usd .Total.EstimatedUSD}} estimated), {{.Total.Errors}} errors; first use {{time .FirstUse}}, last use {{time .LastUse}}.</p>
{{if .Workloads}}<table><thead><tr><th>Workload</th><th class="n">Requests</th><th>Models</th><th>First use</th><th>Last use</th></tr></thead><tbody>
{{range .Workloads}}<tr><td>{{.Workload}}</td><td class="n">{{.Requests}}</td><td class="mono">{{list .Models}}</td><td class="t">{{time .First}}</td><td class="t">{{time .Last}}</td></tr>
{{end}}</tbody></table>{{end}}
{{if .ByModel}}<h2>Spend by model</h2><table><thead><tr><th>Model</th><th class="n">Requests</th><th class="n">Input</th><th class="n">Output</th><th class="n">Cost</th></tr></thead><tbody>
{{range .ByModel}}<tr><td class="mono">{{or .Model "-"}}</td><td class="n">{{.Requests}}</td><td class="n">{{.InputTokens}}</td><td class="n">{{.OutputTokens}}</td><td class="n">{{usd .CostUSD}}</td></tr>
{{end}}</tbody></table>{{end}}
{{if .Networks}}<h2>Source networks</h2><table><thead><tr><th>Network</th><th class="n">Requests</th><th>First</th><th>Last</th></tr></thead><tbody>
{{range .Networks}}<tr><td class="mono">{{.Network}}</td><td class="n">{{.Requests}}</td><td class="t">{{time .First}}</td><td class="t">{{time .Last}}</td></tr>
{{end}}</tbody></table>{{end}}{{end}}
<h2 id="tokens">aicred tokens derived ({{len .R.Tokens}})</h2>
{{if .Tokens}}<table><thead><tr><th>Token</th><th>Workload</th><th>Role</th><th>Status</th><th>Issued</th><th class="n">Requests</th><th class="n">Cost</th></tr></thead><tbody>
{{range .Tokens}}<tr><td class="mono">{{.ID}}</td><td>{{.Workload}}</td><td>{{.Role}}</td><td>{{status .}}</td><td class="t">{{time .IssuedAt}}</td><td class="n">{{.Usage.Requests}}</td><td class="n">{{usd .Usage.CostUSD}}</td></tr>
{{end}}</tbody></table>{{if .MoreTok}}<p class="note">{{.MoreTok}} more in the JSON form.</p>{{end}}{{else}}<p class="note">No aicred token may use it.</p>{{end}}
<h2 id="timeline">Timeline ({{len .R.Timeline}})</h2>
<p class="lead">Sightings, checks, holds, gateway use and the audit trail, oldest first.</p>
<table><thead><tr><th>Time</th><th>Event</th><th>What</th></tr></thead><tbody>
{{range .R.Timeline}}<tr><td class="t">{{time .Time}}</td><td><span class="ev {{.Event}}">{{.Event}}</span></td><td>{{.Summary}}</td></tr>
{{end}}</tbody></table>
{{if .R.Notes}}<h2>Notes</h2><ul>{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
</main>
<footer><div class="wrap">aicred {{.Version}} · This report holds fingerprints and redacted previews only, never secret material.</div></footer>
</body>
</html>
`
