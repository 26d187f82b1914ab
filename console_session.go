package aicred

import (
	"context"
	"strings"
	"time"
)

// A ConsoleSession is one person logged in to the web console. The store
// keeps it, so every server sharing the store knows it: a request that a
// balancer sends to another server, or that arrives after a restart, finds
// the person logged in, and a logout or an expiry on one server ends the
// session on all of them.
type ConsoleSession struct {
	// KeyHash is the SHA-256 (64 lower-case hex digits) of the random id
	// in the person's cookie. The id itself is never stored.
	KeyHash string
	Actor   string // audit actor: admin:tok_..., oidc:person
	Name    string // shown in the console's header
	// CanWrite lets the session act (rotate, revoke, acknowledge).
	CanWrite bool
	// TokenHash is the hash of the admin token the session was opened
	// with, looked up again on every request ("" for OIDC).
	TokenHash string
	CreatedAt time.Time
	LastSeen  time.Time // last request, to within ConsoleTouchEvery
	Expires   time.Time // the end however active the session is
}

// ConsoleTouchEvery bounds how often a session's LastSeen is written: a
// page of the console is one read, not one write per request.
const ConsoleTouchEvery = time.Minute

// ConsoleSweepEvery is how often a store drops ended sessions as it
// starts new ones; ConsoleUnusedKept is how long it keeps a session no
// request has used, whatever the console's idle timeout (a lookup ends
// an idle session sooner).
const (
	ConsoleSweepEvery = time.Minute
	ConsoleUnusedKept = 7 * 24 * time.Hour
)

// ConsoleSessionService keeps the console's sessions for every process
// sharing the store. It writes no audit records: the console records
// console.login and console.logout itself.
type ConsoleSessionService interface {
	// StartConsoleSession stores a new session (CreatedAt and LastSeen
	// are set to now when zero). Expired and idle sessions are dropped in
	// sweeps amortised over calls. Errors: ErrInvalid, ErrConflict (the
	// key is taken).
	StartConsoleSession(ctx context.Context, s ConsoleSession) error
	// ConsoleSession returns the session keyed by keyHash when it is
	// live at now: not past Expires and not idle (unused) for longer
	// than idle. A live session's LastSeen becomes now when it is
	// ConsoleTouchEvery old or more; an ended one is deleted. Errors:
	// ErrNotFound (absent, expired or idle), ErrInvalid.
	ConsoleSession(ctx context.Context, keyHash string, now time.Time, idle time.Duration) (*ConsoleSession, error)
	// EndConsoleSession deletes the session (logout); absent is no
	// error.
	EndConsoleSession(ctx context.Context, keyHash string) error
}

// Prepare checks s before it is stored and fills its times.
// Errors are ErrInvalid.
func (s *ConsoleSession) Prepare(now time.Time) error {
	if !validTokenHash(s.KeyHash) {
		return Errorf(ErrInvalid, "console session: the key must be 64 lower-case hex digits")
	}
	if s.TokenHash != "" && !validTokenHash(s.TokenHash) {
		return Errorf(ErrInvalid, "console session: the token hash must be 64 lower-case hex digits")
	}
	s.Actor, s.Name = StorableText(s.Actor), StorableText(s.Name)
	if s.Actor == "" || strings.TrimSpace(s.Actor) != s.Actor || len(s.Actor) > 512 || len(s.Name) > 512 {
		return Errorf(ErrInvalid, "console session: an actor of at most 512 bytes is required, and a name as long")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.LastSeen.IsZero() {
		s.LastSeen = s.CreatedAt
	}
	s.CreatedAt, s.LastSeen, s.Expires = StoreTime(s.CreatedAt), StoreTime(s.LastSeen), StoreTime(s.Expires)
	if !s.Expires.After(s.CreatedAt) {
		return Errorf(ErrInvalid, "console session: it must expire after it starts")
	}
	return nil
}

// CheckConsoleLookup checks the arguments of ConsoleSession. Errors are
// ErrInvalid.
func CheckConsoleLookup(keyHash string, idle time.Duration) error {
	if !validTokenHash(keyHash) {
		return Errorf(ErrInvalid, "console session: the key must be 64 lower-case hex digits")
	}
	if idle <= 0 {
		return Errorf(ErrInvalid, "console session: the idle timeout must be positive")
	}
	return nil
}

// LiveAt reports whether the session is live at now with the given idle
// timeout.
func (s *ConsoleSession) LiveAt(now time.Time, idle time.Duration) bool {
	return now.Before(s.Expires) && now.Sub(s.LastSeen) <= idle
}
