package provider

import "github.com/aicred/aicred"

// format: Microsoft docs "Connect to Azure AI Search using keys" (admin and
// query keys look alike: 52 random letters and digits); Microsoft's
// security-utilities rules AzureSearchIdentifiableQueryKey and
// AzureSearchIdentifiableAdminKey (SEC101/166, SEC101/167: 42 alphanumerics +
// AzSe + [A-D] + 5 alphanumerics, which is the same 52 characters);
// TruffleHog detectors azuresearchadminkey and azuresearchquerykey and
// Kingfisher rule azuresearchquery (52 alphanumerics near "azure"). The
// 32-character upper-case hex form of older services has no published
// source. Admin and query keys are context-gated; the AzSe key is not, and
// wins over them when both match.

// azureSearchKey matches a non-identifiable admin or query key: 52
// alphanumerics (current services) or 32 upper-case hex (older services).
const azureSearchKey = `[A-Za-z0-9]{52}|[0-9A-F]{32}`

// azureSearchHost finds the search service host near a key; only Microsoft's
// domain is accepted, so scanned text cannot steer a key elsewhere.
var azureSearchHost = Near{Pattern: `([a-z0-9][a-z0-9-]*\.search\.windows\.net)`, Window: 512}

func init() {
	register(&Provider{
		ID: "azure-search", Name: "Azure AI Search", Category: VectorDB,
		RevokeURL: "https://portal.azure.com/#browse/Microsoft.Search%2FsearchServices",
		Kinds: []*Kind{
			{
				ID: "identifiable-key", Name: "Azure AI Search key (identifiable, AzSe)",
				Capabilities: caps(aicred.CapVectorRW, aicred.CapSearch),
				Liveness:     &Liveness{BaseURL: "https://{host}", Path: "/servicestats?api-version=2024-07-01", Auth: HeaderAuth("api-key"), Live: []int{200}, Dead: []int{401}, NoPermission: []int{403}},
				Rule: withHints(map[string]Near{"host": azureSearchHost}, simple{Desc: "Azure AI Search identifiable key: 42 alphanumerics + AzSe + [A-D] + 5 (52 characters)", Env: "AZURE_SEARCH_API_KEY", Prefix: "AzSe", Pattern: `[A-Za-z0-9]{42}AzSe[A-D][A-Za-z0-9]{5}`, Gen: func(g *Gen) string { return g.Alnum(42) + "AzSe" + g.Chars("ABCD", 1) + g.Alnum(5) }, Neg: func(g *Gen) []string {
					return []string{g.Alnum(41) + "AzSeA" + g.Alnum(5), g.Alnum(42) + "AzSeE" + g.Alnum(5), g.Alnum(42) + "AzSeB" + g.Alnum(6)}
				}, Entropy: 4, Extra: func(g *Gen, k string) []Example {
					return []Example{Ex(`curl "https://`+g.Lower(8)+`.search.windows.net/indexes?api-version=2024-07-01" -H "api-key: `+k+`"`, k)}
				}}),
			},
			{
				ID: "admin-key", Name: "Azure AI Search admin key",
				Capabilities: caps(aicred.CapVectorRW, aicred.CapSearch, aicred.CapKeyAdmin),
				Liveness:     &Liveness{BaseURL: "https://{host}", Path: "/servicestats?api-version=2024-07-01", Auth: HeaderAuth("api-key"), Live: []int{200}, Dead: []int{401}, NoPermission: []int{403}},
				Rule: withHints(map[string]Near{"host": azureSearchHost}, simple{Desc: "Azure AI Search admin key: 52 alphanumerics (or 32 upper-case hex on older services) after an Azure Search admin name or host", Env: "AZURE_SEARCH_ADMIN_KEY", Keywords: []string{"search_admin_key", "searchadminkey", "search-admin-key", "azure_search_key", "azure_search_api_key", "search.windows.net"}, Pattern: azureSearchKey, Gen: func(g *Gen) string { return g.Alnum(52) }, Neg: azureSearchNeg("AZURE_SEARCH_ADMIN_KEY"), Extra: func(g *Gen, k string) []Example {
					legacy := g.Chars("0123456789ABCDEF", 32)
					return []Example{
						Ex(`endpoint = "https://`+g.Lower(8)+`.search.windows.net"`+"\nkey = \""+k+"\"\n", k),
						Ex("AZURE_SEARCH_ADMIN_KEY="+legacy+"\n", legacy),
					}
				}}),
			},
			{
				ID: "query-key", Name: "Azure AI Search query key",
				Capabilities: caps(aicred.CapSearch),
				Rule: simpleRule(simple{Desc: "Azure AI Search query key: 52 alphanumerics (or 32 upper-case hex on older services) after an Azure Search query-key name", Env: "AZURE_SEARCH_QUERY_KEY", Keywords: []string{"search_query_key", "searchquerykey", "search-query-key"}, Pattern: azureSearchKey, Gen: func(g *Gen) string { return g.Alnum(52) }, Neg: azureSearchNeg("AZURE_SEARCH_QUERY_KEY"), Extra: func(g *Gen, k string) []Example {
					legacy := g.Chars("0123456789ABCDEF", 32)
					return []Example{Ex("search_query_key: "+legacy+"\n", legacy)}
				}}),
			},
		},
	})
}

// azureSearchNeg returns near misses of both key lengths under env.
func azureSearchNeg(env string) func(g *Gen) []string {
	return func(g *Gen) []string {
		return []string{
			env + "=" + g.Alnum(51),
			env + "=" + g.Alnum(53),
			env + "=" + g.Chars("0123456789ABCDEF", 31),
			env + "=" + g.Chars("0123456789abcdef", 32),
		}
	}
}
