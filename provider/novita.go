package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "novita", Name: "Novita AI", Category: ModelAPI,
		RevokeURL: "https://novita.ai/settings/key-management",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Novita AI API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.novita.ai", Path: "/v3/openai/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Novita AI API key: sk_ + 43 URL-safe characters after a Novita name", Env: "NOVITA_API_KEY", Keywords: []string{"novita"}, Pattern: `sk_[A-Za-z0-9_-]{43}`, Gen: func(g *Gen) string { return "sk_" + g.URL64(43) }, Neg: func(g *Gen) []string { return []string{"NOVITA_API_KEY=sk_" + g.URL64(42)} }, Entropy: 4}),
			},
		},
	})
}
