package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/sqlite"
)

func post(h http.Handler, path, tok, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAdminHolds: a revocation by workload through the admin API holds
// the workload (for the request's hold, or the server's default), other
// revocations hold nothing, and holds are listed, set and lifted with
// the right scopes.
func TestAdminHolds(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "aicred.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	writeTok, readTok := token(provider.TokenPrefixAdmin, 10), token(provider.TokenPrefixAdmin, 11)
	for i, tk := range []struct{ tok, scope string }{{writeTok, "write"}, {readTok, "read"}} {
		g := &aicred.Grant{ID: "tok_admin" + string(rune('a'+i)), TokenHash: aicred.HashToken(tk.tok), Class: aicred.TokenAdmin,
			Issuer: "cli", Subject: "alice", Scope: []string{tk.scope}, ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.IssueGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	a := &Admin{Store: st, Log: quiet, WorkloadHold: 30 * time.Minute}
	h := a.Handler()
	holds := func() []aicred.WorkloadHold {
		t.Helper()
		rec := get(h, "/admin/v1/holds", readTok)
		var out struct{ Holds []aicred.WorkloadHold }
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Holds == nil {
			t.Fatalf("list holds: %d %s", rec.Code, rec.Body)
		}
		return out.Holds
	}
	const wl = "https://issuer.example repo:acme/api"
	cases := []struct {
		name, body string
		code       int
		held       time.Duration // 0: no hold
	}{
		{"by role holds nothing", `{"by":"role","value":"ci","hold":"2h"}`, http.StatusOK, 0},
		{"no hold asked", `{"by":"workload","value":"` + wl + `","hold":"none"}`, http.StatusOK, 0},
		{"bad hold", `{"by":"workload","value":"` + wl + `","hold":"soon"}`, http.StatusBadRequest, 0},
		{"negative hold", `{"by":"workload","value":"` + wl + `","hold":"-1h"}`, http.StatusBadRequest, 0},
		{"server default", `{"by":"workload","value":"` + wl + `"}`, http.StatusOK, 30 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			if rec := post(h, "/admin/v1/revocations", writeTok, c.body); rec.Code != c.code {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			hs := holds()
			if c.held == 0 {
				if len(hs) != 0 {
					t.Fatalf("held: %+v", hs)
				}
				return
			}
			if len(hs) != 1 || hs[0].Workload != wl || hs[0].CreatedBy != "admin:tok_admina" ||
				hs[0].Until.Before(start.Add(c.held-time.Second)) || hs[0].Until.After(time.Now().Add(c.held)) {
				t.Fatalf("holds %+v", hs)
			}
		})
	}
	// The read token cannot lift; the write token can, once.
	if rec := post(h, "/admin/v1/holds/lift", readTok, `{"workload":"`+wl+`"}`); rec.Code != http.StatusForbidden {
		t.Fatalf("lift with a read token: %d", rec.Code)
	}
	if rec := post(h, "/admin/v1/holds/lift", writeTok, `{"workload":"`+wl+`","reason":"cleared"}`); rec.Code != http.StatusOK {
		t.Fatalf("lift: %d %s", rec.Code, rec.Body)
	}
	if len(holds()) != 0 {
		t.Fatal("still held after lifting")
	}
	if rec := post(h, "/admin/v1/holds/lift", writeTok, `{"workload":"`+wl+`"}`); rec.Code != http.StatusNotFound {
		t.Fatalf("lift twice: %d", rec.Code)
	}
	// A hold set directly.
	if rec := post(h, "/admin/v1/holds", writeTok, `{"workload":"`+wl+`","for":"3h","reason":"investigating"}`); rec.Code != http.StatusOK {
		t.Fatalf("hold: %d %s", rec.Code, rec.Body)
	}
	if hs := holds(); len(hs) != 1 || hs[0].Reason != "investigating" || hs[0].Until.Before(time.Now().Add(3*time.Hour-time.Minute)) {
		t.Fatalf("direct hold: %+v", hs)
	}
	for _, body := range []string{`{"workload":"no-subject"}`, `{"workload":"` + wl + `","for":"none"}`} {
		if rec := post(h, "/admin/v1/holds", writeTok, body); rec.Code != http.StatusBadRequest {
			t.Fatalf("hold %s: %d", body, rec.Code)
		}
	}
}
