package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "friendli", Name: "FriendliAI", Category: ModelAPI,
		RevokeURL: "https://friendli.ai/suite",
		Kinds: []*Kind{{
			ID: "api-key", Name: "FriendliAI personal access token",
			Capabilities: caps(aicred.CapInference, aicred.CapCompute),
			Liveness: &Liveness{
				BaseURL: "https://api.friendli.ai", Path: "/dedicated/beta/endpoint", Auth: Bearer,
				Live: []int{200}, Dead: []int{401}, LiveBody: []string{`"data"`, `"status"`},
			},
			Rule: Rule{
				Description: "FriendliAI token: flp_ + 46 alphanumerics (50 characters)",
				Keywords:    []string{"flp_"},
				Pattern:     `flp_[A-Za-z0-9]{46}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "flp_" + g.Alnum(46)
					return append(assign("FRIENDLI_TOKEN", k),
						Ex(notebook(`client = Friendli(token="`+k+`")`), k))
				},
				Negatives: func(g *Gen) []string { return append(nearMisses(g, "flp_", Alnum, 46), "flp-"+g.Alnum(46)) },
			},
		}},
	})
}
