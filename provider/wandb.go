package provider

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aicred/aicred"
)

// wandbViewerQuery asks who the key belongs to: the user, its default
// entity, whether it is an instance admin, and the teams it belongs to.
// The W&B SDK's own viewer query reads the same fields (wandb/apis/
// internal.py); the public API is documented at
// https://docs.wandb.ai/ref/python/public-api/api (Api.viewer) and the
// GraphQL endpoint at https://api.wandb.ai/graphql.
const wandbViewerQuery = `query Viewer { viewer { id username entity admin teams { edges { node { id name } } } } }`

type wandbViewer struct {
	Data struct {
		Viewer *struct {
			ID       string `json:"id"`
			Username string `json:"username"`
			Entity   string `json:"entity"`
			Admin    bool   `json:"admin"`
			Teams    struct {
				Edges []struct {
					Node struct {
						ID   string `json:"id"`
						Name string `json:"name"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"teams"`
		} `json:"viewer"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// traceWandb runs the viewer query with the key as the password of the
// user "api". A query only reads.
func traceWandb(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	var v wandbViewer
	body, err := json.Marshal(map[string]string{"query": wandbViewerQuery})
	if err != nil {
		return nil, err
	}
	status, err := mlopsTraceCall(ctx, c, http.MethodPost, strings.TrimRight(base, "/")+"/graphql", body,
		func(r *http.Request) { r.SetBasicAuth("api", secret.Reveal()) }, &v)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return &Reach{Notes: []string{mlopsRefused("W&B", "viewer", status)}}, nil
	}
	vw := v.Data.Viewer
	if vw == nil {
		r := &Reach{Notes: []string{"viewer: W&B answered no viewer: the key is not accepted"}}
		for _, e := range v.Errors {
			r.Notes = append(r.Notes, "viewer: "+e.Message)
		}
		return r, nil
	}
	r := &Reach{Principal: "user " + vw.Username, Account: vw.Entity}
	if vw.Entity != "" {
		r.Resources = append(r.Resources, Resource{Type: "entity", Name: vw.Entity, Access: "write"})
	}
	if vw.Admin {
		r.Scopes = append(r.Scopes, "instance-admin")
	}
	for _, e := range vw.Teams.Edges {
		if e.Node.Name == vw.Entity {
			continue
		}
		r.Resources = append(r.Resources, Resource{Type: "team", ID: e.Node.ID, Name: e.Node.Name})
	}
	r.Notes = append(r.Notes, "a W&B API key acts with its user's full rights: every project, run, artifact and model of the entity and teams listed")
	return r, nil
}

func init() {
	// A GraphQL viewer query answers with the key owner's username; W&B
	// takes the key as the password of the user "api".
	viewer := &Liveness{
		Method: "POST", BaseURL: "https://api.wandb.ai", Path: "/graphql", Auth: Auth{BasicUser: "api"},
		Body: `{"query":"query { viewer { username } }"}`,
		Live: []int{200}, Dead: []int{401, 403}, LiveBody: []string{`"username"`},
	}
	trace := &Trace{
		BaseURL: "https://api.wandb.ai",
		Docs:    "https://docs.wandb.ai/ref/python/public-api/api (viewer: GraphQL POST /graphql, Basic auth api:KEY; fields username, entity, admin, teams)",
		Run:     traceWandb,
	}
	capabilities := caps(aicred.CapTracking, aicred.CapFilesData, aicred.CapModelRegistry, aicred.CapTracing)
	register(&Provider{
		ID: "wandb", Name: "Weights & Biases", Category: MLOps,
		RevokeURL: "https://wandb.ai/settings",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Weights & Biases API key",
				Capabilities: capabilities,
				Liveness:     viewer,
				Trace:        trace,
				Rule: Rule{
					Description:   "Weights & Biases API key: 40 hex after a W&B name (also the password in ~/.netrc)",
					Keywords:      []string{"wandb", "weightsandbiases", "weights_and_biases"},
					ContextWindow: 48,
					Pattern:       `[0-9a-f]{40}`,
					MinEntropy:    3,
					Examples: func(g *Gen) []Example {
						k := g.Hex(40)
						return append(assign("WANDB_API_KEY", k),
							Ex("machine api.wandb.ai\n  login user\n  password "+k+"\n", k),
							Ex(notebook(`wandb.login(key="`+k+`")`), k),
							Ex("wandb login "+k, k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"commit " + g.Hex(40), // a git hash, no W&B name
							"WANDB_API_KEY=" + g.Hex(39),
							"WANDB_API_KEY=" + g.Hex(41),
							"WANDB_API_KEY=" + g.Chars("ABCDEF0123456789", 40),
							"wandb " + g.Alnum(60) + "\nsha = " + g.Hex(40),
						}
					},
				},
			},
			{
				ID: "api-key-v1", Name: "Weights & Biases API key (wandb_v1_)",
				Capabilities: capabilities,
				Liveness:     viewer,
				Trace:        trace,
				Rule: Rule{
					Description: "Weights & Biases API key: wandb_v1_ + 77 letters, digits or underscores (86 characters)",
					Keywords:    []string{"wandb_v1_"},
					Pattern:     `wandb_v1_[A-Za-z0-9_]{77}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "wandb_v1_" + g.Chars(Alnum+"_", 77)
						return append(assign("WANDB_API_KEY", k), Ex(notebook(`wandb.login(key="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return append(nearMisses(g, "wandb_v1_", Alnum, 77), "wandb_v2_"+g.Alnum(77))
					},
				},
			},
		},
	})
}
