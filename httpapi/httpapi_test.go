package httpapi

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
	"github.com/aicred/aicred/provider"
)

// downStore answers every call with ErrUnavailable: the database is down.
type downStore struct{ AdminStore }

func (downStore) LookupGrant(context.Context, string) (*aicred.Grant, error) {
	return nil, aicred.Errorf(aicred.ErrUnavailable, "store: connection refused")
}

// fixedStore knows one grant.
type fixedStore struct {
	AdminStore
	g *aicred.Grant
}

func (s fixedStore) LookupGrant(_ context.Context, h string) (*aicred.Grant, error) {
	if s.g != nil && s.g.TokenHash == h {
		return s.g, nil
	}
	return nil, aicred.Errorf(aicred.ErrNotFound, "no such grant")
}

func (s fixedStore) ListGrants(context.Context, aicred.TokenFilter) ([]aicred.Grant, error) {
	return []aicred.Grant{*s.g}, nil
}

func token(prefix string, seed uint64) string {
	return provider.FormatToken(prefix, provider.NewGen(seed).Chars(provider.Alnum, provider.TokenRandomLen))
}

func get(h http.Handler, path, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestFailClosed: authorization never passes when the store cannot answer,
// and refusals never echo the presented token.
func TestFailClosed(t *testing.T) {
	admin := token(provider.TokenPrefixAdmin, 1)
	work := token(provider.TokenPrefixWorkload, 2)
	a := &Admin{Store: downStore{}, Log: quiet}
	if rec := get(a.Handler(), "/admin/v1/tokens", admin); rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), admin) {
		t.Errorf("admin with store down: %d %s", rec.Code, rec.Body)
	}
	if rec := get(WhoAmI(downStore{}, quiet), "/aicred/v1/whoami", work); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("whoami with store down: %d", rec.Code)
	}
}

func TestAdminAuth(t *testing.T) {
	now := time.Now()
	readTok, writeTok := token(provider.TokenPrefixAdmin, 3), token(provider.TokenPrefixAdmin, 4)
	g := func(tok string, scope string, exp time.Time) *aicred.Grant {
		return &aicred.Grant{ID: "tok_x", TokenHash: aicred.HashToken(tok), Class: aicred.TokenAdmin, Scope: []string{scope}, ExpiresAt: exp}
	}
	cases := []struct {
		name  string
		grant *aicred.Grant
		tok   string
		want  int
	}{
		{"no token", nil, "", http.StatusUnauthorized},
		{"not an aicred token", nil, "sk-not-ours", http.StatusUnauthorized},
		{"bad checksum", nil, readTok[:len(readTok)-1] + "x", http.StatusUnauthorized},
		{"workload token", g(token(provider.TokenPrefixWorkload, 5), "read", now.Add(time.Hour)), token(provider.TokenPrefixWorkload, 5), http.StatusUnauthorized},
		{"unknown", nil, readTok, http.StatusUnauthorized},
		{"expired", g(readTok, "read", now.Add(-time.Second)), readTok, http.StatusUnauthorized},
		{"read ok", g(readTok, "read", now.Add(time.Hour)), readTok, http.StatusOK},
		{"write can read", g(writeTok, "write", now.Add(time.Hour)), writeTok, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &Admin{Store: fixedStore{g: c.grant}, Log: quiet}
			if rec := get(a.Handler(), "/admin/v1/tokens", c.tok); rec.Code != c.want {
				t.Errorf("got %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
		})
	}
	a := &Admin{Store: fixedStore{g: g(readTok, "read", now.Add(time.Hour))}, Log: quiet}
	req := httptest.NewRequest(http.MethodPost, "/admin/v1/revocations", strings.NewReader(`{"by":"role","value":"x"}`))
	req.Header.Set("Authorization", "Bearer "+readTok)
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("read token revoked: %d", rec.Code)
	}
}
