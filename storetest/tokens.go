package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

// Token returns a fresh, random aicred token with the given prefix
// (provider.TokenPrefixWorkload or provider.TokenPrefixAdmin).
func Token(tb testing.TB, prefix string) string {
	tb.Helper()
	var b [provider.TokenRandomLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	for i := range b {
		b[i] = provider.Alnum[int(b[i])%len(provider.Alnum)]
	}
	tok := provider.FormatToken(prefix, string(b[:]))
	if !provider.ValidToken(tok) {
		tb.Fatalf("generated token does not validate")
	}
	return tok
}

// GrantID returns a fresh grant id.
func GrantID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
}

// grantSpec describes a test grant; times are relative to now.
type grantSpec struct {
	issuer, subject, role, policy string
	creds                         []string
	issued, expires               time.Duration // offsets from now
}

// NewGrant returns a workload grant for a fresh token, issued now and
// valid for 15 minutes, and the token.
func NewGrant(tb testing.TB, issuer, subject, role, policy string, creds ...string) (*aicred.Grant, string) {
	tb.Helper()
	return newGrant(tb, time.Now(), grantSpec{issuer: issuer, subject: subject, role: role, policy: policy, creds: creds, expires: 15 * time.Minute})
}

func newGrant(tb testing.TB, now time.Time, s grantSpec) (*aicred.Grant, string) {
	tb.Helper()
	tok := Token(tb, provider.TokenPrefixWorkload)
	return &aicred.Grant{
		ID:          GrantID(),
		TokenHash:   aicred.HashToken(tok),
		Class:       aicred.TokenWorkload,
		Issuer:      s.issuer,
		Subject:     s.subject,
		Policy:      s.policy,
		Role:        s.role,
		Scope:       []string{"chat", "embeddings", "gpt-4o*"},
		Audience:    "aicred",
		Environment: "prod",
		Credentials: s.creds,
		IssuedAt:    now.Add(s.issued),
		ExpiresAt:   now.Add(s.expires),
	}, tok
}

func issue(tb testing.TB, s aicred.Store, g *aicred.Grant) *aicred.Grant {
	tb.Helper()
	if err := s.IssueGrant(ctx(tb), g); err != nil {
		tb.Fatalf("issue %s: %v", g.ID, err)
	}
	return g
}

func sameGrant(tb testing.TB, got, want *aicred.Grant) {
	tb.Helper()
	if got.ID != want.ID || got.TokenHash != want.TokenHash || got.Class != want.Class || got.Issuer != want.Issuer ||
		got.Subject != want.Subject || got.Policy != want.Policy || got.Role != want.Role || !slices.Equal(got.Scope, want.Scope) ||
		got.Audience != want.Audience || got.Environment != want.Environment || !slices.Equal(got.Credentials, want.Credentials) ||
		!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.RevokedAt.Equal(want.RevokedAt) ||
		got.RevokeReason != want.RevokeReason {
		tb.Fatalf("grant:\n got %+v\nwant %+v", got, want)
	}
}

