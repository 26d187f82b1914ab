package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "yi", Name: "01.AI (Yi)", Category: ModelAPI,
		RevokeURL: "https://platform.lingyiwanwu.com/apikeys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "01.AI Yi API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.lingyiwanwu.com", Path: "/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "01.AI Yi API key: 32 hex after a Yi or Lingyiwanwu name", Env: "YI_API_KEY", Keywords: []string{"yi_api_key", "lingyiwanwu", "01.ai"}, Set: Hex, N: 32}),
			},
		},
	})
}
