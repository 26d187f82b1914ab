package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCanaryThroughEveryPillar sends one known secret through scan,
// record, inventory, held credentials, master key rotation, the posture
// report in every format and the audit log, then searches every byte aicred
// wrote (database, WAL and shared-memory files, reports, exports, the
// keyring, and everything printed) for it and its base64 and hex forms.
func TestCanaryThroughEveryPillar(t *testing.T) {
	key, _ := canary(42)
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	t.Setenv("AICRED_STORE", filepath.Join(dir, "data", "aicred.db"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	writeFile(t, filepath.Join(work, "train.py"), "client = anthropic.Anthropic(api_key=\""+key+"\")\n")
	writeFile(t, filepath.Join(work, ".github/workflows/ci.yml"), "env:\n  ANTHROPIC_API_KEY: "+key+"\n")
	keyFile := filepath.Join(dir, "held.txt")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var printed bytes.Buffer
	step := func(want int, stdin string, args ...string) string {
		t.Helper()
		r := runCLI(t, stdin, args...)
		printed.WriteString(r.stdout + r.stderr)
		if r.code != want {
			t.Fatalf("aicred %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, want, r.stderr)
		}
		return r.stdout
	}
	step(exitFindings, "", "scan", "--record", "--format", "json", "-o", filepath.Join(dir, "scan.json"), work)
	step(exitOK, "", "inventory", "import", filepath.Join(dir, "scan.json"))
	list := step(exitOK, "", "inventory", "list", "--format", "json")
	var inv struct {
		Credentials []struct {
			Fingerprint string `json:"fingerprint"`
			Sprawl      int    `json:"sprawl"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(list), &inv); err != nil {
		t.Fatal(err)
	}
	if len(inv.Credentials) != 1 || inv.Credentials[0].Sprawl < 2 {
		t.Fatalf("inventory: %+v", inv.Credentials)
	}
	fp := inv.Credentials[0].Fingerprint
	step(exitOK, "", "inventory", "show", fp)
	step(exitOK, "", "inventory", "show", "--format", "json", strings.TrimPrefix(fp, "sha256:")[:10])
	step(exitOK, "", "inventory", "set", fp, "--owner", "ml-platform", "--environment", "prod", "--environment", "dev", "--workload", "trainer")
	step(exitOK, "", "inventory", "list", "--risk", "medium")
	step(exitOK, key+"\n", "credential", "add", "--provider", "anthropic", "--kind", "api-key", "--env", "prod")
	step(exitOK, "", "credential", "add", "--provider", "anthropic", "--kind", "api-key", "--file", keyFile, "--id", "second")
	step(exitOK, "", "credential", "list", "--format", "json")
	step(exitOK, "", "master-key", "rotate")
	for _, format := range []string{"md", "json", "html", "sarif"} {
		step(exitOK, "", "report", "--format", format, "-o", filepath.Join(dir, "posture."+format))
	}
	step(exitOK, "", "audit", "export", "-o", filepath.Join(dir, "audit.jsonl"))
	out := step(exitOK, "", "audit", "verify")
	if !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %s", out)
	}

	forms := map[string][]byte{
		"raw":        []byte(key),
		"base64":     []byte(base64.StdEncoding.EncodeToString([]byte(key))),
		"base64-raw": []byte(base64.RawURLEncoding.EncodeToString([]byte(key))),
		"hex":        []byte(hex.EncodeToString([]byte(key))),
		"body":       []byte(key[13:70]),
	}
	check := func(name string, data []byte) {
		for form, needle := range forms {
			if bytes.Contains(data, needle) {
				t.Errorf("%s holds the canary (%s form)", name, form)
			}
		}
	}
	check("printed output", printed.Bytes())
	written := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, work) || p == keyFile {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		written++
		check(p, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if written < 8 {
		t.Errorf("only %d files written; expected the database, reports and exports", written)
	}
}

func TestStoreDownFailsClearly(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), "nothing here\n")
	dead := "postgres://aicred@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"
	for _, args := range [][]string{
		{"scan", "--record", "--store", dead, dir},
		{"inventory", "list", "--store", dead},
		{"audit", "verify", "--store", dead},
		{"report", "--store", dead},
	} {
		r := runCLI(t, "", args...)
		if r.code != exitError || !strings.Contains(r.stderr, "aicred:") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	// A secret on the command line is refused: there is no flag for it.
	if r := runCLI(t, "", "credential", "add", "--provider", "openai", "--kind", "project-key", "--secret", "x"); r.code != exitError {
		t.Errorf("--secret accepted: exit %d", r.code)
	}
	if r := runCLI(t, "", "credential", "add", "--provider", "nope", "--kind", "x"); r.code != exitError || !strings.Contains(r.stderr, "unknown credential kind") {
		t.Errorf("unknown kind: exit %d %q", r.code, r.stderr)
	}
}

// TestAuditVerifyNamesTheTamperedRecord edits one audit record behind
// aicred's back (as an attacker with the database file would, dropping the
// append-only trigger first) and expects `audit verify` to exit 1 naming it.
func TestAuditVerifyNamesTheTamperedRecord(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", dbPath)
	key, _ := canary(7)
	writeFile(t, filepath.Join(dir, "w", "a.env"), "ANTHROPIC_API_KEY="+key+"\n")
	writeFile(t, filepath.Join(dir, "w", "b.env"), "ANTHROPIC_API_KEY="+key+"\n")
	if r := runCLI(t, "", "scan", "--record", "--quiet", filepath.Join(dir, "w")); r.code != exitFindings {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", "audit", "verify"); r.code != exitOK {
		t.Fatalf("verify before tampering: %d %s", r.code, r.stdout)
	}
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP TRIGGER audit_log_no_update",
		"UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	r := runCLI(t, "", "audit", "verify")
	if r.code != exitFindings || !strings.Contains(r.stdout, "BROKEN at record 2") {
		t.Fatalf("verify after tampering: exit %d, %q", r.code, r.stdout)
	}
}
