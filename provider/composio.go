package provider

import "github.com/aicred/aicred"

// composioShape requires what Kingfisher requires of these short keys: at
// least two digits and four lower-case letters, which keeps out identifiers
// such as ak_some_long_variable.
func composioShape(s string) bool {
	digits, lower := 0, 0
	for i := 3; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
		}
	}
	return digits >= 2 && lower >= 4
}

func init() {
	key := func(g *Gen, prefix string) string {
		return prefix + g.Digits(2) + g.Lower(4) + g.URL64(14)
	}
	register(&Provider{
		ID: "composio", Name: "Composio", Category: AgentTools,
		RevokeURL: "https://app.composio.dev/settings",
		Kinds: []*Kind{
			{
				ID: "project-key", Name: "Composio project API key",
				// Tool calls run through the third-party accounts connected to the project.
				Capabilities: caps(aicred.CapCompute, aicred.CapFilesData),
				Liveness: &Liveness{
					BaseURL: "https://backend.composio.dev", Path: "/api/v3.1/tools", Auth: HeaderAuth("x-api-key"),
					Live: []int{200}, Dead: []int{401},
				},
				Rule: Rule{
					Description: "Composio project key: ak_ + 20 url-safe characters",
					Keywords:    []string{"ak_"},
					Pattern:     `ak_[A-Za-z0-9_-]{20}`,
					MinEntropy:  3.5,
					Validate:    composioShape,
					Examples: func(g *Gen) []Example {
						k := key(g, "ak_")
						return append(assign("COMPOSIO_API_KEY", k), Ex(notebook(`composio = Composio(api_key="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"ak_" + g.Digits(2) + g.Lower(4) + g.URL64(13),
							"ak_" + g.Digits(2) + g.Lower(4) + g.Alnum(15),
							"ak_" + g.Chars(Upper, 20), // no digits or lower case
							"break_" + g.Digits(2) + g.Lower(4) + g.URL64(14),
						}
					},
				},
			},
			{
				ID: "consumer-key", Name: "Composio consumer key (MCP client)",
				Capabilities: caps(aicred.CapCompute),
				// No check is documented.
				Rule: Rule{
					Description: "Composio consumer key: ck_ + 20 url-safe characters",
					Keywords:    []string{"ck_"},
					Pattern:     `ck_[A-Za-z0-9_-]{20}`,
					MinEntropy:  3.5,
					Validate:    composioShape,
					Examples: func(g *Gen) []Example {
						k := key(g, "ck_")
						return append(assign("COMPOSIO_CONSUMER_KEY", k), Ex(`{"mcpServers": {"composio": {"headers": {"x-consumer-key": "`+k+`"}}}}`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"ck_" + g.Digits(2) + g.Lower(4) + g.Alnum(13),
							"ck_" + g.Chars(Upper, 20),
							"stack_" + g.Digits(2) + g.Lower(4) + g.URL64(14),
						}
					},
				},
			},
		},
	})
}
