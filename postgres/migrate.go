package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aicred/aicred"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Files are
// named NNNN_name.sql.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "migrations/"), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", n)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, name, string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("two migrations numbered %d", out[i].version)
		}
	}
	return out, nil
}

// migrate applies pending migrations in one transaction, under an advisory
// lock named after the schema: a second process opening the store at the
// same time waits, then finds nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return aicred.Errorf(aicred.ErrInternal, "schema: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return classify(err, "schema: begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('aicred.migrate.' || current_schema()))`); err != nil {
		return classify(err, "schema: lock")
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return classify(err, "schema: create schema_migrations")
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return classify(err, "schema: read versions")
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return classify(err, "schema: read versions")
	}
	pending, err := pendingMigrations(ms, applied)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return classify(err, "schema: migration %d (%s)", m.version, m.name)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return classify(err, "schema: record migration %d", m.version)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(err, "schema: commit")
	}
	return nil
}

// pendingMigrations returns the migrations not applied yet, in order.
// Versions need not be contiguous: migrations written on separate
// branches may land in either order, and each is applied once, whatever
// was applied before it. A database holding a version this aicred does
// not know was migrated by a newer aicred, and is refused.
func pendingMigrations(ms []migration, applied []int) ([]migration, error) {
	known := make(map[int]bool, len(ms))
	for _, m := range ms {
		known[m.version] = true
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		if !known[v] {
			return nil, aicred.Errorf(aicred.ErrInvalid, "schema version %d is newer than this aicred knows: upgrade aicred", v)
		}
		done[v] = true
	}
	var out []migration
	for _, m := range ms {
		if !done[m.version] {
			out = append(out, m)
		}
	}
	return out, nil
}
