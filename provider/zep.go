package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "zep", Name: "Zep", Category: AgentTools,
		RevokeURL: "https://app.getzep.com/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Zep Cloud API key",
				Capabilities: caps(aicred.CapFilesData),
				Rule:         simpleRule(simple{Desc: "Zep Cloud API key: z_ + a JWT after a Zep name", Env: "ZEP_API_KEY", Keywords: []string{"zep_api_key", "getzep", "zep_cloud"}, Pattern: `z_` + jwtPattern, Gen: func(g *Gen) string { return "z_" + genJWT(g) }, Neg: func(g *Gen) []string { return []string{"ZEP_API_KEY=z_eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4}),
			},
		},
	})
}
