package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// AppendAudit implements aicred.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, e aicred.AuditEvent) (aicred.AuditEvent, error) {
	ctx, cancel := boundOp(ctx) // on a request's path
	defer cancel()
	if e.Action == "" {
		return aicred.AuditEvent{}, aicred.Errorf(aicred.ErrInvalid, "audit event: action is required")
	}
	var out aicred.AuditEvent
	err := s.write(ctx, "append audit event", func(_ pgx.Tx, c *audit.Chain) error {
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
	err := s.read(ctx, "list audit", func(tx pgx.Tx) error {
		return eachEvent(ctx, tx, `SELECT seq, at, actor, action, subject, data::text, prev_hash, hash FROM audit_log
			WHERE seq >= $1 ORDER BY seq LIMIT $2`, []any{fromSeq, limit}, func(e *aicred.AuditEvent) bool {
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
	err := s.read(ctx, "verify audit", func(tx pgx.Tx) error {
		var head aicred.AuditHead
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash); err != nil {
			return err
		}
		v := audit.NewVerifier()
		if err := eachEvent(ctx, tx, `SELECT seq, at, actor, action, subject, data::text, prev_hash, hash FROM audit_log ORDER BY seq`,
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
func eachEvent(ctx context.Context, tx pgx.Tx, query string, args []any, fn func(*aicred.AuditEvent) bool) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e aicred.AuditEvent
		var at time.Time
		var data string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Subject, &data, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		e.Time = aicred.StoreTime(at)
		// Data that does not decode is left empty: its record then fails
		// verification at its own position.
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.Actions) > 0 {
		where = append(where, `action = ANY(`+arg(q.Actions)+`)`)
	}
	if q.Subject != "" {
		where = append(where, `subject = `+arg(q.Subject))
	}
	if q.Actor != "" {
		where = append(where, `actor = `+arg(q.Actor))
	}
	if !q.Since.IsZero() {
		where = append(where, `at >= `+arg(q.Since.UTC()))
	}
	if q.BeforeSeq > 0 {
		where = append(where, `seq < `+arg(q.BeforeSeq))
	}
	query := `SELECT seq, at, actor, action, subject, data::text, prev_hash, hash FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY seq DESC LIMIT ` + arg(q.Limit)
	var out []aicred.AuditEvent
	err := s.read(ctx, "search audit", func(tx pgx.Tx) error {
		return eachEvent(ctx, tx, query, args, func(e *aicred.AuditEvent) bool {
			out = append(out, *e)
			return true
		})
	})
	return out, err
}
