package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "unify", Name: "Unify", Category: Broker,
		RevokeURL: "https://console.unify.ai/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Unify API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Unify API key: 44 base64 characters after a Unify name", Env: "UNIFY_KEY", Keywords: []string{"unify_key", "unify_api_key", "unify.ai"}, Set: B64, N: 44, Entropy: 4}),
			},
		},
	})
}
