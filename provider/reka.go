package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "reka", Name: "Reka", Category: ModelAPI,
		RevokeURL: "https://platform.reka.ai/apikeys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Reka API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.reka.ai", Path: "/v1/models", Auth: HeaderAuth("X-Api-Key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Reka API key: 64 hex after a Reka name", Env: "REKA_API_KEY", Keywords: []string{"reka_api_key", "reka.ai"}, Set: Hex, N: 64}),
			},
		},
	})
}
