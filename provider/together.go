package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "together", Name: "Together AI", Category: ModelAPI,
		RevokeURL: "https://api.together.ai/settings/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Together AI API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.together.xyz", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"id"`, `"object"`},
			},
			Rule: Rule{
				Description: "Together AI API key: tgp_v1_ + 43 url-safe characters (50 characters)",
				Keywords:    []string{"tgp_v1_"},
				Pattern:     `tgp_v1_[A-Za-z0-9_-]{43}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "tgp_v1_" + g.URL64(43)
					return append(assign("TOGETHER_API_KEY", k),
						Ex(notebook(`client = Together(api_key="`+k+`")`), k),
						Ex(curl("https://api.together.xyz/v1/models", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "tgp_v1_", Alnum, 43), "tgp_v2_"+g.URL64(43))
				},
			},
		}},
	})
}
