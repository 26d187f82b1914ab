package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "cursor", Name: "Cursor", Category: AgentTools,
		RevokeURL: "https://cursor.com/dashboard",
		Kinds: []*Kind{{
			ID: "api-key", Name: "Cursor admin API key",
			Capabilities: caps(aicred.CapOrgAdmin, aicred.CapBilling),
			// Basic auth with the key as the user name and no password.
			Liveness: &Liveness{
				BaseURL: "https://api.cursor.com", Path: "/v0/me", Auth: Auth{BasicUser: "-"},
				Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"userEmail"`},
			},
			Rule: Rule{
				Description:   "Cursor API key: key_ + 64 hex, after a Cursor name",
				Keywords:      []string{"cursor"},
				ContextWindow: 48,
				Pattern:       `key_[0-9a-f]{64}`,
				MinEntropy:    3,
				Examples: func(g *Gen) []Example {
					k := "key_" + g.Hex(64)
					return append(assign("CURSOR_API_KEY", k),
						Ex("curl https://api.cursor.com/teams/members -u "+k+":", k))
				},
				Negatives: func(g *Gen) []string {
					return []string{
						"API_KEY=key_" + g.Hex(64),
						"CURSOR_API_KEY=key_" + g.Hex(63),
						"CURSOR_API_KEY=key_" + g.Hex(65),
						"CURSOR_API_KEY=" + g.Hex(64),
					}
				},
			},
		}},
	})
}
