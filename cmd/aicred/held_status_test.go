package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/sqlite"
)

// TestCredentialSuspendReinstate: suspend and reinstate change a held
// credential's status with the reason in the audit log, list shows it,
// doing it twice changes nothing, a reason is required, and a revoked
// credential is not reinstated.
func TestCredentialSuspendReinstate(t *testing.T) {
	key, _ := canary(61)
	dir := t.TempDir()
	t.Setenv("AICRED_STORE", filepath.Join(dir, "aicred.db"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	step := func(want int, stdin string, args ...string) string {
		t.Helper()
		r := runCLI(t, stdin, args...)
		if r.code != want {
			t.Fatalf("aicred %s: exit %d, want %d\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, key) {
			t.Fatalf("aicred %s printed the secret", strings.Join(args, " "))
		}
		return r.stdout + r.stderr
	}
	step(exitOK, key+"\n", "credential", "add", "--provider", "anthropic", "--kind", "api-key", "--id", "hc_s")
	status := func() string {
		t.Helper()
		var out struct {
			Held []aicred.HeldCredential `json:"held"`
		}
		if err := json.Unmarshal([]byte(step(exitOK, "", "credential", "list", "--format", "json")), &out); err != nil || len(out.Held) != 1 {
			t.Fatalf("list: %v %+v", err, out)
		}
		return string(out.Held[0].Status)
	}
	if s := status(); s != "active" {
		t.Fatalf("new credential: %q", s)
	}
	if out := step(exitError, "", "credential", "suspend", "hc_s"); !strings.Contains(out, "--reason is required") {
		t.Fatalf("no reason: %s", out)
	}
	if out := step(exitOK, "", "credential", "suspend", "hc_s", "--reason", "seen in a CI log"); !strings.Contains(out, "active -> suspended") {
		t.Fatalf("suspend: %s", out)
	}
	if s := status(); s != "suspended" {
		t.Fatalf("after suspend: %q", s)
	}
	if out := step(exitOK, "", "credential", "list"); !strings.Contains(out, "suspended") {
		t.Fatalf("list does not show the status: %s", out)
	}
	if out := step(exitOK, "", "credential", "suspend", "hc_s", "--reason", "again"); !strings.Contains(out, "nothing changed") {
		t.Fatalf("suspend twice: %s", out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(step(exitOK, "", "credential", "reinstate", "hc_s", "--reason", "false alarm", "--format", "json")), &res); err != nil ||
		res["from"] != "suspended" || res["status"] != "active" || res["changed"] != true {
		t.Fatalf("reinstate: %v %v", res, err)
	}
	step(exitOK, "", "audit", "export", "-o", filepath.Join(dir, "audit.jsonl"))
	b, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	audit := string(b)
	for _, want := range []string{"seen in a CI log", "false alarm"} {
		if !strings.Contains(audit, want) {
			t.Fatalf("audit log lacks %q: %s", want, audit)
		}
	}
	if strings.Contains(audit, `"again"`) {
		t.Fatalf("a change that changed nothing was recorded")
	}
	step(exitError, "", "credential", "suspend", "hc_missing", "--reason", "x")
	// Revoked in the store (as credential revoke leaves it): no way back.
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "aicred.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetHeldStatus(t.Context(), "hc_s", aicred.HeldRevoked, "revoked at the provider"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if out := step(exitError, "", "credential", "reinstate", "hc_s", "--reason", "oops"); !strings.Contains(out, "stays revoked") {
		t.Fatalf("reinstating a revoked credential: %s", out)
	}
}
