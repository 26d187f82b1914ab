package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "runpod", Name: "RunPod", Category: Compute,
		RevokeURL: "https://www.runpod.io/console/user/settings",
		Kinds: []*Kind{{
			ID: "api-key", Name: "RunPod API key",
			Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
			// A GraphQL query for the caller's own id.
			Liveness: &Liveness{
				Method: "POST", BaseURL: "https://api.runpod.io", Path: "/graphql", Auth: Bearer,
				Body: `{"query":"query { myself { id } }"}`,
				Live: []int{200}, Dead: []int{401}, LiveBody: []string{`"myself"`, `"id"`},
			},
			Rule: Rule{
				Description: "RunPod API key: rpa_ + 40 upper-case letters or digits + 6 alphanumerics (50 characters)",
				Keywords:    []string{"rpa_"},
				Pattern:     `rpa_[A-Z0-9]{40}[A-Za-z0-9]{6}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "rpa_" + g.UpperNum(40) + g.Alnum(6)
					return append(assign("RUNPOD_API_KEY", k),
						Ex(notebook(`runpod.api_key = "`+k+`"`), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"rpa_" + g.UpperNum(40) + g.Alnum(5),
						"rpa_" + g.UpperNum(40) + g.Alnum(7),
						"rpa_" + g.Lower(40) + g.Alnum(6),
						"rpa_" + g.Chars("X", 40) + g.Alnum(6),
					}
				},
			},
		}},
	})
}
