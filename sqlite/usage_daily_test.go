package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"database/sql"

	"github.com/aicred/aicred/sqlite"
	"github.com/aicred/aicred/storetest"
)

// TestUsageDailyBackfill: migration 0010 builds from existing records the
// same daily rollup RecordUsage keeps.
func TestUsageDailyBackfill(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	recs := storetest.UsageRecords(9, 3000, 5, time.Date(2025, 5, 1, 13, 0, 0, 0, time.UTC))
	for i := 0; i < len(recs); i += 250 {
		if err := s.RecordUsage(ctx, recs[i:min(i+250, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	kept := usageDaily(t, db.QueryContext)
	if len(kept) < 10 {
		t.Fatalf("%d rollup rows for %d records", len(kept), len(recs))
	}
	// Back to the schema before 0010, records and all, then migrate.
	for _, q := range []string{`DROP TABLE usage_daily`, `DELETE FROM schema_migrations WHERE version = 10`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if built := usageDaily(t, db.QueryContext); !slices.Equal(built, kept) {
		t.Fatalf("backfilled rollup (%d rows) differs from the one kept by RecordUsage (%d rows)", len(built), len(kept))
	}
}

// usageDaily returns every row of usage_daily as text, in key order.
func usageDaily(t *testing.T, query func(context.Context, string, ...any) (*sql.Rows, error)) []string {
	t.Helper()
	rows, err := query(context.Background(), `SELECT day, workload, role, provider, model, operation, credential_id,
		requests, errors, input_tokens, cached_tokens, cache_write_tokens, output_tokens, units,
		cost_nusd, estimated, estimated_nusd, first_at, last_at FROM usage_daily
		ORDER BY day, workload, role, provider, model, operation, credential_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		v := make([]any, 19)
		for i := range v {
			v[i] = new(any)
		}
		if err := rows.Scan(v...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, x := range v {
			fmt.Fprintf(&b, "%v|", *x.(*any))
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