func grantIDs(gs []aicred.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

func testGrantsIssueLookupList(t *testing.T, b Backend) {
	s := open(t, b)
	now := time.Now()
	// Issued a minute apart, oldest first; c is an admin token, x expired.
	a, tokA := newGrant(t, now, grantSpec{issuer: "https://token.actions.githubusercontent.com", subject: "repo:acme/api:ref:refs/heads/main",
		role: "ci", policy: "gha-main", creds: []string{"hc_openai"}, issued: -4 * time.Minute, expires: 11 * time.Minute})
	bb, _ := newGrant(t, now, grantSpec{issuer: "https://token.actions.githubusercontent.com", subject: "repo:acme/web:ref:refs/heads/main",
		role: "ci", policy: "gha-main", issued: -3 * time.Minute, expires: 12 * time.Minute})
	c, _ := newGrant(t, now, grantSpec{issuer: "aicred-cli", subject: "cli:alice@host", issued: -2 * time.Minute, expires: 30 * 24 * time.Hour})
	c.Class, c.Scope, c.Audience, c.Environment = aicred.TokenAdmin, []string{"write"}, "", ""
	x, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "system:serviceaccount:ml:trainer",
		role: "train", policy: "k8s-ml", issued: -2 * time.Hour, expires: -time.Hour})
	d, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "system:serviceaccount:ml:trainer",
		role: "train", policy: "k8s-ml", creds: []string{"hc_openai", "hc_anthropic"}, expires: 15 * time.Minute})
	d.IssuedAt = time.Time{} // defaults to now
	for _, g := range []*aicred.Grant{a, bb, c, x, d} {
		issue(t, s, g)
	}
	if d.IssuedAt.IsZero() || d.IssuedAt.Before(now.Add(-time.Second)) {
		t.Fatalf("IssuedAt not defaulted to now: %v", d.IssuedAt)
	}

	got := must(s.LookupGrant(ctx(t), aicred.HashToken(tokA)))(t)
	sameGrant(t, got, a)
	if !got.Active(time.Now()) {
		t.Fatal("a fresh grant is not active")
	}
	gx := must(s.LookupGrant(ctx(t), x.TokenHash))(t)
	sameGrant(t, gx, x)
	if gx.Active(time.Now()) {
		t.Fatal("an expired grant is active")
	}
	other := aicred.HashToken(Token(t, provider.TokenPrefixWorkload))
	_, err := s.LookupGrant(ctx(t), other)
	wantKind(t, err, aicred.ErrNotFound)
	if strings.Contains(err.Error(), other) {
		t.Fatal("the not-found error quotes the token hash")
	}

	list := func(f aicred.TokenFilter, want ...*aicred.Grant) {
		t.Helper()
		gs := must(s.ListGrants(ctx(t), f))(t)
		var ids []string
		for _, g := range want {
			ids = append(ids, g.ID)
		}
		if !slices.Equal(grantIDs(gs), ids) {
			t.Fatalf("ListGrants(%+v) = %v, want %v", f, grantIDs(gs), ids)
		}
		for i := range gs {
			sameGrant(t, &gs[i], want[i])
		}
	}
	list(aicred.TokenFilter{}, d, c, bb, a)
	list(aicred.TokenFilter{IncludeExpired: true}, d, c, bb, a, x)
	list(aicred.TokenFilter{Class: aicred.TokenAdmin}, c)
	list(aicred.TokenFilter{Class: aicred.TokenWorkload, Role: "ci"}, bb, a)
	list(aicred.TokenFilter{Role: "train"}, d)
	list(aicred.TokenFilter{Role: "train", IncludeExpired: true}, d, x)
	list(aicred.TokenFilter{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/web:ref:refs/heads/main"}, bb)
	list(aicred.TokenFilter{Subject: "system:serviceaccount:ml:trainer", IncludeExpired: true}, d, x)
	list(aicred.TokenFilter{Role: "nobody"})
	// By held credential (exact ids in the list, not prefixes) and by id.
	list(aicred.TokenFilter{Credential: "hc_openai"}, d, a)
	list(aicred.TokenFilter{Credential: "hc_anthropic", Role: "train"}, d)
	list(aicred.TokenFilter{Credential: "hc_open"})
	list(aicred.TokenFilter{ID: bb.ID}, bb)
	list(aicred.TokenFilter{ID: x.ID})
	list(aicred.TokenFilter{ID: x.ID, IncludeExpired: true}, x)
	list(aicred.TokenFilter{Limit: 2}, d, c)
	list(aicred.TokenFilter{IncludeExpired: true, Limit: 1}, d)
	_, err = s.ListGrants(ctx(t), aicred.TokenFilter{Limit: -1})
	wantKind(t, err, aicred.ErrInvalid)

	// Same issue time: newest first falls back to the id, descending.
	e1, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "tie", expires: time.Hour})
	e2, _ := newGrant(t, now, grantSpec{issuer: "https://k8s.example", subject: "tie", expires: time.Hour})
	e1.ID, e2.ID = "tok_tie_a", "tok_tie_b"
	issue(t, s, e1)
	issue(t, s, e2)
	list(aicred.TokenFilter{Subject: "tie"}, e2, e1)

	// A revoked grant leaves the default listing but stays in the store.
	r := aicred.Revocation{By: aicred.RevokeToken, Value: bb.ID, Reason: "leaked in a log"}
	if err := s.Revoke(ctx(t), &r); err != nil {
		t.Fatal(err)
	}
	list(aicred.TokenFilter{Role: "ci"}, a)
	bb.RevokedAt, bb.RevokeReason = r.At, r.Reason
	list(aicred.TokenFilter{Role: "ci", IncludeExpired: true}, bb, a)
	verifyOK(t, s)
}

