package sqlite

import (
	"context"
	"database/sql"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const usageColumns = `record_id, at, token_id, workload, role, environment, provider, model, operation, stream,
	input_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, units, unit,
	cost_usd, estimated, status, outcome, latency_ns, upstream_request_id, source_ip, user_agent, credential_id`

// usageRowsPerInsert bounds one multi-row INSERT: 26 columns each, well
// under SQLite's 32,766 parameters, and large enough that statement
// overhead stops mattering.
const usageRowsPerInsert = 50

// RecordUsage implements aicred.UsageService: one write transaction, no
// audit record (see aicred.UsageService). A record whose ID is stored
// already is skipped, in the records and in the daily rollup.
func (s *Store) RecordUsage(ctx context.Context, recs []aicred.UsageRecord) error {
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	recs = aicred.DedupeUsageRecords(recs)
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return classify(err, "record usage: begin")
	}
	defer tx.Rollback()
	row := "(" + strings.Repeat("?, ", 25) + "?)"
	args := make([]any, 0, 26*min(len(recs), usageRowsPerInsert))
	inserted := make(map[string]struct{}, len(recs))
	for start := 0; start < len(recs); start += usageRowsPerInsert {
		batch := recs[start:min(start+usageRowsPerInsert, len(recs))]
		args = args[:0]
		for i := range batch {
			r := &batch[i]
			var id any
			if r.ID != "" {
				id = r.ID
			}
			args = append(args, id, audit.FormatTime(r.Time), aicred.StorableText(r.TokenID), aicred.StorableText(r.Workload),
				aicred.StorableText(r.Role), aicred.StorableText(r.Environment), aicred.StorableText(r.Provider),
				aicred.StorableText(r.Model), aicred.StorableText(r.Operation), r.Stream,
				r.Usage.InputTokens, r.Usage.CachedTokens, r.Usage.CacheWriteTokens, r.Usage.CacheWrite1hTokens, r.Usage.OutputTokens,
				r.Usage.Units, aicred.StorableText(r.Usage.Unit), r.CostUSD, r.Estimated, r.Status, aicred.StorableText(r.Outcome), int64(r.Latency),
				aicred.StorableText(r.UpstreamRequestID), aicred.StorableText(r.SourceIP), aicred.StorableText(r.UserAgent),
				aicred.StorableText(r.CredentialID))
		}
		q := `INSERT INTO usage_records (` + usageColumns + `) VALUES ` + row + strings.Repeat(", "+row, len(batch)-1) +
			` ON CONFLICT (record_id) DO NOTHING RETURNING record_id`
		if err := insertedIDs(ctx, tx, q, args, inserted); err != nil {
			return classify(err, "record usage")
		}
		// The embedded store runs inside the gateway process: between
		// statements, let request goroutines run rather than queue behind
		// the whole batch (the gateway's p99 measured lower this way).
		runtime.Gosched()
	}
	if err := addUsageDaily(ctx, tx, aicred.KeepInsertedUsage(recs, inserted)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return classify(err, "record usage: commit")
	}
	return nil
}

// insertedIDs runs the INSERT ... RETURNING record_id q and adds the ids
// of the rows it inserted to into.
func insertedIDs(ctx context.Context, tx *sql.Tx, q string, args []any, into map[string]struct{}) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id sql.NullString
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if id.Valid {
			into[id.String] = struct{}{}
		}
	}
	return rows.Err()
}

const usageDailyColumns = `day, workload, role, provider, model, operation, credential_id,
	requests, errors, input_tokens, cached_tokens, cache_write_tokens, output_tokens, units,
	cost_nusd, estimated, estimated_nusd, first_at, last_at`

// usageDailyRowsPerUpsert bounds one upsert: 19 columns each.
const usageDailyRowsPerUpsert = 50

