package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it; the 64 alphanumerics are unverified.
// Context-gated.
func init() {
	register(&Provider{
		ID: "recraft", Name: "Recraft", Category: ModelAPI,
		RevokeURL: "https://www.recraft.ai/profile/api",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Recraft API token",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://external.api.recraft.ai", Path: "/v1/users/me", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Recraft API token: 64 alphanumerics after a Recraft name", Env: "RECRAFT_API_TOKEN", Keywords: []string{"recraft"}, Set: Alnum, N: 64, Entropy: 4}),
			},
		},
	})
}
