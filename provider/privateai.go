package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "privateai", Name: "Private AI", Category: AgentTools,
		RevokeURL: "https://www.private-ai.com",
		Kinds: []*Kind{{
			ID: "api-token", Name: "Private AI API key",
			// The API receives the text to redact: whoever holds the key can
			// spend the quota and see what is sent through it.
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Rule: Rule{
				Description:   "Private AI API key: 32 lower-case letters or digits after a Private AI name",
				Keywords:      []string{"privateai", "private_ai", "private-ai"},
				ContextWindow: 48,
				Pattern:       `[a-z0-9]{32}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.LowerNum(32)
					return append(assign("PRIVATE_AI_API_KEY", k),
						Ex(notebook(`client = PAIClient(url="https://api.private-ai.com/community", api_key="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.LowerNum(32),
						"PRIVATE_AI_API_KEY=" + g.LowerNum(31),
						"PRIVATE_AI_API_KEY=" + g.LowerNum(33),
						"PRIVATE_AI_API_KEY=" + g.Chars(Upper, 32),
					}
				},
			},
		}},
	})
}
