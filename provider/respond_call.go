package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Helpers shared by the deep traces and rotations in the provider files.

// maxCallBody bounds how much of an admin or trace answer is read.
const maxCallBody = 4 << 20

// maxPages bounds how many pages of a list a trace or a key look-up reads.
const maxPages = 20

// A CallError is a provider call answered with an error status. It names
// the call and carries the status and the provider's error code, never the
// provider's message (which may quote the credential) nor any secret.
type CallError struct {
	Provider string // "openai"
	Call     string // "list projects (GET /v1/organization/projects)"
	Status   int    // HTTP status; 0 when the answer had none (AWS SDK errors carry theirs)
	Code     string // the provider's error code or type, when it gave one
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("%s: %s: ", e.Provider, e.Call)
	if e.Status != 0 {
		s += fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Code != "" {
		if e.Status != 0 {
			s += " "
		}
		s += e.Code
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		s += " (the credential was refused: wrong, revoked or not of the kind this call needs)"
	case e.Status == http.StatusForbidden || e.Code == "AccessDenied":
		s += " (the credential is not allowed to make this call)"
	}
	return s
}

// Denied reports whether the provider refused the credential or the call
// (401 or 403 or an access-denied code).
func (e *CallError) Denied() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Code == "AccessDenied"
}

// NotFound reports whether the provider answered that the thing is gone.
func (e *CallError) NotFound() bool {
	return e.Status == http.StatusNotFound || e.Code == "NoSuchEntity"
}

// isNotFound reports whether err is a CallError for something gone.
func isNotFound(err error) bool {
	var ce *CallError
	return errors.As(err, &ce) && ce.NotFound()
}

// isDenied reports whether err is a CallError for a refused call.
func isDenied(err error) bool {
	var ce *CallError
	return errors.As(err, &ce) && ce.Denied()
}

// errorCodeRE picks a provider's error code out of common JSON error
// shapes: OpenAI {"error":{"code":..,"type":..}}, Anthropic
// {"error":{"type":..}}, Google {"error":{"status":..}}, Pinecone
// {"error":{"code":..}}. Only identifier-like values are kept, so a code
// field can never carry the credential into an error.
var errorCodeRE = regexp.MustCompile(`"(?:code|type|status)"\s*:\s*"([A-Za-z][A-Za-z0-9_.]{0,63})"`)

// errorCode returns the codes found in an error answer, leaving out any
// that occurs in one of the request's header values (a credential echoed
// back where a code belongs).
func errorCode(body []byte, sent ...string) string {
	var codes []string
next:
	for _, m := range errorCodeRE.FindAllSubmatch(body, 3) {
		c := string(m[1])
		if c == "error" {
			continue
		}
		for _, v := range sent {
			if strings.Contains(v, c) {
				continue next
			}
		}
		codes = append(codes, c)
	}
	return strings.Join(codes, "/")
}

// apiCall is one JSON call to a provider's API.
type apiCall struct {
	provider string
	name     string // "list projects"
	method   string
	url      string // full URL
	path     string // the documented path, for error messages (no ids that could be secret)
	header   map[string]string
	body     any // marshalled to JSON when not nil
}

// do sends the call and decodes a 2xx JSON answer into out (when not nil).
// It returns the response headers; a non-2xx answer is a *CallError.
func (a apiCall) do(ctx context.Context, c *http.Client, out any) (http.Header, error) {
	var rd io.Reader
	if a.body != nil {
		b, err := json.Marshal(a.body)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: encoding the request: %w", a.provider, a.name, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, a.method, a.url, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: bad base URL", a.provider, a.name)
	}
	for k, v := range a.header {
		req.Header.Set(k, v)
	}
	if a.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// The URL holds no secret (credentials travel in headers), but the
		// error is rebuilt anyway so that nothing from the request leaks.
		return nil, fmt.Errorf("%s: %s (%s %s): no answer: %w", a.provider, a.name, a.method, a.path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody))
	if err != nil {
		return resp.Header, fmt.Errorf("%s: %s (%s %s): reading the answer: %w", a.provider, a.name, a.method, a.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, &CallError{
			Provider: a.provider, Call: a.name + " (" + a.method + " " + a.path + ")",
			Status: resp.StatusCode, Code: errorCode(body, headerValues(a.header)...),
		}
	}
	if out != nil && len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.Header, fmt.Errorf("%s: %s (%s %s): the answer is not the documented JSON: %v", a.provider, a.name, a.method, a.path, jsonErrorKind(err))
		}
	}
	return resp.Header, nil
}

