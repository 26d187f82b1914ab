package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "upstage", Name: "Upstage", Category: ModelAPI,
		RevokeURL: "https://console.upstage.ai/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Upstage API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
			Liveness: &Liveness{
				BaseURL: "https://api.upstage.ai", Path: "/v1/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"data"`},
			},
			Rule: Rule{
				Description:   "Upstage API key: 40 to 50 alphanumerics after an Upstage name",
				Keywords:      []string{"upstage"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9]{40,50}`,
				MinEntropy:    4,
				Examples: func(g *Gen) []Example {
					k := g.Alnum(40)
					k2 := g.Alnum(50)
					return append(assign("UPSTAGE_API_KEY", k),
						Ex(notebook(`llm = ChatUpstage(api_key="`+k2+`")`), k2))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Alnum(45),
						"UPSTAGE_API_KEY=" + g.Alnum(39),
						"UPSTAGE_API_KEY=" + g.Alnum(51),
						"upstage " + g.Alnum(60) + "\nkey = " + g.Alnum(45),
					}
				},
			},
		}},
	})
}
