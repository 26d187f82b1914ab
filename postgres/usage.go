package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aicred/aicred"
)

// usageColumns are usage_records' columns RecordUsage writes, with the
// PostgreSQL array type each is sent as.
var usageColumns = []struct{ name, array string }{
	{"record_id", "text[]"}, {"at", "timestamptz[]"}, {"token_id", "text[]"}, {"workload", "text[]"}, {"role", "text[]"},
	{"environment", "text[]"}, {"provider", "text[]"}, {"model", "text[]"}, {"operation", "text[]"}, {"stream", "boolean[]"},
	{"input_tokens", "bigint[]"}, {"cached_tokens", "bigint[]"}, {"cache_write_tokens", "bigint[]"},
	{"cache_write_1h_tokens", "bigint[]"}, {"output_tokens", "bigint[]"}, {"units", "bigint[]"}, {"unit", "text[]"},
	{"cost_usd", "float8[]"}, {"estimated", "boolean[]"}, {"status", "integer[]"}, {"outcome", "text[]"},
	{"latency_ns", "bigint[]"}, {"upstream_request_id", "text[]"}, {"source_ip", "text[]"}, {"user_agent", "text[]"},
	{"credential_id", "text[]"},
}

// usageSelect reads usageColumns back, "" for a record without an ID.
var usageSelect = func() string {
	names := make([]string, len(usageColumns))
	for i, c := range usageColumns {
		names[i] = c.name
	}
	names[0] = "coalesce(record_id, '')"
	return strings.Join(names, ", ")
}()

// insertUsageSQL inserts the rows of one array per column (unnest), skips
// those whose record_id is already stored, and returns the record_id of
// each row it inserted (NULL for rows without one).
var insertUsageSQL = func() string {
	names := make([]string, len(usageColumns))
	params := make([]string, len(usageColumns))
	sel := make([]string, len(usageColumns))
	for i, c := range usageColumns {
		names[i] = c.name
		params[i] = fmt.Sprintf("$%d::%s", i+1, c.array)
		sel[i] = "u." + c.name
	}
	sel[0] = "NULLIF(u.record_id, '')"
	return `INSERT INTO usage_records (` + strings.Join(names, ", ") + `)
		SELECT ` + strings.Join(sel, ", ") + `
		FROM unnest(` + strings.Join(params, ", ") + `) AS u(` + strings.Join(names, ", ") + `)
		ON CONFLICT (record_id) DO NOTHING
		RETURNING record_id`
}()

// RecordUsage implements aicred.UsageService in one transaction: one
// insert of the batch (an array per column, unnested: one round trip,
// and unlike COPY it can skip records already stored), then one upsert of
// the inserted records' daily totals into usage_daily. A record whose ID
// is stored already is skipped in both, so a batch retried after its
// COMMIT's answer was lost adds nothing twice. It takes no lock of the
// audit chain, so gateways recording usage never wait for its writers;
// two batches adding to the same day and group wait for each other's
// rollup rows, taken in one order (sorted) so they cannot deadlock.
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
	n := len(recs)
	var (
		ids, tokens, workloads, roles, envs, providers, models, ops, units, outcomes, reqIDs, ips, uas, creds = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats                                                    = make([]time.Time, n)
		streams, estimated                                     = make([]bool, n), make([]bool, n)
		input, cached, cacheWrite, cacheWrite1h, output, count = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		latency                                                = make([]int64, n)
		costs                                                  = make([]float64, n)
		statuses                                               = make([]int32, n)
	)
	for i := range recs {
		r := &recs[i]
		ids[i], ats[i], tokens[i], workloads[i] = r.ID, aicred.StoreTime(r.Time), aicred.StorableText(r.TokenID), aicred.StorableText(r.Workload)
		roles[i], envs[i], providers[i] = aicred.StorableText(r.Role), aicred.StorableText(r.Environment), aicred.StorableText(r.Provider)
		models[i], ops[i], streams[i] = aicred.StorableText(r.Model), aicred.StorableText(r.Operation), r.Stream
		input[i], cached[i], cacheWrite[i] = r.Usage.InputTokens, r.Usage.CachedTokens, r.Usage.CacheWriteTokens
		cacheWrite1h[i], output[i], count[i], units[i] = r.Usage.CacheWrite1hTokens, r.Usage.OutputTokens, r.Usage.Units, aicred.StorableText(r.Usage.Unit)
		costs[i], estimated[i], statuses[i], outcomes[i] = r.CostUSD, r.Estimated, int32(r.Status), aicred.StorableText(r.Outcome)
		latency[i], reqIDs[i], ips[i] = int64(r.Latency), aicred.StorableText(r.UpstreamRequestID), aicred.StorableText(r.SourceIP)
		uas[i], creds[i] = aicred.StorableText(r.UserAgent), aicred.StorableText(r.CredentialID)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(err, "record usage: begin")
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, insertUsageSQL, ids, ats, tokens, workloads, roles, envs, providers, models, ops, streams,
		input, cached, cacheWrite, cacheWrite1h, output, count, units, costs, estimated, statuses, outcomes, latency,
		reqIDs, ips, uas, creds)
	if err != nil {
		return classify(err, "record usage")
	}
	inserted := make(map[string]struct{}, n)
	for rows.Next() {
		var id *string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return classify(err, "record usage: read inserted ids")
		}
		if id != nil {
			inserted[*id] = struct{}{}
		}
	}
	if err := rows.Err(); err != nil {
		return classify(err, "record usage")
	}
	if err := addUsageDaily(ctx, tx, aicred.KeepInsertedUsage(recs, inserted)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return classify(err, "record usage: commit")
	}
	return nil
}

