package broker

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// benchFixture is the test broker logging JSON to io.Discard (the encoding
// cost stays in the measurement).
func benchFixture(b *testing.B) *fixture {
	b.Helper()
	return newFixture(b, func(o *BuildOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	})
}

func benchExchange(b *testing.B, f *fixture, tok string) {
	b.Helper()
	ctx := context.Background()
	req := &ExchangeRequest{SubjectToken: tok, SubjectTokenType: TokenTypeJWT, Scope: "chat"}
	if _, err := f.x.Exchange(ctx, req); err != nil { // warms the key cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.x.Exchange(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exchanges/s")
}

// BenchmarkExchangeRS256 is the exchange path without HTTP: route, verify
// an RS256 token against cached discovery keys, match a policy, narrow the
// scope, mint, hash and record, log. Target: 3,000/s on 2 cores.
func BenchmarkExchangeRS256(b *testing.B) {
	f := benchFixture(b)
	benchExchange(b, f, f.oidcToken(nil))
}

func BenchmarkExchangeES256(b *testing.B) {
	f := benchFixture(b)
	benchExchange(b, f, f.spiffeToken(nil))
}

func BenchmarkExchangeEdDSA(b *testing.B) {
	f := benchFixture(b)
	benchExchange(b, f, f.k8sToken(nil))
}

// BenchmarkExchangeHTTPRS256 adds the handler: form parsing and the JSON
// response, through an in-process recorder.
func BenchmarkExchangeHTTPRS256(b *testing.B) {
	f := benchFixture(b)
	body := exchangeForm(f.oidcToken(nil), "scope", "chat").Encode()
	serve := func() int {
		req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		f.x.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := serve(); c != http.StatusOK {
		b.Fatalf("status %d", c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c := serve(); c != http.StatusOK {
				b.Errorf("status %d", c)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exchanges/s")
}

// issuedTokens fills a memory store with n live grants and returns their tokens.
func issuedTokens(b *testing.B, n int) (*MemoryTokenStore, []string, time.Time) {
	b.Helper()
	clock := newTestClock()
	s := NewMemoryTokenStore(clock.Now)
	ctx := context.Background()
	toks := make([]string, n)
	for i := range toks {
		toks[i] = mintToken()
		g := &aicred.Grant{ID: newGrantID(), TokenHash: aicred.HashToken(toks[i]), Class: aicred.TokenWorkload,
			Role: "ci", Policy: "p", Credentials: []string{"hc_1"}, Scope: []string{"chat"},
			Issuer: "https://issuer.test", Subject: "w", IssuedAt: clock.Now(), ExpiresAt: clock.Now().Add(15 * time.Minute)}
		if err := s.IssueGrant(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	return s, toks, clock.Now()
}

// BenchmarkValidateToken is the gateway's check of a presented token on a
// warm store of 100,000 grants: checksum, SHA-256, map lookup, expiry.
// Target: under 5 µs.
func BenchmarkValidateToken(b *testing.B) {
	s, toks, now := issuedTokens(b, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ValidateToken(ctx, s, toks[i%len(toks)], now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateTokenParallel(b *testing.B) {
	s, toks, now := issuedTokens(b, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := ValidateToken(ctx, s, toks[i%len(toks)], now); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

func BenchmarkVerifyRS256(b *testing.B) {
	clock := newTestClock()
	v := newTestVerifier(b, clock, nil)
	tok := signJWT(b, fixtureKeys().rsa, "RS256", "r", baseClaims(clock.Now()), nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
