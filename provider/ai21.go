package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "ai21", Name: "AI21 Labs", Category: ModelAPI,
		RevokeURL: "https://studio.ai21.com/account/api-key",
		Kinds: []*Kind{{
			ID: "api-key", Name: "AI21 Studio API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
			Liveness: &Liveness{
				BaseURL: "https://api.ai21.com", Path: "/studio/v1/library/files", Auth: Bearer,
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description:   "AI21 API key: a UUID after an AI21 name",
				Keywords:      []string{"ai21"},
				ContextWindow: 48,
				Pattern:       `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
				MinEntropy:    3,
				Examples: func(g *Gen) []Example {
					k := g.UUID()
					return append(assign("AI21_API_KEY", k),
						Ex(notebook(`client = AI21Client(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.UUID(),
						"AI21_API_KEY=00000000-0000-0000-0000-000000000000",
						"AI21_API_KEY=" + g.UUID() + "a",
						"AI21_API_KEY=" + g.Hex(32),
					}
				},
			},
		}},
	})
}