// usageDailyRowsPerUpsert bounds one upsert: 19 columns each.
const usageDailyRowsPerUpsert = 100

// addUsageDaily adds recs to the daily rollup in tx: totalled in memory
// by day and group first (aicred.UsageDayGroups, in key order), then one
// multi-row upsert per usageDailyRowsPerUpsert groups.
func addUsageDaily(ctx context.Context, tx pgx.Tx, recs []aicred.UsageRecord) error {
	groups := aicred.UsageDayGroups(recs)
	for start := 0; start < len(groups); start += usageDailyRowsPerUpsert {
		batch := groups[start:min(start+usageDailyRowsPerUpsert, len(groups))]
		args := make([]any, 0, 19*len(batch))
		var rows []string
		for _, g := range batch {
			ph := make([]string, 19)
			for i := range ph {
				ph[i] = fmt.Sprintf("$%d", len(args)+i+1)
			}
			ph[0] += "::date"
			rows = append(rows, "("+strings.Join(ph, ", ")+")")
			args = append(args, g.Day, g.Workload, g.Role, g.Provider, g.Model, g.Operation, g.CredentialID,
				g.Requests, g.Errors, g.InputTokens, g.CachedTokens, g.CacheWriteTokens, g.OutputTokens, g.Units,
				g.CostNanos, g.Estimated, g.EstimatedNanos, aicred.StoreTime(g.First), aicred.StoreTime(g.Last))
		}
		q := `INSERT INTO usage_daily AS d (day, workload, role, provider, model, operation, credential_id,
			requests, errors, input_tokens, cached_tokens, cache_write_tokens, output_tokens, units,
			cost_nusd, estimated, estimated_nusd, first_at, last_at) VALUES ` + strings.Join(rows, ", ") + `
			ON CONFLICT (day, workload, role, provider, model, operation, credential_id) DO UPDATE SET
			requests = d.requests + excluded.requests, errors = d.errors + excluded.errors,
			input_tokens = d.input_tokens + excluded.input_tokens, cached_tokens = d.cached_tokens + excluded.cached_tokens,
			cache_write_tokens = d.cache_write_tokens + excluded.cache_write_tokens, output_tokens = d.output_tokens + excluded.output_tokens,
			units = d.units + excluded.units, cost_nusd = d.cost_nusd + excluded.cost_nusd,
			estimated = d.estimated + excluded.estimated, estimated_nusd = d.estimated_nusd + excluded.estimated_nusd,
			first_at = least(d.first_at, excluded.first_at), last_at = greatest(d.last_at, excluded.last_at)`
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return classify(err, "record usage: daily rollup")
		}
	}
	return nil
}

// usageWhere returns the WHERE clause (or "") selecting f; its arguments
// are appended to args.
func usageWhere(f aicred.UsageFilter, args *[]any) string {
	return usageWhereFrom(f, nil, args)
}

// usageWhereFrom is usageWhere after the conditions where (whose
// arguments are already in args).
func usageWhereFrom(f aicred.UsageFilter, where []string, args *[]any) string {
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

// groupExpr is the expression of each group in usage_records.
func groupExpr(g aicred.UsageGroup) string {
	if g == aicred.GroupDay {
		return `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	return string(g) // the other groups are column names
}

// costNanos is a record's cost in nano-dollars, as aicred.UsageCostNanos
// computes it (double precision arithmetic, then floor).
const costNanos = `floor(cost_usd * 1e9::float8 + 0.5::float8)::bigint`

// SummarizeUsage implements aicred.UsageService: whole UTC days from
// usage_daily, partial days and token queries from usage_records. Rows
// are ordered in Go (byte order, as SQLite sorts).
func (s *Store) SummarizeUsage(ctx context.Context, q aicred.UsageQuery) ([]aicred.UsageSummary, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	sp := aicred.SplitUsageDays(q.Filter)
	tot := aicred.NewUsageTotals(q.By)
	if sp.Rollup {
		var group []string
		for _, g := range q.By {
			if g == aicred.GroupDay {
				group = append(group, `to_char(day, 'YYYY-MM-DD')`)
			} else {
				group = append(group, string(g)) // usage_daily has a column of each other group's name
			}
		}
		f := q.Filter
		f.Since, f.Until = time.Time{}, time.Time{}
		var where []string
		var args []any
		if sp.FromDay != "" {
			args = append(args, sp.FromDay)
			where = append(where, fmt.Sprintf("day >= $%d::date", len(args)))
		}
		if sp.ToDay != "" {
			args = append(args, sp.ToDay)
			where = append(where, fmt.Sprintf("day < $%d::date", len(args)))
		}
		w := usageWhereFrom(f, where, &args)
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
		var args []any
		w := usageWhere(f, &args)
		if err := s.summarizePart(ctx, tot, len(q.By), group, `count(*)`, `sum(input_tokens)`, `sum(cached_tokens)`,
			`sum(cache_write_tokens)`, `sum(output_tokens)`, `sum(`+costNanos+`)`,
			`sum(`+costNanos+`) FILTER (WHERE estimated)`, `count(*) FILTER (WHERE outcome <> 'ok')`,
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
		sel = append(sel, `coalesce(`+e+`, 0)::bigint`)
	}
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + from
	if len(group) > 0 {
		query += ` GROUP BY ` + strings.Join(group, ", ")
	}
	rows, err := s.pool.Query(ctx, query, args...)
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
	var args []any
	q := `SELECT ` + usageSelect + ` FROM usage_records` + usageWhere(f, &args) + ` ORDER BY at, id`
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
		if err := rows.Scan(&r.ID, &r.Time, &r.TokenID, &r.Workload, &r.Role, &r.Environment, &r.Provider, &r.Model, &r.Operation, &r.Stream,
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
