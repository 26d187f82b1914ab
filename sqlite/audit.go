package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// AppendAudit implements aicred.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error) {
	if e.Action == "" {
		return aicred.AuditEvent{}, aicred.Errorf(aicred.ErrInvalid, "audit event: action is required")
	}
	var out aicred.AuditEvent
	err := s.write(ctx, "append audit event", func(_ *sql.Tx, c *audit.Chain) error {
		out = c.Append(e)
		return nil
	})
	if err != nil {
		return aicred.AuditEvent{}, err
	}
	return out, nil
}

// ListAudit implements aicred.AuditLog.
func (s *Store) ListAudit(ctx context.Context, fromSeq int64, limit int) ([]aicred.AuditEvent, error) {
	if limit < 1 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "list audit: limit must be positive")
	}
	var out []aicred.AuditEvent
	err := s.read(ctx, "list audit", func(tx *sql.Tx) error {
		return eachEvent(ctx, tx, `SELECT seq, at, actor, action, subject, data, prev_hash, hash FROM audit_log
			WHERE seq >= ? ORDER BY seq LIMIT ?`, []any{fromSeq, limit}, func(e *aicred.AuditEvent) bool {
			out = append(out, *e)
			return true
		})
	})
	return out, err
}

// VerifyAudit implements aicred.AuditLog. It reads the head row and the
// whole log in one snapshot, so concurrent appends do not disturb it.
func (s *Store) VerifyAudit(ctx context.Context) (aicred.AuditVerification, error) {
	var res aicred.AuditVerification
	err := s.read(ctx, "verify audit", func(tx *sql.Tx) error {
		var head aicred.AuditHead
		if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash); err != nil {
			return err
		}
		v := audit.NewVerifier()
		if err := eachEvent(ctx, tx, `SELECT seq, at, actor, action, subject, data, prev_hash, hash FROM audit_log ORDER BY seq`,
			nil, v.Add); err != nil {
			return err
		}
		res = v.End(&head)
		return nil
	})
	return res, err
}

// eachEvent calls fn for each event the query returns until fn returns
// false.
func eachEvent(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*aicred.AuditEvent) bool) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e aicred.AuditEvent
		var at, data string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &data, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		// A time or data column that does not decode is left zero: its
		// record then fails verification at its own position.
		e.Time, _ = audit.ParseTime(at)
		e.Data, _ = parseMap(data)
		if !fn(&e) {
			break
		}
	}
	return rows.Err()
}

// SearchAudit implements aicred.AuditSearch: the primary key read
// backwards, filtered.
func (s *Store) SearchAudit(ctx context.Context, q aicred.AuditQuery) ([]aicred.AuditEvent, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if len(q.Actions) > 0 {
		where = append(where, `action IN (?`+strings.Repeat(`, ?`, len(q.Actions)-1)+`)`)
		for _, a := range q.Actions {
			args = append(args, a)
		}
	}
	if q.Subject != "" {
		where, args = append(where, `subject = ?`), append(args, q.Subject)
	}
	if q.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, q.Actor)
	}
	if !q.Since.IsZero() {
		where, args = append(where, `at >= ?`), append(args, audit.FormatTime(q.Since))
	}
	if q.BeforeSeq > 0 {
		where, args = append(where, `seq < ?`), append(args, q.BeforeSeq)
	}
	query := `SELECT seq, at, actor, action, subject, data, prev_hash, hash FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, q.Limit)
	var out []aicred.AuditEvent
	err := s.read(ctx, "search audit", func(tx *sql.Tx) error {
		return eachEvent(ctx, tx, query, args, func(e *aicred.AuditEvent) bool {
			out = append(out, *e)
			return true
		})
	})
	return out, err
}