// unwrapURLError drops the *url.Error wrapper (which repeats the URL).
func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// jsonErrorKind describes a JSON decoding error without quoting the input.
func jsonErrorKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "malformed"
}

// base joins a configured base URL and a path.
func joinURL(base, path string) string { return strings.TrimRight(base, "/") + path }

// noteFor turns a failed read-only call into a trace Note ("projects:
// access denied (HTTP 403)"), or returns the error when the call could not
// be made or answered at all.
func noteFor(what string, err error) (string, error) {
	var ce *CallError
	if !errors.As(err, &ce) {
		return "", err
	}
	switch {
	case ce.Status == http.StatusUnauthorized:
		return fmt.Sprintf("%s: the credential was refused (HTTP 401)", what), nil
	case ce.Denied():
		return fmt.Sprintf("%s: access denied (HTTP %d)", what, ce.Status), nil
	case ce.Status == http.StatusNotFound:
		return fmt.Sprintf("%s: not found (HTTP 404)", what), nil
	case ce.Status >= 500:
		return "", err
	}
	return fmt.Sprintf("%s: the provider answered HTTP %d %s", what, ce.Status, ce.Code), nil
}

// redactedMatch reports whether key fits a provider's redacted display of
// a key: the characters shown before an elision ("...", "…" or a run of
// '*') must begin the key and those after it must end it. At least four
// characters must show after the elision, or nothing matches.
func redactedMatch(redacted, key string) bool {
	head, tail, ok := splitRedacted(redacted)
	if !ok || len(tail) < 4 || len(head)+len(tail) >= len(key) {
		return false
	}
	return strings.HasPrefix(key, head) && strings.HasSuffix(key, tail)
}

var elisionRE = regexp.MustCompile(`\.\.\.|…|\*+`)

func splitRedacted(r string) (head, tail string, ok bool) {
	loc := elisionRE.FindStringIndex(r)
	if loc == nil {
		return "", "", false
	}
	head, tail = r[:loc[0]], r[loc[1]:]
	if elisionRE.MatchString(tail) {
		return "", "", false
	}
	return head, tail, true
}

// rotationName is the name a rotation gives the credential it creates, so
// that one left behind by an interrupted rotation can be recognised.
func rotationName(old string) string {
	if old == "" {
		return "aicred-rotation"
	}
	return "aicred-rotation-" + old
}

func headerValues(h map[string]string) []string {
	vs := make([]string, 0, len(h))
	for _, v := range h {
		vs = append(vs, v)
	}
	return vs
}

// listPages reads every page (up to maxPages) of a list endpoint that
// pages with ?limit=N&<cursor>=<last_id> while has_more (OpenAI's and
// Anthropic's administration APIs); call is the first page's request.
func listPages[T any](ctx context.Context, c *http.Client, call apiCall, cursor string, limit int, each func(T)) error {
	base, after := call.url, ""
	for range maxPages {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if after != "" {
			q.Set(cursor, after)
		}
		var page struct {
			Data    []T    `json:"data"`
			LastID  string `json:"last_id"`
			HasMore bool   `json:"has_more"`
		}
		call.url = base + "?" + q.Encode()
		if _, err := call.do(ctx, c, &page); err != nil {
			return err
		}
		for _, d := range page.Data {
			each(d)
		}
		if !page.HasMore || page.LastID == "" || page.LastID == after {
			return nil
		}
		after = page.LastID
	}
	return fmt.Errorf("%s: %s: more than %d pages", call.provider, call.name, maxPages)
}
