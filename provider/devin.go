package provider

import "github.com/aicred/aicred"

func init() {
	sessions := &Liveness{
		BaseURL: "https://api.devin.ai", Path: "/v1/sessions?limit=1", Auth: Bearer,
		Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"sessions"`},
	}
	// Keys are base64 bodies: '+' and '/' continue them. ('=' cannot be a
	// boundary: it precedes the key in NAME=key.)
	const b64Boundary = "A-Za-z0-9+/_-"
	register(&Provider{
		ID: "devin", Name: "Devin (Cognition)", Category: AgentTools,
		RevokeURL: "https://app.devin.ai/settings",
		Kinds: []*Kind{
			{
				ID: "personal-api-key", Name: "Devin personal API key",
				Capabilities: caps(aicred.CapCompute, aicred.CapFilesData),
				Liveness:     sessions,
				Rule: Rule{
					Description: "Devin personal API key: apk_user_ + 120 to 180 base64 characters",
					Keywords:    []string{"apk_user_"},
					Pattern:     `apk_user_[A-Za-z0-9+/]{120,180}={0,2}`,
					Boundary:    b64Boundary,
					MinEntropy:  4,
					Examples: func(g *Gen) []Example {
						k := "apk_user_" + g.B64(140) + "=="
						return append(assign("DEVIN_API_KEY", k),
							Ex(curl("https://api.devin.ai/v1/sessions", "Authorization", "Bearer "+k), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{"apk_user_" + g.B64(119), "apk_user_" + g.B64(181), "apk_usr_" + g.B64(140)}
					},
				},
			},
			{
				ID: "service-api-key", Name: "Devin service API key",
				Capabilities: caps(aicred.CapCompute, aicred.CapFilesData, aicred.CapOrgAdmin),
				Liveness:     sessions,
				Rule: Rule{
					Description: "Devin service API key: apk_ + 80 to 100 base64 characters",
					Keywords:    []string{"apk_"},
					Pattern:     `apk_[A-Za-z0-9+/]{80,100}={0,2}`,
					Boundary:    b64Boundary,
					MinEntropy:  4,
					Examples: func(g *Gen) []Example {
						k := "apk_" + g.B64(88)
						return append(assign("DEVIN_API_KEY", k), Ex(`{"devin": {"token": "`+k+`"}}`, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{"apk_" + g.B64(79), "apk_" + g.B64(101), "apk_user_" + g.B64(90)}
					},
				},
			},
			{
				ID: "service-user-token", Name: "Devin service user token",
				Capabilities: caps(aicred.CapCompute, aicred.CapFilesData),
				// /v3/self answers with principal_type or service_user_id; the
				// status alone decides, as either marker may be absent.
				Liveness: &Liveness{
					BaseURL: "https://api.devin.ai", Path: "/v3/self", Auth: Bearer,
					Live: []int{200}, Dead: []int{401, 403},
				},
				Rule: Rule{
					Description: "Devin service user token: cog_ + 52 characters of a-z and 2-7 (56 characters)",
					Keywords:    []string{"cog_"},
					Pattern:     `cog_[a-z2-7]{52}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "cog_" + g.Chars(Lower+"234567", 52)
						return append(assign("DEVIN_API_KEY", k), Ex(notebook(`headers = {"Authorization": "Bearer `+k+`"}`), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "cog_", Lower, 52), "cog_"+g.Chars("abc0189", 52))
					},
				},
			},
		},
	})
}
