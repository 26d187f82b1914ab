package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "serper", Name: "Serper", Category: AgentTools,
		RevokeURL: "https://serper.dev/api-key",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Serper API key",
				Capabilities: caps(aicred.CapSearch, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Serper API key: 40 hex after a Serper name", Env: "SERPER_API_KEY", Keywords: []string{"serper"}, Set: Hex, N: 40}),
			},
		},
	})
}