func testGrantsConflictInvalid(t *testing.T, b Backend) {
	s := open(t, b)
	g, tok := NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:trainer", "train", "k8s-ml", "hc_1")
	issue(t, s, g)
	records := len(allAudit(t, s))

	sameID, _ := NewGrant(t, "https://k8s.example", "other", "train", "k8s-ml")
	sameID.ID = g.ID
	wantKind(t, s.IssueGrant(ctx(t), sameID), aicred.ErrConflict)
	sameHash, _ := NewGrant(t, "https://k8s.example", "other", "train", "k8s-ml")
	sameHash.TokenHash = g.TokenHash
	err := s.IssueGrant(ctx(t), sameHash)
	wantKind(t, err, aicred.ErrConflict)
	if strings.Contains(err.Error(), g.TokenHash) {
		t.Fatal("the conflict error quotes the token hash")
	}
	if _, err := s.LookupGrant(ctx(t), sameID.TokenHash); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Fatalf("a conflicting grant was stored: %v", err)
	}
	sameGrant(t, must(s.LookupGrant(ctx(t), g.TokenHash))(t), g)

	now := time.Now()
	bad := []struct {
		name string
		edit func(g *aicred.Grant)
	}{
		{"no id", func(g *aicred.Grant) { g.ID = "" }},
		{"id with a space", func(g *aicred.Grant) { g.ID = "tok 1" }},
		{"long id", func(g *aicred.Grant) { g.ID = strings.Repeat("a", 65) }},
		{"no hash", func(g *aicred.Grant) { g.TokenHash = "" }},
		{"the token as its hash", func(g *aicred.Grant) { g.TokenHash = tok }},
		{"upper-case hash", func(g *aicred.Grant) { g.TokenHash = strings.ToUpper(g.TokenHash) }},
		{"short hash", func(g *aicred.Grant) { g.TokenHash = g.TokenHash[:40] }},
		{"no class", func(g *aicred.Grant) { g.Class = "" }},
		{"unknown class", func(g *aicred.Grant) { g.Class = "root" }},
		{"no issuer", func(g *aicred.Grant) { g.Issuer = "" }},
		{"no subject", func(g *aicred.Grant) { g.Subject = "" }},
		{"issuer with a space", func(g *aicred.Grant) { g.Issuer = "https://k8s.example extra" }},
		{"no expiry", func(g *aicred.Grant) { g.ExpiresAt = time.Time{} }},
		{"expires when issued", func(g *aicred.Grant) { g.ExpiresAt = g.IssuedAt }},
		{"expires before issued", func(g *aicred.Grant) { g.ExpiresAt = g.IssuedAt.Add(-time.Minute) }},
		{"born revoked", func(g *aicred.Grant) { g.RevokedAt = now }},
		{"born with a revoke reason", func(g *aicred.Grant) { g.RevokeReason = "x" }},
		{"empty scope entry", func(g *aicred.Grant) { g.Scope = []string{"chat", ""} }},
		{"blank credential id", func(g *aicred.Grant) { g.Credentials = []string{" "} }},
	}
	for _, tc := range bad {
		g, _ := NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:trainer", "train", "k8s-ml")
		tc.edit(g)
		err := s.IssueGrant(ctx(t), g)
		if aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("%s: want an invalid error, got %v", tc.name, err)
			continue
		}
		if strings.Contains(err.Error(), tok) || (len(g.TokenHash) == 64 && strings.Contains(err.Error(), g.TokenHash)) {
			t.Errorf("%s: the error quotes the token or its hash: %v", tc.name, err)
		}
	}

	badRevocations := []aicred.Revocation{
		{By: "", Value: g.ID},
		{By: "grant", Value: g.ID},
		{By: aicred.RevokeToken, Value: ""},
		{By: aicred.RevokeRole, Value: "  "},
		{By: aicred.RevokeWorkload, Value: "https://k8s.example"},
		{By: aicred.RevokeWorkload, Value: " system:serviceaccount:ml:trainer"},
		{By: aicred.RevokeWorkload, Value: "https://k8s.example "},
		// A token or its hash pasted where the grant id belongs: refused,
		// so it never reaches the revocation log or the audit log.
		{By: aicred.RevokeToken, Value: tok},
		{By: aicred.RevokeToken, Value: Token(t, provider.TokenPrefixAdmin)},
		{By: aicred.RevokeToken, Value: g.TokenHash},
	}
	for _, r := range badRevocations {
		err := s.Revoke(ctx(t), &r)
		if aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("revoke by %q %q: want an invalid error, got %v", r.By, r.Value, err)
		} else if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), g.TokenHash) {
			t.Errorf("revoke: the error quotes the token or its hash: %v", err)
		}
	}
	if rs := must(s.RevocationsSince(ctx(t), 0))(t); len(rs) != 0 {
		t.Fatalf("refused revocations were recorded: %+v", rs)
	}
	if n := len(allAudit(t, s)); n != records {
		t.Fatalf("refused writes added %d audit records", n-records)
	}
	if !must(s.LookupGrant(ctx(t), g.TokenHash))(t).Active(time.Now()) {
		t.Fatal("a refused revocation revoked the grant")
	}
}

