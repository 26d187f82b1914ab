package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "lunary", Name: "Lunary", Category: Observability,
		RevokeURL: "https://app.lunary.ai/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Lunary private key",
				Capabilities: caps(aicred.CapTracing),
				Rule:         simpleRule(simple{Desc: "Lunary key: a UUID after a Lunary name", Env: "LUNARY_PRIVATE_KEY", Keywords: []string{"lunary"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"LUNARY_PRIVATE_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
