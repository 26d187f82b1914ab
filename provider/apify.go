package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "apify", Name: "Apify", Category: AgentTools,
		RevokeURL: "https://console.apify.com/settings/integrations",
		Kinds: []*Kind{
			{
				ID: "api-token", Name: "Apify API token",
				Capabilities: caps(aicred.CapCompute, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.apify.com", Path: "/v2/users/me", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Apify API token: apify_api_ + 36 alphanumerics", Env: "APIFY_TOKEN", Prefix: "apify_api_", Set: Alnum, N: 36, Entropy: 4}),
			},
		},
	})
}
