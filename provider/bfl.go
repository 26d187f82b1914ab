package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it; BFL's docs send the key in x-key and
// the UUID shape is unverified. Context-gated.
func init() {
	register(&Provider{
		ID: "bfl", Name: "Black Forest Labs (FLUX)", Category: ModelAPI,
		RevokeURL: "https://dashboard.bfl.ai/keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Black Forest Labs API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.bfl.ai", Path: "/v1/credits", Auth: HeaderAuth("x-key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "Black Forest Labs API key: a UUID after a BFL name", Env: "BFL_API_KEY", Keywords: []string{"bfl_", "bfl.ai", "blackforest", "black-forest", "x-key"}, Pattern: uuidPattern, Gen: func(g *Gen) string { return g.UUID() }, Neg: func(g *Gen) []string { return []string{"BFL_API_KEY=" + g.UUID()[:35]} }, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`curl https://api.bfl.ai/v1/flux-kontext-pro -H "x-key: `+k+`"`, k)}
				}}),
			},
		},
	})
}
