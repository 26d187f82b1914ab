package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred/storetest"
)

// TestUsageDailyBackfill: migration 0010 builds from existing records the
// same daily rollup RecordUsage keeps.
func TestUsageDailyBackfill(t *testing.T) {
	ctx := context.Background()
	dsn, _ := newSchema(t)
	s := openAt(t, dsn)
	recs := storetest.UsageRecords(9, 3000, 5, time.Date(2025, 5, 1, 13, 0, 0, 0, time.UTC))
	for i := 0; i < len(recs); i += 250 {
		if err := s.RecordUsage(ctx, recs[i:min(i+250, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	c := connect(t, dsn)
	kept := usageDaily(t, c)
	if len(kept) < 10 {
		t.Fatalf("%d rollup rows for %d records", len(kept), len(recs))
	}
	// Back to the schema before 0010, records and all, then migrate.
	for _, q := range []string{`DROP TABLE usage_daily`, `DELETE FROM schema_migrations WHERE version = 10`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s = openAt(t, dsn)
	defer s.Close()
	if built := usageDaily(t, c); !slices.Equal(built, kept) {
		t.Fatalf("backfilled rollup (%d rows) differs from the one kept by RecordUsage (%d rows)", len(built), len(kept))
	}
}

// usageDaily returns every row of usage_daily as text, in key order.
func usageDaily(t *testing.T, c interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT day::text, workload, role, provider, model, operation, credential_id,
		requests, errors, input_tokens, cached_tokens, cache_write_tokens, output_tokens, units,
		cost_nusd, estimated, estimated_nusd, first_at, last_at FROM usage_daily
		ORDER BY day, workload COLLATE "C", role COLLATE "C", provider COLLATE "C", model COLLATE "C",
			operation COLLATE "C", credential_id COLLATE "C"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, x := range v {
			if tm, ok := x.(time.Time); ok {
				x = tm.UTC().Format(time.RFC3339Nano)
			}
			fmt.Fprintf(&b, "%v|", x)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
