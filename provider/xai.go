package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "xai", Name: "xAI", Category: ModelAPI,
		RevokeURL: "https://console.x.ai",
		Kinds: []*Kind{{
			ID: "api-key", Name: "xAI (Grok) API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			// /v1/api-key describes the calling key.
			Liveness: &Liveness{
				BaseURL: "https://api.x.ai", Path: "/v1/api-key", Auth: Bearer,
				Live: []int{200}, Dead: []int{400, 401},
			},
			Rule: Rule{
				Description: "xAI API key: xai- + 80 letters, digits or underscores (84 characters)",
				Keywords:    []string{"xai-"},
				Pattern:     `xai-[A-Za-z0-9_]{80}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "xai-" + g.Alnum(80)
					k2 := "xai-" + g.Chars(Alnum+"_", 80)
					return append(assign("XAI_API_KEY", k),
						Ex(notebook(`client = Client(api_key="`+k2+`")`), k2),
						Ex(curl("https://api.x.ai/v1/api-key", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "xai-", Alnum, 80), "xai_"+g.Alnum(80), "xai-"+g.Alnum(40))
				},
			},
		}},
	})
}
