package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "tripo", Name: "Tripo", Category: ModelAPI,
		RevokeURL: "https://platform.tripo3d.ai/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Tripo API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.tripo3d.ai", Path: "/v2/openapi/user/balance", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Tripo API key: tsk_ + 43 URL-safe characters", Env: "TRIPO_API_KEY", Prefix: "tsk_", Set: URL64, N: 43, Entropy: 4}),
			},
		},
	})
}
