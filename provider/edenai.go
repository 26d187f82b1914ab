package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "edenai", Name: "Eden AI", Category: ModelAPI,
		RevokeURL: "https://app.edenai.run/admin/iam/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Eden AI API key (JWT)",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Eden AI API key: a JWT after an Eden AI name", Env: "EDENAI_API_KEY", Keywords: []string{"edenai", "eden_ai"}, Pattern: jwtPattern, Gen: genJWT, Neg: func(g *Gen) []string { return []string{"EDENAI_API_KEY=eyJ" + g.URL64(8) + ".eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4}),
			},
		},
	})
}
