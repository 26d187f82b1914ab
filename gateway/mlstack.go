package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// The ML stack surfaces (hub.go, mlflow.go, wandb.go, vector.go,
// httptool.go) are gateway surfaces like the model APIs: each says how
// its credential is injected, which part of the request names the
// resource the role's scope is checked on, and how usage is counted. They
// share one shape: every method on "/{prefix}/{rest...}", a resolve step
// (the resolveResource stage) that parses the path (and, for the calls
// that name their resource in the body, the JSON body), refuses what the
// role does not allow before anything goes upstream, allow-lists the
// query parameters and body fields it forwards and sets the upstream
// URL. Usage is one record per request with the bytes sent and received
// (aicred.UnitByte) at cost 0. The answer goes through the same scrubber
// as every other, and redirects are passed on, never followed.

// MLStack configures the ML stack surfaces.
type MLStack struct {
	// MLflowCredential is the catalog provider whose held credential the
	// MLflow surface sends as a Bearer token (default "databricks": the
	// managed MLflow tracking server takes a Databricks token).
	MLflowCredential string
	// QdrantCredential is the catalog provider whose held credential the
	// Qdrant surface sends in the api-key header (default "qdrant", which
	// no catalog kind has yet: set it to the provider the key is held
	// under).
	QdrantCredential string
	// PineconeHosts maps index names to their data-plane hosts, for
	// indexes whose host is known ahead; the hosts that describe, list and
	// create answers name through the gateway are learned as well.
	PineconeHosts map[string]string
	// HTTP are the upstreams of kind http, served under /http/{name}/.
	HTTP []HTTPUpstream
}

// mlRequest is what an ML stack surface resolved from one request.
type mlRequest struct {
	// path is the upstream path, escaped, relative to the base URL.
	path string
	// host, when set, replaces the base URL's host (Pinecone's
	// per-index data plane, always https).
	host string
	// resource is what the role was checked on (repository, experiment,
	// index, collection, "upstream path"); recorded as the usage's model.
	resource string
	write    bool
	// experiment is the MLflow experiment id a runs/create names, and
	// index the Pinecone index a control-plane call names: the answer
	// handlers record what they learn under them.
	experiment string
	index      string
	objects    aicred.GatewayObjectService
}

// learn records what an answer taught (an id and the name it stands for);
// the same id learned again keeps its first record.
func (g *Gateway) learn(x *exchange, kind, id, purpose string) error {
	if id == "" || g.objects == nil {
		return nil
	}
	o := aicred.GatewayObject{Provider: x.route.surface.provider, Kind: kind, ID: id, Purpose: purpose,
		TokenID: x.grant.ID, Workload: x.workload(), Role: x.grant.Role}
	err := g.objects.RecordGatewayObject(context.WithoutCancel(x.r.Context()), o)
	if err != nil && aicred.KindOf(err) != aicred.ErrConflict {
		g.log.Error("gateway: ML stack object not recorded", "token", x.grant.ID, "kind", kind, "err", err)
		return errObjects
	}
	return nil
}

// learned returns what was learned about id ("" and false when nothing).
func (x *exchange) learned(kind, id string) (string, bool, error) {
	if id == "" || x.ml.objects == nil {
		return "", false, nil
	}
	o, err := x.ml.objects.GetGatewayObject(x.r.Context(), x.route.surface.provider, kind, id)
	switch {
	case aicred.KindOf(err) == aicred.ErrNotFound:
		return "", false, nil
	case err != nil:
		return "", false, aicred.Errorf(aicred.ErrUnavailable, "gateway objects: %v", err)
	}
	return o.Purpose, true, nil
}

// readAnswer reads a successful JSON answer whole (bounded) and puts it
// back for the client.
func readAnswer(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxObjectAnswer+1))
	_ = resp.Body.Close()
	if err != nil || len(body) > maxObjectAnswer {
		return nil, errObjects
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// anyMethod is a surface's routes: every method the ML stack APIs use on
// any path under the mount. The surface's resolve tells the calls apart.
func anyMethod(op broker.Operation) []route {
	var rs []route
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		rs = append(rs, route{method: m, path: "/{rest...}", operation: op, body: bodyAny, free: true})
	}
	return rs
}

// resolveResource runs an ML stack surface's resolve: after the token,
// role, headers and body were read and before any key is opened or
// anything reserved.
type resolveResource struct {
	upstreams map[string]*url.URL
	objects   aicred.GatewayObjectService
}

func (s resolveResource) serve(x *exchange) error {
	sf := x.route.surface
	if sf.resolve == nil {
		return nil
	}
	if x.role == nil {
		// Fail closed: these surfaces are scoped by the role's grants.
		return refuse(http.StatusForbidden, "permission_error", "no_role",
			"aicred gateway: the token's role is not configured here, so no repository, experiment, index or path is allowed")
	}
	x.query = ""
	x.ml.objects = s.objects
	if err := sf.resolve(x); err != nil {
		return err
	}
	x.facts.Model = x.ml.resource
	base := s.upstreams[sf.base()]
	t := &url.URL{Scheme: base.Scheme, Host: base.Host}
	if x.ml.host != "" {
		t.Scheme, t.Host = "https", x.ml.host
	}
	t.RawPath = base.EscapedPath() + x.ml.path
	p, err := url.PathUnescape(t.RawPath)
	if err != nil {
		return refuse(http.StatusBadRequest, "invalid_request_error", "invalid_path", "aicred gateway: malformed path")
	}
	t.Path = p
	x.target = t
	return nil
}

func mlDeny(msg string) error {
	return refuse(http.StatusForbidden, "permission_error", "forbidden", "aicred gateway: "+msg)
}

