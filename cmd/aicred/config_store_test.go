package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

// TestCommandsReadConfigStore: every command that touches the store reads
// the store: key of the configuration serve reads, from --config or
// AICRED_CONFIG, over AICRED_STORE; --store still wins.
func TestCommandsReadConfigStore(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("AICRED_MASTER_KEY", "")
	t.Setenv("AICRED_CONFIG", "")
	other := filepath.Join(dir, "other.db")
	t.Setenv("AICRED_STORE", other)
	want := filepath.Join(dir, "configured.db")
	cfg := filepath.Join(dir, "aicred.yaml")
	writeConfig(t, cfg, fmt.Sprintf("store: %q\n", want))

	key := "sk-proj-" + provider.NewGen(3).Alnum(74) + "T3BlbkFJ" + provider.NewGen(4).Alnum(74)
	r := runCLI(t, key+"\n", "credential", "add", "--config", cfg, "--provider", "openai", "--kind", "project-key", "--id", "hc_cfg")
	if r.code != exitOK {
		t.Fatalf("credential add: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatal("credential add --config wrote to AICRED_STORE's file")
	}
	st, err := sqlite.Open(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetHeldCredential(context.Background(), "hc_cfg"); err != nil {
		t.Fatalf("the held credential is not in the configured store: %v", err)
	}
	st.Close()

	// AICRED_CONFIG alone: each command reads the configured store (the
	// held credential is there, the audit log too).
	t.Setenv("AICRED_CONFIG", cfg)
	for _, args := range [][]string{
		{"credential", "list"}, {"usage"}, {"inventory", "list"}, {"token", "list"},
		{"report", "--format", "json"}, {"audit", "verify"},
	} {
		r := runCLI(t, "", args...)
		if r.code != exitOK {
			t.Errorf("%v: %d %s", args, r.code, r.stderr)
		}
		if args[0] == "credential" && !strings.Contains(r.stdout, "hc_cfg") {
			t.Errorf("credential list with AICRED_CONFIG: %s", r.stdout)
		}
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatal("a command with AICRED_CONFIG opened AICRED_STORE's file")
	}
	// --store wins over the configuration, as for serve.
	if r := runCLI(t, "", "--store", other, "credential", "list"); r.code != exitOK || strings.Contains(r.stdout, "hc_cfg") {
		t.Errorf("--store: %d %s", r.code, r.stdout)
	}

	// A configuration that does not parse is refused, naming the file
	// and the line, rather than falling back to another store.
	bad := filepath.Join(dir, "bad.yaml")
	writeConfig(t, bad, "store: x.db\nlisten: [1\n")
	if r := runCLI(t, "", "usage", "--config", bad); r.code != exitError || !strings.Contains(r.stderr, "bad.yaml") {
		t.Errorf("bad config: %d %s", r.code, r.stderr)
	}
}

// TestServeWarnsUnusable: serve says at start when no token it could
// issue would work.
func TestServeWarnsUnusable(t *testing.T) {
	cases := []struct {
		name, cfg string
		want      []string
	}{
		{name: "no configuration", want: []string{"no usable token is possible: the configuration has no roles"}},
		{name: "a role but nothing held", cfg: `
roles:
  - {name: dev, providers: [openai], credentials: [hc_missing], models: ["gpt-4o-mini"], operations: [chat]}`,
			want: []string{"no identity issuer is configured", "role=dev missing=hc_missing", "no role's held credential is in the store"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
			t.Setenv("AICRED_MASTER_KEY", "")
			t.Setenv("AICRED_CONFIG", "")
			t.Setenv("AICRED_STORE", filepath.Join(dir, "a.db"))
			cfg := filepath.Join(dir, "aicred.yaml")
			writeConfig(t, cfg, "listen: "+freeAddr(t)+"\n"+c.cfg+"\n")
			ctx, cancel := context.WithCancel(context.Background())
			var out, errb lockedBuffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"serve", "--config", cfg}, strings.NewReader(""), &out, &errb) }()
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(errb.String(), "listening on") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			<-done
			log := errb.String()
			for _, w := range c.want {
				if !strings.Contains(log, w) {
					t.Errorf("no %q in:\n%s", w, log)
				}
			}
			if !bytes.Contains([]byte(log), []byte("level=WARN")) {
				t.Errorf("the warnings are not at level WARN:\n%s", log)
			}
		})
	}
}
