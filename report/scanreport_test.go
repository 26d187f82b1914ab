package report

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
	"github.com/xeipuuv/gojsonschema"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/provider"
)

// scanSchema loads the published JSON Schema of scan reports.
func scanSchema(t *testing.T) *gojsonschema.Schema {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "schema", "scan-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := gojsonschema.NewSchema(gojsonschema.NewReferenceLoader("file://" + filepath.ToSlash(p)))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	return s
}

func validate(t *testing.T, s *gojsonschema.Schema, doc []byte) []string {
	t.Helper()
	res, err := s.Validate(gojsonschema.NewBytesLoader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, e := range res.Errors() {
		errs = append(errs, e.String())
	}
	return errs
}

// twoCredentials: one OpenAI key seen twice (once in history), one
// Anthropic key seen once.
func twoCredentials() []*aicred.Finding {
	g := provider.NewGen(11)
	a := aicred.NewSecret("sk-ant-api03-" + g.URL64(93) + "AA")
	o := aicred.NewSecret("sk-proj-" + g.URL64(74) + "T3BlbkFJ" + g.URL64(74))
	date := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	fs := []*aicred.Finding{
		{Provider: "openai", Kind: "project-key", Rule: "openai-project-key", Fingerprint: o.Fingerprint(), Redacted: o.Redacted(),
			Line: 4, Column: 12, Capabilities: []aicred.Capability{aicred.CapInference, aicred.CapBilling}, Verification: aicred.NotChecked,
			Location: aicred.Location{Path: "app/.env", Source: aicred.SourceFile}},
		{Provider: "openai", Kind: "project-key", Rule: "openai-project-key", Fingerprint: o.Fingerprint(), Redacted: o.Redacted(),
			Line: 9, Column: 3, Capabilities: []aicred.Capability{aicred.CapInference, aicred.CapBilling}, Verification: aicred.NotChecked,
			Location: aicred.Location{Path: "old/config.py", Source: aicred.SourceGit, Commit: strings.Repeat("ab", 20), Date: &date}},
		{Provider: "anthropic", Kind: "api-key", Rule: "anthropic-api-key", Fingerprint: a.Fingerprint(), Redacted: a.Redacted(),
			Line: 7, Column: 20, Capabilities: []aicred.Capability{aicred.CapInference}, Verification: aicred.Dead, VerifyDetail: "401 from /v1/models",
			Location: aicred.Location{Path: "nb/eval.ipynb", Source: aicred.SourceNotebook, Locator: "cell 2 source"}},
	}
	Sort(fs)
	return fs
}

func TestJSONReportMatchesSchema(t *testing.T) {
	s := scanSchema(t)
	sample, _ := sampleFindings()
	scan := ScanInfo{Roots: []string{"."}, Mode: "files", Start: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), DurationMS: 12, Files: 3, Bytes: 4096}
	tests := []struct {
		name string
		r    *Report
	}{
		{"empty", New(nil)},
		{"sample", New(sample)},
		{"with scan", &Report{Tool: Tool{Name: "aicred", Version: "v1.2.3", Commit: strings.Repeat("c", 40), Modified: true}, Scan: scan, Findings: twoCredentials()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.r.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			if errs := validate(t, s, buf.Bytes()); len(errs) > 0 {
				t.Fatalf("report does not match the schema: %v", errs)
			}
			back, err := ReadJSON(&buf)
			if err != nil || len(back) != len(tt.r.Findings) {
				t.Fatalf("ReadJSON: %d findings, %v", len(back), err)
			}
		})
	}
}

