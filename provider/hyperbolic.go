package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "hyperbolic", Name: "Hyperbolic", Category: ModelAPI,
		RevokeURL: "https://app.hyperbolic.xyz/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Hyperbolic API key (JWT)",
				Capabilities: caps(aicred.CapInference, aicred.CapCompute, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.hyperbolic.xyz", Path: "/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Hyperbolic API key: a JWT after a Hyperbolic name", Env: "HYPERBOLIC_API_KEY", Keywords: []string{"hyperbolic"}, Pattern: jwtPattern, Gen: genJWT, Neg: func(g *Gen) []string { return []string{"HYPERBOLIC_API_KEY=eyJ" + g.URL64(8) + ".eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4}),
			},
		},
	})
}