// addUsageDaily adds recs to the daily rollup in tx: totalled in memory
// by day and group first (aicred.UsageDayGroups), then one multi-row
// upsert per usageDailyRowsPerUpsert groups.
func addUsageDaily(ctx context.Context, tx *sql.Tx, recs []aicred.UsageRecord) error {
	groups := aicred.UsageDayGroups(recs)
	row := "(" + strings.Repeat("?, ", 18) + "?)"
	args := make([]any, 0, 19*min(len(groups), usageDailyRowsPerUpsert))
	for start := 0; start < len(groups); start += usageDailyRowsPerUpsert {
		batch := groups[start:min(start+usageDailyRowsPerUpsert, len(groups))]
		args = args[:0]
		for _, g := range batch {
			args = append(args, g.Day, g.Workload, g.Role, g.Provider, g.Model, g.Operation, g.CredentialID,
				g.Requests, g.Errors, g.InputTokens, g.CachedTokens, g.CacheWriteTokens, g.OutputTokens, g.Units,
				g.CostNanos, g.Estimated, g.EstimatedNanos, audit.FormatTime(g.First), audit.FormatTime(g.Last))
		}
		q := `INSERT INTO usage_daily (` + usageDailyColumns + `) VALUES ` + row + strings.Repeat(", "+row, len(batch)-1) + `
			ON CONFLICT (day, workload, role, provider, model, operation, credential_id) DO UPDATE SET
			requests = requests + excluded.requests, errors = errors + excluded.errors,
			input_tokens = input_tokens + excluded.input_tokens, cached_tokens = cached_tokens + excluded.cached_tokens,
			cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, output_tokens = output_tokens + excluded.output_tokens,
			units = units + excluded.units, cost_nusd = cost_nusd + excluded.cost_nusd,
			estimated = estimated + excluded.estimated, estimated_nusd = estimated_nusd + excluded.estimated_nusd,
			first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return classify(err, "record usage: daily rollup")
		}
	}
	return nil
}

// usageWhere returns the WHERE clause (or "") selecting f, and its
// arguments.
func usageWhere(f aicred.UsageFilter) (string, []any) {
	return usageWhereFrom(f, nil, nil)
}

// usageWhereFrom is usageWhere after the conditions where, args.
func usageWhereFrom(f aicred.UsageFilter, where []string, args []any) (string, []any) {
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, audit.FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, audit.FormatTime(f.Until))
	}
	for _, c := range []struct{ col, v string }{
		{"token_id", f.TokenID}, {"credential_id", f.CredentialID}, {"workload", f.Workload}, {"role", f.Role}, {"provider", f.Provider}, {"model", f.Model},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, aicred.StorableText(c.v))
		}
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// groupExpr is the column expression of each group in usage_records.
func groupExpr(g aicred.UsageGroup) string {
	if g == aicred.GroupDay {
		return "substr(at, 1, 10)"
	}
	return string(g) // the other groups are column names
}

// costNanos is a record's cost in nano-dollars, as aicred.UsageCostNanos
// computes it (the cost is never negative: CAST truncates as floor).
const costNanos = `CAST(cost_usd * 1e9 + 0.5 AS INTEGER)`

// SummarizeUsage implements aicred.UsageService: whole UTC days from
// usage_daily, partial days and token queries from usage_records.
func (s *Store) SummarizeUsage(ctx context.Context, q aicred.UsageQuery) ([]aicred.UsageSummary, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	sp := aicred.SplitUsageDays(q.Filter)
	tot := aicred.NewUsageTotals(q.By)
	if sp.Rollup {
		var group []string
		for _, g := range q.By {
			group = append(group, string(g)) // usage_daily has a column of each group's name
		}
		f := q.Filter
		f.Since, f.Until = time.Time{}, time.Time{}
		var where []string
		var args []any
		if sp.FromDay != "" {
			where, args = append(where, "day >= ?"), append(args, sp.FromDay)
		}
		if sp.ToDay != "" {
			where, args = append(where, "day < ?"), append(args, sp.ToDay)
		}
		w, args := usageWhereFrom(f, where, args)
		if err := s.summarizePart(ctx, tot, len(q.By), group, `sum(requests)`, `sum(input_tokens)`, `sum(cached_tokens)`,
			`sum(cache_write_tokens)`, `sum(output_tokens)`, `sum(cost_nusd)`, `sum(estimated_nusd)`, `sum(errors)`,
			`usage_daily`+w, args); err != nil {
			return nil, err
		}
	}
	for _, f := range sp.Raw {
		var group []string
		for _, g := range q.By {
			group = append(group, groupExpr(g))
		}
		w, args := usageWhere(f)
		if err := s.summarizePart(ctx, tot, len(q.By), group, `count(*)`, `sum(input_tokens)`, `sum(cached_tokens)`,
			`sum(cache_write_tokens)`, `sum(output_tokens)`, `sum(`+costNanos+`)`,
			`sum(CASE WHEN estimated THEN `+costNanos+` ELSE 0 END)`, `sum(CASE WHEN outcome <> 'ok' THEN 1 ELSE 0 END)`,
			`usage_records`+w, args); err != nil {
			return nil, err
		}
	}
	return tot.Summaries(), nil
}

// summarizePart adds to tot the rows of one part of a summary: the
// group expressions, then the totals of requests, input, cached,
// cache-write and output tokens, cost and estimated cost in nano-dollars,
// and errors, from "from" (a table and its WHERE clause).
func (s *Store) summarizePart(ctx context.Context, tot *aicred.UsageTotals, ngroups int, group []string,
	requests, input, cached, cacheWrite, output, costN, estN, errs, from string, args []any) error {
	sel := slices.Clone(group)
	for _, e := range []string{requests, input, cached, cacheWrite, output, costN, estN, errs} {
		sel = append(sel, `coalesce(`+e+`, 0)`)
	}
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + from
	if len(group) > 0 {
		query += ` GROUP BY ` + strings.Join(group, ", ")
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return classify(err, "summarize usage")
	}
	defer rows.Close()
	vals := make([]string, ngroups)
	for rows.Next() {
		var (
			u           aicred.UsageSummary
			costN, estN int64
		)
		dest := make([]any, 0, ngroups+8)
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		dest = append(dest, &u.Requests, &u.InputTokens, &u.CachedTokens, &u.CacheWriteTokens, &u.OutputTokens, &costN, &estN, &u.Errors)
		if err := rows.Scan(dest...); err != nil {
			return classify(err, "summarize usage")
		}
		if u.Requests > 0 || ngroups > 0 {
			tot.Add(vals, u, costN, estN)
		}
	}
	if err := rows.Err(); err != nil {
		return classify(err, "summarize usage")
	}
	return nil
}

// ListUsage implements aicred.UsageService.
func (s *Store) ListUsage(ctx context.Context, f aicred.UsageFilter) ([]aicred.UsageRecord, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	where, args := usageWhere(f)
	q := `SELECT coalesce(record_id, ''), ` + usageColumns[len("record_id, "):] + ` FROM usage_records` + where + ` ORDER BY at, id`
	if f.Limit > 0 || f.Offset > 0 {
		limit := f.Limit
		if limit == 0 {
			limit = -1 // SQLite: no limit
		}
		q += ` LIMIT ? OFFSET ?`
		args = append(args, limit, f.Offset)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, classify(err, "list usage")
	}
	defer rows.Close()
	var out []aicred.UsageRecord
	for rows.Next() {
		var (
			r       aicred.UsageRecord
			at      string
			latency int64
		)
		if err := rows.Scan(&r.ID, &at, &r.TokenID, &r.Workload, &r.Role, &r.Environment, &r.Provider, &r.Model, &r.Operation, &r.Stream,
			&r.Usage.InputTokens, &r.Usage.CachedTokens, &r.Usage.CacheWriteTokens, &r.Usage.CacheWrite1hTokens, &r.Usage.OutputTokens,
			&r.Usage.Units, &r.Usage.Unit, &r.CostUSD, &r.Estimated, &r.Status, &r.Outcome, &latency, &r.UpstreamRequestID, &r.SourceIP, &r.UserAgent,
			&r.CredentialID); err != nil {
			return nil, classify(err, "list usage")
		}
		var err error
		if r.Time, err = audit.ParseTime(at); err != nil {
			return nil, classify(err, "list usage")
		}
		r.Latency = time.Duration(latency)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err, "list usage")
	}
	return out, nil
}
