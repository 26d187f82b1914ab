package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/gateway"
)

// yamlKeys lists the YAML keys of t's fields, recursively, as dotted paths
// under prefix (lists and maps add no segment).
func yamlKeys(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() == "time" {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		out[key] = true
		yamlKeys(f.Type, key, out)
	}
}

// parsedKeys lists the string constants of the case clauses of fn in
// serve.go: the keys a hand-written parser (parseGatewayConfig,
// parseUnpriced) accepts.
func parsedKeys(t *testing.T, fn string) []string {
	t.Helper()
	var decls []ast.Decl
	for _, file := range []string{"serve.go", "policy.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		decls = append(decls, f.Decls...)
	}
	var keys []string
	for _, d := range decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn {
			continue
		}
		ast.Inspect(fd, func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
						s, _ := strconv.Unquote(bl.Value)
						keys = append(keys, s)
					}
				}
			}
			return true
		})
	}
	if len(keys) == 0 {
		t.Fatalf("no case keys in %s", fn)
	}
	return keys
}

// TestConfigurationReference: every key serve's configuration accepts is
// in docs/configuration.md, written as a `key`.
func TestConfigurationReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	keys := map[string]bool{}
	yamlKeys(reflect.TypeFor[serverConfig](), "", keys) // listen, tls.*, log.*, server.* ...
	for k := range serverKeys {
		keys[k] = true
	}
	for parent, nested := range nestedKeys {
		for k := range nested {
			keys[parent+"."+k] = true
		}
	}
	// The broker's entries are documented by their own key within the
	// issuers, roles and policies tables.
	broke := map[string]bool{}
	yamlKeys(reflect.TypeFor[broker.Config](), "", broke)
	for k := range broke {
		section, entry, nested := strings.Cut(k, ".")
		if !nested {
			keys[section] = true // issuers, roles, policies
			continue
		}
		// Within its section's table an entry's key is written without
		// the section (issuers.ca_file -> ca_file; roles.budget.per_token_usd
		// -> budget.per_token_usd), a claim condition under its claim;
		// a mapping is documented by its keys.
		if slices.ContainsFunc(slices.Collect(maps.Keys(broke)), func(o string) bool { return strings.HasPrefix(o, k+".") }) && entry != "claims" {
			continue
		}
		keys[strings.Replace(entry, "claims.", "claims.<claim>.", 1)] = true
	}
	keys["gateway"] = true
	for _, k := range parsedKeys(t, "parseGatewayConfig") {
		keys["gateway."+k] = true
	}
	for _, k := range parsedKeys(t, "parseUnpriced") {
		if k != "refuse" {
			keys["gateway.unpriced."+k] = true
		}
	}
	yamlKeys(reflect.TypeFor[gateway.DetectorConfig](), "gateway.anomaly", keys)
	keys["respond"] = true
	for fn, prefix := range map[string]string{"parseRespondConfig": "respond.", "parseRespondWebhook": "respond.webhook.", "parseRespondRule": "respond.rules."} {
		for _, k := range parsedKeys(t, fn) {
			keys[prefix+k] = true
		}
	}
	for _, want := range []string{"ca_file", "allow_insecure_http", "budget.per_token_usd", "claims.<claim>.one_of", "gateway.drain_timeout", "server.max_connections", "gateway.anomaly.webhook.secret_file"} {
		if !keys[want] {
			t.Errorf("the key walk missed %s", want)
		}
	}
	var missing []string
	for k := range keys {
		if !strings.Contains(doc, "`"+k+"`") {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("docs/configuration.md does not document: %s", strings.Join(missing, ", "))
	}
}

// modelLike finds model ids in prose and configurations: the families the
// gateway prices, followed by version parts. A glob (gpt-4o*) is not a
// model id.
var modelLike = regexp.MustCompile(`\b(?:gpt-[0-9][\w.-]*|o[134](?:-mini|-pro)?(?:-[0-9][\w.-]*)?|claude-[a-z0-9][\w.-]*|gemini-[0-9][\w.-]*|text-embedding-[\w.-]+|dall-e-[0-9]|whisper-1|tts-1(?:-hd)?|grok-[0-9][\w.-]*|deepseek-(?:chat|reasoner)|mistral-[a-z]+-[\w.-]+|llama-[0-9][\w.-]*)(\*?)`)

// TestDocumentedModelsPriced: a model named in the README, docs/ or
// examples/ is priced by the shipped table, so what the documentation
// shows is not refused by the gateway.
func TestDocumentedModelsPriced(t *testing.T) {
	priced := map[string]bool{}
	for _, p := range gateway.DefaultPrices().All() {
		priced[p.Model] = true
	}
	files := []string{filepath.Join(repoRoot, "README.md")}
	for _, dir := range []string{"docs", "examples"} {
		ents, err := os.ReadDir(filepath.Join(repoRoot, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				files = append(files, filepath.Join(repoRoot, dir, e.Name()))
			}
		}
	}
	seen := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range modelLike.FindAllStringSubmatch(string(data), -1) {
			id := strings.TrimRight(m[0], ".-")
			if m[1] == "*" || strings.HasSuffix(id, "*") {
				continue
			}
			seen++
			if !priced[id] {
				t.Errorf("%s names %s, which the shipped price table does not price", filepath.Base(f), id)
			}
		}
	}
	if seen == 0 {
		t.Fatal("found no model id at all: the pattern is broken")
	}
}

// TestNoReferenceOutsideRepo: nothing in the README, docs/ or examples/
// points outside the repository.
func TestNoReferenceOutsideRepo(t *testing.T) {
	for _, glob := range []string{"README.md", "docs/*", "examples/*", "deploy/kubernetes/*", "Dockerfile"} {
		files, _ := filepath.Glob(filepath.Join(repoRoot, glob))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.IsDir() {
				continue // docs/img: the README's images
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "../shared") {
				t.Errorf("%s refers to ../shared, outside the repository", f)
			}
		}
	}
}

// TestReadmeLinks: every relative link of the README names a file that
// exists (docs/security-model.md is written separately and may lag).
func TestReadmeLinks(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	if n := strings.Count(readme, "\n"); n > 210 {
		t.Errorf("README.md has %d lines; the front door stays near 200", n)
	}
	for _, want := range []string{"go run ./cmd/aicred scan .", "go test ./...", "docs/security-model.md"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not show %q", want)
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(readme, -1) {
		if m[1] == "docs/security-model.md" {
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
			t.Errorf("README.md links to %s: %v", m[1], err)
		}
	}
}
