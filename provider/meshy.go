package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "meshy", Name: "Meshy", Category: ModelAPI,
		RevokeURL: "https://www.meshy.ai/settings/api",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Meshy API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.meshy.ai", Path: "/openapi/v1/balance", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Meshy API key: msy_ + 36 alphanumerics", Env: "MESHY_API_KEY", Prefix: "msy_", Set: Alnum, N: 36, Entropy: 4}),
			},
		},
	})
}
