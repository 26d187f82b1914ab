package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "speechmatics", Name: "Speechmatics", Category: ModelAPI,
		RevokeURL: "https://portal.speechmatics.com/settings/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Speechmatics API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://asr.api.speechmatics.com", Path: "/v2/jobs?limit=1", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Speechmatics API key: 32 alphanumerics after a Speechmatics name", Env: "SPEECHMATICS_API_KEY", Keywords: []string{"speechmatics"}, Set: Alnum, N: 32, Entropy: 4}),
			},
		},
	})
}
