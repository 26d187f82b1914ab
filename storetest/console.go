package storetest

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aicred/aicred"
)

func consoleKey(s string) string { return replayKey("console\x00" + s) }

// testConsoleSessions: a session is stored, found while live, touched no
// more than once a ConsoleTouchEvery, ended by logout, idleness or expiry,
// refused when malformed or when its key is taken, and written to the
// audit log never.
func testConsoleSessions(t *testing.T, b Backend) {
	s := open(t, b)
	before := len(allAudit(t, s))
	now := time.Now()
	k := consoleKey("a")
	tokHash := replayKey("admin token")
	if err := s.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k, Actor: "admin:tok_1", Name: "admin token tok_1",
		CanWrite: true, TokenHash: tokHash, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got := must(s.ConsoleSession(ctx(t), k, now, 30*time.Minute))(t)
	if got.KeyHash != k || got.Actor != "admin:tok_1" || got.Name != "admin token tok_1" || !got.CanWrite || got.TokenHash != tokHash ||
		!got.Expires.Equal(aicred.StoreTime(now.Add(time.Hour))) || got.CreatedAt.IsZero() {
		t.Fatalf("got %+v", got)
	}
	created := got.LastSeen
	// Within ConsoleTouchEvery nothing is written; past it LastSeen moves.
	if got := must(s.ConsoleSession(ctx(t), k, created.Add(time.Second), 30*time.Minute))(t); !got.LastSeen.Equal(created) {
		t.Fatalf("last seen %v moved within %v", got.LastSeen, aicred.ConsoleTouchEvery)
	}
	later := created.Add(20 * time.Minute)
	if got := must(s.ConsoleSession(ctx(t), k, later, 30*time.Minute))(t); !got.LastSeen.Equal(aicred.StoreTime(later)) {
		t.Fatalf("last seen %v, want %v", got.LastSeen, later)
	}
	// Used 20 minutes ago, live for 30 idle minutes: still live 45 minutes
	// after the start; idle past 30 minutes, it ends and stays ended.
	must(s.ConsoleSession(ctx(t), k, created.Add(45*time.Minute), 30*time.Minute))(t)
	_, err := s.ConsoleSession(ctx(t), k, created.Add(45*time.Minute+31*time.Minute), 30*time.Minute)
	wantKind(t, err, aicred.ErrNotFound)
	_, err = s.ConsoleSession(ctx(t), k, created.Add(46*time.Minute), 30*time.Minute)
	wantKind(t, err, aicred.ErrNotFound)

	// Expiry ends a session however active.
	k2 := consoleKey("b")
	must(0, s.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k2, Actor: "oidc:ana@example.com", Name: "ana@example.com", Expires: now.Add(10 * time.Minute)}))(t)
	if got := must(s.ConsoleSession(ctx(t), k2, now.Add(9*time.Minute), time.Hour))(t); got.CanWrite || got.TokenHash != "" {
		t.Fatalf("an OIDC read session came back as %+v", got)
	}
	_, err = s.ConsoleSession(ctx(t), k2, now.Add(10*time.Minute), time.Hour)
	wantKind(t, err, aicred.ErrNotFound)

	// Logout.
	k3 := consoleKey("c")
	must(0, s.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k3, Actor: "oidc:bo", Name: "bo", Expires: now.Add(time.Hour)}))(t)
	if err := s.EndConsoleSession(ctx(t), k3); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConsoleSession(ctx(t), k3, now, time.Hour)
	wantKind(t, err, aicred.ErrNotFound)
	if err := s.EndConsoleSession(ctx(t), k3); err != nil {
		t.Fatalf("ending an ended session: %v", err)
	}

	// A taken key, and malformed sessions and lookups.
	k4 := consoleKey("d")
	must(0, s.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k4, Actor: "oidc:x", Expires: now.Add(time.Hour)}))(t)
	wantKind(t, s.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k4, Actor: "oidc:y", Expires: now.Add(time.Hour)}), aicred.ErrConflict)
	if got := must(s.ConsoleSession(ctx(t), k4, now, time.Hour))(t); got.Actor != "oidc:x" {
		t.Fatalf("a conflicting start replaced the session: %+v", got)
	}
	for name, cs := range map[string]aicred.ConsoleSession{
		"short key":        {KeyHash: k4[:10], Actor: "oidc:x", Expires: now.Add(time.Hour)},
		"upper-case key":   {KeyHash: strings.ToUpper(consoleKey("e")), Actor: "oidc:x", Expires: now.Add(time.Hour)},
		"no actor":         {KeyHash: consoleKey("f"), Expires: now.Add(time.Hour)},
		"expired":          {KeyHash: consoleKey("g"), Actor: "oidc:x", Expires: now.Add(-time.Second)},
		"a raw token hash": {KeyHash: consoleKey("h"), Actor: "oidc:x", TokenHash: "tok", Expires: now.Add(time.Hour)},
	} {
		if err := s.StartConsoleSession(ctx(t), cs); aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	for name, c := range map[string]struct {
		key  string
		idle time.Duration
	}{"short key": {k4[:10], time.Hour}, "no idle timeout": {k4, 0}} {
		_, err := s.ConsoleSession(ctx(t), c.key, now, c.idle)
		if aicred.KindOf(err) != aicred.ErrInvalid {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n := len(allAudit(t, s)); n != before {
		t.Fatalf("console sessions wrote %d audit records", n-before)
	}
}

// testConsoleSessionsAcrossStores: a session started through one store is
// live through another process's, and a logout or an idle end through one
// ends it for both; concurrent lookups from both agree.
func testConsoleSessionsAcrossStores(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("backend cannot reopen")
	}
	s1 := open(t, b)
	s2 := b.Reopen(t, s1)
	t.Cleanup(func() { s2.Close() })
	now := time.Now()
	k := consoleKey("shared")
	must(0, s1.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k, Actor: "oidc:ana", Name: "ana", Expires: now.Add(time.Hour)}))(t)
	if got := must(s2.ConsoleSession(ctx(t), k, now, time.Hour))(t); got.Actor != "oidc:ana" {
		t.Fatalf("the other store sees %+v", got)
	}
	var found, failed atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		st := []aicred.Store{s1, s2}[i%2]
		wg.Go(func() {
			_, err := st.ConsoleSession(ctx(t), k, now.Add(time.Duration(i)*aicred.ConsoleTouchEvery), time.Hour)
			if err != nil {
				failed.Add(1)
				t.Error(err)
				return
			}
			found.Add(1)
		})
	}
	wg.Wait()
	if found.Load() != 20 || failed.Load() != 0 {
		t.Fatalf("%d of 20 concurrent lookups found the session", found.Load())
	}
	if err := s2.EndConsoleSession(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	_, err := s1.ConsoleSession(ctx(t), k, now, time.Hour)
	wantKind(t, err, aicred.ErrNotFound)

	k2 := consoleKey("idle")
	must(0, s1.StartConsoleSession(ctx(t), aicred.ConsoleSession{KeyHash: k2, Actor: "oidc:bo", Name: "bo", Expires: now.Add(time.Hour)}))(t)
	_, err = s2.ConsoleSession(ctx(t), k2, now.Add(20*time.Minute), 10*time.Minute)
	wantKind(t, err, aicred.ErrNotFound)
	_, err = s1.ConsoleSession(ctx(t), k2, now, time.Hour)
	wantKind(t, err, aicred.ErrNotFound)
}
