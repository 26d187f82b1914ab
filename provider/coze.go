package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "coze", Name: "Coze", Category: AgentTools,
		RevokeURL: "https://www.coze.com/open/oauth/pats",
		Kinds: []*Kind{
			{
				ID: "personal-access-token", Name: "Coze personal access token",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData),
				Rule:         simpleRule(simple{Desc: "Coze personal access token: pat_ + 64 alphanumerics", Env: "COZE_API_TOKEN", Prefix: "pat_", Set: Alnum, N: 64, Entropy: 4}),
			},
		},
	})
}
