package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "firecrawl", Name: "Firecrawl", Category: AgentTools,
		RevokeURL: "https://www.firecrawl.dev/app/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Firecrawl API key",
			Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
			// No liveness check is documented in the reference.
			Rule: Rule{
				Description: "Firecrawl API key: fc- + 32 hex (35 characters)",
				Keywords:    []string{"fc-"},
				Pattern:     `fc-[0-9a-f]{32}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "fc-" + g.Hex(32)
					return append(assign("FIRECRAWL_API_KEY", k),
						Ex(notebook(`app = FirecrawlApp(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "fc-", Hex, 32), "fc-"+g.Chars(Upper, 32), "rfc-"+g.Hex(32))
				},
			},
		}},
	})
}
