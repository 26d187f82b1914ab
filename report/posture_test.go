package report

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/posture/posturetest"
	"github.com/aicred/aicred/provider"
)

func postureNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// canaryInventory is a generated inventory plus one credential whose secret
// is known to the test: the inventory holds only its fingerprint and
// redacted preview, as the store does.
func canaryInventory(t testing.TB) ([]aicred.CredentialDetail, string) {
	t.Helper()
	now := postureNow()
	g := provider.NewGen(42)
	secret := "sk-ant-api03-" + g.URL64(93) + "AA"
	s := aicred.NewSecret(secret)
	fp := s.Fingerprint()
	at := now.Add(-30 * 24 * time.Hour)
	c := aicred.CredentialDetail{
		Credential: aicred.Credential{
			Fingerprint: fp, Provider: "anthropic", Kind: "api-key", Redacted: s.Redacted(),
			Capabilities: []aicred.Capability{aicred.CapInference, aicred.CapFilesData, aicred.CapBilling},
			RecordedAt:   at, FirstSeen: at, LastSeen: at, SightingCount: 4, Sprawl: 4,
			Verification: aicred.Live, VerifiedAt: now.Add(-time.Hour),
			Owner: `<script>alert("x")</script> | team`, Environments: []string{"prod", "dev"},
			Workloads: []string{"rag-api", "batch-eval"},
		},
		Liveness: []aicred.LivenessCheck{{Fingerprint: fp, At: now.Add(-time.Hour), Result: aicred.Live, Detail: "200 from /v1/models"}},
	}
	for _, sg := range []aicred.Sighting{
		{Source: aicred.SourceGit, Path: ".github/workflows/eval.yml", Line: 12, Column: 20, Commit: g.Hex(40), AuthorDate: at.Add(-48 * time.Hour)},
		{Source: aicred.SourceChat, Path: "slack-export.zip", Locator: "#ml message 1712345678.0001"},
		{Source: aicred.SourceNotebook, Path: "nb/eval|v2.ipynb", Line: 3, Locator: "cell 4 output"},
		{Source: aicred.SourceArchive, Path: "backup.zip!app/.env", Line: 1},
	} {
		sg.Fingerprint, sg.Rule, sg.Origin, sg.SeenAt, sg.LastSeenAt = fp, "anthropic-api-key", "/srv/repo", at, at
		c.Sightings = append(c.Sightings, sg)
	}
	inv := posturetest.Inventory(5, 60, now)
	return append(inv, c), secret
}

func renderPosture(t testing.TB, format string, r *posture.Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WritePosture(&buf, format, r); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return buf.Bytes()
}

func TestPostureNeverCarriesTheSecret(t *testing.T) {
	inv, secret := canaryInventory(t)
	fp := aicred.FingerprintOf([]byte(secret))
	r := posture.Evaluate(inv, posture.Config{}, postureNow())
	raw := []byte(secret)
	forbidden := map[string]string{
		"raw":            secret,
		"middle":         secret[13:60],
		"base64":         base64.StdEncoding.EncodeToString(raw),
		"base64 url":     base64.URLEncoding.EncodeToString(raw),
		"base64 raw":     base64.RawStdEncoding.EncodeToString(raw),
		"base64 raw url": base64.RawURLEncoding.EncodeToString(raw),
		"hex":            hex.EncodeToString(raw),
		"HEX":            strings.ToUpper(hex.EncodeToString(raw)),
	}
	for _, format := range PostureFormats() {
		out := string(renderPosture(t, format, r))
		for name, s := range forbidden {
			if strings.Contains(out, s) {
				t.Errorf("%s output holds the secret (%s)", format, name)
			}
		}
		if !strings.Contains(out, fp.Short()) {
			t.Errorf("%s output does not name the canary credential by fingerprint", format)
		}
	}
}

