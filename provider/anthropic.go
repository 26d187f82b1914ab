package provider

import "github.com/aicred/aicred"

func init() {
	// The Anthropic Messages API wants a version header on every call.
	version := map[string]string{"anthropic-version": "2023-06-01"}
	register(&Provider{
		ID: "anthropic", Name: "Anthropic", Category: ModelAPI,
		RevokeURL: "https://console.anthropic.com/settings/keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Anthropic API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapBilling),
				Liveness: &Liveness{
					BaseURL: "https://api.anthropic.com", Path: "/v1/models", Auth: HeaderAuth("x-api-key"), Header: version,
					Live: []int{200}, Dead: []int{401, 403},
				},
				Rule: Rule{
					Description: "Anthropic API key: sk-ant-api03- + 93 url64 + fixed suffix AA (108 characters)",
					Keywords:    []string{"sk-ant-api"},
					Pattern:     `sk-ant-api03-[A-Za-z0-9_-]{93}AA`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-ant-api03-" + g.URL64(93) + "AA"
						return append(assign("ANTHROPIC_API_KEY", k),
							Ex(`client = anthropic.Anthropic(api_key="`+k+`")`, k),
							Ex(`{"cell_type":"code","source":["key = \"`+k+`\"\n"]}`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-ant-api03-" + g.URL64(93) + "BB", // suffix must be AA
							"sk-ant-api03-" + g.URL64(92) + "AA",
							"sk-ant-admin01-" + g.URL64(93) + "AA",
							"sk-ant-api03-" + g.URL64(93) + "AAx",
						}
					},
				},
			},
			{
				ID: "admin-key", Name: "Anthropic Admin API key",
				RevokeURL:    "https://console.anthropic.com/settings/admin-keys",
				Capabilities: caps(aicred.CapOrgAdmin, aicred.CapKeyAdmin),
				Liveness: &Liveness{
					BaseURL: "https://api.anthropic.com", Path: "/v1/organizations/me", Auth: HeaderAuth("x-api-key"), Header: version,
					Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"id"`},
				},
				Rule: Rule{
					Description: "Anthropic admin key: sk-ant-admin01- + 93 url64 + AA",
					Keywords:    []string{"sk-ant-admin"},
					Pattern:     `sk-ant-admin01-[A-Za-z0-9_-]{93}AA`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						return assign("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-"+g.URL64(93)+"AA")
					},
					Negatives: func(g *Gen) []string {
						return []string{"sk-ant-admin01-" + g.URL64(93) + "AB", "sk-ant-admin02-" + g.URL64(93) + "AA"}
					},
				},
			},
			{
				ID: "oauth-token", Name: "Anthropic OAuth access token (Claude subscription)",
				RevokeURL:    "https://claude.ai/settings",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				// The only known check is a billable Messages call; aicred does not make it.
				Rule: Rule{
					Description: "Anthropic OAuth access token: sk-ant-oat01- + at least 40 url64",
					Keywords:    []string{"sk-ant-oat"},
					Pattern:     `sk-ant-oat01-[A-Za-z0-9_-]{40,200}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						return assign("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-"+g.URL64(95)+"AA")
					},
					Negatives: func(g *Gen) []string { return []string{"sk-ant-oat01-" + g.URL64(30)} },
				},
			},
			{
				ID: "oauth-refresh-token", Name: "Anthropic OAuth refresh token",
				RevokeURL:    "https://claude.ai/settings",
				Capabilities: caps(aicred.CapInference, aicred.CapBilling),
				Rule: Rule{
					Description: "Anthropic OAuth refresh token: sk-ant-ort01- + at least 40 url64",
					Keywords:    []string{"sk-ant-ort"},
					Pattern:     `sk-ant-ort01-[A-Za-z0-9_-]{40,200}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						return assign("REFRESH_TOKEN", "sk-ant-ort01-"+g.URL64(95)+"AA")
					},
					Negatives: func(g *Gen) []string { return []string{"sk-ant-ort01-" + g.URL64(39)} },
				},
			},
		},
	})
}
