package provider

import "github.com/aicred/aicred"

// format: no scanner rule (gitleaks, TruffleHog, Nosey Parker, Kingfisher)
// and no format in Comet's or Opik's docs; the 25 alphanumerics are
// unverified. Context-gated.
func init() {
	register(&Provider{
		ID: "comet", Name: "Comet (Opik)", Category: MLOps,
		RevokeURL: "https://www.comet.com/account-settings/apiKeys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Comet API key",
				Capabilities: caps(aicred.CapTracking, aicred.CapTracing, aicred.CapModelRegistry, aicred.CapFilesData),
				Liveness:     &Liveness{BaseURL: "https://www.comet.com", Path: "/api/rest/v2/workspaces", Auth: Auth{}, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Comet / Opik API key: 25 alphanumerics after a Comet or Opik name", Env: "COMET_API_KEY", Keywords: []string{"comet_api_key", "comet_ml", "cometml", "comet.com", "comet-api-key", "opik_api_key"}, Set: Alnum, N: 25, Entropy: 3.5}),
			},
		},
	})
}
