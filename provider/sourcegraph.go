package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "sourcegraph", Name: "Sourcegraph (Cody)", Category: AgentTools,
		RevokeURL: "https://sourcegraph.com/user/settings/tokens",
		Kinds: []*Kind{{
			ID: "cody-token", Name: "Sourcegraph Cody gateway token",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://cody-gateway.sourcegraph.com", Path: "/v1/limits", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403},
			},
			Rule: Rule{
				Description: "Sourcegraph Cody token: slk_ + 64 hex (68 characters)",
				Keywords:    []string{"slk_"},
				Pattern:     `slk_[0-9a-f]{64}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "slk_" + g.Hex(64)
					return append(assign("CODY_GATEWAY_TOKEN", k),
						Ex(curl("https://cody-gateway.sourcegraph.com/v1/limits", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string { return append(nearMisses(g, "slk_", Hex, 64), "slk_"+g.Chars(Upper, 64)) },
			},
		}},
	})
}
