package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "nomic", Name: "Nomic Atlas", Category: VectorDB,
		RevokeURL: "https://atlas.nomic.ai/cli-login",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Nomic API key",
				Capabilities: caps(aicred.CapInference, aicred.CapVectorRW),
				Rule:         simpleRule(simple{Desc: "Nomic API key: nk- + 43 URL-safe characters", Env: "NOMIC_API_KEY", Prefix: "nk-", Set: URL64, N: 43, Entropy: 4}),
			},
		},
	})
}
