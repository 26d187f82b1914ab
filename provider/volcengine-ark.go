package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "volcengine-ark", Name: "Volcengine Ark (Doubao)", Category: ModelAPI,
		RevokeURL: "https://console.volcengine.com/ark/region:ark+cn-beijing/apiKey",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Volcengine Ark API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Volcengine Ark API key: a UUID after an Ark, Doubao or Volcengine name", Env: "ARK_API_KEY", Keywords: []string{"ark_api_key", "doubao", "volces.com", "volcengine"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"ARK_API_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
