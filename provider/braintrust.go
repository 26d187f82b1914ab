package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "braintrust", Name: "Braintrust", Category: Observability,
		RevokeURL: "https://www.braintrust.dev/app/settings?subroute=api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Braintrust API key",
			Capabilities: caps(aicred.CapTracing, aicred.CapFilesData),
			Liveness: &Liveness{
				BaseURL: "https://api.braintrust.dev", Path: "/v1/project?limit=1", Auth: Bearer,
				Live: []int{200}, Dead: []int{401}, NoPermission: []int{403},
			},
			Rule: Rule{
				Description:   "Braintrust API key: sk- + 48 alphanumerics after a Braintrust name",
				Keywords:      []string{"braintrust"},
				ContextWindow: 48,
				Pattern:       `sk-[A-Za-z0-9]{48}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := "sk-" + g.Alnum(48)
					return append(assign("BRAINTRUST_API_KEY", k),
						Ex(notebook(`braintrust.login(api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=sk-" + g.Alnum(48),
						"BRAINTRUST_API_KEY=sk-" + g.Alnum(47),
						"BRAINTRUST_API_KEY=sk-" + g.Alnum(49),
					}
				},
			},
		}},
	})
}
