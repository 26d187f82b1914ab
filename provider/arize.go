package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "arize", Name: "Arize AI (Phoenix)", Category: Observability,
		RevokeURL: "https://app.arize.com/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Arize API key",
				Capabilities: caps(aicred.CapTracing),
				Rule:         simpleRule(simple{Desc: "Arize / Phoenix API key: 40-100 URL-safe characters after an Arize or Phoenix name", Env: "ARIZE_API_KEY", Keywords: []string{"arize", "phoenix_api_key"}, Pattern: `ak-[A-Za-z0-9_-]{40,100}|[A-Za-z0-9_-]{100}`, Gen: func(g *Gen) string { return "ak-" + g.URL64(60) }, Neg: func(g *Gen) []string { return []string{"ARIZE_API_KEY=ak-" + g.URL64(39)} }, Entropy: 4}),
			},
		},
	})
}
