package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/respond"
	"github.com/aicred/aicred/sqlite"
)

// TestRespondConfig: the respond section is read (rules in order, the
// webhook, base URLs) and bad values refused with their line.
func TestRespondConfig(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "whsec")
	if err := os.WriteFile(secret, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseServerConfig([]byte(`respond:
  base_urls: {openai: "http://127.0.0.1:9/"}
  webhook: {url: "http://127.0.0.1:9/hook", secret_file: ` + secret + `, timeout: 2s, retries: 2, backoff: 100ms}
  rules:
    - {name: prod, provider: openai, environment: "prod*", action: rotate, admin: hc_admin}
    - {kind: "*-key", action: suspend}
`))
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.Respond
	if rc.BaseURLs["openai"] != "http://127.0.0.1:9/" || rc.Webhook == nil || rc.Webhook.Retries != 2 || len(rc.Policy.Rules) != 2 {
		t.Fatalf("respond config %+v", rc)
	}
	if r := rc.Policy.Match("openai", "project-key", "prod-eu"); r.Name != "prod" || r.Action != respond.ActRotate || r.Admin != "hc_admin" {
		t.Fatalf("match %+v", r)
	}
	if r := rc.Policy.Match("anthropic", "api-key", ""); r.Name != "rule 2" || r.Action != respond.ActSuspend {
		t.Fatalf("match %+v", r)
	}
	if r := rc.Policy.Match("anthropic", "oauth-token", ""); r.Action != respond.ActNotify {
		t.Fatalf("default %+v", r)
	}
	for _, tc := range []struct{ doc, want string }{
		{"respond:\n  rules:\n    - {action: delete}\n", "line 3"},
		{"respond:\n  rules:\n    - {provider: \"[\", action: notify}\n", "not a glob"},
		{"respond:\n  rules:\n    - {action: suspend, admin: hc_x}\n", "admin is only"},
		{"respond:\n  rules:\n    - {action: notify, when: now}\n", `unknown key "when"`},
		{"respond:\n  rules: {action: notify}\n", "want a list"},
		{"respond:\n  base_urls: {openai: ftp://x}\n", "line 2"},
		{"respond:\n  base_urls: {openai: \"https://u:p@x/\"}\n", "without credentials"},
		{"respond:\n  webhook: {url: \"http://127.0.0.1:9/\"}\n", "secret_file"},
		{"respond:\n  webhook: {url: \"http://127.0.0.1:9/\", secret_file: /nonexistent}\n", "line 2"},
		{"respond:\n  webhook: {url: \"http://127.0.0.1:9/\", retries: -1}\n", "line 2"},
		{"respond:\n  nope: 1\n", `unknown key "nope"`},
		{"respond: [1]\n", "must be a mapping"},
	} {
		if _, err := parseServerConfig([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// TestServeSuspendedCredential: a held credential suspended in the store
// (as the policy's suspend does) is no longer injected by a running
// gateway, at once (the held-key revocation flushes its cache); made
// active again, it is.
func TestServeSuspendedCredential(t *testing.T) {
	e := startServe(t, 8, func(oaiURL, _ string) string {
		return "  upstreams:\n    openai: " + oaiURL + "\n    anthropic: off"
	})
	chat := func() int {
		code, _ := httpDo(t, "POST", e.base+"/openai/v1/chat/completions", e.tok,
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		return code
	}
	if code := chat(); code != http.StatusOK {
		t.Fatalf("before: %d", code)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, e.store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.SetHeldStatus(ctx, "hc_e2e_openai", aicred.HeldSuspended, "leak at repo/.env:1"); err != nil {
		t.Fatal(err)
	}
	// Another process's store: the revocation arrives at serve's next poll.
	start := time.Now()
	eventually(t, "suspended credential refused", func() bool { return chat() == http.StatusForbidden })
	t.Logf("suspension effective at the gateway after %v", time.Since(start))
	if _, err := st.SetHeldStatus(ctx, "hc_e2e_openai", aicred.HeldActive, "false alarm"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reinstated credential used", func() bool { return chat() == http.StatusOK })
}
