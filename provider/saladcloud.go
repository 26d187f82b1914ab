package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "saladcloud", Name: "SaladCloud", Category: Compute,
		RevokeURL: "https://portal.salad.com/api-key",
		Kinds: []*Kind{{
			ID: "api-key", Name: "SaladCloud API key",
			Capabilities: caps(aicred.CapCompute, aicred.CapBilling),
			// TruffleHog verifies these, but the reference gives no request.
			Rule: Rule{
				Description: "SaladCloud API key: salad_cloud_ + 1 to 7 alphanumerics + _ + 7 to 235 alphanumerics",
				Keywords:    []string{"salad_cloud_"},
				Pattern:     `salad_cloud_[A-Za-z0-9]{1,7}_[A-Za-z0-9]{7,235}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "salad_cloud_user_" + g.Alnum(70)
					return append(assign("SALAD_API_KEY", k),
						Ex(curl("https://api.salad.com/api/public/organizations", "Salad-Api-Key", k), k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"salad_cloud_" + g.Alnum(8) + "_" + g.Alnum(40),
						"salad_cloud_user_" + g.Alnum(6),
						"salad_cloud_user-" + g.Alnum(40),
						"my_salad_cloud_user_" + g.Alnum(40),
					}
				},
			},
		}},
	})
}
