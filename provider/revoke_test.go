package provider

import (
	"net/url"
	"testing"
)

// TestEveryKindHasRevokeURL: a finding always says where to revoke or
// rotate the credential, on the provider's own site, over HTTPS.
func TestEveryKindHasRevokeURL(t *testing.T) {
	for _, k := range Kinds() {
		name := k.Provider().ID + "/" + k.ID
		u, err := url.Parse(k.RevokeURL)
		if k.RevokeURL == "" || err != nil || u.Scheme != "https" || u.Host == "" {
			t.Errorf("%s: revoke URL %q, want an https URL", name, k.RevokeURL)
		}
	}
}

// TestRevokeURLOverrides: a kind managed on its own page keeps it; the
// others take the provider's.
func TestRevokeURLOverrides(t *testing.T) {
	tests := []struct{ provider, kind, want string }{
		{"openai", "project-key", "https://platform.openai.com/api-keys"},
		{"openai", "admin-key", "https://platform.openai.com/settings/organization/admin-keys"},
		{"anthropic", "api-key", "https://console.anthropic.com/settings/keys"},
		{"anthropic", "admin-key", "https://console.anthropic.com/settings/admin-keys"},
		{"huggingface", "access-token", "https://huggingface.co/settings/tokens"},
		{"google", "gemini-key", "https://aistudio.google.com/app/apikey"},
	}
	for _, tt := range tests {
		k, ok := LookupKind(tt.provider, tt.kind)
		if !ok {
			t.Fatalf("no kind %s/%s", tt.provider, tt.kind)
		}
		if k.RevokeURL != tt.want {
			t.Errorf("%s/%s: %q, want %q", tt.provider, tt.kind, k.RevokeURL, tt.want)
		}
	}
}
