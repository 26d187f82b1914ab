package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "scale", Name: "Scale AI", Category: MLOps,
		RevokeURL: "https://dashboard.scale.com/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Scale AI API key",
				Capabilities: caps(aicred.CapFilesData, aicred.CapBilling),
				Rule:         simpleRule(simple{Desc: "Scale AI API key: live_ or test_ + 32 hex after a Scale name", Env: "SCALE_API_KEY", Keywords: []string{"scale_api_key", "scaleapi", "scale.com"}, Pattern: `(?:live|test)_[0-9a-f]{32}`, Gen: func(g *Gen) string { return "live_" + g.Hex(32) }, Neg: func(g *Gen) []string { return []string{"SCALE_API_KEY=live_" + g.Hex(31)} }}),
			},
		},
	})
}
