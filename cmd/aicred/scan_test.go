package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/aicred/aicred/provider"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// canary returns a generated Anthropic-shaped key and the forms of it that
// must never appear in any output.
func canary(seed uint64) (string, []string) {
	g := provider.NewGen(seed)
	k := "sk-ant-api03-" + g.URL64(93) + "AA"
	return k, []string{k, base64.StdEncoding.EncodeToString([]byte(k)), hex.EncodeToString([]byte(k)), k[13:60]}
}

func assertNoLeak(t *testing.T, what string, forms []string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, f := range forms {
			if strings.Contains(o, f) {
				t.Fatalf("%s: output contains the raw secret (or an encoding of it)", what)
			}
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanEveryFormatNoLeak(t *testing.T) {
	key, forms := canary(1)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app/config.py"), "import anthropic\nclient = anthropic.Anthropic(api_key=\""+key+"\")\n")
	nb, _ := json.Marshal(map[string]any{"cells": []any{map[string]any{
		"cell_type": "code", "source": []string{"import os\n", "os.environ[\"ANTHROPIC_API_KEY\"] = \"" + key + "\"\n"},
		"outputs": []any{}}}, "nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{}})
	writeFile(t, filepath.Join(dir, "nb/explore.ipynb"), string(nb))
	writeFile(t, filepath.Join(dir, "k8s/secret.yaml"), "apiVersion: v1\nkind: Secret\ndata:\n  key: "+
		base64.StdEncoding.EncodeToString([]byte(key))+"\n")
	zf, err := os.Create(filepath.Join(dir, "logs.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	w, _ := zw.Create("run/output.log")
	w.Write([]byte("starting\nusing key " + key + "\n"))
	zw.Close()
	zf.Close()

	for _, format := range []string{"text", "json", "sarif"} {
		t.Run(format, func(t *testing.T) {
			r := runCLI(t, "", "scan", "--format", format, dir)
			if r.code != exitFindings {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			assertNoLeak(t, format, forms, r.stdout, r.stderr)
			switch format {
			case "json":
				var rep struct {
					Findings []map[string]any `json:"findings"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
					t.Fatal(err)
				}
				sources := map[string]bool{}
				for _, f := range rep.Findings {
					for _, field := range []string{"provider", "kind", "rule", "fingerprint", "redacted", "path", "line", "column", "source", "capabilities", "verification"} {
						if _, ok := f[field]; !ok {
							t.Errorf("finding lacks %q", field)
						}
					}
					sources[f["source"].(string)] = true
					if f["verification"] != "not-checked" {
						t.Errorf("verification %v", f["verification"])
					}
				}
				if len(rep.Findings) != 4 || !sources["file"] || !sources["notebook"] || !sources["archive"] {
					t.Errorf("got %d findings from %v", len(rep.Findings), sources)
				}
			case "sarif":
				rep, err := sarif.FromString(r.stdout)
				if err != nil {
					t.Fatal(err)
				}
				if err := rep.Validate(); err != nil {
					t.Fatalf("SARIF does not validate: %v", err)
				}
				if n := len(rep.Runs[0].Results); n != 4 {
					t.Errorf("SARIF has %d results", n)
				}
			}
		})
	}
}

func TestScanExitCodesAndErrors(t *testing.T) {
	clean := t.TempDir()
	writeFile(t, filepath.Join(clean, "main.go"), "package main\n\nfunc main() {}\n")
	if r := runCLI(t, "", "scan", clean); r.code != exitOK || !strings.Contains(r.stderr, "0 finding") {
		t.Errorf("clean tree: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "scan", "--format", "xml", clean); r.code != exitError || !strings.Contains(r.stderr, "unknown format") {
		t.Errorf("bad format: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "scan", filepath.Join(clean, "does-not-exist")); r.code != exitError {
		t.Errorf("missing path: exit %d", r.code)
	}
	if r := runCLI(t, "", "scan", "--no-such-flag"); r.code != exitError {
		t.Errorf("bad flag: exit %d", r.code)
	}
	bad := t.TempDir()
	writeFile(t, filepath.Join(bad, ".aicred.yaml"), "rules:\n  - id: x\n    pattern: 'a+'\n")
	if r := runCLI(t, "", "scan", bad); r.code != exitError || !strings.Contains(r.stderr, "rules[0]") {
		t.Errorf("bad config: exit %d, stderr %q", r.code, r.stderr)
	}
	writeFile(t, filepath.Join(bad, ".aicred.yaml"), "allow:\n  pathz: [x]\n")
	if r := runCLI(t, "", "scan", bad); r.code != exitError || !strings.Contains(r.stderr, "line 2") {
		t.Errorf("unknown config key: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, "", "--help"); r.code != exitOK || !strings.Contains(r.stdout, "scan") {
		t.Errorf("help: exit %d", r.code)
	}
	if r := runCLI(t, "", "scan", "--help"); r.code != exitOK || !strings.Contains(r.stdout, "--max-archive-depth") {
		t.Errorf("scan help: exit %d", r.code)
	}
}

func TestScanStdinBaselineConfigAllow(t *testing.T) {
	key, forms := canary(2)
	key2, _ := canary(3)
	r := runCLI(t, "ANTHROPIC_API_KEY="+key+"\n", "scan", "--format", "json", "-")
	if r.code != exitFindings || !strings.Contains(r.stdout, `"source": "stdin"`) {
		t.Fatalf("stdin: exit %d %s", r.code, r.stderr)
	}
	assertNoLeak(t, "stdin", forms, r.stdout, r.stderr)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.env"), "ANTHROPIC_API_KEY="+key+"\n")
	first := runCLI(t, "", "scan", "--format", "json", "-o", filepath.Join(dir, "..", "base.json"), dir)
	if first.code != exitFindings {
		t.Fatalf("first scan exit %d: %s", first.code, first.stderr)
	}
	baseline := filepath.Join(dir, "..", "base.json")
	// The same key moved to another line stays quiet; a new key is reported.
	writeFile(t, filepath.Join(dir, "a.env"), "# moved\n\nANTHROPIC_API_KEY="+key+"\nOTHER="+key2+"\n")
	r = runCLI(t, "", "scan", "--format", "json", "--baseline", baseline, dir)
	var rep struct {
		Findings []struct {
			Line int `json:"line"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if r.code != exitFindings || len(rep.Findings) != 1 || rep.Findings[0].Line != 4 {
		t.Errorf("baseline: exit %d, findings %+v", r.code, rep.Findings)
	}

	// Config: allow by path and disable a rule.
	writeFile(t, filepath.Join(dir, ".aicred.yaml"), "allow:\n  paths: [\"*.env\"]\n")
	if r := runCLI(t, "", "scan", dir); r.code != exitOK {
		t.Errorf("allow.paths: exit %d", r.code)
	}
	writeFile(t, filepath.Join(dir, ".aicred.yaml"), "disable: [anthropic-api-key]\n")
	if r := runCLI(t, "", "scan", dir); r.code != exitOK {
		t.Errorf("disable: exit %d", r.code)
	}
	// Custom rule in the same shape as built-in ones.
	g := provider.NewGen(4)
	custom := "acmegw_" + g.Alnum(32)
	writeFile(t, filepath.Join(dir, ".aicred.yaml"), "disable: [anthropic-api-key]\nrules:\n  - id: acme-gateway-key\n    provider: acme\n    kind: gateway-key\n    description: ACME gateway key\n    keywords: [acmegw_]\n    pattern: 'acmegw_[A-Za-z0-9]{32}'\n    min_entropy: 3\n    capabilities: [inference]\n")
	writeFile(t, filepath.Join(dir, "b.txt"), "token "+custom+"\n")
	r = runCLI(t, "", "scan", "--format", "json", dir)
	if r.code != exitFindings || !strings.Contains(r.stdout, `"rule": "acme-gateway-key"`) {
		t.Errorf("custom rule: exit %d %s", r.code, r.stdout)
	}
}

func TestScanGitHistory(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	key, forms := canary(5)
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Test", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2024-03-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-03-01T10:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	writeFile(t, filepath.Join(dir, "train.py"), "KEY = \""+key+"\"\n")
	git("add", ".")
	git("commit", "-qm", "add training script")
	writeFile(t, filepath.Join(dir, "train.py"), "KEY = os.environ['KEY']\n")
	git("commit", "-qam", "remove key")

	if r := runCLI(t, "", "scan", dir); r.code != exitOK {
		t.Errorf("working tree should be clean now: exit %d", r.code)
	}
	r := runCLI(t, "", "scan", "--git", "--format", "json", dir)
	if r.code != exitFindings {
		t.Fatalf("git: exit %d: %s", r.code, r.stderr)
	}
	assertNoLeak(t, "git", forms, r.stdout, r.stderr)
	var rep struct {
		Findings []struct {
			Commit, Path, Source string
			Date                 string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Commit == "" || rep.Findings[0].Path != "train.py" ||
		rep.Findings[0].Source != "git" || !strings.HasPrefix(rep.Findings[0].Date, "2024-03-01") {
		t.Errorf("git findings: %+v", rep.Findings)
	}
}

// TestScanGitFirstAppearance: a key kept through later edits of its file
// is in every later blob; it is reported once, with the commit that added it.
func TestScanGitFirstAppearance(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	key, _ := canary(6)
	dir := t.TempDir()
	day := 1
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Test", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		date := fmt.Sprintf("2024-03-%02dT10:00:00Z", day)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	for i, body := range []string{"one", "two", "three"} {
		day = i + 1
		writeFile(t, filepath.Join(dir, "app.env"), "KEY="+key+"\nNOTE="+body+"\n")
		git("add", ".")
		git("commit", "-qm", body)
	}
	r := runCLI(t, "", "scan", "--git", "--format", "json", dir)
	var rep struct {
		Findings []struct{ Commit, Date string } `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || !strings.HasPrefix(rep.Findings[0].Date, "2024-03-01") {
		t.Fatalf("want one finding from the first commit, got %+v", rep.Findings)
	}
}
