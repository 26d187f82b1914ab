package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "humanloop", Name: "Humanloop", Category: Observability,
		RevokeURL: "https://app.humanloop.com/account/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Humanloop API key",
				Capabilities: caps(aicred.CapTracing, aicred.CapInference),
				Rule:         simpleRule(simple{Desc: "Humanloop API key: hl_sk_ + 48 hex", Env: "HUMANLOOP_API_KEY", Prefix: "hl_sk_", Set: Hex, N: 48}),
			},
		},
	})
}
