package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
	"github.com/aicred/aicred/seal"
	"github.com/aicred/aicred/sqlite"
)

// TestAuditVerifyCheckpoints: `aicred audit verify` checks the signed
// checkpoints; a rewrite of the whole chain that recomputes every hash
// and the head passes the chain check and is caught by the checkpoint.
func TestAuditVerifyCheckpoints(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "aicred.db")
	t.Setenv("AICRED_STORE", dbPath)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	key, _ := canary(11)
	writeFile(t, filepath.Join(dir, "w", "a.env"), "ANTHROPIC_API_KEY="+key+"\n")
	if r := runCLI(t, "", "scan", "--record", "--quiet", filepath.Join(dir, "w")); r.code != exitFindings {
		t.Fatalf("scan: %d %s", r.code, r.stderr)
	}
	ctx := aicred.WithActor(context.Background(), "test")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.Default()
	if err != nil {
		t.Fatal(err)
	}
	cp := &audit.Checkpointer{Store: st, Signer: ring}
	if wrote, err := cp.Once(ctx, 1, time.Hour); err != nil || !wrote {
		t.Fatalf("checkpoint: %v %v", wrote, err)
	}
	evs, err := st.ListAudit(ctx, 1, 1000)
	if err != nil || len(evs) < 2 {
		t.Fatalf("%d records, %v", len(evs), err)
	}
	st.Close()
	r := runCLI(t, "", "audit", "verify")
	if r.code != exitOK || !strings.Contains(r.stdout, "audit checkpoints OK: 1 signed") {
		t.Fatalf("verify before tampering: exit %d, %q", r.code, r.stdout)
	}

	// Rewrite record 1 and every record after it, consistently.
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	qs := []string{"DROP TRIGGER audit_log_no_update"}
	prev := audit.Genesis
	for i := range evs {
		e := evs[i]
		if i == 0 {
			e.Actor = "mallory"
		}
		e.PrevHash = prev
		e.Hash = audit.Hash(&e)
		prev = e.Hash
		qs = append(qs, fmt.Sprintf("UPDATE audit_log SET actor = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d", e.Actor, e.PrevHash, e.Hash, e.Seq))
	}
	qs = append(qs, fmt.Sprintf("UPDATE audit_head SET hash = '%s'", prev))
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r = runCLI(t, "", "audit", "verify")
	if r.code != exitFindings || !strings.Contains(r.stdout, "audit log OK") || !strings.Contains(r.stdout, "audit checkpoints BROKEN") {
		t.Fatalf("verify after a consistent rewrite: exit %d, %q", r.code, r.stdout)
	}
	// Without the master key the checkpoints cannot be verified: that
	// fails too, never passes silently.
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "elsewhere"))
	r = runCLI(t, "", "audit", "verify", "--format", "json")
	if r.code != exitFindings || !strings.Contains(r.stdout, "no master key") {
		t.Fatalf("verify without the key: exit %d, %q", r.code, r.stdout)
	}
}

// TestHousekeepingConfig: defaults, and values refused with the key.
func TestHousekeepingConfig(t *testing.T) {
	cfg, err := parseServerConfig([]byte("readiness: {max_feed_age: 5s}\naudit: {checkpoint_every: 10}\nretention: {usage: 720h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Readiness.MaxFeedAge != 5*time.Second || cfg.Audit.CheckpointEvery != 10 || cfg.Audit.CheckpointInterval != audit.DefaultCheckpointInterval ||
		cfg.Retention.Usage != 720*time.Hour || cfg.Retention.ExpiredGrants != defaultExpiredGrants || cfg.Retention.Budgets != defaultBudgetRetention ||
		cfg.Retention.Interval != defaultRetentionInterval {
		t.Fatalf("parsed %+v %+v %+v", cfg.Readiness, cfg.Audit, cfg.Retention)
	}
	for in, want := range map[string]string{
		"retention: {budgets: 2h}\n":         "retention.budgets",
		"audit: {checkpoint_every: -1}\n":    "audit.checkpoint_every",
		"readiness: {max_feed_age: -1s}\n":   "readiness.max_feed_age",
		"retention: {expired_grants: -1h}\n": "retention.expired_grants",
		"retention: {forever: 1h}\n":         "unknown key",
	} {
		if _, err := parseServerConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error naming %s", in, err, want)
		}
	}
}
