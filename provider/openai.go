package provider

import "github.com/aicred/aicred"

// OpenAI keys carry the marker "T3BlbkFJ" (base64 of "OpenAI") in the
// middle of the body; every rule checks it exactly.
const openaiMarker = "T3BlbkFJ"

func init() {
	models := &Liveness{
		BaseURL: "https://api.openai.com", Path: "/v1/models", Auth: Bearer,
		Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"data"`},
	}
	me := &Liveness{
		BaseURL: "https://api.openai.com", Path: "/v1/me", Auth: Bearer,
		Live: []int{200}, Dead: []int{401},
	}
	projectBody := func(g *Gen) string {
		n := []int{74, 58}[g.IntN(2)]
		return g.URL64(n) + openaiMarker + g.URL64(n)
	}
	projectPattern := func(prefix string) string {
		return prefix + `(?:[A-Za-z0-9_-]{74}` + openaiMarker + `[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58}` + openaiMarker +
			`[A-Za-z0-9_-]{58}|[A-Za-z0-9]{20}` + openaiMarker + `[A-Za-z0-9]{20})`
	}
	register(&Provider{
		ID: "openai", Name: "OpenAI", Category: ModelAPI,
		RevokeURL: "https://platform.openai.com/api-keys",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "OpenAI user API key (legacy)",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     me,
				Rule: Rule{
					Description: "Legacy OpenAI secret key: sk- + 20 + T3BlbkFJ + 20 alphanumerics",
					Keywords:    []string{openaiMarker},
					Pattern:     `sk-[A-Za-z0-9]{20}` + openaiMarker + `[A-Za-z0-9]{20}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-" + g.Alnum(20) + openaiMarker + g.Alnum(20)
						return append(assign("OPENAI_API_KEY", k),
							Ex(`client = OpenAI(api_key="`+k+`")`, k),
							Ex(`"source": ["openai.api_key = \"`+k+`\"\n"]`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-" + g.Alnum(20) + "T3BlbkFj" + g.Alnum(20),   // marker case differs
							"sk-" + g.Alnum(19) + openaiMarker + g.Alnum(20), // body too short
							"xsk-" + g.Alnum(20) + openaiMarker + g.Alnum(20) + "q",
							"sk-" + g.Alnum(48),
						}
					},
				},
			},
			{
				ID: "project-key", Name: "OpenAI project API key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     models,
				Rule: Rule{
					Description: "OpenAI project key: sk-proj- + body with the T3BlbkFJ marker",
					Keywords:    []string{"sk-proj-"},
					Pattern:     projectPattern("sk-proj-"),
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-proj-" + projectBody(g)
						k2 := "sk-proj-" + g.Alnum(20) + openaiMarker + g.Alnum(20)
						return append(assign("OPENAI_API_KEY", k), Ex("key: "+k2, k2))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"sk-proj-" + g.URL64(74) + g.URL64(82),                // no marker
							"sk-proj-" + g.URL64(73) + openaiMarker + g.URL64(74), // wrong length
							"sk-proj-" + g.URL64(58) + openaiMarker + g.URL64(58) + "Z",
						}
					},
				},
			},
			{
				ID: "service-account-key", Name: "OpenAI service account key",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     models,
				Rule: Rule{
					Description: "OpenAI service account key: sk-svcacct- (or sk-service-) + project-key body",
					Keywords:    []string{"sk-svcacct-", "sk-service-"},
					Pattern:     projectPattern(`sk-(?:svcacct|service)-`),
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-svcacct-" + projectBody(g)
						k2 := "sk-service-" + projectBody(g)
						return append(assign("OPENAI_API_KEY", k), Ex(`token = "`+k2+`"`, k2))
					},
					Negatives: func(g *Gen) []string {
						return []string{"sk-svcacct-" + g.URL64(160), "sk-svcacct-" + g.URL64(20)}
					},
				},
			},
			{
				ID: "admin-key", Name: "OpenAI admin API key",
				RevokeURL:    "https://platform.openai.com/settings/organization/admin-keys",
				Capabilities: caps(aicred.CapKeyAdmin, aicred.CapOrgAdmin, aicred.CapBilling),
				Liveness: &Liveness{
					BaseURL: "https://api.openai.com", Path: "/v1/organization/admin_api_keys", Auth: Bearer,
					Live: []int{200}, Dead: []int{401}, NoPermission: []int{403},
				},
				Rule: Rule{
					Description: "OpenAI admin key: sk-admin- + 58 + T3BlbkFJ + 58",
					Keywords:    []string{"sk-admin-"},
					Pattern:     `sk-admin-[A-Za-z0-9_-]{58}` + openaiMarker + `[A-Za-z0-9_-]{58}`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-admin-" + g.URL64(58) + openaiMarker + g.URL64(58)
						return assign("OPENAI_ADMIN_KEY", k)
					},
					Negatives: func(g *Gen) []string {
						return []string{"sk-admin-" + g.URL64(58) + "T3BlbkFX" + g.URL64(58)}
					},
				},
			},
			{
				ID: "none-key", Name: "OpenAI key with no project (sk-None-)",
				Capabilities: caps(aicred.CapInference, aicred.CapFilesData, aicred.CapFineTuning, aicred.CapBilling),
				Liveness:     me,
				Rule: Rule{
					Description: "OpenAI sk-None- key",
					Keywords:    []string{"sk-None-"},
					Pattern:     `sk-None-(?:[A-Za-z0-9_-]{74}` + openaiMarker + `[A-Za-z0-9_-]{74}|[A-Za-z0-9]{48})`,
					MinEntropy:  3,
					Examples: func(g *Gen) []Example {
						k := "sk-None-" + g.Alnum(48)
						return assign("OPENAI_API_KEY", k)
					},
					Negatives: func(g *Gen) []string { return []string{"sk-None-" + g.Alnum(47)} },
				},
			},
		},
	})
}
