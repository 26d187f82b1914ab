package provider

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/aicred/aicred"
)

// modalHello calls the gRPC method the Modal client itself calls first,
// ClientHello, with the token pair in headers. The answer's grpc-status
// decides: 0 is live, 16 (UNAUTHENTICATED) dead. gRPC needs HTTP/2, which
// Go's default transport negotiates over TLS.
func modalHello(ctx context.Context, c *http.Client, base string, f *aicred.Finding) (aicred.Verification, string, error) {
	id := f.Related["token_id"]
	if id.IsZero() {
		return aicred.Unknown, "no ak- token id found near the secret", nil
	}
	// An empty protobuf message in gRPC framing: no compression, length 0.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimRight(base, "/")+"/modal.client.ModalClient/ClientHello", bytes.NewReader(make([]byte, 5)))
	if err != nil {
		return aicred.Unknown, "bad base URL", err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("x-modal-token-id", id.Reveal())
	req.Header.Set("x-modal-token-secret", f.Secret.Reveal())
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return unreachable(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	resp.Body.Close()
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" { // a trailers-only answer carries the status in headers
		status = resp.Header.Get("Grpc-Status")
	}
	switch status {
	case "0":
		return aicred.Live, "Modal accepted the token pair", nil
	case "16":
		return aicred.Dead, "Modal rejected the token pair (UNAUTHENTICATED)", nil
	case "":
		return aicred.Unknown, answered(resp.StatusCode), nil
	}
	return aicred.Unknown, "Modal answered grpc-status " + status, nil
}

func init() {
	register(&Provider{
		ID: "modal", Name: "Modal", Category: Compute,
		RevokeURL: "https://modal.com/settings/tokens",
		Kinds: []*Kind{{
			ID: "token-pair", Name: "Modal token (ak- id + as- secret)",
			Capabilities: caps(aicred.CapCompute, aicred.CapFilesData, aicred.CapBilling),
			Liveness:     &Liveness{Method: "POST", BaseURL: "https://api.modal.com", Probe: modalHello},
			Rule: Rule{
				// The secret half is reported; the id before it is both its
				// context (the pair sits within 80 characters) and its Related.
				Description:   "Modal token secret: as- + 22 alphanumerics, within 80 characters after its ak- token id or a Modal name",
				Keywords:      []string{"ak-", "modal"},
				ContextWindow: 80,
				Pattern:       `as-[A-Za-z0-9]{22}`,
				MinEntropy:    3,
				Related:       map[string]Near{"token_id": {Pattern: `ak-[A-Za-z0-9]{22}`, Window: 160}},
				Examples: func(g *Gen) []Example {
					id, sk := "ak-"+g.Alnum(22), "as-"+g.Alnum(22)
					return []Example{
						Ex("modal token set --token-id "+id+" --token-secret "+sk, sk),
						Ex("[default]\ntoken_id = \""+id+"\"\ntoken_secret = \""+sk+"\"\n", sk),
						Ex("MODAL_TOKEN_ID="+id+"\nMODAL_TOKEN_SECRET="+sk+"\n", sk),
						Ex("export MODAL_TOKEN_SECRET="+sk, sk),
					}
				},
				Negatives: func(g *Gen) []string {
					id := "ak-" + g.Alnum(22)
					return []string{
						"token_secret = as-" + g.Alnum(22), // no id or Modal name before it
						id + " as-" + g.Alnum(21),
						id + " as-" + g.Alnum(23),
						// Beyond the window and in another block (a blank line between).
						id + "\n\n" + g.Alnum(90) + " as-" + g.Alnum(22),
					}
				},
			},
		}},
	})
}
