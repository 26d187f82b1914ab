package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "cohere", Name: "Cohere", Category: ModelAPI,
		RevokeURL: "https://dashboard.cohere.com/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Cohere API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData),
			Liveness: &Liveness{
				BaseURL: "https://api.cohere.com", Path: "/v1/connectors", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"connectors"`},
			},
			Rule: Rule{
				// 40 alphanumerics say nothing alone: the provider or variable
				// name must come shortly before the value.
				Description:   "Cohere API key: 40 alphanumerics after a Cohere name",
				Keywords:      []string{"cohere", "co_api_key"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9]{40}`,
				MinEntropy:    4,
				Examples: func(g *Gen) []Example {
					k := g.Alnum(40)
					return append(assign("COHERE_API_KEY", k),
						Ex("export CO_API_KEY="+k, k),
						Ex("cohere:\n  api_key: "+k+"\n", k),
						Ex(`co = cohere.ClientV2("`+k+`")`, k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Alnum(40),                                // no context
						"COHERE_API_KEY=" + g.Alnum(41),                         // too long
						"cohere" + " " + g.Alnum(60) + "\nkey = " + g.Alnum(40), // too far
					}
				},
			},
		}},
	})
}
