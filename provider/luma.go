package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher, GitGuardian) publishes it. Keys seen in public code are
// luma- + two UUIDs joined by a dash, which is what the rule matches. Without
// a published source it is still reported without context: luma- and two
// UUIDs is a shape nothing else takes.
func init() {
	register(&Provider{
		ID: "luma", Name: "Luma AI", Category: ModelAPI,
		RevokeURL: "https://lumalabs.ai/dream-machine/api/keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Luma AI API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.lumalabs.ai", Path: "/dream-machine/v1/generations?limit=1", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Luma AI API key: luma- + two UUIDs joined by -", Env: "LUMAAI_API_KEY", Prefix: "luma-", Pattern: `luma-` + uuidPattern + `-` + uuidPattern, Gen: func(g *Gen) string { return "luma-" + g.UUID() + "-" + g.UUID() }, Neg: func(g *Gen) []string { return []string{"luma-" + g.UUID(), "luma-" + g.UUID() + "-" + g.UUID()[:35]} }}),
			},
		},
	})
}
