package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "literalai", Name: "Literal AI", Category: Observability,
		RevokeURL: "https://cloud.getliteral.ai/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Literal AI API key",
				Capabilities: caps(aicred.CapTracing),
				Rule:         simpleRule(simple{Desc: "Literal AI API key: lsk_ + 43 URL-safe characters", Env: "LITERAL_API_KEY", Prefix: "lsk_", Set: URL64, N: 43, Entropy: 4}),
			},
		},
	})
}
