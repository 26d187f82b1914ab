package broker

import (
	"errors"
	"net/http"

	"github.com/aicred/aicred"
)

// OAuth error codes (RFC 6749 §5.2, RFC 8693 §2.2.2).
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeInvalidTarget          = "invalid_target"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// An Error is a refusal the token endpoint reports per RFC 6749 §5.2.
//
// Code is the OAuth error code. Reason is a short, stable word for logs,
// metrics and tests ("expired", "unknown_kid"). Description is the text sent
// as error_description. None of them, nor the wrapped cause, ever holds
// the presented token: descriptions are written here, not copied from
// input.
//
// The chain under an Error holds an *aicred.Error, so aicred.KindOf maps a
// refusal to invalid, unauthorized or unavailable like any other error.
type Error struct {
	Code        string
	Reason      string
	Description string
	Err         error
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Description
	if e.Err != nil {
		var ae *aicred.Error
		if errors.As(e.Err, &ae) && ae.Err != nil {
			msg += ": " + ae.Err.Error()
		}
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Status is the HTTP status of the refusal: 401 for invalid_client, 503
// when keys or the store cannot be reached, 500 for server_error and 400
// for everything else (RFC 6749 §5.2).
func (e *Error) Status() int {
	switch e.Code {
	case CodeInvalidClient:
		return http.StatusUnauthorized
	case CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case CodeServerError:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// refuse builds an *Error whose chain carries an *aicred.Error of the kind
// matching code, wrapping cause (which may be nil).
func refuse(code, reason, description string, cause error) *Error {
	kind := aicred.ErrUnauthorized
	switch code {
	case CodeInvalidRequest, CodeUnsupportedGrantType:
		kind = aicred.ErrInvalid
	case CodeTemporarilyUnavailable:
		kind = aicred.ErrUnavailable
	case CodeServerError:
		kind = aicred.ErrInternal
	}
	return &Error{
		Code: code, Reason: reason, Description: description,
		Err: &aicred.Error{Kind: kind, Msg: description, Err: cause},
	}
}

// Reasons of refusals, stable for logs, metrics and tests.
const (
	ReasonTooLarge         = "too_large"
	ReasonMalformed        = "malformed"
	ReasonAlgNotAllowed    = "alg_not_allowed"
	ReasonTypNotAllowed    = "typ_not_allowed"
	ReasonCritUnsupported  = "crit_unsupported"
	ReasonKIDRequired      = "kid_required"
	ReasonUnknownKID       = "unknown_kid"
	ReasonKeyMismatch      = "key_type_mismatch"
	ReasonKeysUnavailable  = "keys_unavailable"
	ReasonBadSignature     = "bad_signature"
	ReasonClaims           = "bad_claims"
	ReasonWrongIssuer      = "wrong_issuer"
	ReasonUnknownIssuer    = "unknown_issuer"
	ReasonWrongAudience    = "wrong_audience"
	ReasonExpired          = "expired"
	ReasonNotYetValid      = "not_yet_valid"
	ReasonIssuedInFuture   = "issued_in_future"
	ReasonTooOld           = "too_old"
	ReasonLifetime         = "lifetime_too_long"
	ReasonJTIRequired      = "jti_required"
	ReasonReplayed         = "replayed"
	ReasonSubject          = "bad_subject"
	ReasonTrustDomain      = "trust_domain_mismatch"
	ReasonNoPolicy         = "no_matching_policy"
	ReasonScope            = "scope_not_allowed"
	ReasonTarget           = "target_not_allowed"
	ReasonRequest          = "bad_request"
	ReasonGrantType        = "unsupported_grant_type"
	ReasonTokenType        = "unsupported_token_type"
	ReasonStore            = "store_failure"
	ReasonReplayCacheError = "replay_cache_failure"
)

// reasonOf returns the Reason of the first *Error in err's chain, or "".
func reasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// asError returns err as an *Error, turning anything else into a
// server_error that does not echo the cause to the client.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if aicred.KindOf(err) == aicred.ErrUnavailable {
		return refuse(CodeTemporarilyUnavailable, ReasonStore, "the service is temporarily unavailable", err)
	}
	return refuse(CodeServerError, ReasonStore, "internal error", err)
}