// revokeFixture issues grants that the revocation kinds tell apart, and
// returns them by name.
func revokeFixture(t *testing.T, s aicred.Store) map[string]*aicred.Grant {
	t.Helper()
	now := time.Now()
	const gha, k8s = "https://token.actions.githubusercontent.com", "https://k8s.example"
	specs := map[string]grantSpec{
		"api-ci":     {issuer: gha, subject: "repo:acme/api", role: "ci", policy: "gha", creds: []string{"hc_openai"}},
		"api-deploy": {issuer: gha, subject: "repo:acme/api", role: "deploy", policy: "gha-deploy", creds: []string{"hc_anthropic"}},
		"web-ci":     {issuer: gha, subject: "repo:acme/web", role: "ci", policy: "gha", creds: []string{"hc_openai", "hc_anthropic"}},
		// Same subject under another issuer: a workload is issuer + subject.
		"k8s-api": {issuer: k8s, subject: "repo:acme/api", role: "train", policy: "k8s", creds: []string{"hc_openai_2"}},
		// A subject with spaces: the workload value splits at the first.
		"spaced": {issuer: k8s, subject: "team ml / trainer", role: "train", policy: "k8s"},
		// Expired: matched by every kind below, yet never revoked.
		"expired": {issuer: gha, subject: "repo:acme/api", role: "ci", policy: "gha", creds: []string{"hc_openai"},
			issued: -2 * time.Hour, expires: -time.Hour},
	}
	out := map[string]*aicred.Grant{}
	for name, sp := range specs {
		if sp.expires == 0 {
			sp.expires = 15 * time.Minute
		}
		g, _ := newGrant(t, now, sp)
		out[name] = issue(t, s, g)
	}
	return out
}

