package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "deepseek", Name: "DeepSeek", Category: ModelAPI,
		RevokeURL: "https://platform.deepseek.com/api_keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "DeepSeek API key",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.deepseek.com", Path: "/models", Auth: Bearer,
				Live: []int{200}, Dead: []int{401}, LiveBody: []string{`"data"`},
			},
			Rule: Rule{
				// sk- + 32 hex is a generic shape: the provider name must come first.
				Description:   "DeepSeek API key: sk- + 32 hex after a DeepSeek name",
				Keywords:      []string{"deepseek"},
				ContextWindow: 48,
				Pattern:       `sk-[0-9a-f]{32}`,
				MinEntropy:    3,
				Examples: func(g *Gen) []Example {
					k := "sk-" + g.Hex(32)
					return append(assign("DEEPSEEK_API_KEY", k),
						Ex(notebook(`client = OpenAI(base_url="https://api.deepseek.com", api_key="`+k+`")`), k),
						Ex("deepseek:\n  api_key: "+k+"\n", k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"OPENAI_API_KEY=sk-" + g.Hex(32), // no DeepSeek name
						"DEEPSEEK_API_KEY=sk-" + g.Hex(33),
						"DEEPSEEK_API_KEY=sk-" + g.Hex(31),
						"DEEPSEEK_API_KEY=sk-" + g.Chars(Upper, 32),
						"deepseek " + g.Alnum(60) + "\nkey = sk-" + g.Hex(32),
					}
				},
			},
		}},
	})
}
