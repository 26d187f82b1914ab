package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "clarifai", Name: "Clarifai", Category: ModelAPI,
		RevokeURL: "https://clarifai.com/settings/security",
		Kinds: []*Kind{{
			ID: "pat", Name: "Clarifai personal access token",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapModelRegistry),
			// /v2/users/me answers for any valid token and reads no inputs.
			Liveness: &Liveness{
				BaseURL: "https://api.clarifai.com", Path: "/v2/users/me", Auth: Auth{Scheme: "Key"},
				Live: []int{200}, Dead: []int{401},
			},
			Rule: Rule{
				Description:   "Clarifai PAT: 32 alphanumerics after a Clarifai name",
				Keywords:      []string{"clarifai"},
				ContextWindow: 48,
				Pattern:       `[A-Za-z0-9]{32}`,
				MinEntropy:    3.5,
				Examples: func(g *Gen) []Example {
					k := g.Hex(32)
					return append(assign("CLARIFAI_PAT", k),
						Ex(curl("https://api.clarifai.com/v2/users/me", "Authorization", "Key "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"PAT=" + g.Hex(32),
						"CLARIFAI_PAT=" + g.Hex(31),
						"CLARIFAI_PAT=" + g.Hex(33),
					}
				},
			},
		}},
	})
}