func testRevokeKinds(t *testing.T, b Backend) {
	cases := []struct {
		by, value string
		want      []string // the grants revoked, sorted
	}{
		{aicred.RevokeToken, "api-ci", []string{"api-ci"}}, // value: replaced by the grant's id
		{aicred.RevokeWorkload, "https://token.actions.githubusercontent.com repo:acme/api", []string{"api-ci", "api-deploy"}},
		{aicred.RevokeWorkload, "https://k8s.example team ml / trainer", []string{"spaced"}},
		{aicred.RevokeWorkload, "https://k8s.example team", nil},
		{aicred.RevokeRole, "ci", []string{"api-ci", "web-ci"}},
		{aicred.RevokeRole, "train", []string{"k8s-api", "spaced"}},
		{aicred.RevokePolicy, "gha-deploy", []string{"api-deploy"}},
		{aicred.RevokePolicy, "k8s", []string{"k8s-api", "spaced"}},
		{aicred.RevokeCredential, "hc_openai", []string{"api-ci", "web-ci"}},
		{aicred.RevokeCredential, "hc_anthropic", []string{"api-deploy", "web-ci"}},
		{aicred.RevokeCredential, "hc_open", nil}, // a prefix of an id is not the id
		{aicred.RevokeRole, "nobody", nil},
	}
	for _, tc := range cases {
		t.Run(tc.by+"="+tc.value, func(t *testing.T) {
			s := open(t, b)
			gs := revokeFixture(t, s)
			value := tc.value
			if tc.by == aicred.RevokeToken {
				value = gs[tc.value].ID
			}
			before := len(allAudit(t, s))
			start := time.Now().Add(-time.Second)
			r := aicred.Revocation{By: tc.by, Value: value, Reason: "incident 42"}
			if err := s.Revoke(ctx(t), &r); err != nil {
				t.Fatal(err)
			}
			if r.Seq != 1 || r.Grants != len(tc.want) || r.At.Before(start) || r.At.After(time.Now()) {
				t.Fatalf("revocation = %+v, want seq 1 and %d grants", r, len(tc.want))
			}
			var revoked []string
			for name, g := range gs {
				got := must(s.LookupGrant(ctx(t), g.TokenHash))(t)
				if !got.RevokedAt.IsZero() {
					revoked = append(revoked, name)
					if !got.RevokedAt.Equal(r.At) || got.RevokeReason != r.Reason {
						t.Errorf("%s: revoked at %v for %q, want %v for %q", name, got.RevokedAt, got.RevokeReason, r.At, r.Reason)
					}
				} else if got.RevokeReason != "" {
					t.Errorf("%s: a reason without a revocation", name)
				}
				// The store and Matches (what the gateway's cache applies)
				// agree on every grant that was active.
				if g.Active(r.At) && r.Matches(g) != !got.RevokedAt.IsZero() {
					t.Errorf("%s: Matches says %v, the store revoked: %v", name, r.Matches(g), !got.RevokedAt.IsZero())
				}
			}
			sort.Strings(revoked)
			if !slices.Equal(revoked, tc.want) {
				t.Fatalf("revoked %v, want %v", revoked, tc.want)
			}
			// A revocation by workload also holds the workload (holds.go).
			want := 1
			if tc.by == aicred.RevokeWorkload {
				want = 2
			}
			if n := len(allAudit(t, s)) - before; n != want {
				t.Fatalf("a revocation by %s wrote %d audit records, want %d", tc.by, n, want)
			}

			// Revoked grants stay revoked, with their first revocation's
			// time and reason; the second one finds nothing active.
			again := aicred.Revocation{By: tc.by, Value: value, Reason: "again"}
			if err := s.Revoke(ctx(t), &again); err != nil {
				t.Fatal(err)
			}
			if again.Seq != 2 || again.Grants != 0 {
				t.Fatalf("second revocation = %+v, want seq 2 and 0 grants", again)
			}
			for _, name := range tc.want {
				got := must(s.LookupGrant(ctx(t), gs[name].TokenHash))(t)
				if !got.RevokedAt.Equal(r.At) || got.RevokeReason != r.Reason || got.Active(time.Now()) {
					t.Fatalf("%s after a second revocation: %+v", name, got)
				}
			}
			rs := must(s.RevocationsSince(ctx(t), 0))(t)
			if len(rs) != 2 || rs[0] != r || rs[1] != again {
				t.Fatalf("RevocationsSince(0) = %+v, want %+v and %+v", rs, r, again)
			}
			if rs := must(s.RevocationsSince(ctx(t), 1))(t); len(rs) != 1 || rs[0] != again {
				t.Fatalf("RevocationsSince(1) = %+v", rs)
			}
			if rs := must(s.RevocationsSince(ctx(t), 2))(t); len(rs) != 0 {
				t.Fatalf("RevocationsSince(2) = %+v", rs)
			}
			verifyOK(t, s)
		})
	}
}

