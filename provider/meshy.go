package provider

import (
	"strings"

	"github.com/aicred/aicred"
)

// format: Meshy docs "Authentication" (keys start msy_; the docs' sample
// value has 35 alphanumerics after it) and the Meshy SDK guide ("Meshy API
// keys use the msy_ prefix"). No gitleaks, TruffleHog, Nosey Parker or
// Kingfisher rule exists, and no length is published, so the body length is
// a range around the sample's. Self-identifying (msy_ prefix).
func init() {
	register(&Provider{
		ID: "meshy", Name: "Meshy", Category: ModelAPI,
		RevokeURL: "https://www.meshy.ai/settings/api",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Meshy API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.meshy.ai", Path: "/openapi/v1/balance", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "Meshy API key: msy_ + 32-40 alphanumerics", Env: "MESHY_API_KEY", Prefix: "msy_", Pattern: `msy_[A-Za-z0-9]{32,40}`, Gen: func(g *Gen) string { return "msy_" + g.Alnum(35) }, Neg: func(g *Gen) []string {
					return []string{"msy_" + g.Alnum(31), "msy_" + g.Alnum(41), "xmsy_" + g.Alnum(35), "msy_" + strings.Repeat("x", 35)}
				}, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					long := "msy_" + g.Alnum(36)
					return []Example{
						Ex(`{"Authorization": "Bearer `+k+`"}`, k),
						Ex("MESHY_API_KEY="+long+"\n", long),
					}
				}}),
			},
		},
	})
}
