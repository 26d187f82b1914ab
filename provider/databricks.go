package provider

import "github.com/aicred/aicred"

func init() {
	register(&Provider{
		ID: "databricks", Name: "Databricks", Category: CloudML,
		RevokeURL: "https://docs.databricks.com/aws/en/dev-tools/auth/pat",
		Kinds: []*Kind{{
			ID: "access-token", Name: "Databricks personal access token",
			// Clusters and jobs, tables and volumes, the MLflow registry and
			// model serving: whatever the token's user may do in the workspace.
			Capabilities: caps(aicred.CapCompute, aicred.CapFilesData, aicred.CapModelRegistry, aicred.CapInference, aicred.CapTracking),
			// A token is bound to its workspace: the check needs the host
			// found near it, and only Databricks-owned domains are accepted.
			Liveness: &Liveness{
				BaseURL: "https://{host}", Path: "/api/2.0/preview/scim/v2/Me", Auth: Bearer,
				Live: []int{200}, Dead: []int{401, 403},
			},
			Rule: Rule{
				Description: "Databricks token: dapi + 32 hex, optionally - and a digit or two",
				Keywords:    []string{"dapi"},
				Pattern:     `dapi[0-9a-f]{32}(?:-[0-9]{1,2})?`,
				MinEntropy:  3,
				Hints: map[string]Near{"host": {
					Pattern: `([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:cloud\.databricks\.com|gcp\.databricks\.com|azuredatabricks\.net))`,
					Window:  512,
				}},
				Examples: func(g *Gen) []Example {
					k := "dapi" + g.Hex(32)
					k2 := "dapi" + g.Hex(32) + "-2"
					return append(assign("DATABRICKS_TOKEN", k),
						Ex("[DEFAULT]\nhost = https://dbc-"+g.Hex(8)+".cloud.databricks.com\ntoken = "+k2+"\n", k2),
						Ex(notebook(`w = WorkspaceClient(host="https://adb-123.4.azuredatabricks.net", token="`+k+`")`), k),
						Ex(curl("https://adb-1.2.azuredatabricks.net/api/2.0/clusters/list", "Authorization", "Bearer "+k), k))
				},
				Negatives: func(g *Gen) []string {
					return append(nearMisses(g, "dapi", Hex, 32),
						"dapi"+g.Chars("ABCDEF0123456789", 32),
						"readapi"+g.Hex(32),
						"dapi"+g.Hex(32)+"-123")
				},
			},
		}},
	})
}