// testTokenAudit checks that every issue and revocation writes exactly one
// audit record, naming the grant but carrying neither the token nor its
// hash, and that the token is nowhere in what the store wrote.
func testTokenAudit(t *testing.T, b Backend) {
	s := open(t, b)
	before := len(allAudit(t, s))
	var tokens, hashes []string
	var grants []*aicred.Grant
	for i := range 3 {
		g, tok := NewGrant(t, "https://k8s.example", fmt.Sprintf("system:serviceaccount:ml:job-%d", i), "train", "k8s-ml", "hc_openai")
		issue(t, s, g)
		tokens, hashes, grants = append(tokens, tok), append(hashes, g.TokenHash), append(grants, g)
	}
	admin, adminTok := NewGrant(t, "aicred-cli", "cli:alice@host", "", "")
	admin.Class, admin.Scope = aicred.TokenAdmin, []string{"write"}
	issue(t, s, admin)
	tokens, hashes = append(tokens, adminTok), append(hashes, admin.TokenHash)
	rTok := aicred.Revocation{By: aicred.RevokeToken, Value: grants[0].ID, Reason: "leaked"}
	rCred := aicred.Revocation{By: aicred.RevokeCredential, Value: "hc_openai", Reason: "upstream key rotated"}
	for _, r := range []*aicred.Revocation{&rTok, &rCred} {
		if err := s.Revoke(aicred.WithActor(ctx(t), "cli:bob@host"), r); err != nil {
			t.Fatal(err)
		}
	}
	if rTok.Grants != 1 || rCred.Grants != 2 {
		t.Fatalf("revoked %d and %d grants, want 1 and 2", rTok.Grants, rCred.Grants)
	}

	evs := allAudit(t, s)[before:]
	if len(evs) != 6 {
		t.Fatalf("%d audit records for 4 issues and 2 revocations: %+v", len(evs), evs)
	}
	for i, g := range append(grants, admin) {
		e := evs[i]
		if e.Action != aicred.ActionTokenIssued || e.Subject != g.ID || e.Actor != "storetest" ||
			e.Data["class"] != g.Class || e.Data["issuer"] != g.Issuer || e.Data["subject"] != g.Subject ||
			e.Data["role"] != g.Role || e.Data["policy"] != g.Policy || e.Data["expires_at"] == "" {
			t.Fatalf("issue record %d: %+v", i, e)
		}
	}
	for i, r := range []aicred.Revocation{rTok, rCred} {
		e := evs[4+i]
		if e.Action != aicred.ActionTokenRevoked || e.Subject != r.Value || e.Actor != "cli:bob@host" ||
			e.Data["by"] != r.By || e.Data["value"] != r.Value || e.Data["reason"] != r.Reason ||
			e.Data["count"] != fmt.Sprint(r.Grants) || e.Data["seq"] != fmt.Sprint(r.Seq) {
			t.Fatalf("revoke record %d: %+v", i, e)
		}
	}
	raw, _ := json.Marshal(allAudit(t, s))
	for i := range tokens {
		if bytes.Contains(raw, []byte(tokens[i])) || bytes.Contains(raw, []byte(hashes[i])) {
			t.Fatalf("an audit record carries token %d or its hash", i)
		}
	}
	rs, _ := json.Marshal(must(s.RevocationsSince(ctx(t), 0))(t))
	for i := range tokens {
		if bytes.Contains(rs, []byte(tokens[i])) || bytes.Contains(rs, []byte(hashes[i])) {
			t.Fatalf("a revocation carries token %d or its hash", i)
		}
	}
	verifyOK(t, s)
	if b.Dump != nil {
		dump := b.Dump(t, s)
		if !bytes.Contains(dump, []byte(hashes[0])) {
			t.Fatal("the dump does not hold a token hash: it is not looking at the grants")
		}
		for i, tok := range tokens {
			if bytes.Contains(dump, []byte(tok)) {
				t.Fatalf("token %d is in the store's bytes", i)
			}
		}
	}
}

// collector gathers what a watcher delivers.
type collector struct {
	mu  sync.Mutex
	got []aicred.Revocation
	at  []time.Time
	ch  chan struct{} // a signal per delivery
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 10_000)} }

func (c *collector) fn(r aicred.Revocation) {
	c.mu.Lock()
	c.got = append(c.got, r)
	c.at = append(c.at, time.Now())
	c.mu.Unlock()
	c.ch <- struct{}{}
}

func (c *collector) snapshot() []aicred.Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// wait waits until n revocations were delivered in all, or d passed.
func (c *collector) wait(tb testing.TB, n int, d time.Duration) []aicred.Revocation {
	tb.Helper()
	deadline := time.After(d)
	for {
		if got := c.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-c.ch:
		case <-deadline:
			tb.Fatalf("%d revocations delivered after %v, want %d", len(c.snapshot()), d, n)
		}
	}
}

