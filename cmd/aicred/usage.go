package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
)

type usageFlags struct {
	by, since, until                 string
	workload, role, model, prov, tok string
	format, output                   string
}

func newUsageCmd(a *app) *cobra.Command {
	var fl usageFlags
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Spend and tokens through the gateway, by workload, role, model, provider or day",
		Long: "usage totals the gateway's usage records: requests, input, cached, cache-write and output tokens,\n" +
			"cost (and the part of it estimated at the worst case because no usage came back) and errors.\n" +
			"--since and --until take a duration back from now (7d, 36h, 90m), a date (2006-01-02, UTC) or an RFC 3339 time.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fl.format != "text" && fl.format != "json" {
				return usageErr("--format must be text or json")
			}
			by, err := aicred.ParseUsageGroups(fl.by)
			if err != nil {
				return usageErr("--by: " + err.Error())
			}
			now := time.Now()
			q := aicred.UsageQuery{By: by, Filter: aicred.UsageFilter{
				Workload: fl.workload, Role: fl.role, Model: fl.model, Provider: fl.prov, TokenID: fl.tok,
			}}
			if q.Filter.Since, err = parseWhen(fl.since, now); err != nil {
				return usageErr("--since: " + err.Error())
			}
			if q.Filter.Until, err = parseWhen(fl.until, now); err != nil {
				return usageErr("--until: " + err.Error())
			}
			if err := q.Validate(); err != nil {
				return usageErr(err.Error())
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return errExit(err)
			}
			defer st.Close()
			groups, err := st.SummarizeUsage(ctx, q)
			if err != nil {
				return errExit(err)
			}
			var total aicred.UsageSummary
			for _, g := range groups {
				total.Add(g)
			}
			return errExit(writeOutput(a.stdout, fl.output, func(w io.Writer) error {
				if fl.format == "json" {
					return writeUsageJSON(w, q, groups, total)
				}
				return writeUsageTable(w, q.By, groups, total)
			}))
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.by, "by", "workload,model", "group by any of workload, role, model, provider, day (comma-separated; empty: one total)")
	f.StringVar(&fl.since, "since", "", "only usage at or after this: 7d, 36h, 2006-01-02 or RFC 3339 (default: all)")
	f.StringVar(&fl.until, "until", "", "only usage before this (same forms as --since)")
	f.StringVar(&fl.workload, "workload", "", "only this workload (issuer and subject, space-separated, as recorded)")
	f.StringVar(&fl.role, "role", "", "only this role")
	f.StringVar(&fl.model, "model", "", "only this model")
	f.StringVar(&fl.prov, "provider", "", "only this provider")
	f.StringVar(&fl.tok, "token", "", "only this token id")
	f.StringVarP(&fl.format, "format", "f", "text", "text or json")
	f.StringVarP(&fl.output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// parseWhen reads a point in time: "" (none), a duration back from now
// ("36h", or "7d" in whole days, d taking no other unit), a
// date (UTC midnight) or an RFC 3339 time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*366 {
			return time.Time{}, fmt.Errorf("%q: want a whole number of days, like 7d", s)
		}
		return now.AddDate(0, 0, -days), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a negative duration", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a duration (7d, 36h), a date (2006-01-02) or an RFC 3339 time", s)
}

func writeUsageTable(w io.Writer, by []aicred.UsageGroup, groups []aicred.UsageSummary, total aicred.UsageSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var head []string
	for _, g := range by {
		head = append(head, strings.ToUpper(string(g)))
	}
	head = append(head, "REQUESTS", "INPUT", "CACHED", "CACHE WRITE", "OUTPUT", "COST USD", "ESTIMATED USD", "ERRORS")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row := func(labels []string, u aicred.UsageSummary) {
		fmt.Fprintf(tw, "%s%d\t%d\t%d\t%d\t%d\t%.4f\t%.4f\t%d\t\n", strings.Join(labels, ""), u.Requests, u.InputTokens,
			u.CachedTokens, u.CacheWriteTokens, u.OutputTokens, u.CostUSD, u.EstimatedUSD, u.Errors)
	}
	if len(by) > 0 {
		for _, u := range groups {
			labels := make([]string, len(by))
			for i, g := range by {
				v := *u.Field(g)
				if v == "" {
					v = "-"
				}
				labels[i] = v + "\t"
			}
			row(labels, u)
		}
	}
	labels := make([]string, len(by))
	for i := range labels {
		labels[i] = "\t"
	}
	if len(labels) > 0 {
		labels[0] = "TOTAL\t"
	}
	row(labels, total)
	return tw.Flush()
}

func writeUsageJSON(w io.Writer, q aicred.UsageQuery, groups []aicred.UsageSummary, total aicred.UsageSummary) error {
	by := make([]string, len(q.By))
	for i, g := range q.By {
		by[i] = string(g)
	}
	if groups == nil || len(q.By) == 0 {
		groups = []aicred.UsageSummary{}
		if len(q.By) == 0 {
			groups = append(groups, total)
		}
	}
	out := struct {
		Since  *time.Time            `json:"since,omitempty"`
		Until  *time.Time            `json:"until,omitempty"`
		By     []string              `json:"by"`
		Groups []aicred.UsageSummary `json:"groups"`
		Total  aicred.UsageSummary   `json:"total"`
	}{By: by, Groups: groups, Total: total}
	if !q.Filter.Since.IsZero() {
		t := q.Filter.Since.UTC()
		out.Since = &t
	}
	if !q.Filter.Until.IsZero() {
		t := q.Filter.Until.UTC()
		out.Until = &t
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
