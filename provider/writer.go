package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "writer", Name: "Writer", Category: ModelAPI,
		RevokeURL: "https://app.writer.com/aistudio/organization/admin/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Writer API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness:     &Liveness{BaseURL: "https://api.writer.com", Path: "/v1/models", Auth: Bearer, Live: []int{200}, Dead: []int{401, 403}},
				Rule:         simpleRule(simple{Desc: "Writer API key: 40 alphanumerics after a Writer name", Env: "WRITER_API_KEY", Keywords: []string{"writer_api_key", "writerai", "api.writer.com"}, Set: Alnum, N: 40, Entropy: 4}),
			},
		},
	})
}
