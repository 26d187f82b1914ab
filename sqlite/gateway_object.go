package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const gatewayObjectColumns = `provider, kind, id, purpose, token_id, workload, role, calls, created_at`

// storableObject refuses an object whose text the database would not store
// exactly (invalid UTF-8, NUL): replacing such bytes could make two ids,
// or two owners, one.
func storableObject(o *aicred.GatewayObject) error {
	if !storable(o.Provider, o.Kind, o.ID, o.Purpose, o.TokenID, o.Workload, o.Role) || !storable(o.Calls...) {
		return aicred.Errorf(aicred.ErrInvalid, "gateway object: a field holds invalid UTF-8 or a NUL byte")
	}
	return nil
}

// storable reports whether the database stores every text as given.
func storable(texts ...string) bool {
	for _, s := range texts {
		if aicred.StorableText(s) != s {
			return false
		}
	}
	return true
}

// RecordGatewayObject implements aicred.GatewayObjectService: one write
// transaction, no audit record.
func (s *Store) RecordGatewayObject(ctx context.Context, o aicred.GatewayObject) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if err := storableObject(&o); err != nil {
		return err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now()
	}
	calls := "[]"
	if len(o.Calls) > 0 {
		b, err := json.Marshal(o.Calls)
		if err != nil {
			return aicred.Errorf(aicred.ErrInvalid, "gateway object %s: calls: %w", o.ID, err)
		}
		calls = string(b)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return classify(err, "record gateway object: begin")
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO gateway_objects (`+gatewayObjectColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, kind, id) DO NOTHING`,
		o.Provider, o.Kind, o.ID, o.Purpose, o.TokenID, o.Workload, o.Role, calls, audit.FormatTime(o.CreatedAt))
	if err != nil {
		return classify(err, "record gateway object %s", o.ID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return classify(err, "record gateway object %s", o.ID)
	} else if n == 0 {
		return aicred.Errorf(aicred.ErrConflict, "gateway object %s %s %s is recorded already", o.Provider, o.Kind, o.ID)
	}
	if err := tx.Commit(); err != nil {
		return classify(err, "record gateway object %s: commit", o.ID)
	}
	return nil
}

func scanGatewayObject(row interface{ Scan(...any) error }) (*aicred.GatewayObject, error) {
	var (
		o              aicred.GatewayObject
		calls, created string
	)
	if err := row.Scan(&o.Provider, &o.Kind, &o.ID, &o.Purpose, &o.TokenID, &o.Workload, &o.Role, &calls, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(calls), &o.Calls); err != nil {
		return nil, fmt.Errorf("gateway object %s: bad calls: %w", o.ID, err)
	}
	if len(o.Calls) == 0 {
		o.Calls = nil
	}
	var err error
	if o.CreatedAt, err = audit.ParseTime(created); err != nil {
		return nil, err
	}
	return &o, nil
}

// GetGatewayObject implements aicred.GatewayObjectService.
func (s *Store) GetGatewayObject(ctx context.Context, provider, kind, id string) (*aicred.GatewayObject, error) {
	if !storable(provider, kind, id) {
		// Nothing stored holds such bytes; looking them up repaired could
		// find another object.
		return nil, aicred.Errorf(aicred.ErrNotFound, "gateway object %q not found", aicred.StorableText(id))
	}
	var o *aicred.GatewayObject
	err := s.read(ctx, "get gateway object", func(tx *sql.Tx) error {
		var err error
		o, err = scanGatewayObject(tx.QueryRowContext(ctx, `SELECT `+gatewayObjectColumns+` FROM gateway_objects
			WHERE provider = ? AND kind = ? AND id = ?`, provider, kind, id))
		if errors.Is(err, sql.ErrNoRows) {
			return aicred.Errorf(aicred.ErrNotFound, "gateway object %q not found", aicred.StorableText(id))
		}
		return err
	})
	return o, err
}

// ListGatewayObjects implements aicred.GatewayObjectService.
func (s *Store) ListGatewayObjects(ctx context.Context, f aicred.GatewayObjectFilter) ([]aicred.GatewayObject, error) {
	if f.Limit < 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "list gateway objects: negative limit")
	}
	if !storable(f.Provider, f.Kind, f.Workload, f.Role) {
		return nil, nil // nothing stored holds such bytes
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"provider", f.Provider}, {"kind", f.Kind}, {"workload", f.Workload}, {"role", f.Role}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	q := "SELECT " + gatewayObjectColumns + " FROM gateway_objects"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, seq"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	var out []aicred.GatewayObject
	err := s.read(ctx, "list gateway objects", func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanGatewayObject(rows)
			if err != nil {
				return err
			}
			out = append(out, *o)
		}
		return rows.Err()
	})
	return out, err
}
