package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "e2b", Name: "E2B", Category: Compute,
		RevokeURL: "https://e2b.dev/dashboard?tab=keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "E2B API key",
			Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.e2b.dev", Path: "/sandboxes", Auth: HeaderAuth("X-API-Key"),
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description: "E2B API key: e2b_ + 40 hex (44 characters)",
				Keywords:    []string{"e2b_"},
				Pattern:     `e2b_[0-9a-f]{40}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "e2b_" + g.Hex(40)
					return append(assign("E2B_API_KEY", k),
						Ex(notebook(`sbx = Sandbox(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string { return append(nearMisses(g, "e2b_", Hex, 40), "e2b_"+g.Chars(Upper, 40)) },
			},
		}},
	})
}
