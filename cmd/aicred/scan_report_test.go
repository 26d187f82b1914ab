package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xeipuuv/gojsonschema"

	"github.com/aicred/aicred"
)

// TestScanJSONReport: the JSON report of a real scan matches the published
// schema and says what tool ran, what it scanned and what it found.
func TestScanJSONReport(t *testing.T) {
	key, forms := canary(21)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.env"), "ANTHROPIC_API_KEY="+key+"\n")
	writeFile(t, filepath.Join(dir, "b/c.py"), "x = 1\nk = '"+key+"'\n")
	before := time.Now().UTC().Add(-time.Second)
	r := runCLI(t, "", "scan", "--format", "json", dir)
	if r.code != exitFindings {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertNoLeak(t, "json", forms, r.stdout, r.stderr)

	schema, err := filepath.Abs(filepath.Join(repoRoot, "schema", "scan-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader("file://"+filepath.ToSlash(schema)), gojsonschema.NewStringLoader(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid() {
		t.Fatalf("report does not match the schema: %v", res.Errors())
	}
	var rep struct {
		Tool struct{ Name, Version string }
		Scan struct {
			Roots []string
			Mode  string
			Start time.Time
			Files int
			Bytes int64
		}
		Summary struct {
			Findings, Credentials int
			ByProvider            map[string]int `json:"by_provider"`
		}
		Findings []json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Tool.Name != "aicred" || rep.Tool.Version != aicred.Version {
		t.Errorf("tool %+v", rep.Tool)
	}
	if len(rep.Scan.Roots) != 1 || rep.Scan.Roots[0] != dir || rep.Scan.Mode != "files" || rep.Scan.Files != 2 ||
		rep.Scan.Bytes == 0 || rep.Scan.Start.Before(before) {
		t.Errorf("scan %+v", rep.Scan)
	}
	if rep.Summary.Findings != 2 || rep.Summary.Credentials != 1 || rep.Summary.ByProvider["anthropic"] != 1 || len(rep.Findings) != 2 {
		t.Errorf("summary %+v with %d findings", rep.Summary, len(rep.Findings))
	}
	// The report still serves as a baseline.
	base := filepath.Join(t.TempDir(), "base.json")
	writeFile(t, base, r.stdout)
	if again := runCLI(t, "", "scan", "--baseline", base, dir); again.code != exitOK {
		t.Errorf("baseline from the new report: exit %d: %s", again.code, again.stderr)
	}
}

// TestScanTextReport: text output is one block per credential with the
// revoke page and the aicred commands that follow; no colour off a terminal.
func TestScanTextReport(t *testing.T) {
	key, forms := canary(22)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.env"), "ANTHROPIC_API_KEY="+key+"\n")
	writeFile(t, filepath.Join(dir, "b.py"), "k = '"+key+"'\n")
	r := runCLI(t, "", "scan", dir)
	assertNoLeak(t, "text", forms, r.stdout, r.stderr)
	if n := strings.Count(r.stdout, "fp "); n != 1 {
		t.Errorf("%d credential blocks for one secret:\n%s", n, r.stdout)
	}
	for _, want := range []string{"a.env:1:19", "b.py:1:6", "https://console.anthropic.com/settings/keys",
		"aicred scan --record " + dir + ", then aicred inventory show ", "1 credential in 2 places (2 findings)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("colour in output that is not a terminal")
	}
	if !strings.Contains(r.stderr, ": 2 findings") {
		t.Errorf("summary %q", r.stderr)
	}
}

func TestColorOK(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if colorOK(f) {
		t.Error("colour into a regular file")
	}
	if colorOK(&strings.Builder{}) {
		t.Error("colour into a buffer")
	}
	t.Setenv("NO_COLOR", "1")
	if colorOK(os.Stdout) {
		t.Error("colour with NO_COLOR set")
	}
}

func TestWarnText(t *testing.T) {
	perm := &fs.PathError{Op: "open", Path: "/abs/root/private", Err: fs.ErrPermission}
	tests := []struct {
		path string
		err  error
		want string
	}{
		{"private", fmt.Errorf("source: read directory private: %w", perm), "unreadable directory private: permission denied"},
		{"k.pem", fmt.Errorf("source: open k.pem: %w", &fs.PathError{Op: "open", Path: "/abs/root/k.pem", Err: fs.ErrPermission}),
			"unreadable file k.pem: permission denied"},
		{"nb.ipynb", fmt.Errorf("source: malformed notebook nb.ipynb, scanned as plain text: no cells"),
			"malformed notebook nb.ipynb, scanned as plain text: no cells"},
		{"a/b", fmt.Errorf("source: too deep"), "a/b: too deep"},
	}
	for _, tt := range tests {
		if got := warnText(tt.path, tt.err); got != tt.want {
			t.Errorf("warnText(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestScanQuietWarnings: -q keeps warnings off stderr but counts them.
func TestScanQuietWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.ipynb"), `{"cells": [`)
	loud := runCLI(t, "", "scan", dir)
	if loud.code != exitOK || !strings.Contains(loud.stderr, "aicred: warning: malformed notebook bad.ipynb") ||
		!strings.Contains(loud.stderr, "1 warning") {
		t.Errorf("without -q: exit %d, stderr %q", loud.code, loud.stderr)
	}
	quiet := runCLI(t, "", "scan", "-q", dir)
	if quiet.code != exitOK || quiet.stderr != "aicred: 1 warning (run without -q to see them)\n" {
		t.Errorf("with -q: exit %d, stderr %q", quiet.code, quiet.stderr)
	}
	clean := t.TempDir()
	if r := runCLI(t, "", "scan", "-q", clean); r.stderr != "" {
		t.Errorf("-q with nothing to say: %q", r.stderr)
	}
}

// TestScanStaged: outside a git work tree --staged fails in one line; in
// one, the summary counts the staged files it read.
func TestScanStaged(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	outside := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(outside))
	r := runCLI(t, "", "scan", "--staged", outside)
	if r.code != exitError || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "not in a git work tree") ||
		strings.Contains(strings.ToLower(r.stderr), "usage") {
		t.Errorf("outside a repository: exit %d, stderr %q", r.code, r.stderr)
	}

	key, forms := canary(23)
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Test", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	writeFile(t, filepath.Join(dir, "a.py"), "print(1)\n")
	writeFile(t, filepath.Join(dir, "b.env"), "KEY="+key+"\n")
	git("add", ".")
	r = runCLI(t, "", "scan", "--staged", dir)
	assertNoLeak(t, "staged", forms, r.stdout, r.stderr)
	if r.code != exitFindings || !strings.Contains(r.stderr, "scanned 2 staged files") || !strings.Contains(r.stderr, ": 1 finding,") {
		t.Errorf("staged: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestScanNotebookPositions: a key in a notebook cell is reported at its
// line and column in the .ipynb file, with the cell in the locator, in
// JSON and in SARIF alike.
func TestScanNotebookPositions(t *testing.T) {
	key, forms := canary(24)
	dir := t.TempDir()
	// The layout Jupyter writes: one JSON string per source line.
	nb := "{\n \"cells\": [\n  {\n   \"cell_type\": \"markdown\",\n   \"metadata\": {},\n   \"source\": [\"# Notes\"]\n  },\n" +
		"  {\n   \"cell_type\": \"code\",\n   \"metadata\": {},\n   \"outputs\": [],\n   \"source\": [\n" +
		"    \"import anthropic\\n\",\n" +
		"    \"client = anthropic.Anthropic(api_key=\\\"" + key + "\\\")\\n\"\n" +
		"   ]\n  }\n ],\n \"metadata\": {},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n"
	writeFile(t, filepath.Join(dir, "explore.ipynb"), nb)
	lines := strings.Split(nb, "\n")
	wantLine, wantCol := 0, 0
	for i, l := range lines {
		if j := strings.Index(l, key); j >= 0 {
			wantLine, wantCol = i+1, j+1
		}
	}

	r := runCLI(t, "", "scan", "--format", "json", dir)
	assertNoLeak(t, "notebook", forms, r.stdout, r.stderr)
	var rep struct {
		Findings []struct {
			Line, Column    int
			Locator, Source string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("%d findings", len(rep.Findings))
	}
	f := rep.Findings[0]
	if f.Line != wantLine || f.Column != wantCol || f.Locator != "cell 2 source" || f.Source != "notebook" {
		t.Errorf("finding at %d:%d (%s, %s), want %d:%d in cell 2 source", f.Line, f.Column, f.Locator, f.Source, wantLine, wantCol)
	}

	r = runCLI(t, "", "scan", "--format", "sarif", dir)
	var log struct {
		Runs []struct {
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						Region struct{ StartLine, StartColumn, EndColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil {
		t.Fatal(err)
	}
	reg := log.Runs[0].Results[0].Locations[0].PhysicalLocation.Region
	if reg.StartLine != wantLine || reg.StartColumn != wantCol || reg.EndColumn != wantCol+len(key) {
		t.Errorf("SARIF region %+v, want line %d columns %d-%d", reg, wantLine, wantCol, wantCol+len(key))
	}
}
