package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "aleph-alpha", Name: "Aleph Alpha", Category: ModelAPI,
		RevokeURL: "https://app.aleph-alpha.com/profile",
		Kinds: []*Kind{
			{
				ID: "api-token", Name: "Aleph Alpha API token (JWT)",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.aleph-alpha.com", Path: "/users/me", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Aleph Alpha API token: a JWT after an Aleph Alpha name", Env: "AA_TOKEN", Keywords: []string{"aleph", "aa_token"}, Pattern: jwtPattern, Gen: genJWT, Neg: func(g *Gen) []string { return []string{"AA_TOKEN=eyJ" + g.URL64(8) + ".eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4}),
			},
		},
	})
}
