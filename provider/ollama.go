package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "ollama", Name: "Ollama (ollama.com)", Category: ModelAPI,
		RevokeURL: "https://ollama.com/settings/keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Ollama cloud API key",
			Capabilities: caps(aicred.CapInference),
			// No liveness check is known.
			Rule: Rule{
				Description:   "Ollama API key: 32 hex + . + 24 url-safe characters after an Ollama name",
				Keywords:      []string{"ollama"},
				ContextWindow: 48,
				Pattern:       `[0-9a-f]{32}\.[A-Za-z0-9_-]{24}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.Hex(32) + "." + g.URL64(24)
					return append(assign("OLLAMA_API_KEY", k),
						Ex(notebook(`client = Client(host="https://ollama.com", headers={"Authorization": "Bearer `+k+`"})`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Hex(32) + "." + g.URL64(24),
						"OLLAMA_API_KEY=" + g.Hex(32) + "." + g.Alnum(23),
						"OLLAMA_API_KEY=" + g.Hex(32) + "." + g.Alnum(25),
						"OLLAMA_API_KEY=" + g.Hex(32),
					}
				},
			},
		}},
	})
}
