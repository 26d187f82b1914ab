package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "gladia", Name: "Gladia", Category: ModelAPI,
		RevokeURL: "https://app.gladia.io/account",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Gladia API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.gladia.io", Path: "/v2/pre-recorded?limit=1", Auth: HeaderAuth("x-gladia-key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Gladia API key: a UUID after a Gladia name", Env: "GLADIA_API_KEY", Keywords: []string{"gladia"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"GLADIA_API_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
