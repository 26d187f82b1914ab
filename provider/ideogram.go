package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it; the 86 URL-safe characters are
// unverified. Context-gated.
func init() {
	register(&Provider{
		ID: "ideogram", Name: "Ideogram", Category: ModelAPI,
		RevokeURL: "https://ideogram.ai/manage-api",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Ideogram API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule: simpleRule(simple{Desc: "Ideogram API key: 86 URL-safe characters after an Ideogram name", Env: "IDEOGRAM_API_KEY", Keywords: []string{"ideogram"}, Set: URL64, N: 86, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`curl -X POST https://api.ideogram.ai/v1/ideogram-v3/generate -H "Api-Key: `+k+`"`, k)}
				}}),
			},
		},
	})
}
