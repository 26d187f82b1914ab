package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
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

// RecordGatewayObject implements aicred.GatewayObjectService: one
// statement, no audit record and no lock on the audit chain.
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
	calls := o.Calls
	if calls == nil {
		calls = []string{}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO gateway_objects (`+gatewayObjectColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (provider, kind, id) DO NOTHING`,
		o.Provider, o.Kind, o.ID, o.Purpose, o.TokenID, o.Workload, o.Role, calls, aicred.StoreTime(o.CreatedAt))
	if err != nil {
		return classify(err, "record gateway object %s", o.ID)
	}
	if tag.RowsAffected() == 0 {
		return aicred.Errorf(aicred.ErrConflict, "gateway object %s %s %s is recorded already", o.Provider, o.Kind, o.ID)
	}
	return nil
}

func scanGatewayObject(row pgx.Row) (*aicred.GatewayObject, error) {
	var (
		o       aicred.GatewayObject
		created time.Time
	)
	if err := row.Scan(&o.Provider, &o.Kind, &o.ID, &o.Purpose, &o.TokenID, &o.Workload, &o.Role, &o.Calls, &created); err != nil {
		return nil, err
	}
	if len(o.Calls) == 0 {
		o.Calls = nil
	}
	o.CreatedAt = aicred.StoreTime(created)
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
	err := s.read(ctx, "get gateway object", func(tx pgx.Tx) error {
		var err error
		o, err = scanGatewayObject(tx.QueryRow(ctx, `SELECT `+gatewayObjectColumns+` FROM gateway_objects
			WHERE provider = $1 AND kind = $2 AND id = $3`, provider, kind, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := "SELECT " + gatewayObjectColumns + " FROM gateway_objects"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, seq"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	var out []aicred.GatewayObject
	err := s.read(ctx, "list gateway objects", func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, q, args...)
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
