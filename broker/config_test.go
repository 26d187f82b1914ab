package broker

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
)

// configWith returns a valid config whose policies section is replaced.
func configWith(t *testing.T, policies string) string {
	t.Helper()
	k := fixtureKeys()
	jwks := string(jwksJSON(t, jwk(k.ed, "k", "sig")))
	bundle := string(jwksJSON(t, jwk(k.ec, "s", "jwt-svid")))
	return `issuers:
  - name: github
    type: github-actions
    audiences: [aicred]
  - name: corp
    type: oidc
    issuer: https://idp.example
    audiences: [aicred]
  - name: k8s
    type: kubernetes
    issuer: https://k8s.example
    audiences: [aicred]
    jwks: '` + jwks + `'
  - name: spire
    type: spiffe
    trust_domain: example.org
    audiences: [aicred]
    jwks: '` + bundle + `'
roles:
  - name: r
    providers: [openai]
    credentials: [hc_1]
    models: ["*"]
    operations: [chat]
policies:
` + policies
}

func TestPolicyLoadTimeChecks(t *testing.T) {
	cases := []struct {
		name   string
		policy string
		want   string // substring of the error; "" accepted
	}{
		// GitHub Actions: the repository is the tenant.
		{"github repository", "{name: p, issuer: github, role: r, claims: {repository: acme/api}}", ""},
		{"github repository_id", "{name: p, issuer: github, role: r, claims: {repository_id: '123'}}", ""},
		{"github org glob", "{name: p, issuer: github, role: r, claims: {repository: {glob: 'acme/*'}}}", ""},
		{"github repos one_of", "{name: p, issuer: github, role: r, claims: {repository: [acme/api, acme/web]}}", ""},
		{"github sub only", "{name: p, issuer: github, role: r, claims: {sub: 'repo:acme/api:ref:refs/heads/main'}}", "no repository condition"},
		{"github owner only", "{name: p, issuer: github, role: r, claims: {repository_owner: acme}}", "no repository condition"},
		{"github repository *", "{name: p, issuer: github, role: r, claims: {repository: {glob: '*'}}}", "admits any value"},
		{"github repository owner prefix", "{name: p, issuer: github, role: r, claims: {repository: {glob: 'ac*'}}}", "OWNER/REPO"},
		{"github repository without owner", "{name: p, issuer: github, role: r, claims: {repository: api}}", "OWNER/REPO"},
		{"github repository_id glob", "{name: p, issuer: github, role: r, claims: {repository_id: {glob: '12*'}}}", "not a glob"},
		{"github repo:* sub", "{name: p, issuer: github, role: r, claims: {repository: acme/api, sub: {glob: 'repo:*'}}}", "admits any value"},
		{"github ? only", "{name: p, issuer: github, role: r, claims: {repository: acme/api, ref: {glob: '?*'}}}", "admits any value"},
		// Generic OIDC: sub.
		{"oidc sub", "{name: p, issuer: corp, role: r, claims: {sub: svc-1}}", ""},
		{"oidc sub glob", "{name: p, issuer: corp, role: r, claims: {sub: {glob: 'svc-*'}}}", ""},
		{"oidc no sub", "{name: p, issuer: corp, role: r, claims: {email: a@b.c}}", "no sub condition"},
		{"oidc sub *", "{name: p, issuer: corp, role: r, claims: {sub: {glob: '*'}}}", "admits any value"},
		{"oidc sub leading wildcard", "{name: p, issuer: corp, role: r, claims: {sub: {glob: '*-prod'}}}", "admits any value"},
		// Kubernetes: namespace + service account, or sub.
		{"k8s ns+sa", "{name: p, issuer: k8s, role: r, claims: {namespace: ml, service_account: trainer}}", ""},
		{"k8s sub", "{name: p, issuer: k8s, role: r, claims: {sub: 'system:serviceaccount:ml:trainer'}}", ""},
		{"k8s sub glob with name prefix", "{name: p, issuer: k8s, role: r, claims: {sub: {glob: 'system:serviceaccount:ml:train*'}}}", ""},
		{"k8s namespace only", "{name: p, issuer: k8s, role: r, claims: {namespace: ml}}", "pins no service account"},
		{"k8s sub glob whole namespace", "{name: p, issuer: k8s, role: r, claims: {sub: {glob: 'system:serviceaccount:ml:*'}}}", "does not pin"},
		{"k8s sub glob everything", "{name: p, issuer: k8s, role: r, claims: {sub: {glob: 'system:serviceaccount:*'}}}", "admits any value"},
		{"k8s sub malformed", "{name: p, issuer: k8s, role: r, claims: {sub: 'system:serviceaccount:ml'}}", "does not pin"},
		{"k8s service account *", "{name: p, issuer: k8s, role: r, claims: {namespace: ml, service_account: {glob: '*'}}}", "admits any value"},
		// SPIFFE: a workload of the trust domain.
		{"spiffe sub", "{name: p, issuer: spire, role: r, claims: {sub: 'spiffe://example.org/ns/ml/sa/x'}}", ""},
		{"spiffe sub glob", "{name: p, issuer: spire, role: r, claims: {sub: {glob: 'spiffe://example.org/ns/ml/*'}}}", ""},
		{"spiffe whole trust domain", "{name: p, issuer: spire, role: r, claims: {sub: {glob: 'spiffe://example.org/*'}}}", "does not pin"},
		{"spiffe other trust domain", "{name: p, issuer: spire, role: r, claims: {sub: 'spiffe://evil.org/x'}}", "does not pin"},
		{"spiffe no sub", "{name: p, issuer: spire, role: r, claims: {trust_domain: example.org}}", "no sub condition"},
		// Shape.
		{"no claims", "{name: p, issuer: corp, role: r}", "no claim conditions"},
		{"two kinds in one condition", "{name: p, issuer: corp, role: r, claims: {sub: {exact: a, glob: 'b*'}}}", "exactly one"},
		{"empty one_of", "{name: p, issuer: corp, role: r, claims: {sub: {one_of: []}}}", "one_of is empty"},
		{"empty value in one_of", "{name: p, issuer: corp, role: r, claims: {sub: [a, '']}}", "empty value"},
		{"unknown condition key", "{name: p, issuer: corp, role: r, claims: {sub: {regex: '.*'}}}", `unknown field "regex"`},
		{"unknown issuer", "{name: p, issuer: gitlab, role: r, claims: {sub: a}}", `no issuer named "gitlab"`},
		{"unknown role", "{name: p, issuer: corp, role: admin, claims: {sub: a}}", `no role named "admin"`},
		{"no name", "{issuer: corp, role: r, claims: {sub: a}}", "needs a name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := configWith(t, "  - "+c.policy+"\n")
			_, err := ParseConfig([]byte(doc))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatal("accepted")
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q, want %q", err, c.want)
			case c.want != "":
				if aicred.KindOf(err) != aicred.ErrInvalid {
					t.Errorf("kind %v", aicred.KindOf(err))
				}
				// The policy is the document's last line.
				if want := strings.Count(doc, "\n"); !strings.Contains(err.Error(), "line "+strconv.Itoa(want)+":") {
					t.Errorf("error names no policy line: %v", err)
				}
			}
		})
	}
}

