package provider

import "github.com/aicred/aicred"

func init() {
	// A GraphQL viewer query answers with the key owner's username; W&B
	// takes the key as the password of the user "api".
	viewer := &Liveness{
		Method: "POST", BaseURL: "https://api.wandb.ai", Path: "/graphql", Auth: Auth{BasicUser: "api"},
		Body: `{"query":"query { viewer { username } }"}`,
		Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"username"`},
	}
	capabilities := caps(aicred.CapTracking, aicred.CapFilesData, aicred.CapModelRegistry, aicred.CapTracing)
	register(&Provider{
		ID: "wandb", Name: "Weights & Biases", Category: MLOps,
		RevokeURL: "https://wandb.ai/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Weights & Biases API key",
				Capabilities: capabilities,
				Liveness:     viewer,
				Rule: Rule{
					Description:   "Weights & Biases API key: 40 hex after a W&B name (also the password in ~/.netrc)",
					Keywords:      []string{"wandb", "weightsandbiases", "weights_and_biases"},
					ContextWindow: 48,
					Pattern:       `[0-9a-f]{40}`,
					MinEntropy:    3,
					Examples: func(g *Gen) []Example {
						k := g.Hex(40)
						return append(assign("WANDB_API_KEY", k),
							Ex("machine api.wandb.ai\n  login user\n  password "+k+"\n", k),
							Ex(notebook(`wandb.login(key="`+k+`")`), k),
							Ex("wandb login "+k, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"commit " + g.Hex(40), // a git hash, no W&B name
							"WANDB_API_KEY=" + g.Hex(39),
							"WANDB_API_KEY=" + g.Hex(41),
							"WANDB_API_KEY=" + g.Chars("ABCDEF0123456789", 40),
							"wandb " + g.Alnum(60) + "\nsha = " + g.Hex(40),
						}
					},
				},
			},
			{
				ID: "api-key-v1", Name: "Weights & Biases API key (wandb_v1_)",
				Capabilities: capabilities,
				Liveness:     viewer,
				Rule: Rule{
					Description: "Weights & Biases API key: wandb_v1_ + 77 letters, digits or underscores (86 characters)",
					Keywords:    []string{"wandb_v1_"},
					Pattern:     `wandb_v1_[A-Za-z0-9_]{77}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "wandb_v1_" + g.Chars(Alnum+"_", 77)
						return append(assign("WANDB_API_KEY", k), Ex(notebook(`wandb.login(key="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "wandb_v1_", Alnum, 77), "wandb_v2_"+g.Alnum(77))
					},
				},
			},
		},
	})
}
