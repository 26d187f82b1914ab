package provider_test

import (
	"strings"
	"testing"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/provider"
	"github.com/aicred/aicred/scan"
)

// TestPublishedFormats generates, at test time, the key shapes that
// providers' docs and other scanners' rules publish (the provider files name
// each source), and checks that the scanner reports each one as the expected
// kind with exactly the key, or (want "") that it reports no key at all.
func TestPublishedFormats(t *testing.T) {
	e, err := scan.New(scan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := provider.NewGen(7)
	hex := func(n int) string { return g.Hex(n) }
	upperHex := func(n int) string { return g.Chars("0123456789ABCDEF", n) }
	groups := func() string {
		return g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7) + "-" + g.LowerNum(7)
	}
	jwt := func(h, p, s int) string {
		return "eyJ" + g.Alnum(h-3) + ".eyJ" + g.Alnum(p-3) + "." + g.Chars(provider.URL64, s)
	}

	for _, tc := range []struct {
		name, kind   string
		before, key  string
		wantNoReport bool
	}{
		// Helicone's gateway patterns: every marker it accepts.
		{name: "helicone sk", kind: "helicone/api-key", before: "HELICONE_API_KEY=", key: "sk-helicone-" + groups()},
		{name: "helicone pk eu", kind: "helicone/api-key", before: "key: ", key: "pk-helicone-eu-" + groups()},
		{name: "helicone customer portal", kind: "helicone/api-key", before: "Bearer ", key: "sk-helicone-cp-" + groups()},
		{name: "helicone eu customer portal", kind: "helicone/api-key", before: "Bearer ", key: "pk-helicone-eu-cp-" + groups()},
		{name: "helicone rate limited", kind: "helicone/api-key", before: "Bearer ", key: "sk-helicone-rl-" + groups()},
		{name: "helicone eu rate limited", kind: "helicone/api-key", before: "Bearer ", key: "sk-helicone-eu-rl-" + groups()},
		{name: "helicone proxy key", kind: "helicone/api-key", before: "api_key=", key: "sk-helicone-proxy-" + groups() + "-" + g.UUID()},
		// Qdrant Cloud docs: granular database keys are JWTs.
		{name: "qdrant granular jwt", kind: "qdrant/api-key", before: "QDRANT_API_KEY=", key: jwt(36, 80, 43)},
		{name: "qdrant admin key", kind: "qdrant/api-key", before: "QDRANT_API_KEY=", key: g.URL64(54)},
		{name: "qdrant needs context", before: "API_KEY=", key: jwt(36, 80, 43), wantNoReport: true},
		// Eden AI: TruffleHog and Kingfisher's 36.92.43.
		{name: "edenai published", kind: "edenai/api-key", before: "EDENAI_API_KEY=", key: jwt(36, 92, 43)},
		// IBM Cloud: TruffleHog's 44 URL-safe characters.
		{name: "ibm cloud", kind: "ibm/api-key", before: "IBM_CLOUD_API_KEY=", key: g.URL64(44)},
		// Azure AI Search: Microsoft's 52 characters, with and without AzSe.
		{name: "azure search identifiable", kind: "azure-search/identifiable-key", before: "api-key: ", key: g.Alnum(42) + "AzSe" + g.Chars("ABCD", 1) + g.Alnum(5)},
		{name: "azure search identifiable beats admin context", kind: "azure-search/identifiable-key", before: "AZURE_SEARCH_ADMIN_KEY=", key: g.Alnum(42) + "AzSeC" + g.Alnum(5)},
		{name: "azure search admin 52", kind: "azure-search/admin-key", before: "AZURE_SEARCH_ADMIN_KEY=", key: g.Alnum(52)},
		{name: "azure search query 52", kind: "azure-search/query-key", before: "SEARCH_QUERY_KEY=", key: g.Alnum(52)},
		{name: "azure search admin legacy", kind: "azure-search/admin-key", before: "AZURE_SEARCH_KEY=", key: upperHex(32)},
		// Sourcegraph: gitleaks, TruffleHog and Kingfisher shapes.
		{name: "sourcegraph v3", kind: "sourcegraph/access-token", before: "token ", key: "sgp_" + hex(16) + "_" + hex(40)},
		{name: "sourcegraph local", kind: "sourcegraph/access-token", before: "token ", key: "sgp_local_" + hex(40)},
		{name: "sourcegraph v2", kind: "sourcegraph/access-token", before: "token ", key: "sgp_" + hex(40)},
		{name: "sourcegraph mixed case hex", kind: "sourcegraph/access-token", before: "token ", key: "sgp_" + strings.ToUpper(hex(16)) + "_" + hex(20) + strings.ToUpper(hex(20))},
		{name: "sourcegraph legacy", kind: "sourcegraph/legacy-access-token", before: "SRC_ACCESS_TOKEN=", key: hex(40)},
		{name: "sourcegraph legacy needs a token name", before: "sourcegraph revision ", key: hex(40), wantNoReport: true},
		{name: "cody gateway", kind: "sourcegraph/cody-token", before: "Bearer ", key: "slk_" + hex(64)},
		// Meshy docs: msy_ and a body the length of the docs' sample.
		{name: "meshy docs length", kind: "meshy/api-key", before: "Bearer ", key: "msy_" + g.Alnum(35)},
		// Kinds without a published format need a context word.
		{name: "luma without context", kind: "luma/api-key", before: "API_KEY=", key: "luma-" + g.UUID() + "-" + g.UUID()},
		{name: "luma with context", kind: "luma/api-key", before: "LUMAAI_API_KEY=", key: "luma-" + g.UUID() + "-" + g.UUID()},
		{name: "tripo needs context", before: "API_KEY=", key: "tsk_" + g.URL64(43), wantNoReport: true},
		{name: "weaviate wcd name", kind: "weaviate/api-key", before: "WCD_API_KEY=", key: g.Alnum(48)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.before + tc.key + "\n"
			var got []scan.Match
			e.Scan([]byte(text), func(m scan.Match) { got = append(got, m) })
			if tc.wantNoReport {
				for _, m := range got {
					if m.Secret == tc.key {
						t.Fatalf("%s reported the key %s", m.Kind.Rule.ID, aicred.Redact(m.Secret))
					}
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one match, got %d in %q", len(got), aicred.Redact(text))
			}
			m := got[0]
			if id := m.Kind.Provider().ID + "/" + m.Kind.ID; id != tc.kind || m.Secret != tc.key {
				t.Fatalf("got %s %s, want %s %s", id, aicred.Redact(m.Secret), tc.kind, aicred.Redact(tc.key))
			}
		})
	}
}
