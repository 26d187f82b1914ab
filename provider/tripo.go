package provider

import "github.com/aicred/aicred"

// format: no provider page or scanner rule (gitleaks, TruffleHog, Nosey
// Parker, Kingfisher, GitGuardian) publishes it. Public setup notes say Tripo
// keys start tsk_; the body length (43 URL-safe characters) is unverified, so
// the kind stays context-gated.
func init() {
	register(&Provider{
		ID: "tripo", Name: "Tripo", Category: ModelAPI,
		RevokeURL: "https://platform.tripo3d.ai/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Tripo API key",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.tripo3d.ai", Path: "/v2/openapi/user/balance", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule: simpleRule(simple{Desc: "Tripo API key: tsk_ + 43 URL-safe characters after a Tripo name", Env: "TRIPO_API_KEY", Keywords: []string{"tripo"}, Pattern: `tsk_[A-Za-z0-9_-]{43}`, Gen: func(g *Gen) string { return "tsk_" + g.URL64(43) }, Neg: func(g *Gen) []string {
					return []string{"TRIPO_API_KEY=tsk_" + g.URL64(42), "TRIPO_API_KEY=tsk_" + g.URL64(44)}
				}, Entropy: 4}),
			},
		},
	})
}
