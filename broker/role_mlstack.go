package broker

import (
	"net/http"
	"slices"
	"strings"
)

// Operations of the ML stack surfaces of the gateway: model registries
// (the Hugging Face Hub), experiment tracking (MLflow, Weights & Biases),
// vector databases (Pinecone, Qdrant) and upstreams of kind http. Which
// repository, experiment, index or path a token reaches is the role's
// Repositories, Experiments, Indexes and HTTP; these name the class of
// call, as the model operations do.
const (
	OpRegistry Operation = "registry"
	OpTracking Operation = "tracking"
	OpVectors  Operation = "vectors"
	OpHTTP     Operation = "http"
)

// MLOperations returns the ML stack operations in canonical order (after
// Operations()).
func MLOperations() []Operation { return []Operation{OpRegistry, OpTracking, OpVectors, OpHTTP} }

// opRank orders operations: Operations() first, then MLOperations().
func opRank(o Operation) int {
	if i := slices.Index(Operations(), o); i >= 0 {
		return i
	}
	if i := slices.Index(MLOperations(), o); i >= 0 {
		return len(Operations()) + i
	}
	return len(Operations()) + len(MLOperations())
}

// Access levels of a resource grant. Write includes read.
const (
	AccessRead  = "read"
	AccessWrite = "write"
)

// A ResourceGrant lets a role's tokens reach the resources whose name
// matches a glob ('*' matches any run, '/' included: "acme/*"), to read
// only or to read and write.
type ResourceGrant struct {
	Name   string `yaml:"name" json:"name"`
	Access string `yaml:"access" json:"access"`

	glob *glob
}

// An HTTPGrant lets a role's tokens call an upstream of kind http (by
// its name in gateway.http_upstreams) with the listed methods on paths
// matching one of the globs (relative to the upstream's base URL, with a
// leading '/').
type HTTPGrant struct {
	Upstream string   `yaml:"upstream" json:"upstream"`
	Methods  []string `yaml:"methods" json:"methods"`
	Paths    []string `yaml:"paths" json:"paths"`

	paths []*glob
}

// Repository reports whether the role may reach the model registry
// repository name ("org/model", a dataset as "datasets/org/name", a space
// as "spaces/org/name"), for writing when write is set.
func (r *Role) Repository(name string, write bool) bool {
	return grantsAllow(r.Repositories, name, write)
}

// Experiment reports whether the role may reach the experiment: an MLflow
// experiment name, or a Weights & Biases "entity/project".
func (r *Role) Experiment(name string, write bool) bool {
	return grantsAllow(r.Experiments, name, write)
}

// Index reports whether the role may reach the vector index (Pinecone) or
// collection (Qdrant) name.
func (r *Role) Index(name string, write bool) bool {
	return grantsAllow(r.Indexes, name, write)
}

// HTTPAllowed reports whether the role may send method to path on the
// http upstream named upstream.
func (r *Role) HTTPAllowed(upstream, method, path string) bool {
	for i := range r.HTTP {
		h := &r.HTTP[i]
		if h.Upstream != upstream || !slices.ContainsFunc(h.Methods, func(m string) bool { return strings.EqualFold(m, method) }) {
			continue
		}
		for j, p := range h.Paths {
			if h.paths != nil && h.paths[j].Match(path) || h.paths == nil && MatchGlob(p, path) {
				return true
			}
		}
	}
	return false
}

func grantsAllow(gs []ResourceGrant, name string, write bool) bool {
	if name == "" {
		return false
	}
	for i := range gs {
		g := &gs[i]
		if write && g.Access != AccessWrite {
			continue
		}
		if g.glob != nil && g.glob.Match(name) || g.glob == nil && MatchGlob(g.Name, name) {
			return true
		}
	}
	return false
}

// compileMLStack checks the role's ML stack grants.
func (r *Role) compileMLStack() error {
	for _, l := range []struct {
		key string
		gs  []ResourceGrant
	}{{"repositories", r.Repositories}, {"experiments", r.Experiments}, {"indexes", r.Indexes}} {
		for i := range l.gs {
			g := &l.gs[i]
			if g.Access == "" {
				g.Access = AccessRead
			}
			if g.Access != AccessRead && g.Access != AccessWrite {
				return fieldErrorf([]any{l.key, i, "access"}, "role %q: access %q (want %s or %s)", r.Name, g.Access, AccessRead, AccessWrite)
			}
			c, err := compileGlob(g.Name)
			if err != nil {
				return &fieldError{path: []any{l.key, i, "name"}, err: err}
			}
			g.glob = c
		}
	}
	for i := range r.HTTP {
		h := &r.HTTP[i]
		if h.Upstream == "" {
			return fieldErrorf([]any{"http", i, "upstream"}, "role %q: an http grant names its upstream", r.Name)
		}
		if len(h.Methods) == 0 || len(h.Paths) == 0 {
			return fieldErrorf([]any{"http", i}, "role %q: http grant for %q needs methods and paths", r.Name, h.Upstream)
		}
		for j, m := range h.Methods {
			switch strings.ToUpper(m) {
			case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			default:
				return fieldErrorf([]any{"http", i, "methods", j}, "role %q: method %q (want GET, HEAD, POST, PUT, PATCH or DELETE)", r.Name, m)
			}
		}
		h.paths = make([]*glob, len(h.Paths))
		for j, p := range h.Paths {
			if !strings.HasPrefix(p, "/") {
				return fieldErrorf([]any{"http", i, "paths", j}, "role %q: path glob %q must start with /", r.Name, p)
			}
			c, err := compileGlob(p)
			if err != nil {
				return &fieldError{path: []any{"http", i, "paths", j}, err: err}
			}
			h.paths[j] = c
		}
	}
	return nil
}
