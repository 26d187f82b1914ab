package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
)

func newPricesCmd(a *app) *cobra.Command {
	var providerID, model, format, configPath, check string
	cmd := &cobra.Command{
		Use:   "prices",
		Short: "List the model prices the gateway meters with, or check a price file",
		Long: `Lists what the gateway prices: the table shipped with aicred, with the entries
of the configured price file (gateway.prices in --config) over it, as 'aicred
serve' meters with. A model that is not listed is refused by the gateway (unless
gateway.unpriced sets a rate for unknown models). Rates are US dollars per
million tokens, or per image, minute of audio or million characters.

A model is priced by its exact id: a dated snapshot (gpt-4o-2024-05-13) has its
own entry or is unpriced. Azure OpenAI is priced by deployment name, as
azure-openai/<deployment>: price each deployment in the price file.

--check FILE validates a price file, in aicred's format ({"models": [...]}, as
gateway/prices.json) or LiteLLM's model_prices_and_context_window.json, and
prints what it prices; an invalid file exits 2.`,
		Example: `  aicred prices --provider anthropic
  aicred prices --model 'gpt-4o*' --format json
  aicred prices --config /etc/aicred/server.yaml
  aicred prices --check model_prices_and_context_window.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return usageErr("--format must be text or json")
			}
			if check != "" {
				return errExit(checkPriceFile(a, check, format))
			}
			table := gateway.DefaultPrices()
			if configPath != "" {
				data, err := os.ReadFile(configPath)
				if err != nil {
					return errExit(err)
				}
				cfg, err := parseServerConfig(data)
				if err != nil {
					return errExit(fmt.Errorf("config %s: %w", configPath, err))
				}
				table = cfg.Gateway.prices()
			}
			var rows []gateway.Price
			for _, p := range table.All() {
				if (providerID == "" || p.Provider == providerID) && (model == "" || broker.MatchGlob(model, p.Model)) {
					rows = append(rows, p)
				}
			}
			if format == "json" {
				return writeJSON(a, map[string]any{"count": len(rows), "models": rows})
			}
			return writePriceTable(a, rows)
		},
	}
	f := cmd.Flags()
	f.StringVar(&providerID, "provider", "", "only this provider id (openai, anthropic, google, aws, ...)")
	f.StringVar(&model, "model", "", "only models matching this id or glob (gpt-4o*)")
	f.StringVarP(&format, "format", "f", "text", "output format: text or json")
	f.StringVar(&configPath, "config", "", "server configuration whose gateway.prices file is laid over the shipped table")
	f.StringVar(&check, "check", "", "validate this price file (aicred or LiteLLM format) and print its counts")
	cmd.MarkFlagsMutuallyExclusive("check", "config")
	cmd.MarkFlagsMutuallyExclusive("check", "provider")
	cmd.MarkFlagsMutuallyExclusive("check", "model")
	return cmd
}

// checkPriceFile parses path as the gateway would and reports its counts.
func checkPriceFile(a *app, path, format string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	table, r, err := gateway.ParsePriceFile(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	perProvider := map[string]int{}
	noWindow := 0
	for _, p := range table.All() {
		perProvider[p.Provider]++
		if tokenPriced := p.Mode == "" || p.Mode == "chat" || p.Mode == "embedding"; tokenPriced && p.ContextWindow == 0 {
			noWindow++
		}
	}
	if format == "json" {
		return writeJSON(a, map[string]any{"file": path, "format": r.Format, "models": r.Taken, "skipped": r.Skipped,
			"no_context_window": noWindow, "providers": perProvider})
	}
	fmt.Fprintf(a.stdout, "%s: %s format, %d models priced, %d rows skipped\n", path, r.Format, r.Taken, r.Skipped)
	providers := make([]string, 0, len(perProvider))
	for p := range perProvider {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	for _, p := range providers {
		fmt.Fprintf(a.stdout, "  %-14s %d\n", p, perProvider[p])
	}
	if noWindow > 0 {
		fmt.Fprintf(a.stdout, "%d chat or embedding models have no context window: the gateway refuses them requests whose input it cannot see\n", noWindow)
	}
	return nil
}

func writeJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writePriceTable(a *app, rows []gateway.Price) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tMODEL\tMODE\tINPUT\tCACHED\tCACHE WRITE\tOUTPUT\tUNIT\tCONTEXT\tMAX OUT\tAS OF")
	for _, p := range rows {
		mode := p.Mode
		if mode == "" {
			mode = "chat"
		}
		unit := "-"
		switch {
		case p.PerImage > 0:
			unit = rate(p.PerImage) + "/image"
		case p.PerMinute > 0:
			unit = rate(p.PerMinute) + "/min"
		case p.PerMillionChars > 0:
			unit = rate(p.PerMillionChars) + "/Mchar"
		}
		if p.PerRequest > 0 {
			unit = strings.TrimPrefix(unit+" + "+rate(p.PerRequest)+"/request", "- + ")
		}
		asOf := p.AsOf
		if asOf == "" {
			asOf = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Provider, p.Model, mode,
			rate(p.Input), rate(p.CachedInput), rate(p.CacheWrite), rate(p.Output), unit,
			tokens(p.ContextWindow), tokens(p.MaxOutput), asOf)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\n%d models (US dollars per million tokens)\n", len(rows))
	return nil
}

// rate prints a rate, "-" for none.
func rate(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// tokens prints a token count, "-" for unknown.
func tokens(n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}
