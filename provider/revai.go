package provider

import "github.com/aicred/aicred"

// format: no published format. TruffleHog's "rev" detector is for Rev.com
// (human transcription, 27-character user and client keys), not Rev.ai, and
// no other scanner has a Rev.ai rule. Context-gated.
func init() {
	register(&Provider{
		ID: "revai", Name: "Rev.ai", Category: ModelAPI,
		RevokeURL: "https://www.rev.ai/access_token",
		Kinds: []*Kind{
			{
				ID: "access-token", Name: "Rev.ai access token",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.rev.ai", Path: "/speechtotext/v1/account", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Rev.ai access token: 50-100 URL-safe characters after a Rev.ai name", Env: "REVAI_ACCESS_TOKEN", Keywords: []string{"revai", "rev_ai", "rev.ai", "rev_access_token"}, Pattern: `[A-Za-z0-9_-]{50,100}`, Gen: func(g *Gen) string { return "02" + g.URL64(84) }, Neg: func(g *Gen) []string { return []string{"REVAI_ACCESS_TOKEN=" + g.URL64(49)} }, Entropy: 4}),
			},
		},
	})
}
