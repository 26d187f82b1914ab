package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "promptlayer", Name: "PromptLayer", Category: Observability,
		RevokeURL: "https://dashboard.promptlayer.com/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "PromptLayer API key",
				Capabilities: caps(aicred.CapTracing),
				Rule:         simpleRule(simple{Desc: "PromptLayer API key: pl_ + 32 hex", Env: "PROMPTLAYER_API_KEY", Prefix: "pl_", Set: Hex, N: 32}),
			},
		},
	})
}
