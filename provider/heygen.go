package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it; the base64 shape is unverified.
// Context-gated.
func init() {
	register(&Provider{
		ID: "heygen", Name: "HeyGen", Category: ModelAPI,
		RevokeURL: "https://app.heygen.com/settings?nav=API",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "HeyGen API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.heygen.com", Path: "/v2/user/remaining_quota", Auth: HeaderAuth("X-Api-Key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "HeyGen API key: 60 base64 characters after a HeyGen name", Env: "HEYGEN_API_KEY", Keywords: []string{"heygen"}, Pattern: `[A-Za-z0-9+/]{56,64}={0,2}`, Gen: func(g *Gen) string { return g.Alnum(60) + "==" }, Neg: func(g *Gen) []string { return []string{"HEYGEN_API_KEY=" + g.Alnum(40)} }, Entropy: 4}),
			},
		},
	})
}
