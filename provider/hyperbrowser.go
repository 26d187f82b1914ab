package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "hyperbrowser", Name: "Hyperbrowser", Category: AgentTools,
		RevokeURL: "https://app.hyperbrowser.ai/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Hyperbrowser API key",
				Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Hyperbrowser API key: hb_ + 28 hex", Env: "HYPERBROWSER_API_KEY", Prefix: "hb_", Set: Hex, N: 28}),
			},
		},
	})
}
