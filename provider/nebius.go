package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "nebius", Name: "Nebius AI Studio", Category: ModelAPI,
		RevokeURL: "https://studio.nebius.com/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Nebius AI Studio API key (JWT)",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.studio.nebius.com", Path: "/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Nebius AI Studio API key: a JWT after a Nebius name", Env: "NEBIUS_API_KEY", Keywords: []string{"nebius"}, Pattern: jwtPattern, Gen: genJWT, Neg: func(g *Gen) []string { return []string{"NEBIUS_API_KEY=eyJ" + g.URL64(8) + ".eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4}),
			},
		},
	})
}
