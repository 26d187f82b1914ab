package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "sambanova", Name: "SambaNova Cloud", Category: ModelAPI,
		RevokeURL: "https://cloud.sambanova.ai/apis",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "SambaNova Cloud API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.sambanova.ai", Path: "/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "SambaNova API key: a UUID after a SambaNova name", Env: "SAMBANOVA_API_KEY", Keywords: []string{"sambanova"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"SAMBANOVA_API_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
