package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "agentops", Name: "AgentOps", Category: Observability,
		RevokeURL: "https://app.agentops.ai/settings/projects",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "AgentOps API key",
				Capabilities: caps(aicred.CapTracing),
				Rule:         simpleRule(simple{Desc: "AgentOps API key: a UUID after an AgentOps name", Env: "AGENTOPS_API_KEY", Keywords: []string{"agentops"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"AGENTOPS_API_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
