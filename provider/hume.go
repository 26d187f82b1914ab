package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "hume", Name: "Hume AI", Category: ModelAPI,
		RevokeURL: "https://platform.hume.ai/settings/keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Hume AI API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.hume.ai", Path: "/v0/evi/configs?page_size=1", Auth: HeaderAuth("X-Hume-Api-Key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Hume AI API key: 48 alphanumerics after a Hume name", Env: "HUME_API_KEY", Keywords: []string{"hume_api_key", "humeai", "hume_"}, Set: Alnum, N: 48, Entropy: 4}),
			},
		},
	})
}
