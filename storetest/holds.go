package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

const (
	holdIss = "https://token.actions.githubusercontent.com"
	holdSub = "repo:acme/api:ref:refs/heads/main"
	holdWL  = holdIss + " " + holdSub
)

func testWorkloadHolds(t *testing.T, b Backend) {
	s := open(t, b)
	_, err := s.WorkloadHold(ctx(t), holdWL)
	wantKind(t, err, aicred.ErrNotFound)
	if hs := must(s.ListWorkloadHolds(ctx(t)))(t); len(hs) != 0 {
		t.Fatalf("empty store lists holds %+v", hs)
	}

	before := len(allAudit(t, s))
	now := time.Now()
	for _, c := range []struct {
		name string
		h    aicred.WorkloadHold
	}{
		{"no subject", aicred.WorkloadHold{Workload: holdIss, Until: now.Add(time.Hour)}},
		{"empty", aicred.WorkloadHold{Until: now.Add(time.Hour)}},
		{"in the past", aicred.WorkloadHold{Workload: holdWL, Until: now.Add(-time.Second)}},
		{"too long", aicred.WorkloadHold{Workload: holdWL, Until: now.Add(aicred.MaxWorkloadHold + time.Hour)}},
		{"a token as workload", aicred.WorkloadHold{Workload: Token(t, "aicw_") + " x", Until: now.Add(time.Hour)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.h
			wantKind(t, s.HoldWorkload(ctx(t), &h), aicred.ErrInvalid)
		})
	}
	if n := len(allAudit(t, s)); n != before {
		t.Fatalf("refused holds wrote %d audit records", n-before)
	}

	h := &aicred.WorkloadHold{Workload: holdWL, Until: now.Add(2 * time.Hour), Reason: "incident 42"}
	if err := s.HoldWorkload(ctx(t), h); err != nil {
		t.Fatal(err)
	}
	if h.CreatedBy != "storetest" || h.CreatedAt.IsZero() || h.RevocationSeq != 0 || !h.Until.Equal(aicred.StoreTime(now.Add(2*time.Hour))) {
		t.Fatalf("stored hold %+v", h)
	}
	got := must(s.WorkloadHold(ctx(t), holdWL))(t)
	if *got != *h || !got.Active(time.Now()) {
		t.Fatalf("hold read back %+v, stored %+v", got, h)
	}
	// Holding again for less keeps the later end; for more extends it.
	shorter := &aicred.WorkloadHold{Workload: holdWL, Until: now.Add(time.Hour), Reason: "again"}
	if err := s.HoldWorkload(ctx(t), shorter); err != nil {
		t.Fatal(err)
	}
	if !shorter.Until.Equal(h.Until) || shorter.Reason != "again" {
		t.Fatalf("a shorter hold shortened it: %+v", shorter)
	}
	longer := &aicred.WorkloadHold{Workload: holdWL, Until: now.Add(3 * time.Hour)}
	must(0, s.HoldWorkload(ctx(t), longer))(t)
	if got := must(s.WorkloadHold(ctx(t), holdWL))(t); !got.Until.Equal(aicred.StoreTime(now.Add(3 * time.Hour))) {
		t.Fatalf("a longer hold did not extend: %+v", got)
	}

	other := &aicred.WorkloadHold{Workload: "https://issuer other subject", Until: now.Add(time.Minute)}
	must(0, s.HoldWorkload(ctx(t), other))(t)
	hs := must(s.ListWorkloadHolds(ctx(t)))(t)
	if len(hs) != 2 || hs[0].Workload != other.Workload || hs[1].Workload != holdWL { // by workload
		t.Fatalf("listed holds %+v", hs)
	}

	// Lifting.
	wantKind(t, s.LiftWorkloadHold(ctx(t), "no-subject", "x"), aicred.ErrInvalid)
	wantKind(t, s.LiftWorkloadHold(ctx(t), holdWL, Token(t, "aica_")), aicred.ErrInvalid)
	wantKind(t, s.LiftWorkloadHold(ctx(t), "https://issuer nobody", "x"), aicred.ErrNotFound)
	if err := s.LiftWorkloadHold(ctx(t), holdWL, "false alarm"); err != nil {
		t.Fatal(err)
	}
	_, err = s.WorkloadHold(ctx(t), holdWL)
	wantKind(t, err, aicred.ErrNotFound)
	wantKind(t, s.LiftWorkloadHold(ctx(t), holdWL, "twice"), aicred.ErrNotFound)
	if hs := must(s.ListWorkloadHolds(ctx(t)))(t); len(hs) != 1 || hs[0].Workload != other.Workload {
		t.Fatalf("after lifting: %+v", hs)
	}

	// An expired hold is no hold.
	brief := &aicred.WorkloadHold{Workload: "https://issuer brief", Until: time.Now().Add(300 * time.Millisecond)}
	must(0, s.HoldWorkload(ctx(t), brief))(t)
	time.Sleep(400 * time.Millisecond)
	_, err = s.WorkloadHold(ctx(t), brief.Workload)
	wantKind(t, err, aicred.ErrNotFound)
	wantKind(t, s.LiftWorkloadHold(ctx(t), brief.Workload, ""), aicred.ErrNotFound)
	if g, _ := NewGrant(t, "https://issuer", "brief", "r", "p"); s.IssueGrant(ctx(t), g) != nil {
		t.Fatal("an expired hold refused a grant")
	}

	// Audit: four holds, one lift, each naming the workload.
	var held, lifted int
	for _, e := range allAudit(t, s)[before:] {
		switch e.Action {
		case aicred.ActionWorkloadHeld:
			held++
			if e.Subject == "" || e.Data["until"] == "" || e.Actor != "storetest" {
				t.Fatalf("workload.held record %+v", e)
			}
		case aicred.ActionWorkloadHoldLifted:
			lifted++
			if e.Subject != holdWL || e.Data["reason"] != "false alarm" {
				t.Fatalf("workload.hold_lifted record %+v", e)
			}
		}
	}
	if held != 5 || lifted != 1 {
		t.Fatalf("%d workload.held, %d workload.hold_lifted records; want 5, 1", held, lifted)
	}
	verifyOK(t, s)
}

