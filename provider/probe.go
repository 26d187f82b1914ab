package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aicred/aicred"
)

// maxProbeBody bounds how much of a liveness answer is read.
const maxProbeBody = 64 << 10

// probeDo sends req and returns the status code and the start of the body.
func probeDo(c *http.Client, req *http.Request) (int, []byte, error) {
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	return resp.StatusCode, body, err
}

// postForm sends form as an application/x-www-form-urlencoded POST.
func postForm(ctx context.Context, c *http.Client, endpoint string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return probeDo(c, req)
}

// unreachable is the outcome of a probe that got no answer.
func unreachable(err error) (aicred.Verification, string, error) {
	return aicred.Unknown, "no answer from the provider", err
}

// answered is the detail for an answer that decides nothing.
func answered(status int) string { return fmt.Sprintf("provider answered HTTP %d", status) }
