package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "predibase", Name: "Predibase", Category: ModelAPI,
		RevokeURL: "https://app.predibase.com/settings",
		Kinds: []*Kind{
			{
				ID: "api-token", Name: "Predibase API token",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Predibase API token: pb_ + 22 URL-safe characters", Env: "PREDIBASE_API_TOKEN", Prefix: "pb_", Set: URL64, N: 22, Entropy: 3.5}),
			},
		},
	})
}