func TestConfigLineNumbers(t *testing.T) {
	base := configWith(t, "  - {name: p, issuer: corp, role: r, claims: {sub: a}}\n")
	if _, err := ParseConfig([]byte(base)); err != nil {
		t.Fatal(err)
	}
	lineOfText := func(doc, needle string) int {
		for i, l := range strings.Split(doc, "\n") {
			if strings.Contains(l, needle) {
				return i + 1
			}
		}
		t.Fatalf("%q not in config", needle)
		return 0
	}
	cases := []struct {
		name, from, to, line, want string
	}{
		{"unknown top-level key", "roles:", "rolez:", "rolez:", `unknown field "rolez"`},
		{"unknown issuer key", "    audiences: [aicred]\n  - name: corp", "    audiences: [aicred]\n    audiance: x\n  - name: corp", "audiance:", `unknown field "audiance"`},
		{"unknown role key", "    operations: [chat]", "    operations: [chat]\n    budgets: {}", "budgets:", `unknown field "budgets"`},
		{"ttl too long", "    operations: [chat]", "    operations: [chat]\n    ttl: 2h", "ttl: 2h", "ttl 2h0m0s outside"},
		{"bad ttl type", "    operations: [chat]", "    operations: [chat]\n    ttl: soon", "ttl: soon", "soon"},
		{"unknown operation", "operations: [chat]", "operations: [chat, telepathy]", "telepathy", `unknown operation "telepathy"`},
		{"unknown provider", "providers: [openai]", "providers: [openai, skynet]", "skynet", `unknown provider "skynet"`},
		{"no credentials", "    credentials: [hc_1]\n", "", "- name: r", "names no held credential"},
		{"negative budget", "    operations: [chat]", "    operations: [chat]\n    budget: {per_token_usd: -1}", "budget:", "non-negative"},
		{"unknown issuer type", "type: oidc", "type: saml", "type: saml", `unknown type "saml"`},
		{"http issuer", "issuer: https://idp.example", "issuer: http://idp.example", "issuer: http://idp.example", "https URL"},
		{"no audiences", "    issuer: https://idp.example\n    audiences: [aicred]\n", "    issuer: https://idp.example\n", "- name: corp", "audiences are required"},
		{"leeway too large", "    issuer: https://idp.example\n", "    issuer: https://idp.example\n    leeway: 10m\n", "- name: corp", "leeway"},
		{"bad trust domain", "trust_domain: example.org", "trust_domain: Example.ORG", "- name: spire", "trust domain"},
		{"bad proof name", "name: corp", "name: Corp!", "name: Corp!", "proof name"},
		{"two key sources", "    issuer: https://k8s.example\n", "    issuer: https://k8s.example\n    jwks_file: /x\n", "- name: k8s", "at most one"},
		{"missing jwks file", "    issuer: https://idp.example\n", "    issuer: https://idp.example\n    jwks_file: /nonexistent/jwks.json\n", "jwks_file:", "nonexistent"},
		{"duplicate role", "policies:", "  - {name: r, providers: [openai], credentials: [a], models: [x], operations: [chat]}\npolicies:", "- {name: r, providers", `role "r" is defined twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(base, c.from, c.to, 1)
			if doc == base {
				t.Fatalf("%q not in config", c.from)
			}
			_, err := ParseConfig([]byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
			if want := lineOfText(doc, c.line); !strings.Contains(err.Error(), "line "+strconv.Itoa(want)+":") {
				t.Errorf("error %q does not name line %d", err, want)
			}
		})
	}
}

func TestConfigEmbedded(t *testing.T) {
	// A server config holding the broker's: the broker checks its part
	// and names lines of the whole file.
	inner := configWith(t, "  - {name: p, issuer: corp, role: r, claims: {sub: {glob: '*'}}}\n")
	doc := "listen: 127.0.0.1:8080\nbroker:\n" + indent(inner, "  ")
	var server struct {
		Listen string `yaml:"listen"`
		Broker Config `yaml:"broker"`
	}
	err := yaml.Unmarshal([]byte(doc), &server)
	if err == nil || !strings.Contains(err.Error(), "admits any value") {
		t.Fatalf("embedded config: %v", err)
	}
	want := strings.Count(doc[:strings.Index(doc, "{name: p")], "\n") + 1
	if !strings.Contains(err.Error(), "line "+strconv.Itoa(want)+":") {
		t.Errorf("error %q does not name line %d", err, want)
	}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestConfigJWKSFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle.json")
	k := fixtureKeys()
	if err := os.WriteFile(path, jwksJSON(t, jwk(k.ec, "s", "jwt-svid"), jwk(k.rsa, "x", "x509-svid")), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := `issuers:
  - {name: spire, type: spiffe, trust_domain: example.org, audiences: [aicred], jwks_file: ` + path + `}
roles:
  - {name: r, providers: [openai], credentials: [hc_1], models: ["*"], operations: [chat]}
policies:
  - {name: p, issuer: spire, role: r, claims: {sub: 'spiffe://example.org/w'}}
`
	c, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	x, err := c.Build(BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if x.proofs["spire"].Issuer() != "spiffe://example.org" {
		t.Errorf("issuer %q", x.proofs["spire"].Issuer())
	}
	// Routing is unambiguous: two proofs for one issuer are refused.
	dup := strings.Replace(doc, "issuers:\n", "issuers:\n  - {name: other, type: spiffe, trust_domain: example.org, audiences: [x], jwks_file: "+path+"}\n", 1)
	if _, err := ParseConfig([]byte(dup)); err == nil || !strings.Contains(err.Error(), "same issuer") {
		t.Errorf("duplicate issuer: %v", err)
	}
}
