package broker

import (
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
)

// maxFormBytes bounds a token request body: a 16 KB subject token plus
// room for the other parameters and their percent-encoding.
const maxFormBytes = 64 << 10

// ServeHTTP serves POST /oauth/token (RFC 8693), form-encoded. Every
// answer carries Cache-Control: no-store; errors follow RFC 6749 §5.2.
func (x *Exchanger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := readExchangeRequest(w, r)
	if err != nil {
		e := x.refusal(err)
		x.logRefusal(r.Context(), e, []slog.Attr{slog.String("remote", r.RemoteAddr)})
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: e.Code, ErrorDescription: e.Description})
			return
		}
		writeError(w, e)
		return
	}
	resp, err := x.exchangeLogged(r.Context(), req, []slog.Attr{slog.String("remote", r.RemoteAddr)})
	if err != nil {
		writeError(w, asError(err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func readExchangeRequest(w http.ResponseWriter, r *http.Request) (*ExchangeRequest, error) {
	if r.Method != http.MethodPost {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "the token endpoint accepts POST only", nil)
	}
	// Parameters in the URL end up in access logs and proxies.
	if r.URL.RawQuery != "" {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "parameters must be sent in the form-encoded body, not the URL", nil)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "Content-Type must be application/x-www-form-urlencoded", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return nil, refuse(CodeInvalidRequest, ReasonTooLarge, "request body is too large or unreadable", nil)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "request body is not valid form encoding", nil)
	}
	return ParseExchangeRequest(form)
}

// ParseExchangeRequest reads the RFC 8693 parameters of a token request.
// Only audience and resource may repeat (RFC 6749 §3.2). Delegation
// (actor_token) is not supported.
// Errors: *Error invalid_request, unsupported_grant_type.
func ParseExchangeRequest(form url.Values) (*ExchangeRequest, error) {
	for k, v := range form {
		if len(v) > 1 && k != "audience" && k != "resource" {
			return nil, refuse(CodeInvalidRequest, ReasonRequest, "parameter "+safeParamName(k)+" is repeated", nil)
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case GrantTypeTokenExchange:
	case "":
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "grant_type is required", nil)
	default:
		return nil, refuse(CodeUnsupportedGrantType, ReasonGrantType, "grant_type must be "+GrantTypeTokenExchange, nil)
	}
	if form.Has("actor_token") || form.Has("actor_token_type") {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "delegation (actor_token) is not supported", nil)
	}
	req := &ExchangeRequest{
		SubjectToken:       form.Get("subject_token"),
		SubjectTokenType:   form.Get("subject_token_type"),
		RequestedTokenType: form.Get("requested_token_type"),
		Scope:              form.Get("scope"),
		Audiences:          form["audience"],
		Resources:          form["resource"],
	}
	if req.SubjectToken == "" {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "subject_token is required", nil)
	}
	if len(req.SubjectToken) > MaxTokenBytes {
		return nil, refuse(CodeInvalidRequest, ReasonTooLarge, "subject_token is too large", nil)
	}
	if req.SubjectTokenType == "" {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "subject_token_type is required", nil)
	}
	if err := checkTokenTypes(req.SubjectTokenType, req.RequestedTokenType); err != nil {
		return nil, err
	}
	if len(req.Audiences) > maxScopeValues || len(req.Resources) > maxScopeValues {
		return nil, refuse(CodeInvalidRequest, ReasonRequest, "too many audience or resource values", nil)
	}
	return req, nil
}

// safeParamName quotes a parameter name for an error message, bounded:
// the name comes from the client, the value is never echoed.
func safeParamName(k string) string {
	if len(k) > 32 {
		k = k[:32]
	}
	b, _ := json.Marshal(k)
	return string(b)
}

type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Code == CodeTemporarilyUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if e.Code == CodeInvalidClient {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_client"`)
	}
	writeJSON(w, e.Status(), errorBody{Error: e.Code, ErrorDescription: e.Description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
