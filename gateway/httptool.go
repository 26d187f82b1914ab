package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aicred/aicred/broker"
)

// Upstreams of kind http: any other HTTP tool, served under
// /http/{name}/. The role's HTTP grants list, per upstream, the methods
// and path globs its tokens may call; anything else is refused before it
// reaches the tool. The held credential is injected as the upstream says
// (a Bearer token, a named header, HTTP Basic with a user name, or a
// query parameter). No query parameter of the client's is forwarded but
// those the upstream lists. Usage is recorded as requests and bytes.

// An HTTPUpstream is one tool reached through the gateway.
type HTTPUpstream struct {
	// Name is the path segment under /http/ and what roles name.
	Name string
	// BaseURL is where requests go: {BaseURL}{path after /http/{name}}.
	BaseURL string
	// Credential is the catalog provider whose held credential is
	// injected; tokens must carry "provider:{Credential}".
	Credential string
	// Inject says how: exactly one of Bearer, Header, Basic, Query.
	Inject HTTPInject
	// Query lists the query parameters forwarded (none by default).
	Query []string
}

// HTTPInject is how an http upstream takes its key.
type HTTPInject struct {
	Bearer bool   // Authorization: Bearer KEY
	Header string // NAME: KEY
	Basic  string // Authorization: Basic USER:KEY
	Query  string // ?NAME=KEY
}

var httpName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks an upstream's configuration.
func (u HTTPUpstream) Validate() error {
	if !httpName.MatchString(u.Name) {
		return fmt.Errorf("http upstream %q: a name is lower-case letters, digits, '-' and '_'", u.Name)
	}
	b, err := url.Parse(u.BaseURL)
	switch {
	case err != nil || (b.Scheme != "http" && b.Scheme != "https") || b.Host == "":
		return fmt.Errorf("http upstream %s: base_url must be an absolute http(s) URL", u.Name)
	case b.User != nil || b.RawQuery != "" || b.Fragment != "":
		return fmt.Errorf("http upstream %s: base_url must carry no user information, query or fragment", u.Name)
	case u.Credential == "":
		return fmt.Errorf("http upstream %s: credential names the provider of the held credential", u.Name)
	}
	n := 0
	for _, set := range []bool{u.Inject.Bearer, u.Inject.Header != "", u.Inject.Basic != "", u.Inject.Query != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("http upstream %s: inject exactly one of bearer, header, basic or query", u.Name)
	}
	if h := u.Inject.Header; h != "" && !headerToken(h) {
		return fmt.Errorf("http upstream %s: inject.header is not a header name", u.Name)
	}
	if strings.Contains(u.Inject.Basic, ":") {
		return fmt.Errorf("http upstream %s: inject.basic is a user name without ':'", u.Name)
	}
	return nil
}

func headerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// mount is one entry of New's mounts table.
type mount = struct {
	prefix, upstream string
	surface          *surface
	routes           []route
}

// httpUpstreamMounts validates the upstreams and returns their mounts;
// their base URLs are keyed "http:{name}" in the gateway's upstreams.
func httpUpstreamMounts(g *Gateway, ups []HTTPUpstream) ([]mount, error) {
	var out []mount
	seen := map[string]bool{}
	for _, u := range ups {
		if err := u.Validate(); err != nil {
			return nil, errors.New("gateway: " + err.Error())
		}
		if seen[u.Name] {
			return nil, errors.New("gateway: http upstream " + u.Name + " is configured twice")
		}
		seen[u.Name] = true
		b, _ := url.Parse(u.BaseURL)
		b.Path = strings.TrimSuffix(b.Path, "/")
		b.RawPath = ""
		g.upstreams["http:"+u.Name] = b
		out = append(out, mount{"/http/" + u.Name, "", httpSurface(u), anyMethod(broker.OpHTTP)})
	}
	return out, nil
}

func httpSurface(u HTTPUpstream) *surface {
	prefix := "/http/" + u.Name
	in := u.Inject
	inject := func(out *http.Request, key *keyEntry, _ []byte) {
		switch {
		case in.Bearer:
			out.Header.Set("Authorization", "Bearer "+key.key.Reveal())
		case in.Header != "":
			out.Header.Set(in.Header, key.key.Reveal())
		case in.Basic != "":
			out.SetBasicAuth(in.Basic, key.key.Reveal())
		case in.Query != "":
			q := out.URL.Query()
			q.Set(in.Query, key.key.Reveal())
			out.URL.RawQuery = q.Encode()
		}
	}
	// The key's query parameter is the gateway's to set, never the client's.
	query := without(u.Query, in.Query)
	return &surface{
		provider: u.Credential, upstream: "http:" + u.Name, inject: inject, writeError: mlError,
		requestID: "X-Request-Id", headers: newHeaderPolicy(nil, nil, nil), bytes: true,
		resolve: func(x *exchange) error {
			segs, err := pathSegments(x, prefix)
			if err != nil {
				return err
			}
			path := joinPath(segs...)
			if path == "" {
				path = "/"
			}
			x.ml.path = path
			x.ml.resource = u.Name + " " + x.r.Method + " " + path
			allowQuery(x, query...)
			// Globs see the path as the segments read, '/'-joined.
			if !x.role.HTTPAllowed(u.Name, x.r.Method, "/"+strings.Join(segs, "/")) {
				return mlDeny("this token may not " + x.r.Method + " " + quoteModel(path) + " on " + u.Name + " (its role's http grants)")
			}
			return nil
		},
		answer: func(_ *Gateway, _ *exchange, resp *http.Response) error {
			relativeRedirect(resp, prefix)
			return nil
		},
	}
}

func without(list []string, s string) []string {
	out := list[:0:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}

func nopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
