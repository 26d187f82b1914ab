package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "exa", Name: "Exa", Category: AgentTools,
		RevokeURL: "https://dashboard.exa.ai/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Exa API key",
				Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Exa API key: a UUID after an Exa name", Env: "EXA_API_KEY", Keywords: []string{"exa_api_key", "exa.ai", "exa_py"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"EXA_API_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
