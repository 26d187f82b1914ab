package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// StartConsoleSession implements aicred.ConsoleSessionService: one write
// transaction, no audit record.
func (s *Store) StartConsoleSession(ctx context.Context, cs aicred.ConsoleSession) error {
	now := time.Now()
	if err := cs.Prepare(now); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return classify(err, "start console session: begin")
	}
	defer tx.Rollback()
	if last := s.consolePruned.Load(); now.UnixNano()-last >= int64(aicred.ConsoleSweepEvery) && s.consolePruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires <= ? OR last_seen <= ?`,
			audit.FormatTime(now), audit.FormatTime(now.Add(-aicred.ConsoleUnusedKept))); err != nil {
			return classify(err, "prune console sessions")
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (key_hash, actor, name, can_write, token_hash, created_at, last_seen, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING`,
		cs.KeyHash, cs.Actor, cs.Name, cs.CanWrite, cs.TokenHash,
		audit.FormatTime(cs.CreatedAt), audit.FormatTime(cs.LastSeen), audit.FormatTime(cs.Expires))
	if err != nil {
		return classify(err, "start console session")
	}
	if n, err := res.RowsAffected(); err != nil {
		return classify(err, "start console session")
	} else if n == 0 {
		return aicred.Errorf(aicred.ErrConflict, "console session: the key is taken")
	}
	if err := tx.Commit(); err != nil {
		return classify(err, "start console session: commit")
	}
	return nil
}

// ConsoleSession implements aicred.ConsoleSessionService: a read, and a
// write only to end the session or to move LastSeen on.
func (s *Store) ConsoleSession(ctx context.Context, keyHash string, now time.Time, idle time.Duration) (*aicred.ConsoleSession, error) {
	if err := aicred.CheckConsoleLookup(keyHash, idle); err != nil {
		return nil, err
	}
	var cs *aicred.ConsoleSession
	err := s.read(ctx, "get console session", func(tx *sql.Tx) error {
		var err error
		cs, err = scanConsoleSession(tx.QueryRowContext(ctx, `SELECT key_hash, actor, name, can_write, token_hash, created_at, last_seen, expires
			FROM console_sessions WHERE key_hash = ?`, keyHash))
		if errors.Is(err, sql.ErrNoRows) {
			return aicred.Errorf(aicred.ErrNotFound, "console session not found")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !cs.LiveAt(now, idle):
		if err := s.EndConsoleSession(ctx, keyHash); err != nil {
			return nil, err
		}
		return nil, aicred.Errorf(aicred.ErrNotFound, "console session ended")
	case now.Sub(cs.LastSeen) >= aicred.ConsoleTouchEvery:
		at := aicred.StoreTime(now)
		if _, err := s.w.ExecContext(ctx, `UPDATE console_sessions SET last_seen = ? WHERE key_hash = ? AND last_seen < ?`,
			audit.FormatTime(at), keyHash, audit.FormatTime(at)); err != nil {
			return nil, classify(err, "touch console session")
		}
		cs.LastSeen = at
	}
	return cs, nil
}

// EndConsoleSession implements aicred.ConsoleSessionService.
func (s *Store) EndConsoleSession(ctx context.Context, keyHash string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM console_sessions WHERE key_hash = ?`, keyHash); err != nil {
		return classify(err, "end console session")
	}
	return nil
}

func scanConsoleSession(row interface{ Scan(...any) error }) (*aicred.ConsoleSession, error) {
	var (
		cs                        aicred.ConsoleSession
		created, lastSeen, expire string
	)
	if err := row.Scan(&cs.KeyHash, &cs.Actor, &cs.Name, &cs.CanWrite, &cs.TokenHash, &created, &lastSeen, &expire); err != nil {
		return nil, err
	}
	var err error
	if cs.CreatedAt, err = audit.ParseTime(created); err != nil {
		return nil, err
	}
	if cs.LastSeen, err = audit.ParseTime(lastSeen); err != nil {
		return nil, err
	}
	if cs.Expires, err = audit.ParseTime(expire); err != nil {
		return nil, err
	}
	return &cs, nil
}
