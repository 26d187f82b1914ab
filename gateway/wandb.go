package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/aicred/aicred"
)

// Weights & Biases, as the wandb SDK speaks to it with WANDB_BASE_URL
// pointing at "{gateway}/wandb" and the aicred token as WANDB_API_KEY:
// one GraphQL endpoint (POST /graphql) with the key as the HTTP Basic
// password of user "api", which is also how the held key is sent.
//
// The GraphQL document is parsed (github.com/vektah/gqlparser, the parser
// gqlgen servers use) and every root field of every operation in it must
// be allow-listed: the reads and writes a run, its files and its
// artifacts need, each scoped by the "entity/project" its arguments name
// (literal or through variables), checked against the role's Experiments.
// Artifacts are created with an entity and project and later named by id
// only: the ids the createArtifact answers carry are learned
// (aicred.ObjectWandbArtifact) and scope the later calls. A document with
// anything else (subscriptions, fragments at the root, unknown root
// fields, a name the arguments do not give) is refused before it reaches
// W&B. The upload URLs the answers carry (createRunFiles, url(upload:
// true)) are signed URLs of the storage host: the client uploads there
// directly and the gateway never sends its key there.

const wandbPrefix = "/wandb"

var wandbHeaders = newHeaderPolicy([]string{"X-Wandb-Username", "X-Wandb-User-Email"}, nil, nil)

func wandbSurface() *surface {
	return &surface{
		provider: "wandb", upstream: "wandb", writeError: mlError, requestID: "X-Request-Id",
		inject: func(out *http.Request, key *keyEntry, _ []byte) {
			out.SetBasicAuth("api", key.key.Reveal())
		},
		basicUser: "api", headers: wandbHeaders, bytes: true, resolve: resolveWandb, answer: wandbAnswer,
	}
}

// wandbField is how one allow-listed root field is scoped: where its
// entity and project are (an input object's members or the field's own
// arguments), or the artifact ids it names, and whether it writes.
type wandbField struct {
	mutation bool
	// input: the entity and project are members of the "input" argument.
	input            bool
	entity, project  string
	write            bool
	artifactIDFields []string // input members naming learned artifacts
	none             bool     // no resource: identity, server info, schema
}

var wandbFields = map[string]wandbField{
	"viewer":     {none: true},
	"serverInfo": {none: true},
	"__type":     {none: true},
	"__schema":   {none: true},
	"__typename": {none: true},
	"project":    {entity: "entityName", project: "name"},
	"model":      {entity: "entityName", project: "name"},

	"upsertBucket":           {mutation: true, input: true, entity: "entityName", project: "modelName", write: true},
	"upsertModel":            {mutation: true, input: true, entity: "entityName", project: "name", write: true},
	"createRunFiles":         {mutation: true, input: true, entity: "entityName", project: "projectName", write: true},
	"createArtifact":         {mutation: true, input: true, entity: "entityName", project: "projectName", write: true},
	"useArtifact":            {mutation: true, input: true, entity: "entityName", project: "projectName", write: true, artifactIDFields: []string{"artifactID"}},
	"createArtifactManifest": {mutation: true, input: true, entity: "entityName", project: "projectName", write: true, artifactIDFields: []string{"artifactID", "baseArtifactID"}},
	"commitArtifact":         {mutation: true, input: true, write: true, artifactIDFields: []string{"artifactID"}},
}

// maxGraphQLTokens bounds the parse.
const maxGraphQLTokens = 20000

func resolveWandb(x *exchange) error {
	segs, err := pathSegments(x, wandbPrefix)
	if err != nil {
		return err
	}
	if len(segs) != 1 || segs[0] != "graphql" || x.r.Method != http.MethodPost {
		return mlNotFound(x)
	}
	x.ml.path = "/graphql"
	m, err := jsonBody(x, "query", "variables", "operationName")
	if err != nil {
		return err
	}
	q, err := jsonString(m, "query")
	if err != nil {
		return err
	}
	vars := map[string]any{}
	if v, ok := m["variables"]; ok && string(v) != "null" {
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if d.Decode(&vars) != nil {
			return mlBad("invalid_json", `"variables" must be an object`)
		}
	}
	doc, perr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, maxGraphQLTokens)
	if perr != nil || doc == nil || len(doc.Operations) == 0 {
		return mlBad("invalid_graphql", "the query is not a GraphQL document the gateway can read")
	}
	upload := hasUploadArg(doc)
	var names []string
	for _, op := range doc.Operations {
		if op.Operation != ast.Query && op.Operation != ast.Mutation {
			return mlDeny("only GraphQL queries and mutations are served")
		}
		for _, sel := range op.SelectionSet {
			f, ok := sel.(*ast.Field)
			if !ok {
				return mlDeny("fragments at the root of an operation are not served")
			}
			spec, ok := wandbFields[f.Name]
			if !ok || spec.mutation != (op.Operation == ast.Mutation) {
				return mlDeny("the GraphQL field " + quoteModel(f.Name) + " is not one the gateway serves")
			}
			name, err := wandbScope(x, f, spec, vars, upload)
			if err != nil {
				return err
			}
			if name != "" && !containsString(names, name) {
				names = append(names, name)
			}
		}
	}
	x.ml.resource = strings.Join(names, " ")
	// Only a lone createArtifact, unaliased, teaches an artifact id: an
	// alias could make another field's answer look like one.
	if len(doc.Operations) == 1 && len(doc.Operations[0].SelectionSet) == 1 && len(names) == 1 {
		if f := doc.Operations[0].SelectionSet[0].(*ast.Field); f.Name == "createArtifact" && (f.Alias == "" || f.Alias == f.Name) {
			x.ml.experiment = "createArtifact"
		}
	}
	return nil
}

