package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher) publishes it; the 32 base64 characters are unverified.
// Context-gated.
func init() {
	register(&Provider{
		ID: "portkey", Name: "Portkey", Category: Observability,
		RevokeURL: "https://app.portkey.ai/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Portkey API key",
				Capabilities: caps(aicred.CapInference, aicred.CapTracing, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.portkey.ai", Path: "/v1/models", Auth: HeaderAuth("x-portkey-api-key"), Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "Portkey API key: 32 base64 characters after a Portkey name", Env: "PORTKEY_API_KEY", Keywords: []string{"portkey"}, Set: B64, N: 32, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`client = Portkey(api_key="`+k+`", virtual_key="openai-`+g.LowerNum(6)+`")`, k)}
				}}),
			},
		},
	})
}
