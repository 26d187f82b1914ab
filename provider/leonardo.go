package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it; the UUID shape is unverified.
// Context-gated.
func init() {
	register(&Provider{
		ID: "leonardo", Name: "Leonardo.Ai", Category: ModelAPI,
		RevokeURL: "https://app.leonardo.ai/api-access",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Leonardo.Ai API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://cloud.leonardo.ai", Path: "/api/rest/v1/me", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Leonardo.Ai API key: a UUID after a Leonardo name", Env: "LEONARDO_API_KEY", Keywords: []string{"leonardo"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"LEONARDO_API_KEY=" + g.UUID()[:35]} }}),
			},
		},
	})
}