// inOrder fails unless rs are exactly want, in order, each once.
func inOrder(tb testing.TB, rs, want []aicred.Revocation) {
	tb.Helper()
	if len(rs) != len(want) {
		tb.Fatalf("delivered %d revocations, want %d", len(rs), len(want))
	}
	for i := range rs {
		if rs[i] != want[i] {
			tb.Fatalf("delivery %d = %+v, want %+v", i, rs[i], want[i])
		}
	}
}

func testWatchRevocations(t *testing.T, b Backend) {
	s := open(t, b)
	g, _ := NewGrant(t, "https://k8s.example", "system:serviceaccount:ml:trainer", "train", "k8s-ml")
	issue(t, s, g)
	// Made before the watch: not delivered.
	if err := s.Revoke(ctx(t), &aicred.Revocation{By: aicred.RevokeRole, Value: "old"}); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx(t))
	defer stop()
	c1, c2 := newCollector(), newCollector()
	for _, c := range []*collector{c1, c2} {
		if err := s.WatchRevocations(wctx, c.fn); err != nil {
			t.Fatal(err)
		}
	}
	first := aicred.Revocation{By: aicred.RevokeToken, Value: g.ID, Reason: "leaked"}
	if err := s.Revoke(ctx(t), &first); err != nil {
		t.Fatal(err)
	}
	// Then many at once, from several goroutines: their commits and
	// hand-offs race, yet every watcher sees seq order, each once.
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Revoke(ctx(t), &aicred.Revocation{By: aicred.RevokeRole, Value: fmt.Sprintf("role-%d-%d", w, i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := must(s.RevocationsSince(ctx(t), 1))(t)
	if len(want) != 1+writers*each || want[0] != first {
		t.Fatalf("log after the watch began: %d revocations, first %+v", len(want), want[0])
	}
	for _, c := range []*collector{c1, c2} {
		inOrder(t, c.wait(t, len(want), 5*time.Second), want)
	}

	// After its context ends, a watcher gets nothing more.
	stop()
	time.Sleep(50 * time.Millisecond)
	if err := s.Revoke(ctx(t), &aicred.Revocation{By: aicred.RevokeRole, Value: "late"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // longer than either backend's poll
	for _, c := range []*collector{c1, c2} {
		inOrder(t, c.snapshot(), want)
	}

	// A watch on a closed store fails; Close stops running watchers.
	s2 := b.Open(t)
	if err := s2.WatchRevocations(ctx(t), func(aicred.Revocation) {}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s2.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a watcher running")
	}
	if err := s2.WatchRevocations(ctx(t), func(aicred.Revocation) {}); err == nil {
		t.Fatal("a closed store watched")
	}
}

// testWatchAcrossStores opens a second Store on the same database, as a
// second aicred process would, watches there and revokes on the first:
// every revocation must arrive, in order, within a second.
func testWatchAcrossStores(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend cannot open a second store on one database")
	}
	a := open(t, b)
	other := b.Reopen(t, a)
	t.Cleanup(func() { other.Close() })
	gs := make([]*aicred.Grant, 5)
	for i := range gs {
		gs[i], _ = NewGrant(t, "https://k8s.example", fmt.Sprintf("system:serviceaccount:ml:job-%d", i), "train", "k8s-ml")
		issue(t, a, gs[i])
	}
	c := newCollector()
	if err := other.WatchRevocations(ctx(t), c.fn); err != nil {
		t.Fatal(err)
	}
	var want []aicred.Revocation
	var worst time.Duration
	for i, g := range gs {
		// Spread over the poll period, so that polling stores show their
		// average, not a lucky phase.
		time.Sleep(time.Duration(i) * 53 * time.Millisecond)
		start := time.Now()
		r := aicred.Revocation{By: aicred.RevokeToken, Value: g.ID, Reason: "test"}
		if err := a.Revoke(ctx(t), &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
		c.wait(t, len(want), time.Second)
		c.mu.Lock()
		lat := c.at[len(want)-1].Sub(start)
		c.mu.Unlock()
		worst = max(worst, lat)
		t.Logf("revocation %d seen by the other store %v after Revoke began", r.Seq, lat.Round(10*time.Microsecond))
		// The other store reads the grant as revoked too.
		if got := must(other.LookupGrant(ctx(t), g.TokenHash))(t); got.Active(time.Now()) {
			t.Fatal("the other store reads a revoked grant as active")
		}
	}
	inOrder(t, c.snapshot(), want)
	t.Logf("cross-store revocation latency: worst %v of %d", worst.Round(10*time.Microsecond), len(want))
}

// RevocationBenchCount is how many revocations BenchmarkRevocationLatency
// times per iteration.
const RevocationBenchCount = 200

// BenchmarkRevocationLatency measures how long a revocation made through
// one Store takes to reach a watcher, from the start of the Revoke call to
// the watcher's callback: on another Store over the same database (what a
// second aicred process sees; skipped without Reopen), and on the same
// Store. It reports p50, p99 and max over RevocationBenchCount revocations
// per iteration, spaced by a random pause of up to spread (a polling
// backend's interval, so that every phase of the poll is sampled).
func BenchmarkRevocationLatency(b *testing.B, bk Backend, spread time.Duration) {
	b.Run("other-store", func(b *testing.B) {
		if bk.Reopen == nil {
			b.Skip("backend cannot open a second store on one database")
		}
		a := bk.Open(b)
		defer a.Close()
		other := bk.Reopen(b, a)
		defer other.Close()
		benchRevocationLatency(b, a, other, spread)
	})
	b.Run("same-store", func(b *testing.B) {
		a := bk.Open(b)
		defer a.Close()
		benchRevocationLatency(b, a, a, spread)
	})
}

func benchRevocationLatency(b *testing.B, a, watched aicred.Store, spread time.Duration) {
	c := newCollector()
	wctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := watched.WatchRevocations(wctx, c.fn); err != nil {
		b.Fatal(err)
	}
	// lats: from the start of Revoke to the callback; after: from the
	// return of Revoke (its commit) to the callback, 0 when the callback
	// came first.
	var lats, after []time.Duration
	b.ResetTimer()
	for range b.N {
		gs := make([]*aicred.Grant, RevocationBenchCount)
		b.StopTimer()
		for i := range gs {
			gs[i], _ = NewGrant(b, "https://k8s.example", fmt.Sprintf("system:serviceaccount:bench:%d", i), "bench", "k8s")
			issue(b, a, gs[i])
		}
		b.StartTimer()
		for _, g := range gs {
			if spread > 0 {
				time.Sleep(mrand.N(spread))
			}
			n := len(c.snapshot())
			start := time.Now()
			if err := a.Revoke(ctx(b), &aicred.Revocation{By: aicred.RevokeToken, Value: g.ID}); err != nil {
				b.Fatal(err)
			}
			returned := time.Now()
			c.wait(b, n+1, 10*time.Second)
			c.mu.Lock()
			lats = append(lats, c.at[n].Sub(start))
			after = append(after, max(0, c.at[n].Sub(returned)))
			c.mu.Unlock()
		}
	}
	b.StopTimer()
	slices.Sort(lats)
	slices.Sort(after)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p99 := min(len(lats)-1, len(lats)*99/100)
	b.ReportMetric(ms(lats[len(lats)/2]), "p50-ms")
	b.ReportMetric(ms(lats[p99]), "p99-ms")
	b.ReportMetric(ms(lats[len(lats)-1]), "max-ms")
	b.ReportMetric(ms(after[p99]), "p99-after-commit-ms")
}

// BenchmarkIssueGrant issues grants from parallel goroutines, as the token
// endpoint does under load, and reports grants per second. Each grant
// writes its audit record in the same transaction.
func BenchmarkIssueGrant(b *testing.B, open func(tb testing.TB) aicred.Store) {
	s := open(b)
	defer s.Close()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g, _ := NewGrant(b, "https://k8s.example", "system:serviceaccount:bench:worker", "bench", "k8s", "hc_openai")
			if err := s.IssueGrant(ctx(b), g); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "grants/s")
}

// BenchmarkLookupGrant looks up one grant among 10,000 by its token's
// hash: the gateway's cache miss.
func BenchmarkLookupGrant(b *testing.B, open func(tb testing.TB) aicred.Store) {
	s := open(b)
	defer s.Close()
	var hashes []string
	for i := range 10_000 {
		g, _ := NewGrant(b, "https://k8s.example", fmt.Sprintf("system:serviceaccount:bench:%d", i), "bench", "k8s")
		issue(b, s, g)
		hashes = append(hashes, g.TokenHash)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.LookupGrant(ctx(b), hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
	}
}