func mlNotFound(x *exchange) error {
	return refuse(http.StatusNotFound, "not_found_error", "unknown_route",
		"aicred gateway: no such route: "+x.r.Method+" "+quoteModel(x.r.URL.Path))
}

func mlBad(code, msg string) error {
	return refuse(http.StatusBadRequest, "invalid_request_error", code, "aicred gateway: "+msg)
}

// pathSegments returns the request path after prefix, split into
// segments and unescaped one by one (so an escaped '/' stays inside its
// segment). Empty, "." and ".." segments, control bytes and backslashes
// are refused: an upstream could read them otherwise than the gateway.
func pathSegments(x *exchange, prefix string) ([]string, error) {
	rest, ok := strings.CutPrefix(x.r.URL.EscapedPath(), prefix+"/")
	if !ok {
		return nil, mlNotFound(x)
	}
	if rest == "" {
		return nil, nil
	}
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil || !segmentOK(v) {
			return nil, mlBad("invalid_path", "invalid path segment")
		}
		parts[i] = v
	}
	return parts, nil
}

// segmentOK reports whether v may be one path segment as read: not
// empty, not a dot segment, no control byte or backslash.
func segmentOK(v string) bool {
	if v == "" {
		return false
	}
	// An escaped '/' may be decoded upstream: no part may climb.
	for part := range strings.SplitSeq(v, "/") {
		if part == "." || part == ".." {
			return false
		}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// joinPath escapes each segment and joins them: an absolute escaped path.
func joinPath(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(escapeSegment(s))
	}
	return b.String()
}

// nameOK: a repository, experiment, index or collection name part holds
// no '/' and no byte that reads otherwise elsewhere.
func nameOK(v string) bool { return segmentOK(v) && !strings.ContainsAny(v, "/?#%*") }

// allowQuery forwards the request's query parameters named in allowed.
func allowQuery(x *exchange, allowed ...string) {
	q, err := url.ParseQuery(x.r.URL.RawQuery)
	if err != nil {
		return // readBody refused it already
	}
	for k := range q {
		if !slices.Contains(allowed, k) {
			delete(q, k)
		}
	}
	x.query = q.Encode()
}

// jsonBody reads the body as one JSON object whose keys are all in
// allowed: a key repeated, a look-alike of an allowed one (case, '_', '-')
// or an unknown one is refused, naming the key and never a value.
func jsonBody(x *exchange, allowed ...string) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	b := x.body
	if !json.Valid(b) {
		return nil, mlBad("invalid_json", "request body is not valid JSON")
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, mlBad("invalid_json", "request body is not a JSON object")
	}
	_, err := members(b, i, func(key string, vs, ve int) error {
		if _, dup := m[key]; dup {
			return mlBad("invalid_json", "request body repeats the key "+quoteModel(key))
		}
		if !slices.Contains(allowed, key) {
			for _, a := range allowed {
				if fold(a) == fold(key) {
					return mlBad("ambiguous_field", "the field "+quoteModel(key)+" is a look-alike of "+strconv.Quote(a)+"; send the documented spelling")
				}
			}
			return refuse(http.StatusForbidden, "permission_error", "field_not_allowed",
				"aicred gateway: the field "+quoteModel(key)+" is not one the gateway forwards for this call")
		}
		m[key] = json.RawMessage(b[vs:ve])
		return nil
	})
	if err != nil {
		var rf *refusal
		if errors.As(err, &rf) {
			return nil, err
		}
		return nil, mlBad("invalid_json", err.Error())
	}
	return m, nil
}

// jsonString reads m[key] as a JSON string ("" when absent or null); a
// value of another type is refused.
func jsonString(m map[string]json.RawMessage, key string) (string, error) {
	v, ok := m[key]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", mlBad("invalid_json", "the field "+strconv.Quote(key)+" must be a string")
	}
	return s, nil
}

// jsonStrings reads m[key] as a list of strings.
func jsonStrings(m map[string]json.RawMessage, key string) ([]string, error) {
	v, ok := m[key]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	var s []string
	if json.Unmarshal(v, &s) != nil {
		return nil, mlBad("invalid_json", "the field "+strconv.Quote(key)+" must be a list of strings")
	}
	return s, nil
}

// relativeRedirect keeps a redirect relative to the upstream's root
// within the mount: "/x" becomes "{prefix}/x", so the client comes back
// through the gateway. An absolute one (a content host) passes as it is;
// the client follows it with no credential of the gateway's.
func relativeRedirect(resp *http.Response, prefix string) {
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		resp.Header.Set("Location", prefix+loc)
	}
}

// mlError writes an ML stack error as {"error": message, "error_code":
// code}: the shape the Hub, MLflow (error_code, message) and the vector
// databases' clients read well enough to show.
func mlError(w http.ResponseWriter, status int, _, code, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg, "error_code": code, "message": msg})
	writeJSON(w, status, append(b, '\n'))
}

// MLDefaultUpstreams are the public base URLs of the ML stack surfaces
// that have one, keyed as Config.Upstreams keys them. MLflow and Qdrant
// are self-hosted (or per account): served only when configured.
func MLDefaultUpstreams() map[string]string {
	return map[string]string{
		"huggingface-hub": "https://huggingface.co",
		"wandb":           "https://api.wandb.ai",
		"pinecone":        "https://api.pinecone.io",
	}
}

// MLUpstreamIDs are the Config.Upstreams keys of the ML stack surfaces;
// "huggingface-hub", "mlflow" and "qdrant" are not catalog provider ids.
func MLUpstreamIDs() []string {
	return []string{"huggingface-hub", "mlflow", "wandb", "pinecone", "qdrant"}
}

// ValidPineconeHost reports whether host is a Pinecone data-plane host
// serving index name.
func ValidPineconeHost(name, host string) bool {
	return pineconeHost.MatchString(host) && strings.HasPrefix(host, name+"-")
}
