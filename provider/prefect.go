package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "prefect", Name: "Prefect Cloud", Category: Compute,
		RevokeURL: "https://app.prefect.cloud/my/api-keys",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Prefect Cloud API key",
			// Blocks stored in a workspace often hold other credentials.
			Capabilities: caps(aicred.CapCompute, aicred.CapFilesData),
			// No liveness check is documented in the reference.
			Rule: Rule{
				Description: "Prefect API key: pnu_ + 36 alphanumerics (40 characters)",
				Keywords:    []string{"pnu_"},
				Pattern:     `pnu_[A-Za-z0-9]{36}`,
				MinEntropy:  2,
				Examples: func(g *Gen) []Example {
					k := "pnu_" + g.Alnum(36)
					return append(assign("PREFECT_API_KEY", k),
						Ex("prefect cloud login --key "+k+" --workspace team/prod", k))
				},
				Negatives: func(g *Gen) []string { return append(nearMisses(g, "pnu_", Alnum, 36), "pnu-"+g.Alnum(36)) },
			},
		}},
	})
}
