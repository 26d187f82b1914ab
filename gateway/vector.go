package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aicred/aicred"
)

// Vector databases, scoped by index (Pinecone) or collection (Qdrant)
// name, read or write, by the role's Indexes.
//
// Pinecone has a control plane (api.pinecone.io: list, describe, create,
// configure and delete indexes), served under /pinecone/, and one
// data-plane host per index ("{index}-{project}.svc.{environment}.pinecone.io":
// upsert, query, fetch, delete, stats), served under
// /pinecone/index/{host}/. A data-plane host is forwarded to only when it
// is a Pinecone host (the suffix) and the gateway knows which index it
// serves: configured (gateway.pinecone_hosts) or named by a describe,
// list or create answer that came through the gateway (kept in the store
// as aicred.ObjectPineconeIndex); never an open proxy. The key goes in
// the Api-Key header, where the Pinecone SDKs send theirs (and the
// aicred token).
//
// Qdrant (/qdrant/collections/{name}/...) takes its key in the api-key
// header too. Listing answers (Pinecone's indexes, Qdrant's collections)
// are filtered to what the role may read.

const (
	pineconePrefix = "/pinecone"
	qdrantPrefix   = "/qdrant"
)

// pineconeHost is a data-plane host: lower-case labels under
// .svc.{environment}.pinecone.io.
var pineconeHost = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.svc\.[a-z0-9][a-z0-9.-]*\.pinecone\.io$`)

var pineconeHeaders = newHeaderPolicy([]string{"X-Pinecone-Api-Version"}, nil, nil)

func pineconeSurface(c MLStack) *surface {
	hosts := map[string]string{}
	for name, h := range c.PineconeHosts {
		hosts[strings.ToLower(h)] = name
	}
	return &surface{
		provider: "pinecone", upstream: "pinecone", writeError: mlError, requestID: "X-Request-Id",
		inject: func(out *http.Request, key *keyEntry, _ []byte) {
			out.Header.Set("Api-Key", key.key.Reveal())
		},
		headers: pineconeHeaders, bytes: true,
		resolve: func(x *exchange) error { return resolvePinecone(x, hosts) },
		answer:  pineconeAnswer,
	}
}

// pineconeData lists the data-plane calls: path -> method -> write.
var pineconeData = map[string]map[string]bool{
	"/vectors/upsert":       {http.MethodPost: true},
	"/vectors/update":       {http.MethodPost: true},
	"/vectors/delete":       {http.MethodPost: true},
	"/vectors/fetch":        {http.MethodGet: false},
	"/vectors/list":         {http.MethodGet: false},
	"/query":                {http.MethodPost: false},
	"/describe_index_stats": {http.MethodPost: false, http.MethodGet: false},
	"/namespaces":           {http.MethodGet: false},
}

func resolvePinecone(x *exchange, configured map[string]string) error {
	segs, err := pathSegments(x, pineconePrefix)
	if err != nil {
		return err
	}
	if len(segs) >= 2 && segs[0] == "index" {
		host := segs[1]
		if !pineconeHost.MatchString(host) {
			return mlDeny("not a Pinecone data-plane host: " + quoteModel(host))
		}
		name, ok := configured[host]
		if !ok {
			learned, known, err := x.learned(aicred.ObjectPineconeIndex, host)
			if err != nil {
				return err
			}
			if !known {
				return mlDeny("the host " + quoteModel(host) + " is not an index the gateway knows: describe the index through the gateway first")
			}
			name = learned
		}
		// The host names its index first, as Pinecone forms it.
		if !strings.HasPrefix(host, name+"-") {
			return mlDeny("the host " + quoteModel(host) + " does not serve index " + quoteModel(name))
		}
		path := joinPath(segs[2:]...)
		x.ml.host, x.ml.path = host, path
		methods, ok := pineconeData[path]
		if !ok {
			return mlNotFound(x)
		}
		write, ok := methods[x.r.Method]
		if !ok {
			return mlNotFound(x)
		}
		allowQuery(x, "ids", "namespace", "prefix", "limit", "paginationToken")
		return indexAllow(x, name, write)
	}
	// The control plane.
	x.ml.path = joinPath(segs...)
	switch {
	case len(segs) == 1 && segs[0] == "indexes" && x.r.Method == http.MethodGet:
		x.ml.resource = "*"
		return nil // the answer is filtered
	case len(segs) == 1 && segs[0] == "indexes" && x.r.Method == http.MethodPost:
		m, err := jsonBody(x, "name", "dimension", "metric", "spec", "deletion_protection", "tags", "vector_type")
		if err != nil {
			return err
		}
		name, err := jsonString(m, "name")
		if err != nil {
			return err
		}
		x.ml.index = name
		return indexAllow(x, name, true)
	case len(segs) == 2 && segs[0] == "indexes" && nameOK(segs[1]):
		x.ml.index = segs[1]
		switch x.r.Method {
		case http.MethodGet:
			return indexAllow(x, segs[1], false)
		case http.MethodPatch:
			if _, err := jsonBody(x, "spec", "deletion_protection", "tags", "embed"); err != nil {
				return err
			}
			return indexAllow(x, segs[1], true)
		case http.MethodDelete:
			return indexAllow(x, segs[1], true)
		}
	}
	return mlNotFound(x)
}

// pineconeAnswer learns the data-plane hosts of the indexes a describe,
// create or list answer names, and filters a list to the readable ones.
func pineconeAnswer(g *Gateway, x *exchange, resp *http.Response) error {
	if x.ml.host != "" {
		// A data-plane host's own paths: the client comes back through
		// the same host's mount.
		relativeRedirect(resp, pineconePrefix+"/index/"+x.ml.host)
		return nil
	}
	relativeRedirect(resp, pineconePrefix)
	if resp.StatusCode/100 != 2 {
		return nil
	}
	type index struct {
		Name string `json:"name"`
		Host string `json:"host"`
	}
	body, err := readAnswer(resp)
	if err != nil {
		return err
	}
	if x.ml.resource == "*" {
		var list struct {
			Indexes []json.RawMessage `json:"indexes"`
		}
		if json.Unmarshal(body, &list) != nil {
			return errObjects
		}
		kept := []json.RawMessage{}
		for _, raw := range list.Indexes {
			var ix index
			if json.Unmarshal(raw, &ix) != nil || !x.role.Index(ix.Name, false) {
				continue
			}
			if err := learnPinecone(g, x, ix.Name, ix.Host); err != nil {
				return err
			}
			kept = append(kept, raw)
		}
		out, _ := json.Marshal(map[string]any{"indexes": kept})
		replaceBody(resp, out)
		return nil
	}
	var ix index
	if json.Unmarshal(body, &ix) == nil && ix.Name == x.ml.index {
		return learnPinecone(g, x, ix.Name, ix.Host)
	}
	return nil
}

func learnPinecone(g *Gateway, x *exchange, name, host string) error {
	host = strings.ToLower(host)
	if !pineconeHost.MatchString(host) || !strings.HasPrefix(host, name+"-") {
		return nil
	}
	return g.learn(x, aicred.ObjectPineconeIndex, host, name)
}

var qdrantHeaders = newHeaderPolicy(nil, nil, nil)

func qdrantSurface(c MLStack) *surface {
	cred := c.QdrantCredential
	if cred == "" {
		cred = "qdrant"
	}
	return &surface{
		provider: cred, upstream: "qdrant", writeError: mlError, requestID: "X-Request-Id",
		inject: func(out *http.Request, key *keyEntry, _ []byte) {
			out.Header.Set("Api-Key", key.key.Reveal())
		},
		headers: qdrantHeaders, bytes: true, resolve: resolveQdrant, answer: qdrantAnswer,
	}
}

// qdrantReads are the point calls that only read.
var qdrantReads = []string{"search", "query", "recommend", "discover", "scroll", "count", "facet", "groups", "batch-read"}

func resolveQdrant(x *exchange) error {
	segs, err := pathSegments(x, qdrantPrefix)
	if err != nil {
		return err
	}
	x.ml.path = joinPath(segs...)
	allowQuery(x, "wait", "ordering", "timeout", "consistency")
	if len(segs) == 0 || segs[0] != "collections" {
		return mlNotFound(x)
	}
	if len(segs) == 1 {
		if x.r.Method != http.MethodGet {
			return mlNotFound(x)
		}
		x.ml.resource = "*"
		return nil // the answer is filtered
	}
	name := segs[1]
	if !nameOK(name) || name == "aliases" {
		return mlDeny("collection aliases are not served")
	}
	rest := segs[2:]
	m := x.r.Method
	switch {
	case len(rest) == 0:
		return indexAllow(x, name, m != http.MethodGet)
	case len(rest) == 1 && (rest[0] == "exists" || rest[0] == "aliases" || rest[0] == "cluster") && m == http.MethodGet:
		return indexAllow(x, name, false)
	case rest[0] == "index" && (m == http.MethodPut || m == http.MethodDelete):
		return indexAllow(x, name, true)
	case rest[0] == "points":
		write := true
		switch {
		case len(rest) == 1 && m == http.MethodPost: // retrieve by ids
			write = false
		case len(rest) == 1 && m == http.MethodPut: // upsert
		case len(rest) == 2 && m == http.MethodGet: // one point
			write = false
		case len(rest) >= 2 && m == http.MethodPost && slices.Contains(qdrantReads, rest[1]):
			write = false
		case m == http.MethodPost || m == http.MethodPut:
			// delete, payload, vectors, batch: writes
		default:
			return mlNotFound(x)
		}
		return indexAllow(x, name, write)
	}
	return mlNotFound(x)
}

// qdrantAnswer filters a collections listing to the readable ones.
func qdrantAnswer(_ *Gateway, x *exchange, resp *http.Response) error {
	relativeRedirect(resp, qdrantPrefix)
	if resp.StatusCode != http.StatusOK || x.ml.resource != "*" {
		return nil
	}
	body, err := readAnswer(resp)
	if err != nil {
		return err
	}
	var a map[string]json.RawMessage
	var r struct {
		Collections []json.RawMessage `json:"collections"`
	}
	if json.Unmarshal(body, &a) != nil || json.Unmarshal(a["result"], &r) != nil {
		return errObjects
	}
	kept := []json.RawMessage{}
	for _, raw := range r.Collections {
		var c struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &c) == nil && x.role.Index(c.Name, false) {
			kept = append(kept, raw)
		}
	}
	a["result"], _ = json.Marshal(map[string]any{"collections": kept})
	out, _ := json.Marshal(a)
	replaceBody(resp, out)
	return nil
}

func indexAllow(x *exchange, name string, write bool) error {
	x.ml.resource, x.ml.write = name, write
	if !x.role.Index(name, write) {
		what := "read"
		if write {
			what = "write"
		}
		return mlDeny("this token may not " + what + " index or collection " + quoteModel(name) + " (its role's indexes)")
	}
	return nil
}

// replaceBody hands the client b in place of the answer read.
func replaceBody(resp *http.Response, b []byte) {
	resp.Body = nopCloser(b)
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
}