// TestSchemaRejects: the schema is strict enough to catch a broken report.
func TestSchemaRejects(t *testing.T) {
	s := scanSchema(t)
	var good bytes.Buffer
	if err := New(twoCredentials()).WriteJSON(&good); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	finding := func(m map[string]any) map[string]any { return m["findings"].([]any)[0].(map[string]any) }
	tests := map[string][]byte{
		"no findings":       mutate(func(m map[string]any) { delete(m, "findings") }),
		"unknown top key":   mutate(func(m map[string]any) { m["secrets"] = []any{} }),
		"raw fingerprint":   mutate(func(m map[string]any) { finding(m)["fingerprint"] = "abc" }),
		"unknown source":    mutate(func(m map[string]any) { finding(m)["source"] = "email" }),
		"a secret field":    mutate(func(m map[string]any) { finding(m)["secret"] = "x" }),
		"negative count":    mutate(func(m map[string]any) { m["summary"].(map[string]any)["findings"] = -1 }),
		"unknown severity":  mutate(func(m map[string]any) { m["summary"].(map[string]any)["by_severity"] = map[string]any{"dire": 1} }),
		"tool without name": mutate(func(m map[string]any) { delete(m["tool"].(map[string]any), "name") }),
	}
	for name, doc := range tests {
		if errs := validate(t, s, doc); len(errs) == 0 {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize(twoCredentials())
	if s.Findings != 3 || s.Credentials != 2 {
		t.Errorf("findings %d, credentials %d", s.Findings, s.Credentials)
	}
	if s.ByProvider["openai"] != 1 || s.ByProvider["anthropic"] != 1 {
		t.Errorf("by provider %v", s.ByProvider)
	}
	if s.BySeverity["high"] != 1 || s.BySeverity["low"] != 1 {
		t.Errorf("by severity %v", s.BySeverity)
	}
	if s.ByVerification["dead"] != 1 || s.ByVerification["not-checked"] != 1 {
		t.Errorf("by verification %v", s.ByVerification)
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		name string
		caps []aicred.Capability
		v    aicred.Verification
		want posture.Severity
	}{
		{"dead admin key", []aicred.Capability{aicred.CapKeyAdmin}, aicred.Dead, posture.Low},
		{"admin key", []aicred.Capability{aicred.CapOrgAdmin}, aicred.NotChecked, posture.Critical},
		{"live inference key", []aicred.Capability{aicred.CapInference}, aicred.Live, posture.Critical},
		{"inference key", []aicred.Capability{aicred.CapInference}, aicred.NotChecked, posture.High},
		{"live, no permission", []aicred.Capability{aicred.CapInference}, aicred.LiveNoPermission, posture.High},
		{"search only", []aicred.Capability{aicred.CapSearch}, aicred.Unknown, posture.Medium},
	}
	for _, tt := range tests {
		if got := Severity(tt.caps, tt.v); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestTextGroupsByCredential: one block per secret, naming every place,
// what it unlocks and where to revoke it; colour only when asked.
func TestTextGroupsByCredential(t *testing.T) {
	fs := twoCredentials()
	r := New(fs)
	r.Scan.Roots = []string{"my repo"}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "\x1b[") {
		t.Error("colour without Color")
	}
	blocks := strings.Split(strings.TrimSpace(out), "\n\n")
	if len(blocks) != 3 { // two credentials and the count
		t.Fatalf("%d blocks:\n%s", len(blocks), out)
	}
	openai, anthropic := blocks[1], blocks[0]
	if !strings.Contains(openai, "OpenAI project API key") {
		openai, anthropic = anthropic, openai
	}
	for _, want := range []string{
		"HIGH", "OpenAI project API key", "fp " + fs[0].Fingerprint.Short(), "openai/project-key",
		"inference (call models, billed to the owner)", "app/.env:4:12", "old/config.py:9:3 in commit abababababab of 2026-02-03",
		"https://platform.openai.com/api-keys", "git history", "aicred scan --record 'my repo', then aicred inventory show " + fs[0].Fingerprint.Short(),
	} {
		if !strings.Contains(openai, want) {
			t.Errorf("OpenAI block lacks %q:\n%s", want, openai)
		}
	}
	for _, want := range []string{"LOW", "liveness: dead (401 from /v1/models)", "nb/eval.ipynb:7:20 (cell 2 source)", "https://console.anthropic.com/settings/keys"} {
		if !strings.Contains(anthropic, want) {
			t.Errorf("Anthropic block lacks %q:\n%s", want, anthropic)
		}
	}
	if blocks[2] != "2 credentials in 3 places (3 findings)" {
		t.Errorf("count line %q", blocks[2])
	}

	r.Color = true
	buf.Reset()
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ansiRed+"HIGH"+ansiReset) {
		t.Errorf("no colour with Color:\n%q", buf.String())
	}

	buf.Reset()
	if err := New(fs[:1]).WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "1 credential in 1 place (1 finding)\n") {
		t.Errorf("singular count: %q", buf.String())
	}
	buf.Reset()
	if err := New(nil).WriteText(&buf); err != nil || buf.Len() != 0 {
		t.Errorf("nothing found: %q, %v", buf.String(), err)
	}
}

// TestSARIFIsTidy: no empty arrays (but results), no -1 placeholders, and
// each rule's help says what the kind unlocks and where to revoke it.
func TestSARIFIsTidy(t *testing.T) {
	for name, fs := range map[string][]*aicred.Finding{"findings": twoCredentials(), "none": nil} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteSARIF(&buf, fs); err != nil {
				t.Fatal(err)
			}
			rep, err := sarif.FromBytes(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Validate(); err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			walkJSON(doc, "", func(path string, v any) {
				switch v := v.(type) {
				case []any:
					if len(v) == 0 && !strings.HasSuffix(path, ".results") {
						t.Errorf("empty array at %s", path)
					}
				case float64:
					if v < 0 {
						t.Errorf("placeholder %v at %s", v, path)
					}
				}
			})
			if !strings.Contains(buf.String(), `"results": [`) {
				t.Error("results left out: SARIF readers take that for a scan that did not run")
			}
			if name == "none" {
				return
			}
			rules := rep.Runs[0].Tool.Driver.Rules
			if len(rules) != 2 {
				t.Fatalf("%d rules", len(rules))
			}
			for _, r := range rules {
				help := *r.Help.Text
				if r.HelpURI == nil || !strings.Contains(help, *r.HelpURI) || !strings.Contains(help, "It unlocks: inference") ||
					!strings.Contains(*r.Help.Markdown, "aicred inventory show") {
					t.Errorf("rule %s help: %q", *r.ID, help)
				}
			}
		})
	}
}

func walkJSON(v any, path string, f func(string, any)) {
	f(path, v)
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			walkJSON(e, path+"."+k, f)
		}
	case []any:
		for i, e := range v {
			walkJSON(e, path+"["+strconv.Itoa(i)+"]", f)
		}
	}
}
