package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
)

var usageColumns = []string{"at", "token_id", "workload", "role", "environment", "provider", "model", "operation", "stream",
	"input_tokens", "cached_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens", "units", "unit",
	"cost_usd", "estimated", "status", "outcome", "latency_ns", "upstream_request_id", "source_ip", "user_agent", "credential_id"}

// RecordUsage implements aicred.UsageService with one COPY, which is
// atomic on its own and the fastest way pgx has to load rows. It takes no
// lock but the table's, so gateways recording usage never wait for the
// audit chain's writers.
func (s *Store) RecordUsage(ctx context.Context, recs []aicred.UsageRecord) error {
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	if len(recs) == 0 {
		return nil
	}
	rows := pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		r := &recs[i]
		return []any{aicred.StoreTime(r.Time), aicred.StorableText(r.TokenID), aicred.StorableText(r.Workload),
			aicred.StorableText(r.Role), aicred.StorableText(r.Environment), aicred.StorableText(r.Provider),
			aicred.StorableText(r.Model), aicred.StorableText(r.Operation), r.Stream,
			r.Usage.InputTokens, r.Usage.CachedTokens, r.Usage.CacheWriteTokens, r.Usage.CacheWrite1hTokens, r.Usage.OutputTokens,
			r.Usage.Units, aicred.StorableText(r.Usage.Unit), r.CostUSD, r.Estimated, int32(r.Status), aicred.StorableText(r.Outcome), int64(r.Latency),
			aicred.StorableText(r.UpstreamRequestID), aicred.StorableText(r.SourceIP), aicred.StorableText(r.UserAgent),
			aicred.StorableText(r.CredentialID)}, nil
	})
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"usage_records"}, usageColumns, rows); err != nil {
		return classify(err, "record usage")
	}
	return nil
}

// usageWhere returns the WHERE clause (or "") selecting f; its arguments
// are appended to args.
func usageWhere(f aicred.UsageFilter, args *[]any) string {
	var where []string
	add := func(cond string, v any) {
		*args = append(*args, v)
		where = append(where, fmt.Sprintf(cond, len(*args)))
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("at < $%d", f.Until)
	}
	for _, c := range []struct{ col, v string }{
		{"token_id", f.TokenID}, {"credential_id", f.CredentialID}, {"workload", f.Workload}, {"role", f.Role}, {"provider", f.Provider}, {"model", f.Model},
	} {
		if c.v != "" {
			add(c.col+" = $%d", aicred.StorableText(c.v))
		}
	}
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}

// groupExpr is the expression of each group. Text groups sort in byte
// order (COLLATE "C"), as SQLite sorts them.
func groupExpr(g aicred.UsageGroup) string {
	if g == aicred.GroupDay {
		return `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	return string(g) // the other groups are column names
}

// SummarizeUsage implements aicred.UsageService.
func (s *Store) SummarizeUsage(ctx context.Context, q aicred.UsageQuery) ([]aicred.UsageSummary, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var sel, group, order []string
	for _, g := range q.By {
		sel = append(sel, groupExpr(g))
		group = append(group, groupExpr(g))
		order = append(order, groupExpr(g)+` COLLATE "C"`)
	}
	sel = append(sel, `count(*)`, `coalesce(sum(input_tokens), 0)::bigint`, `coalesce(sum(cached_tokens), 0)::bigint`,
		`coalesce(sum(cache_write_tokens), 0)::bigint`, `coalesce(sum(output_tokens), 0)::bigint`, `coalesce(sum(cost_usd), 0)`,
		`coalesce(sum(cost_usd) FILTER (WHERE estimated), 0)`, `count(*) FILTER (WHERE outcome <> 'ok')`)
	var args []any
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM usage_records` + usageWhere(q.Filter, &args)
	if len(group) > 0 {
		query += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(order, ", ")
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err, "summarize usage")
	}
	defer rows.Close()
	var out []aicred.UsageSummary
	for rows.Next() {
		var u aicred.UsageSummary
		dest := make([]any, 0, len(q.By)+8)
		for _, g := range q.By {
			dest = append(dest, u.Field(g))
		}
		dest = append(dest, &u.Requests, &u.InputTokens, &u.CachedTokens, &u.CacheWriteTokens, &u.OutputTokens,
			&u.CostUSD, &u.EstimatedUSD, &u.Errors)
		if err := rows.Scan(dest...); err != nil {
			return nil, classify(err, "summarize usage")
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "summarize usage")
	}
	return out, nil
}

// ListUsage implements aicred.UsageService.
func (s *Store) ListUsage(ctx context.Context, f aicred.UsageFilter) ([]aicred.UsageRecord, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	var args []any
	q := `SELECT ` + strings.Join(usageColumns, ", ") + ` FROM usage_records` + usageWhere(f, &args) + ` ORDER BY at, id`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	if f.Offset > 0 {
		args = append(args, f.Offset)
		q += fmt.Sprintf(" OFFSET $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, classify(err, "list usage")
	}
	defer rows.Close()
	var out []aicred.UsageRecord
	for rows.Next() {
		var (
			r       aicred.UsageRecord
			status  int32
			latency int64
		)
		if err := rows.Scan(&r.Time, &r.TokenID, &r.Workload, &r.Role, &r.Environment, &r.Provider, &r.Model, &r.Operation, &r.Stream,
			&r.Usage.InputTokens, &r.Usage.CachedTokens, &r.Usage.CacheWriteTokens, &r.Usage.CacheWrite1hTokens, &r.Usage.OutputTokens,
			&r.Usage.Units, &r.Usage.Unit, &r.CostUSD, &r.Estimated, &status, &r.Outcome, &latency, &r.UpstreamRequestID, &r.SourceIP, &r.UserAgent,
			&r.CredentialID); err != nil {
			return nil, classify(err, "list usage")
		}
		r.Time, r.Status, r.Latency = aicred.StoreTime(r.Time), int(status), time.Duration(latency)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "list usage")
	}
	return out, nil
}
