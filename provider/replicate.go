package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "replicate", Name: "Replicate", Category: ModelAPI,
		RevokeURL: "https://replicate.com/account/api-tokens",
		Kinds: []*Kind{{
			ID: "api-token", Name: "Replicate API token",
			// A token also reads past predictions: their inputs and outputs.
			Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.replicate.com", Path: "/v1/account", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"username"`},
			},
			Rule: Rule{
				Description: "Replicate API token: r8_ + 37 url-safe characters (40 characters)",
				Keywords:    []string{"r8_"},
				Pattern:     `r8_[A-Za-z0-9_-]{37}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "r8_" + g.Alnum(37)
					return append(assign("REPLICATE_API_TOKEN", k),
						Ex(notebook(`client = replicate.Client(api_token="`+k+`")`), k),
						Ex(curl("https://api.replicate.com/v1/account", "Authorization", "Token "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "r8_", Alnum, 37),
						"r8_"+g.Alnum(20)+"?"+g.Alnum(16), // '?' inside the body
						"r9_"+g.Alnum(37),
					)
				},
			},
		}},
	})
}