// hasUploadArg reports whether any field asks for an upload URL
// (url(upload: true)): such a read hands out a way to write.
func hasUploadArg(doc *ast.QueryDocument) bool {
	var walk func(ss ast.SelectionSet) bool
	walk = func(ss ast.SelectionSet) bool {
		for _, s := range ss {
			switch v := s.(type) {
			case *ast.Field:
				if v.Arguments.ForName("upload") != nil || walk(v.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if walk(v.SelectionSet) {
					return true
				}
			}
		}
		return false
	}
	for _, op := range doc.Operations {
		if walk(op.SelectionSet) {
			return true
		}
	}
	for _, fr := range doc.Fragments {
		if walk(fr.SelectionSet) {
			return true
		}
	}
	return false
}

// wandbScope checks one root field; it returns the "entity/project" it
// reaches ("" for none).
func wandbScope(x *exchange, f *ast.Field, spec wandbField, vars map[string]any, upload bool) (string, error) {
	if spec.none {
		return "", nil
	}
	args := map[string]any{}
	for _, a := range f.Arguments {
		if _, dup := args[a.Name]; dup || duplicateMembers(a.Value) {
			return "", mlBad("invalid_graphql", "an argument is given twice")
		}
		v, err := a.Value.Value(vars)
		if err != nil {
			return "", mlBad("invalid_graphql", "an argument cannot be read")
		}
		args[a.Name] = v
	}
	src := args
	if spec.input {
		in, ok := args["input"].(map[string]any)
		if !ok {
			return "", mlBad("invalid_graphql", "the field "+quoteModel(f.Name)+" needs its input object")
		}
		src = in
	}
	write := spec.write || upload
	var target string
	if spec.entity != "" {
		e, _ := src[spec.entity].(string)
		p, _ := src[spec.project].(string)
		if !nameOK(e) || !nameOK(p) {
			return "", mlDeny("the GraphQL field " + quoteModel(f.Name) + " must name its entity and project (set WANDB_ENTITY and WANDB_PROJECT)")
		}
		target = e + "/" + p
		if err := experimentAllow(x, target, write); err != nil {
			return "", err
		}
	}
	for _, k := range spec.artifactIDFields {
		id, present := src[k]
		if !present || id == nil {
			continue
		}
		s, ok := id.(string)
		if !ok {
			return "", mlBad("invalid_graphql", "an artifact id must be a string")
		}
		proj, known, err := x.learned(aicred.ObjectWandbArtifact, s)
		if err != nil {
			return "", err
		}
		if !known {
			return "", mlDeny("artifact " + quoteModel(s) + " was not created through the gateway, so its project is not known here")
		}
		if err := experimentAllow(x, proj, write); err != nil {
			return "", err
		}
		if target == "" {
			target = proj
		}
	}
	if target == "" {
		return "", mlDeny("the GraphQL field " + quoteModel(f.Name) + " names no project the gateway can check")
	}
	return target, nil
}

// duplicateMembers reports whether an input object literal repeats a
// member, at any depth: readers disagree on which one counts.
func duplicateMembers(v *ast.Value) bool {
	if v == nil {
		return false
	}
	seen := map[string]bool{}
	for _, c := range v.Children {
		if v.Kind == ast.ObjectValue {
			if seen[c.Name] {
				return true
			}
			seen[c.Name] = true
		}
		if duplicateMembers(c.Value) {
			return true
		}
	}
	return false
}

// wandbAnswer learns the ids of artifacts created through the gateway.
func wandbAnswer(g *Gateway, x *exchange, resp *http.Response) error {
	relativeRedirect(resp, wandbPrefix)
	if resp.StatusCode != http.StatusOK || x.ml.experiment != "createArtifact" {
		return nil
	}
	body, err := readAnswer(resp)
	if err != nil {
		return err
	}
	var a struct {
		Data struct {
			CreateArtifact *struct {
				Artifact struct {
					ID string `json:"id"`
				} `json:"artifact"`
			} `json:"createArtifact"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &a) != nil || a.Data.CreateArtifact == nil {
		return nil
	}
	return g.learn(x, aicred.ObjectWandbArtifact, a.Data.CreateArtifact.Artifact.ID, x.ml.resource)
}
