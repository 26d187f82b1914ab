package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "letta", Name: "Letta", Category: AgentTools,
		RevokeURL: "https://app.letta.com/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Letta API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
				Rule:         simpleRule(simple{Desc: "Letta API key: sk-let- + 60-100 URL-safe characters after a Letta name", Env: "LETTA_API_KEY", Keywords: []string{"letta"}, Pattern: `sk-let-[A-Za-z0-9_:-]{60,100}`, Gen: func(g *Gen) string { return "sk-let-" + g.URL64(80) }, Neg: func(g *Gen) []string { return []string{"LETTA_API_KEY=sk-let-" + g.URL64(40)} }, Entropy: 4}),
			},
		},
	})
}
