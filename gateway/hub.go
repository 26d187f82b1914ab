package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
)

// The Hugging Face Hub (huggingface.co), as huggingface_hub speaks to it
// with HF_ENDPOINT pointing at "{gateway}/hf": downloads
// (/{repo}/resolve/{revision}/{path}, for datasets and spaces under
// /datasets/ and /spaces/), repository information and file trees
// (/api/{models,datasets,spaces}/{repo}[/revision/{rev}|/tree/{rev}/...]),
// uploads (preupload, commit, the Git LFS batch and verify calls, the Xet
// tokens) and repository creation (/api/repos/create). The held token is
// sent as a Bearer token. A repository is "org/name" for a model,
// "datasets/org/name" and "spaces/org/name" otherwise; the role's
// Repositories say which it may read or write.
//
// A download of a large file answers 302 to the content host (cas-bridge,
// cdn-lfs) with a signed URL: the redirect goes to the client as it is,
// and the client fetches from the content host with no credential of the
// gateway's. A redirect relative to the Hub (a renamed repository) is
// made relative to the mount, so the client comes back through the
// gateway. LFS upload actions name the storage host the same way: the
// client uploads there directly.

const hubPrefix = "/hf"

// hubHeaders: ranges and validators for downloads, Git LFS's media type
// in Content-Type/Accept (common). Nothing else huggingface_hub sends
// changes what the Hub serves.
var hubHeaders = newHeaderPolicy([]string{"Range", "If-Range", "If-None-Match", "If-Match"}, nil, nil)

func hubSurface() *surface {
	return &surface{
		provider: "huggingface", upstream: "huggingface-hub", inject: bearer, writeError: mlError,
		requestID: "X-Request-Id", headers: hubHeaders, bytes: true, resolve: resolveHub,
		answer: func(_ *Gateway, _ *exchange, resp *http.Response) error {
			relativeRedirect(resp, hubPrefix)
			return nil
		},
	}
}

// hubRepoTypes maps the API's plural to the path prefix of a repository.
var hubRepoTypes = map[string]string{"models": "", "datasets": "datasets/", "spaces": "spaces/"}

func resolveHub(x *exchange) error {
	segs, err := pathSegments(x, hubPrefix)
	if err != nil {
		return err
	}
	method := x.r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if len(segs) > 0 && segs[0] == "api" {
		return resolveHubAPI(x, method, segs)
	}
	// /[datasets|spaces/]org/name/resolve/{revision}/{path...} and
	// /[datasets|spaces/]org/name.git/info/lfs/objects/{batch,verify}.
	kind := ""
	if len(segs) > 0 && (segs[0] == "datasets" || segs[0] == "spaces") {
		kind, segs = segs[0]+"/", segs[1:]
	}
	if len(segs) < 3 || !nameOK(segs[0]) || !nameOK(segs[1]) {
		return mlNotFound(x)
	}
	repo := segs[0] + "/" + segs[1]
	switch {
	case segs[2] == "resolve" && len(segs) >= 5 && method == http.MethodGet:
		if strings.ContainsAny(segs[3], "?#") {
			return mlBad("invalid_path", "invalid revision")
		}
		x.ml.path = joinPath(append(prefixSegs(kind), segs...)...)
		return hubAllow(x, kind+repo, false)
	case strings.HasSuffix(segs[1], ".git") && len(segs) == 6 && segs[2] == "info" && segs[3] == "lfs" && segs[4] == "objects" && method == http.MethodPost:
		repo = segs[0] + "/" + strings.TrimSuffix(segs[1], ".git")
		write := true
		switch segs[5] {
		case "batch":
			m, err := jsonBody(x, "operation", "transfers", "objects", "ref", "hash_algo", "is_upload")
			if err != nil {
				return err
			}
			op, err := jsonString(m, "operation")
			if err != nil {
				return err
			}
			switch op {
			case "download":
				write = false
			case "upload":
			default:
				return mlBad("invalid_request", `the LFS batch "operation" must be "upload" or "download"`)
			}
		case "verify":
			if _, err := jsonBody(x, "oid", "size"); err != nil {
				return err
			}
		default:
			return mlNotFound(x)
		}
		x.ml.path = joinPath(append(prefixSegs(kind), segs...)...)
		return hubAllow(x, kind+repo, write)
	}
	return mlNotFound(x)
}

