package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "deepgram", Name: "Deepgram", Category: ModelAPI,
		RevokeURL: "https://console.deepgram.com/",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Deepgram API key",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://api.deepgram.com", Path: "/v1/projects", Auth: Auth{Scheme: "Token"},
				Live: []int{200}, Dead: []int{}, // the reference gives no definitive rejection code
			},
			Rule: Rule{
				// TruffleHog says 40 lower-case alphanumerics, Betterleaks 40 hex.
				Description:   "Deepgram API key: 40 lower-case letters or digits after a Deepgram name",
				Keywords:      []string{"deepgram"},
				ContextWindow: 48,
				Pattern:       `[a-z0-9]{40}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.Hex(40)
					k2 := g.LowerNum(40)
					return append(assign("DEEPGRAM_API_KEY", k),
						Ex(notebook(`deepgram = DeepgramClient("`+k2+`")`), k2))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=" + g.Hex(40),
						"DEEPGRAM_API_KEY=" + g.Hex(39),
						"DEEPGRAM_API_KEY=" + g.Hex(41),
						"DEEPGRAM_API_KEY=" + g.Chars(Upper, 40),
					}
				},
			},
		}},
	})
}
