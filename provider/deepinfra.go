package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "deepinfra", Name: "DeepInfra", Category: ModelAPI,
		RevokeURL: "https://deepinfra.com/dash/api_keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "DeepInfra API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.deepinfra.com", Path: "/v1/openai/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "DeepInfra API key: 32 alphanumerics after a DeepInfra name", Env: "DEEPINFRA_API_KEY", Keywords: []string{"deepinfra"}, Set: Alnum, N: 32, Entropy: 4}),
			},
		},
	})
}
