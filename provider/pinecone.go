package provider

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aicred/aicred"
)

func init() {
	// The control plane lists indexes. 403 means the key is live but its
	// role cannot reach the control plane.
	indexes := &Liveness{
		BaseURL: "https://api.pinecone.io", Path: "/indexes", Auth: HeaderAuth("Api-Key"),
		Header: map[string]string{"X-Pinecone-Api-Version": "2025-10"},
		Live:   []int{200}, Dead: []int{401}, NoPermission: []int{403}, LiveBody: []string{`"indexes"`},
	}
	trace := &Trace{BaseURL: pineconeAPI, Docs: pineconeIndexesDocs, Run: pineconeTrace}
	register(&Provider{
		ID: "pinecone", Name: "Pinecone", Category: VectorDB,
		RevokeURL: "https://app.pinecone.io",
		Kinds: []*Kind{
			{
				ID: "api-key", Name: "Pinecone API key",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     indexes,
				Trace:        trace,
				Rule: Rule{
					Description: "Pinecone API key: pcsk_ + 5 or 6 alphanumerics + _ + 63 alphanumerics",
					Keywords:    []string{"pcsk_"},
					Pattern:     `pcsk_[A-Za-z0-9]{5,6}_[A-Za-z0-9]{63}`,
					MinEntropy:  3.5,
					Examples: func(g *Gen) []Example {
						k := "pcsk_" + g.Alnum(5+g.IntN(2)) + "_" + g.Alnum(63)
						return append(assign("PINECONE_API_KEY", k),
							Ex(notebook(`pc = Pinecone(api_key="`+k+`")`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"pcsk_" + g.Alnum(4) + "_" + g.Alnum(63),
							"pcsk_" + g.Alnum(7) + "_" + g.Alnum(63),
							"pcsk_" + g.Alnum(5) + "_" + g.Alnum(62),
							"pcsk_" + g.Alnum(5) + "_" + g.Alnum(64),
							"pcsk_" + g.Alnum(5) + "-" + g.Alnum(63),
						}
					},
				},
			},
			{
				ID: "legacy-key", Name: "Pinecone API key (legacy UUID)",
				Capabilities: caps(aicred.CapVectorRW),
				Liveness:     indexes,
				Trace:        trace,
				Rule: Rule{
					Description:   "Pinecone legacy API key: a UUID after a Pinecone name",
					Keywords:      []string{"pinecone"},
					ContextWindow: 48,
					Pattern:       `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
					MinEntropy:    3,
					Examples: func(g *Gen) []Example {
						k := g.UUID()
						return append(assign("PINECONE_API_KEY", k),
							Ex(notebook(`pinecone.init(api_key="`+k+`", environment="us-west1-gcp")`), k))
					},
					Negatives: func(g *Gen) []string {
						return []string{
							"API_KEY=" + g.UUID(),
							"PINECONE_API_KEY=00000000-0000-0000-0000-000000000000",
							"PINECONE_API_KEY=" + g.UUID() + "0",
							"pinecone " + g.Alnum(60) + "\nid = " + g.UUID(),
						}
					},
				},
			},
		},
	})
}

const (
	pineconeAPI        = "https://api.pinecone.io"
	pineconeAPIVersion = "2025-10"
	// pineconeIndexesDocs documents GET /indexes (list indexes).
	pineconeIndexesDocs = "https://docs.pinecone.io/reference/api/2025-10/control-plane/list_indexes"
)

// Rotation: Pinecone's Admin API creates and deletes API keys, but it is
// authenticated with a service account's OAuth client credentials (an
// Enterprise feature) that the catalog does not detect, and it cannot
// tell which key id a key value has. Pinecone keys are rotated guided, at
// the console.

// pineconeTrace lists the project's indexes with the key: names, hosts
// and whether each is ready. A key whose role cannot reach the control
// plane gets a Note.
func pineconeTrace(ctx context.Context, c *http.Client, base string, secret aicred.Secret, _ map[string]string) (*Reach, error) {
	var list struct {
		Indexes []struct {
			Name      string `json:"name"`
			Host      string `json:"host"`
			Dimension int    `json:"dimension"`
			Metric    string `json:"metric"`
			Status    struct {
				State string `json:"state"`
			} `json:"status"`
		} `json:"indexes"`
	}
	r := &Reach{}
	_, err := apiCall{provider: "pinecone", name: "list indexes", method: http.MethodGet,
		url: joinURL(base, "/indexes"), path: "/indexes",
		header: map[string]string{"Api-Key": secret.Reveal(), "X-Pinecone-Api-Version": pineconeAPIVersion}}.do(ctx, c, &list)
	if err != nil {
		note, err := noteFor("indexes", err)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, note)
		return r, nil
	}
	r.Scopes = []string{"control plane: list indexes"}
	for _, ix := range list.Indexes {
		name := ix.Name
		if ix.Status.State != "" {
			name += " (" + ix.Status.State + ")"
		}
		r.Resources = append(r.Resources, Resource{Type: "index", ID: ix.Host, Name: name})
	}
	r.Notes = append(r.Notes, fmt.Sprintf("indexes: %d", len(list.Indexes)))
	return r, nil
}