func prefixSegs(kind string) []string {
	if kind == "" {
		return nil
	}
	return []string{strings.TrimSuffix(kind, "/")}
}

// resolveHubAPI serves /api/...: repository creation, information, trees
// and the upload calls.
func resolveHubAPI(x *exchange, method string, segs []string) error {
	if len(segs) == 3 && segs[1] == "repos" && segs[2] == "create" && method == http.MethodPost {
		m, err := jsonBody(x, "name", "organization", "type", "private", "visibility", "sdk", "hardware",
			"storageTier", "sleepTimeSeconds", "secrets", "variables", "resourceGroupId", "exist_ok")
		if err != nil {
			return err
		}
		name, err := jsonString(m, "name")
		if err != nil {
			return err
		}
		org, err := jsonString(m, "organization")
		if err != nil {
			return err
		}
		typ, err := jsonString(m, "type")
		if err != nil {
			return err
		}
		if org == "" && strings.Count(name, "/") == 1 {
			org, name, _ = strings.Cut(name, "/")
		}
		if org == "" || !nameOK(org) || !nameOK(name) {
			return mlBad("invalid_request", "repository creation must name the organization or user and the repository (org/name)")
		}
		kind := ""
		switch typ {
		case "", "model":
		case "dataset", "space":
			kind = typ + "s/"
		default:
			return mlBad("invalid_request", `"type" must be model, dataset or space`)
		}
		x.ml.path = joinPath(segs...)
		return hubAllow(x, kind+org+"/"+name, true)
	}
	if len(segs) < 4 || !nameOK(segs[2]) || !nameOK(segs[3]) {
		return mlNotFound(x)
	}
	kind, ok := hubRepoTypes[segs[1]]
	if !ok {
		return mlNotFound(x)
	}
	repo := kind + segs[2] + "/" + segs[3]
	x.ml.path = joinPath(segs...)
	rest := segs[4:]
	action := ""
	if len(rest) > 0 {
		action = rest[0]
	}
	switch {
	case len(rest) == 0 && method == http.MethodGet:
		allowQuery(x, "expand", "blobs", "securityStatus", "files_metadata")
		return hubAllow(x, repo, false)
	case action == "revision" && len(rest) == 2 && method == http.MethodGet:
		allowQuery(x, "expand", "blobs", "securityStatus", "files_metadata")
		return hubAllow(x, repo, false)
	case action == "tree" && len(rest) >= 2 && method == http.MethodGet:
		allowQuery(x, "recursive", "expand", "cursor", "limit")
		return hubAllow(x, repo, false)
	case action == "paths-info" && len(rest) == 2 && method == http.MethodPost:
		return hubAllow(x, repo, false)
	case action == "refs" && len(rest) == 1 && method == http.MethodGet:
		allowQuery(x, "include_pull_requests")
		return hubAllow(x, repo, false)
	case action == "xet-read-token" && len(rest) == 2 && method == http.MethodGet:
		return hubAllow(x, repo, false)
	case action == "xet-write-token" && len(rest) == 2 && method == http.MethodGet:
		allowQuery(x, "create_pr")
		return hubAllow(x, repo, true)
	case action == "preupload" && len(rest) == 2 && method == http.MethodPost:
		if _, err := jsonBody(x, "files", "gitAttributes", "gitIgnore"); err != nil {
			return err
		}
		allowQuery(x, "create_pr")
		return hubAllow(x, repo, true)
	case action == "commit" && len(rest) == 2 && method == http.MethodPost:
		// The body is NDJSON (a header line, then one line per file);
		// the repository and revision are in the path.
		if err := ndjsonLines(x.body); err != nil {
			return err
		}
		allowQuery(x, "create_pr", "hot_reload")
		return hubAllow(x, repo, true)
	}
	return mlNotFound(x)
}

// ndjsonLines checks that a commit body is lines of JSON objects, so that
// what the Hub reads is what the gateway saw.
func ndjsonLines(b []byte) error {
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !json.Valid([]byte(line)) || line[0] != '{' {
			return mlBad("invalid_json", "a commit body is lines of JSON objects")
		}
	}
	return nil
}

func hubAllow(x *exchange, repo string, write bool) error {
	x.ml.resource, x.ml.write = repo, write
	if !x.role.Repository(repo, write) {
		what := "read"
		if write {
			what = "write"
		}
		return mlDeny("this token may not " + what + " repository " + quoteModel(repo) + " (its role's repositories)")
	}
	return nil
}
