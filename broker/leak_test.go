package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

func TestRevokeLeaked(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	st := NewMemoryTokenStore(func() time.Time { return now })
	issue := func(id, class string, exp time.Time) string {
		tok := mintToken()
		if class == aicred.TokenAdmin {
			tok = provider.FormatToken(provider.TokenPrefixAdmin, tok[len(provider.TokenPrefixWorkload):][:provider.TokenRandomLen])
		}
		g := &aicred.Grant{ID: id, TokenHash: aicred.HashToken(tok), Class: class, Issuer: "iss", Subject: "sub",
			IssuedAt: now.Add(-time.Hour), ExpiresAt: exp}
		if err := st.IssueGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	live := issue("tok_live", aicred.TokenWorkload, now.Add(time.Hour))
	// The last character changed to one it is not (the token is random).
	badChecksum := live[:len(live)-1] + "0"
	if strings.HasSuffix(live, "0") {
		badChecksum = live[:len(live)-1] + "1"
	}
	admin := issue("tok_admin", aicred.TokenAdmin, now.Add(time.Hour))
	expired := issue("tok_old", aicred.TokenWorkload, now.Add(-time.Minute))
	unknown := mintToken()

	for _, tc := range []struct {
		name, token, status, grant string
	}{
		{"live workload token", live, LeakRevoked, "tok_live"},
		{"again: already dead", live, LeakAlreadyDead, "tok_live"},
		{"admin token", admin, LeakRevoked, "tok_admin"},
		{"expired", expired, LeakAlreadyDead, "tok_old"},
		{"unknown", unknown, LeakUnknown, ""},
		{"bad checksum", badChecksum, LeakNotToken, ""},
		{"not a token", "hello", LeakNotToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := RevokeLeaked(ctx, st, tc.token, "repo/app.log:3 "+tc.token, now)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.status || res.GrantID != tc.grant {
				t.Fatalf("got %+v, want status %s grant %q", res, tc.status, tc.grant)
			}
		})
	}
	g, err := st.LookupGrant(ctx, aicred.HashToken(live))
	if err != nil {
		t.Fatal(err)
	}
	if g.Active(now) || g.RevokeReason != "leaked: repo/app.log:3 [token]" {
		t.Fatalf("grant after leak: active %v, reason %q", g.Active(now), g.RevokeReason)
	}
	if _, err := ValidateToken(ctx, st, live, now); aicred.KindOf(err) != aicred.ErrUnauthorized {
		t.Fatalf("leaked token still validates: %v", err)
	}
}

func TestLeakReason(t *testing.T) {
	tok := mintToken()
	other := mintToken()
	for _, tc := range []struct{ where, want string }{
		{"a.txt:1", "leaked: a.txt:1"},
		{"", "leaked: unknown place"},
		{"x " + tok + " y", "leaked: x [token] y"},
		{"https://x/?t=" + other, "leaked: https://x/?t=[token]"},
		{strings.Repeat("é", 300), "leaked: " + strings.Repeat("é", 100) + "…"},
	} {
		if got := LeakReason(tok, tc.where); got != tc.want {
			t.Errorf("LeakReason(%q) = %q, want %q", tc.where, got, tc.want)
		}
	}
}
