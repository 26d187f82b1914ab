package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/httpapi"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

const miniChatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// TestTokenCreate issues tokens by hand, on the store with serve's
// configuration and through the admin API, uses them through the gateway,
// and finds them in the audit log, the token list and the posture report.
func TestTokenCreate(t *testing.T) {
	e := startServe(t, 11, func(oaiURL, antURL string) string {
		return "  upstreams:\n    openai: " + oaiURL + "\n    anthropic: " + antURL
	})
	// The test's AICRED_STORE names the same file; the configuration
	// alone must find it.
	t.Setenv("AICRED_STORE", filepath.Join(t.TempDir(), "elsewhere.db"))

	// On the store, as the admin running the command.
	r := runCLI(t, "", "token", "create", "--config", e.cfg, "--role", "sdk-e2e", "--workload", "laptop")
	if r.code != exitOK {
		t.Fatalf("token create: %d %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(tok, provider.TokenPrefixWorkload) || !provider.ValidToken(tok) {
		t.Fatalf("stdout is not a workload token alone")
	}
	if !strings.Contains(r.stderr, "token tok_") || !strings.Contains(r.stderr, "expires 20") || strings.Contains(r.stderr, tok) {
		t.Errorf("stderr should name the id and expiry, not the token: %s", r.stderr)
	}
	if code, body := httpDo(t, "POST", e.base+"/v1/chat/completions", tok, strings.NewReader(miniChatBody)); code != http.StatusOK || !strings.Contains(body, "Hello!") {
		t.Fatalf("gateway call with the hand-issued token: %d %s", code, body)
	}
	if e.oai.callCount() != 1 {
		t.Fatalf("upstream calls %d", e.oai.callCount())
	}

	// The grant is the workload aicred:manual laptop, with the role's
	// lifetime (10m).
	r = runCLI(t, "", "token", "list", "--config", e.cfg, "--format", "json")
	var list struct{ Tokens []aicred.Grant }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatal(err)
	}
	var manual *aicred.Grant
	for i, g := range list.Tokens {
		if g.Issuer == "aicred:manual" {
			manual = &list.Tokens[i]
		}
	}
	if manual == nil || manual.Subject != "laptop" || manual.Role != "sdk-e2e" || manual.ExpiresAt.Sub(manual.IssuedAt) != 10*time.Minute {
		t.Fatalf("hand-issued grant: %+v", manual)
	}

	// Audited: token.issued and token.created, naming who.
	st, err := sqlite.Open(context.Background(), e.store)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.ListAudit(context.Background(), 1, 1000)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var created *aicred.AuditEvent
	for i, ev := range evs {
		if ev.Action == httpapi.ActionTokenCreated && ev.Subject == manual.ID {
			created = &evs[i]
		}
	}
	if created == nil || !strings.HasPrefix(created.Actor, "cli") || created.Data["issued_by"] != created.Actor ||
		created.Data["workload"] != "aicred:manual laptop" || created.Data["role"] != "sdk-e2e" {
		t.Fatalf("token.created: %+v", created)
	}

	// The posture report flags the held credential the token may use.
	r = runCLI(t, "", "report", "--config", e.cfg, "--format", "json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"check": "AIC-NHI10-MANUAL-TOKEN"`) || !strings.Contains(r.stdout, "for laptop.") {
		t.Fatalf("report: %d %s", r.code, r.stderr)
	}

	// TTL: within the role's bounds only.
	for _, ttl := range []string{"2h", "11m", "30s"} {
		if r := runCLI(t, "", "token", "create", "--config", e.cfg, "--role", "sdk-e2e", "--workload", "laptop", "--ttl", ttl); r.code == exitOK || !strings.Contains(r.stderr, "ttl") {
			t.Errorf("--ttl %s: %d %s", ttl, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"--role", "nope", "--workload", "laptop"},
		{"--role", "sdk-e2e", "--workload", "has space"},
	} {
		if r := runCLI(t, "", append([]string{"token", "create", "--config", e.cfg}, args...)...); r.code == exitOK {
			t.Errorf("%v: accepted", args)
		}
	}

	// Through the admin API: a write-scope admin token is required.
	admin := func(scope string) string {
		r := runCLI(t, "", "admin-token", "create", "--config", e.cfg, "--scope", scope)
		if r.code != exitOK {
			t.Fatalf("admin-token: %s", r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	t.Setenv("AICRED_ADMIN_TOKEN", admin("read"))
	if r := runCLI(t, "", "token", "create", "--server", e.base, "--role", "sdk-e2e", "--workload", "ci-debug"); r.code == exitOK || !strings.Contains(r.stderr, "403") {
		t.Errorf("read scope: %d %s", r.code, r.stderr)
	}
	t.Setenv("AICRED_ADMIN_TOKEN", admin("write"))
	r = runCLI(t, "", "token", "create", "--server", e.base, "--role", "sdk-e2e", "--workload", "ci-debug", "--ttl", "5m", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("remote token create: %d %s", r.code, r.stderr)
	}
	var it httpapi.IssuedToken
	if err := json.Unmarshal([]byte(r.stdout), &it); err != nil || !provider.ValidToken(it.Token) || !strings.HasPrefix(it.ID, "tok_") ||
		it.ExpiresAt.Sub(it.IssuedAt) != 5*time.Minute || it.Issuer != "aicred:manual" || it.Workload != "ci-debug" {
		t.Fatalf("remote token: %v %+v", err, it)
	}
	if code, body := httpDo(t, "GET", e.base+"/aicred/v1/whoami", it.Token, nil); code != http.StatusOK || !strings.Contains(body, it.ID) {
		t.Fatalf("whoami: %d %s", code, body)
	}

	// Revoking the workload withdraws its hand-issued tokens.
	if r := runCLI(t, "", "token", "revoke", "--config", e.cfg, "--workload", "aicred:manual laptop", "--no-hold"); r.code != exitOK {
		t.Fatalf("revoke: %s", r.stderr)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, _ := httpDo(t, "GET", e.base+"/aicred/v1/whoami", tok, nil)
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked hand-issued token still accepted: %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// No token ever reaches the log.
	res := e.stop()
	for _, s := range []string{tok, it.Token} {
		if strings.Contains(res.stderr, s) || strings.Contains(res.stdout, s) {
			t.Fatal("a token reached the server's output")
		}
	}
}

// TestTokenCreateNeedsConfig: without a configuration or a server there
// are no roles to issue for, and the error says what to give.
func TestTokenCreateNeedsConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AICRED_STORE", filepath.Join(dir, "a.db"))
	t.Setenv("AICRED_CONFIG", "")
	t.Setenv("AICRED_SERVER", "")
	r := runCLI(t, "", "token", "create", "--role", "r", "--workload", "w")
	if r.code != exitError || !strings.Contains(r.stderr, "--config") {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.db")); err == nil {
		t.Error("a store was created for a refused command")
	}
}