func TestPostureSARIF(t *testing.T) {
	inv, _ := canaryInventory(t)
	g := provider.NewGen(9)
	held := aicred.NewSecret(g.Alnum(40))
	inv = append(inv, aicred.CredentialDetail{Credential: aicred.Credential{
		Fingerprint: held.Fingerprint(), Provider: "openai", Kind: "admin-key", Redacted: held.Redacted(), Held: true,
		Verification: aicred.Live, RecordedAt: postureNow().Add(-400 * 24 * time.Hour), Workloads: []string{"a"},
	}})
	r := posture.Evaluate(inv, posture.Config{}, postureNow())
	out := renderPosture(t, "sarif", r)
	rep, err := sarif.FromBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Validate(); err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	if len(run.Tool.Driver.Rules) != len(r.Checks) {
		t.Errorf("%d rules for %d checks", len(run.Tool.Driver.Rules), len(r.Checks))
	}
	if len(run.Results) != r.Totals.Findings {
		t.Errorf("%d results for %d findings", len(run.Results), r.Totals.Findings)
	}
	levels := map[string]bool{}
	var physical, logical bool
	for _, res := range run.Results {
		rule := run.Tool.Driver.Rules[res.RuleIndex]
		if *rule.ID != *res.RuleID {
			t.Fatalf("result for %s points at rule %s", *res.RuleID, *rule.ID)
		}
		levels[res.Level] = true
		if len(res.Locations) == 0 {
			t.Fatalf("result without location: %s", *res.Message.Text)
		}
		if pl := res.Locations[0].PhysicalLocation; pl != nil {
			physical = true
			if u := *pl.ArtifactLocation.URI; u == "backup.zip!app/.env" {
				t.Errorf("archive member uri %q", u)
			}
		}
		if len(res.Locations[0].LogicalLocations) > 0 {
			logical = true
		}
	}
	if !physical || !logical {
		t.Errorf("physical %v, logical %v locations", physical, logical)
	}
	for _, l := range []string{"error", "warning", "note"} {
		if !levels[l] {
			t.Errorf("no %s result", l)
		}
	}
	if !strings.Contains(string(out), `"security-severity": "9.5"`) || !strings.Contains(string(out), "owasp-nhi-top10-2025:NHI2") {
		t.Error("rule properties missing")
	}
}

