package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
)

// StartConsoleSession implements aicred.ConsoleSessionService: one
// statement, no audit record and no lock on the audit chain.
func (s *Store) StartConsoleSession(ctx context.Context, cs aicred.ConsoleSession) error {
	now := time.Now()
	if err := cs.Prepare(now); err != nil {
		return err
	}
	ctx, cancel := boundOp(ctx)
	defer cancel()
	if last := s.consolePruned.Load(); now.UnixNano()-last >= int64(aicred.ConsoleSweepEvery) && s.consolePruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE expires <= $1 OR last_seen <= $2`,
			aicred.StoreTime(now), aicred.StoreTime(now.Add(-aicred.ConsoleUnusedKept))); err != nil {
			s.consolePruned.Store(last) // retried with the next session
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (key_hash, actor, name, can_write, token_hash, created_at, last_seen, expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_hash) DO NOTHING`,
		cs.KeyHash, cs.Actor, cs.Name, cs.CanWrite, cs.TokenHash, cs.CreatedAt, cs.LastSeen, cs.Expires)
	if err != nil {
		return classify(err, "start console session")
	}
	if tag.RowsAffected() == 0 {
		return aicred.Errorf(aicred.ErrConflict, "console session: the key is taken")
	}
	return nil
}

// ConsoleSession implements aicred.ConsoleSessionService: a read, and a
// write only to end the session or to move LastSeen on.
func (s *Store) ConsoleSession(ctx context.Context, keyHash string, now time.Time, idle time.Duration) (*aicred.ConsoleSession, error) {
	if err := aicred.CheckConsoleLookup(keyHash, idle); err != nil {
		return nil, err
	}
	// On every console request's path, with the request's context.
	ctx, cancel := boundOp(ctx)
	defer cancel()
	var cs aicred.ConsoleSession
	err := s.pool.QueryRow(ctx, `SELECT key_hash, actor, name, can_write, token_hash, created_at, last_seen, expires
		FROM console_sessions WHERE key_hash = $1`, keyHash).
		Scan(&cs.KeyHash, &cs.Actor, &cs.Name, &cs.CanWrite, &cs.TokenHash, &cs.CreatedAt, &cs.LastSeen, &cs.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "console session not found")
	}
	if err != nil {
		return nil, classify(err, "get console session")
	}
	switch {
	case !cs.LiveAt(now, idle):
		if err := s.EndConsoleSession(ctx, keyHash); err != nil {
			return nil, err
		}
		return nil, aicred.Errorf(aicred.ErrNotFound, "console session ended")
	case now.Sub(cs.LastSeen) >= aicred.ConsoleTouchEvery:
		at := aicred.StoreTime(now)
		if _, err := s.pool.Exec(ctx, `UPDATE console_sessions SET last_seen = $1 WHERE key_hash = $2 AND last_seen < $1`, at, keyHash); err != nil {
			return nil, classify(err, "touch console session")
		}
		cs.LastSeen = at
	}
	return &cs, nil
}

// EndConsoleSession implements aicred.ConsoleSessionService.
func (s *Store) EndConsoleSession(ctx context.Context, keyHash string) error {
	ctx, cancel := boundOp(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE key_hash = $1`, keyHash); err != nil {
		return classify(err, "end console session")
	}
	return nil
}
