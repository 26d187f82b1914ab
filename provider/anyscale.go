package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "anyscale", Name: "Anyscale", Category: Compute,
		RevokeURL: "https://console.anyscale.com/credentials",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Anyscale API key",
				Capabilities: caps(aicred.CapInference, aicred.CapCompute, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Anyscale API key: esecret_ + 26 alphanumerics", Env: "ANYSCALE_API_KEY", Prefix: "esecret_", Set: LowerNum, N: 26}),
			},
		},
	})
}
