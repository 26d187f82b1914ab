package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "mistral", Name: "Mistral AI", Category: ModelAPI,
		RevokeURL: "https://console.mistral.ai/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Mistral API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapFilesData),
			Liveness: &Liveness{
				BaseURL: "https://api.mistral.ai", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"data"`},
			},
			Rule: Rule{
				// 32 alphanumerics carry no marker: the name must come first.
				Description:   "Mistral API key: 32 alphanumerics after a Mistral name",
				Keywords:      []string{"mistral"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9]{32}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.Alnum(32)
					return append(assign("MISTRAL_API_KEY", k),
						Ex(notebook(`client = Mistral(api_key="`+k+`")`), k),
						Ex("mistral:\n  api_key: "+k+"\n", k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Alnum(32),
						"MISTRAL_API_KEY=" + g.Alnum(33),
						"MISTRAL_API_KEY=" + g.Alnum(31),
						"mistral " + g.Alnum(60) + "\nkey = " + g.Alnum(32),
						"MISTRAL_API_KEY=" + g.Chars("ab", 32),
					}
				},
			},
		}},
	})
}
