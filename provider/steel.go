package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "steel", Name: "Steel", Category: AgentTools,
		RevokeURL: "https://app.steel.dev/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Steel API key",
				Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Steel API key: ste- + 40-90 alphanumerics after a Steel name", Env: "STEEL_API_KEY", Keywords: []string{"steel_api_key", "steel.dev", "steel-api-key"}, Pattern: `ste-[A-Za-z0-9]{40,90}`, Gen: func(g *Gen) string { return "ste-" + g.Alnum(64) }, Neg: func(g *Gen) []string { return []string{"STEEL_API_KEY=ste-" + g.Alnum(39)} }, Entropy: 4}),
			},
		},
	})
}