// TestPostureHTML parses the HTML as strict XML: a stronger check of
// well-formedness than an HTML5 parser, which accepts anything.
func TestPostureHTML(t *testing.T) {
	inv, _ := canaryInventory(t)
	r := posture.Evaluate(inv, posture.Config{}, postureNow())
	out := renderPosture(t, "html", r)
	dec := xml.NewDecoder(bytes.NewReader(out))
	dec.Strict = true
	var stack []string
	count := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Local)
			count[e.Name.Local]++
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Errorf("unclosed %v", stack)
	}
	if count["svg"] < 3 || count["table"] != 3 || count["style"] != 1 {
		t.Errorf("elements %v", count)
	}
	html := string(out)
	for _, external := range []string{"<script", "<link", "src=", "href=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(html, external) {
			t.Errorf("not self-contained: %q", external)
		}
	}
	for _, want := range []string{
		"Credentials by provider and severity", "Leak sightings over time", "Riskiest credentials",
		"NHI10:2025", "Human Use of NHI", "PR.AA-05", `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestPostureMarkdown(t *testing.T) {
	inv, _ := canaryInventory(t)
	r := posture.Evaluate(inv, posture.Config{Disable: []string{"AIC-NHI1-NO-OWNER"}}, postureNow())
	md := string(renderPosture(t, "md", r))
	for _, want := range []string{
		"# aicred posture report", "## OWASP NHI Top 10 (2025)", "| NHI7 Long-Lived Secrets |", "## NIST CSF 2.0 PR.AA",
		"## Riskiest credentials", "## Evidence", "## Leak sightings by month", "Disabled by policy: AIC-NHI1-NO-OWNER.",
		`owner &lt;script&gt;alert("x")&lt;/script&gt; \| team`, "`notebook nb/eval¦v2.ipynb:3 (cell 4 output)`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Every table row has as many cells as its header.
	var cols int
	for line := range strings.SplitSeq(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row with %d separators under a header with %d: %s", n, cols, line)
		}
	}
}

func TestPostureDeterministicAndJSON(t *testing.T) {
	inv, _ := canaryInventory(t)
	r := posture.Evaluate(inv, posture.Config{}, postureNow())
	for _, format := range PostureFormats() {
		if !bytes.Equal(renderPosture(t, format, r), renderPosture(t, format, posture.Evaluate(inv, posture.Config{}, postureNow()))) {
			t.Errorf("%s output differs between runs", format)
		}
	}
	out := renderPosture(t, "json", r)
	var back posture.Report
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.MarshalIndent(&back, "", "  ")
	if string(again)+"\n" != string(out) {
		t.Error("JSON does not round-trip")
	}
	if back.Credentials[0].Worst != posture.Critical || back.Totals.Credentials != len(inv) {
		t.Errorf("decoded %+v", back.Totals)
	}
}

func TestPostureEmptyAndErrors(t *testing.T) {
	r := posture.Evaluate(nil, posture.Config{}, postureNow())
	for _, format := range PostureFormats() {
		if len(renderPosture(t, format, r)) == 0 {
			t.Errorf("%s: empty output", format)
		}
	}
	if !strings.Contains(string(renderPosture(t, "html", r)), "No leak sightings.") {
		t.Error("empty timeline not said")
	}
	if err := WritePosture(io.Discard, "pdf", r); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("unknown format: %v", err)
	}
	if err := WritePosture(io.Discard, "md", nil); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Errorf("nil report: %v", err)
	}
	err := WritePosture(failWriter{}, "html", r)
	if err == nil || !strings.Contains(err.Error(), "write posture html") || !errors.Is(err, errDiskFull) {
		t.Errorf("failing writer: %v", err)
	}
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestNiceScale(t *testing.T) {
	for n, want := range map[int][2]int{0: {1, 1}, 1: {1, 1}, 4: {4, 1}, 5: {6, 2}, 9: {10, 5}, 27: {30, 10}, 41: {60, 20},
		99: {100, 50}, 101: {150, 50}, 450: {600, 200}, 1234: {1500, 500}} {
		top, step := niceScale(n)
		if [2]int{top, step} != want || top < n || top/step > 4 {
			t.Errorf("niceScale(%d) = %d, %d; want %v", n, top, step, want)
		}
	}
	if thousands(1234567) != "1,234,567" || thousands(12) != "12" || thousands(-1000) != "-1,000" {
		t.Error("thousands")
	}
}

// BenchmarkEvaluate10k is the budget: posture over 10,000
// credentials (a few sightings each) and the HTML report, far under 2 s.
func BenchmarkEvaluate10k(b *testing.B) {
	now := postureNow()
	inv := posturetest.Inventory(1, 10_000, now)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		r := posture.Evaluate(inv, posture.Config{}, now)
		var buf bytes.Buffer
		if err := WritePosture(&buf, "html", r); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB-html")
}

// TestPostureHTMLMoreLocations: the riskiest-credentials table lists three
// locations and counts the rest, not all of them.
func TestPostureHTMLMoreLocations(t *testing.T) {
	inv, _ := canaryInventory(t)
	canary := inv[len(inv)-1]
	base := canary.Sightings[0]
	tests := []struct {
		sightings int
		want      string // "" when no count is printed
	}{
		{1, ""},
		{3, ""},
		{4, "and 1 more"},
		{10, "and 7 more"},
		{25, "and 22 more"},
	}
	for _, tt := range tests {
		c := canary
		c.Sightings = nil
		for i := range tt.sightings {
			sg := base
			sg.Line = i + 1
			c.Sightings = append(c.Sightings, sg)
		}
		c.SightingCount, c.Sprawl = tt.sightings, tt.sightings
		r := posture.Evaluate([]aicred.CredentialDetail{c}, posture.Config{}, postureNow())
		html := string(renderPosture(t, "html", r))
		got := strings.Count(html, " more</div>")
		switch {
		case tt.want == "" && got != 0:
			t.Errorf("%d sightings: unexpected count of more locations", tt.sightings)
		case tt.want != "" && !strings.Contains(html, tt.want+"</div>"):
			t.Errorf("%d sightings: HTML lacks %q", tt.sightings, tt.want)
		}
	}
}
