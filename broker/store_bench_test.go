package broker

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/grantcache"
	"github.com/aicred/aicred/sqlite"
)

// sqliteTokens is what `aicred serve` uses by default: the grant cache in
// front of the embedded SQLite store (every grant is written, with its
// audit record, before the token is returned).
func sqliteTokens(b *testing.B) *grantcache.Cache {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "aicred.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	c := grantcache.New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkExchangeRS256SQLite is the issue's target configuration: RS256
// subject tokens, grants recorded in SQLite with their audit records.
// Target: 3,000 exchanges/s on 2 cores.
func BenchmarkExchangeRS256SQLite(b *testing.B) {
	tokens := sqliteTokens(b)
	f := newFixture(b, func(o *BuildOptions) {
		o.Tokens = tokens
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	})
	benchExchange(b, f, f.oidcToken(nil))
}

// BenchmarkValidateTokenGrantCache checks a presented token against the
// warm grant cache over SQLite (what the gateway and whoami do).
// Target: under 5 µs.
func BenchmarkValidateTokenGrantCache(b *testing.B) {
	c := sqliteTokens(b)
	ctx := context.Background()
	now := time.Now()
	toks := make([]string, 2000)
	for i := range toks {
		toks[i] = mintToken()
		g := &aicred.Grant{ID: newGrantID(), TokenHash: aicred.HashToken(toks[i]), Class: aicred.TokenWorkload,
			Role: "ci", Policy: "p", Credentials: []string{"hc_1"}, Scope: []string{"chat"},
			Issuer: "https://issuer.test", Subject: "w", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := c.IssueGrant(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ValidateToken(ctx, c, toks[i%len(toks)], now); err != nil {
			b.Fatal(err)
		}
	}
}
