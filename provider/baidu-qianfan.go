package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "baidu-qianfan", Name: "Baidu Qianfan (ERNIE)", Category: ModelAPI,
		RevokeURL: "https://console.bce.baidu.com/iam/#/iam/apikey/list",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Baidu Qianfan API key (bce-v3)",
				Capabilities: caps(aicred.CapInference, aicred.CapFineTuning, aicred.CapBilling),
				Rule: simpleRule(simple{Desc: "Baidu Qianfan API key: bce-v3/ALTAK- + 21 alphanumerics + / + 40 hex", Env: "QIANFAN_API_KEY", Prefix: "bce-v3/", Pattern: `bce-v3/ALTAK-[A-Za-z0-9]{21}/[0-9a-f]{40}`, Gen: func(g *Gen) string { return "bce-v3/ALTAK-" + g.Alnum(21) + "/" + g.Hex(40) }, Neg: func(g *Gen) []string {
					return []string{"bce-v3/ALTAK-" + g.Alnum(20) + "/" + g.Hex(40), "bce-v3/ALTAK-" + g.Alnum(21) + "/" + g.Hex(39)}
				}, Entropy: 4}),
			},
		},
	})
}
