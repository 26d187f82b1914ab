package provider

import "github.com/aicred/aicred"

// format: no scanner rule (gitleaks, TruffleHog, Nosey Parker, Kingfisher)
// publishes it; key_ + 128 hex is unverified. Context-gated.
func init() {
	register(&Provider{
		ID: "runway", Name: "Runway", Category: ModelAPI,
		RevokeURL: "https://dev.runwayml.com/",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Runway API secret",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.dev.runwayml.com", Path: "/v1/organization", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}, Header: map[string]string{"X-Runway-Version": "2024-11-06"}},
				Rule:         simpleRule(simple{Desc: "Runway API secret: key_ + 128 hex after a Runway name", Env: "RUNWAYML_API_SECRET", Keywords: []string{"runway"}, Pattern: `key_[0-9a-f]{128}`, Gen: func(g *Gen) string { return "key_" + g.Hex(128) }, Neg: func(g *Gen) []string { return []string{"RUNWAYML_API_SECRET=key_" + g.Hex(127)} }, Window: 96, Entropy: 3.5}),
			},
		},
	})
}
