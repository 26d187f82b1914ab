package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
)

type catalogKind struct {
	Provider     string              `json:"provider"`
	Category     string              `json:"category"`
	Kind         string              `json:"kind"`
	Name         string              `json:"name"`
	Rule         string              `json:"rule"`
	Description  string              `json:"description"`
	Capabilities []aicred.Capability `json:"capabilities"`
	Liveness     string              `json:"liveness"`
}

func newCatalogCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "List the providers and credential kinds aicred knows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rows []catalogKind
			providers := provider.Catalog()
			for _, p := range providers {
				for _, k := range p.Kinds {
					live := "none"
					if l := k.Liveness; l != nil {
						live = "probe"
						if l.Probe == nil {
							m := l.Method
							if m == "" {
								m = "GET"
							}
							live = m + " " + l.BaseURL + l.Path
						}
					}
					rows = append(rows, catalogKind{
						Provider: p.ID, Category: string(p.Category), Kind: k.ID, Name: k.Name,
						Rule: k.Rule.ID, Description: k.Rule.Description, Capabilities: k.Capabilities, Liveness: live,
					})
				}
			}
			switch format {
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"providers": len(providers), "kinds": len(rows), "catalog": rows})
			case "text":
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROVIDER\tKIND\tCAPABILITIES\tLIVENESS CHECK")
				for _, r := range rows {
					caps := make([]string, len(r.Capabilities))
					for i, c := range r.Capabilities {
						caps[i] = string(c)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Provider, r.Kind, strings.Join(caps, ","), r.Liveness)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "\n%d providers, %d credential kinds\n", len(providers), len(rows))
				return nil
			}
			return usageErr("--format must be text or json")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "output format: text or json")
	return cmd
}