// A revocation by workload holds the workload in the same transaction;
// revocations of any other kind hold nothing.
func testRevokeHolds(t *testing.T, b Backend) {
	s := open(t, b)
	g, _ := NewGrant(t, holdIss, holdSub, "ci", "api-main", "hc_1")
	issue(t, s, g)
	before := len(allAudit(t, s))

	// Other kinds of revocation hold nothing.
	for _, r := range []aicred.Revocation{
		{By: aicred.RevokeRole, Value: "ci"},
		{By: aicred.RevokePolicy, Value: "api-main"},
		{By: aicred.RevokeCredential, Value: "hc_1"},
		{By: aicred.RevokeToken, Value: g.ID, Hold: time.Hour},
	} {
		if err := s.Revoke(ctx(t), &r); err != nil {
			t.Fatal(err)
		}
		if hs := must(s.ListWorkloadHolds(ctx(t)))(t); len(hs) != 0 {
			t.Fatalf("revoke by %s held %+v", r.By, hs)
		}
	}
	if g2, _ := NewGrant(t, holdIss, holdSub, "ci", "api-main"); s.IssueGrant(ctx(t), g2) != nil {
		t.Fatal("a grant after non-workload revocations was refused")
	}
	// NoHold revokes without holding; an out-of-range hold is refused.
	if err := s.Revoke(ctx(t), &aicred.Revocation{By: aicred.RevokeWorkload, Value: holdWL, Hold: aicred.NoHold}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WorkloadHold(ctx(t), holdWL); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Fatalf("NoHold held: %v", err)
	}
	for _, d := range []time.Duration{-5 * time.Minute, aicred.MaxWorkloadHold + time.Hour} {
		wantKind(t, s.Revoke(ctx(t), &aicred.Revocation{By: aicred.RevokeWorkload, Value: holdWL, Hold: d}), aicred.ErrInvalid)
	}
	acts := auditActions(t, s)[before:]
	if count(acts, aicred.ActionTokenRevoked) != 5 || count(acts, aicred.ActionWorkloadHeld) != 0 {
		t.Fatalf("audit after five revocations that hold nothing: %v", acts)
	}

	// The default hold.
	g3, _ := NewGrant(t, holdIss, holdSub, "ci", "api-main")
	issue(t, s, g3)
	start := time.Now()
	r := &aicred.Revocation{By: aicred.RevokeWorkload, Value: holdWL, Reason: "anomaly: spend_spike"}
	if err := s.Revoke(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	if r.Grants != 1 {
		t.Fatalf("revoked %d grants", r.Grants)
	}
	h := must(s.WorkloadHold(ctx(t), holdWL))(t)
	if h.RevocationSeq != r.Seq || h.Reason != r.Reason || h.CreatedBy != "storetest" ||
		h.Until.Before(start.Add(aicred.DefaultWorkloadHold-time.Second)) || h.Until.After(time.Now().Add(aicred.DefaultWorkloadHold)) {
		t.Fatalf("hold from a revocation: %+v (revocation %+v)", h, r)
	}
	evs := allAudit(t, s)
	last2 := evs[len(evs)-2:]
	if last2[0].Action != aicred.ActionTokenRevoked || last2[1].Action != aicred.ActionWorkloadHeld ||
		last2[1].Subject != holdWL || last2[1].Data["revocation_seq"] != last2[0].Data["seq"] {
		t.Fatalf("audit of a revocation by workload: %+v", last2)
	}

	// The held workload gets no new grant; others and admin grants do.
	g4, _ := NewGrant(t, holdIss, holdSub, "ci", "api-main")
	err := s.IssueGrant(ctx(t), g4)
	wantKind(t, err, aicred.ErrUnauthorized)
	if strings.Contains(err.Error(), g4.TokenHash) {
		t.Fatalf("the refusal quotes the token hash: %v", err)
	}
	if _, err := s.LookupGrant(ctx(t), g4.TokenHash); aicred.KindOf(err) != aicred.ErrNotFound {
		t.Fatalf("a refused grant was stored: %v", err)
	}
	g5, _ := NewGrant(t, holdIss, "repo:acme/other:ref:refs/heads/main", "ci", "api-main")
	issue(t, s, g5)
	admin, _ := NewGrant(t, holdIss, holdSub, "", "")
	admin.Class, admin.Scope, admin.Credentials = aicred.TokenAdmin, []string{"read"}, nil
	issue(t, s, admin)

	// A longer hold in the revocation extends; lifting lets grants again.
	r2 := &aicred.Revocation{By: aicred.RevokeWorkload, Value: holdWL, Hold: 2 * time.Hour}
	must(0, s.Revoke(ctx(t), r2))(t)
	if h := must(s.WorkloadHold(ctx(t), holdWL))(t); h.RevocationSeq != r2.Seq || h.Until.Before(start.Add(2*time.Hour-time.Second)) {
		t.Fatalf("hold after a longer revocation: %+v", h)
	}
	must(0, s.LiftWorkloadHold(ctx(t), holdWL, "cleared"))(t)
	g6, _ := NewGrant(t, holdIss, holdSub, "ci", "api-main")
	issue(t, s, g6)

	// Another process sharing the store sees a hold at once.
	if b.Reopen != nil {
		s2 := b.Reopen(t, s)
		defer s2.Close()
		must(0, s.Revoke(ctx(t), &aicred.Revocation{By: aicred.RevokeWorkload, Value: holdWL, Hold: 10 * time.Minute}))(t)
		if _, err := s2.WorkloadHold(ctx(t), holdWL); err != nil {
			t.Fatalf("the other store does not see the hold: %v", err)
		}
		g7, _ := NewGrant(t, holdIss, holdSub, "ci", "api-main")
		wantKind(t, s2.IssueGrant(ctx(t), g7), aicred.ErrUnauthorized)
	}
	verifyOK(t, s)
}

func replayKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func testReplayRemember(t *testing.T, b Backend) {
	s := open(t, b)
	before := len(allAudit(t, s))
	k1, k2 := replayKey("iss\x00jti-1"), replayKey("iss\x00jti-2")
	until := time.Now().Add(5 * time.Minute)
	for i, want := range []bool{true, false, false} {
		if fresh := must(s.RememberReplay(ctx(t), k1, until))(t); fresh != want {
			t.Fatalf("call %d: fresh %v, want %v", i, fresh, want)
		}
	}
	if !must(s.RememberReplay(ctx(t), k2, until))(t) {
		t.Fatal("another key is not fresh")
	}
	for _, c := range []struct {
		name, key string
		until     time.Time
	}{
		{"short key", k1[:10], until},
		{"upper case", strings.ToUpper(k1), until},
		{"a token", Token(t, "aicw_"), until},
		{"until now", k1, time.Now().Add(-time.Millisecond)},
	} {
		_, err := s.RememberReplay(ctx(t), c.key, c.until)
		wantKind(t, err, aicred.ErrInvalid)
	}
	// An expired key is taken again.
	k3 := replayKey("iss\x00jti-3")
	if !must(s.RememberReplay(ctx(t), k3, time.Now().Add(200*time.Millisecond)))(t) {
		t.Fatal("k3 not fresh")
	}
	if must(s.RememberReplay(ctx(t), k3, time.Now().Add(time.Minute)))(t) {
		t.Fatal("k3 fresh while live")
	}
	time.Sleep(300 * time.Millisecond)
	if !must(s.RememberReplay(ctx(t), k3, time.Now().Add(time.Minute)))(t) {
		t.Fatal("an expired key was not taken again")
	}
	if must(s.RememberReplay(ctx(t), k3, time.Now().Add(time.Minute)))(t) {
		t.Fatal("a retaken key is fresh twice")
	}
	if n := len(allAudit(t, s)); n != before {
		t.Fatalf("replay keys wrote %d audit records", n-before)
	}
}

// Two processes on one database: a key one remembered is a replay on the
// other, and of 20 concurrent callers across both exactly one is fresh.
func testReplayAcrossStores(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend cannot reopen")
	}
	s1 := open(t, b)
	s2 := b.Reopen(t, s1)
	t.Cleanup(func() { s2.Close() })
	until := time.Now().Add(5 * time.Minute)
	k := replayKey("shared")
	if !must(s1.RememberReplay(ctx(t), k, until))(t) {
		t.Fatal("first remember not fresh")
	}
	if must(s2.RememberReplay(ctx(t), k, until))(t) {
		t.Fatal("the second store took a key the first remembered")
	}
	for round := range 5 {
		k := replayKey("race-" + string(rune('a'+round)))
		var fresh, failed atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 20 {
			st := []aicred.Store{s1, s2}[i%2]
			wg.Go(func() {
				<-start
				ok, err := st.RememberReplay(ctx(t), k, until)
				if err != nil {
					failed.Add(1)
					t.Error(err)
					return
				}
				if ok {
					fresh.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if fresh.Load() != 1 || failed.Load() != 0 {
			t.Fatalf("round %d: %d fresh, %d failed of 20; want exactly 1 fresh", round, fresh.Load(), failed.Load())
		}
	}
}
