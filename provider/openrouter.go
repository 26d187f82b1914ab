package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "openrouter", Name: "OpenRouter", Category: ModelAPI,
		RevokeURL: "https://openrouter.ai/settings/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "OpenRouter API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			// /api/v1/key describes the key itself (label, limits, usage).
			Liveness: &Liveness{
				BaseURL: "https://openrouter.ai", Path: "/api/v1/key", Auth: Bearer,
				Live: []int{200}, Dead: []int{401}, LiveBody: []string{`"data"`, `"label"`},
			},
			Rule: Rule{
				Description: "OpenRouter API key: sk-or-v1- + 64 hex (73 characters)",
				Keywords:    []string{"sk-or-v1-"},
				Pattern:     `sk-or-v1-[0-9a-f]{64}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "sk-or-v1-" + g.Hex(64)
					return append(assign("OPENROUTER_API_KEY", k),
						Ex(notebook(`client = OpenAI(base_url="https://openrouter.ai/api/v1", api_key="`+k+`")`), k),
						Ex(curl("https://openrouter.ai/api/v1/key", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "sk-or-v1-", Hex, 64),
						"sk-or-v1-"+g.Chars(UpperNum, 64), // upper-case hex
						"sk-or-v2-"+g.Hex(64),
						"sk-or-v1-VOTRE_CLE_ICI",
					)
				},
			},
		}},
	})
}
