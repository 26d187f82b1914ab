package sqlite

import (
	"context"
	"runtime"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

const usageColumns = `at, token_id, workload, role, environment, provider, model, operation, stream,
	input_tokens, cached_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, units, unit,
	cost_usd, estimated, status, outcome, latency_ns, upstream_request_id, source_ip, user_agent, credential_id`

// usageRowsPerInsert bounds one multi-row INSERT: 25 columns each, well
// under SQLite's 32,766 parameters, and large enough that statement
// overhead stops mattering.
const usageRowsPerInsert = 50

// RecordUsage implements aicred.UsageService: one write transaction, no
// audit record (see aicred.UsageService).
func (s *Store) RecordUsage(ctx context.Context, recs []aicred.UsageRecord) error {
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return classify(err, "record usage: begin")
	}
	defer tx.Rollback()
	row := "(" + strings.Repeat("?, ", 24) + "?)"
	args := make([]any, 0, 25*min(len(recs), usageRowsPerInsert))
	for start := 0; start < len(recs); start += usageRowsPerInsert {
		batch := recs[start:min(start+usageRowsPerInsert, len(recs))]
		args = args[:0]
		for i := range batch {
			r := &batch[i]
			args = append(args, audit.FormatTime(r.Time), aicred.StorableText(r.TokenID), aicred.StorableText(r.Workload),
				aicred.StorableText(r.Role), aicred.StorableText(r.Environment), aicred.StorableText(r.Provider),
				aicred.StorableText(r.Model), aicred.StorableText(r.Operation), r.Stream,
				r.Usage.InputTokens, r.Usage.CachedTokens, r.Usage.CacheWriteTokens, r.Usage.CacheWrite1hTokens, r.Usage.OutputTokens,
				r.Usage.Units, aicred.StorableText(r.Usage.Unit), r.CostUSD, r.Estimated, r.Status, aicred.StorableText(r.Outcome), int64(r.Latency),
				aicred.StorableText(r.UpstreamRequestID), aicred.StorableText(r.SourceIP), aicred.StorableText(r.UserAgent),
				aicred.StorableText(r.CredentialID))
		}
		q := `INSERT INTO usage_records (` + usageColumns + `) VALUES ` + row + strings.Repeat(", "+row, len(batch)-1)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return classify(err, "record usage")
		}
		// The embedded store runs inside the gateway process: between
		// statements, let request goroutines run rather than queue behind
		// the whole batch (the gateway's p99 measured lower this way).
		runtime.Gosched()
	}
	if err := tx.Commit(); err != nil {
		return classify(err, "record usage: commit")
	}
	return nil
}

// usageWhere returns the WHERE clause (or "") selecting f, and its
// arguments.
func usageWhere(f aicred.UsageFilter) (string, []any) {
	var where []string
	var args []any
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

// groupExpr is the column expression of each group.
func groupExpr(g aicred.UsageGroup) string {
	if g == aicred.GroupDay {
		return "substr(at, 1, 10)"
	}
	return string(g) // the other groups are column names
}

// SummarizeUsage implements aicred.UsageService.
func (s *Store) SummarizeUsage(ctx context.Context, q aicred.UsageQuery) ([]aicred.UsageSummary, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var sel, group []string
	for _, g := range q.By {
		sel = append(sel, groupExpr(g))
		group = append(group, groupExpr(g))
	}
	sel = append(sel, `count(*)`, `coalesce(sum(input_tokens), 0)`, `coalesce(sum(cached_tokens), 0)`,
		`coalesce(sum(cache_write_tokens), 0)`, `coalesce(sum(output_tokens), 0)`, `coalesce(sum(cost_usd), 0.0)`,
		`coalesce(sum(CASE WHEN estimated THEN cost_usd ELSE 0.0 END), 0.0)`,
		`coalesce(sum(CASE WHEN outcome <> 'ok' THEN 1 ELSE 0 END), 0)`)
	where, args := usageWhere(q.Filter)
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM usage_records` + where
	if len(group) > 0 {
		query += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(group, ", ")
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
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
	where, args := usageWhere(f)
	q := `SELECT ` + usageColumns + ` FROM usage_records` + where + ` ORDER BY at, id`
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
		if err := rows.Scan(&at, &r.TokenID, &r.Workload, &r.Role, &r.Environment, &r.Provider, &r.Model, &r.Operation, &r.Stream,
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
