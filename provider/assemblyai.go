package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "assemblyai", Name: "AssemblyAI", Category: ModelAPI,
		RevokeURL: "https://www.assemblyai.com/app/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "AssemblyAI API key",
			// Past transcripts (and their audio URLs) are readable with the key.
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
			// The raw key is the Authorization value, with no scheme.
			Liveness: &Liveness{
				BaseURL: "https://api.assemblyai.com", Path: "/v2/transcript?limit=1", Auth: Auth{},
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description:   "AssemblyAI API key: 32 lower-case letters or digits after an AssemblyAI name",
				Keywords:      []string{"assemblyai", "assembly_ai", "aai.settings"},
				ContextWindow: 48,
				Pattern:       `[a-z0-9]{32}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.LowerNum(32)
					return append(assign("ASSEMBLYAI_API_KEY", k),
						Ex(notebook(`aai.settings.api_key = "`+k+`"`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.LowerNum(32),
						"ASSEMBLYAI_API_KEY=" + g.LowerNum(31),
						"ASSEMBLYAI_API_KEY=" + g.LowerNum(33),
						"ASSEMBLYAI_API_KEY=" + g.Chars(Upper, 32),
					}
				},
			},
		}},
	})
}
