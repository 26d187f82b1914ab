package provider

import "github.com/aicred/aicred"

// format: TruffleHog detector edenai and Kingfisher rule "EdenAI API Key": a
// JWT of 36 + 92 + 43 characters (header.payload.signature) after an Eden AI
// name; the shared JWT pattern takes that shape. Context-gated: a JWT does
// not name its issuer.
func init() {
	register(&Provider{
		ID: "edenai", Name: "Eden AI", Category: ModelAPI,
		RevokeURL: "https://app.edenai.run/admin/iam/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Eden AI API key (JWT)",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule: simpleRule(simple{Desc: "Eden AI API key: a JWT after an Eden AI name", Env: "EDENAI_API_KEY", Keywords: []string{"edenai", "eden_ai"}, Pattern: jwtPattern, Gen: genJWT, Neg: func(g *Gen) []string { return []string{"EDENAI_API_KEY=eyJ" + g.URL64(8) + ".eyJ" + g.URL64(8)} }, Window: 96, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					// The shape TruffleHog and Kingfisher publish.
					pub := "eyJ" + g.Alnum(33) + ".eyJ" + g.Alnum(89) + "." + g.Chars(Alnum+"_", 43)
					return []Example{Ex(`headers = {"Authorization": "Bearer `+pub+`"}  # edenai`, pub)}
				}}),
			},
		},
	})
}
