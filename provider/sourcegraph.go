package provider

import "github.com/aicred/aicred"

// sourcegraphGraphQL checks an access token with the GraphQL API, which
// answers currentUser for any valid token and reads nothing else.
func sourcegraphGraphQL() *Liveness {
	return &Liveness{
		Method: "POST", BaseURL: "https://sourcegraph.com", Path: "/.api/graphql", Auth: Auth{Scheme: "token"},
		Body: `{"query":"query { currentUser { username } }"}`,
		Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"currentUser"`},
	}
}

// format: gitleaks rule sourcegraph-access-token, TruffleHog detectors
// sourcegraph and sourcegraphcody, Kingfisher rules for Sourcegraph access
// tokens, API keys and Cody keys: sgp_ + (16 hex or local) + _ + 40 hex, or
// sgp_ + 40 hex; slk_ + 64 lower-case hex for Cody gateway tokens; and the
// legacy bare 40 hex that gitleaks reports only after a Sourcegraph name.
// The prefixed kinds are self-identifying; the bare form is context-gated.
func init() {
	register(&Provider{
		ID: "sourcegraph", Name: "Sourcegraph (Cody)", Category: AgentTools,
		RevokeURL: "https://sourcegraph.com/user/settings/tokens",
		Kinds: []*Kind{{
			ID: "cody-token", Name: "Sourcegraph Cody gateway token",
			Capabilities: caps(aicred.CapInference, aicred.CapBilling),
			Liveness: &Liveness{
				BaseURL: "https://cody-gateway.sourcegraph.com", Path: "/v1/limits", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403},
			},
			Rule: Rule{
				Description: "Sourcegraph Cody token: slk_ + 64 hex (68 characters)",
				Keywords:    []string{"slk_"},
				Pattern:     `slk_[0-9a-f]{64}`,
				MinEntropy:  3,
				Examples: func(g *Gen) []Example {
					k := "slk_" + g.Hex(64)
					return append(assign("CODY_GATEWAY_TOKEN", k),
						Ex(curl("https://cody-gateway.sourcegraph.com/v1/limits", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string { return append(nearMisses(g, "slk_", Hex, 64), "slk_"+g.Chars(Upper, 64)) },
			},
		}, {
			ID: "access-token", Name: "Sourcegraph access token",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapSearch),
			Liveness:     sourcegraphGraphQL(),
			Rule: simpleRule(simple{
				Desc: "Sourcegraph access token: sgp_ + (16 hex or local) + _ + 40 hex (v3), or sgp_ + 40 hex (v2)",
				Env:  "SRC_ACCESS_TOKEN", Prefix: "sgp_",
				Pattern: `sgp_(?:[0-9a-fA-F]{16}_|local_)?[0-9a-fA-F]{40}`,
				Gen:     func(g *Gen) string { return "sgp_" + g.Hex(16) + "_" + g.Hex(40) },
				Neg: func(g *Gen) []string {
					return []string{"sgp_" + g.Hex(16) + "_" + g.Hex(39), "sgp_" + g.Hex(39), "xsgp_" + g.Hex(40)}
				},
				Extra: func(g *Gen, k string) []Example {
					return []Example{
						Ex("export SRC_ACCESS_TOKEN=sgp_local_"+k[len(k)-40:]+"\n", "sgp_local_"+k[len(k)-40:]),
						Ex(`curl -H "Authorization: token `+k+`" https://sourcegraph.com/.api/graphql`, k),
					}
				},
			}),
		}, {
			ID: "legacy-access-token", Name: "Sourcegraph access token (legacy, unprefixed)",
			Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapSearch),
			Liveness:     sourcegraphGraphQL(),
			// 40 hex is also a git object name: only a token variable
			// name gives context, not the bare word "sourcegraph".
			Rule: simpleRule(simple{
				Desc: "Sourcegraph access token (legacy): 40 hex after a Sourcegraph token name",
				Env:  "SRC_ACCESS_TOKEN", Keywords: []string{"src_access_token", "sourcegraph_token", "sourcegraph_access_token", "sourcegraph_api_token"},
				Pattern: `[0-9a-fA-F]{40}`, Gen: func(g *Gen) string { return g.Hex(40) }, Window: 32,
				Neg: func(g *Gen) []string {
					return []string{"SRC_ACCESS_TOKEN=" + g.Hex(39), "SRC_ACCESS_TOKEN=" + g.Hex(41), "sourcegraph commit " + g.Hex(40)}
				},
			}),
		}},
	})
}
