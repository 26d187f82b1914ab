package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeLeaksConfig: the leaks section is read, defaults left to the
// handler, and bad values refused with their line.
func TestServeLeaksConfig(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "gh")
	if err := os.WriteFile(tokFile, []byte("gh-test-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseServerConfig([]byte("leaks:\n  github_keys_url: http://127.0.0.1:9/keys\n  github_token_file: " + tokFile +
		"\n  keys_ttl: 10m\n  keys_refetch: 30s\n  max_body_bytes: 4096\n"))
	if err != nil {
		t.Fatal(err)
	}
	gh := cfg.Leaks.github()
	if gh == nil || gh.URL != "http://127.0.0.1:9/keys" || gh.Token != "gh-test-value" || gh.TTL != 10*time.Minute ||
		gh.MinRefetch != 30*time.Second || cfg.Leaks.MaxBody != 4096 {
		t.Fatalf("leaks config %+v", cfg.Leaks)
	}
	if cfg, err := parseServerConfig([]byte("leaks:\n")); err != nil || cfg.Leaks.github() != nil {
		t.Fatalf("empty leaks section: %v", err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"leaks:\n  github_keys_url: ftp://x\n", "line 2"},
		{"leaks:\n  github_keys_url: https://u:p@x/\n", "user information"},
		{"leaks:\n  keys_ttl: soon\n", "line 2"},
		{"leaks:\n  max_body_bytes: -1\n", "line 2"},
		{"leaks:\n  nope: 1\n", `unknown key "nope"`},
		{"leaks:\n  github_token_file: /nonexistent/x\n", "line 2"},
		{"leaks: [1]\n", "must be a mapping"},
	} {
		if _, err := parseServerConfig([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}
