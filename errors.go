package aicred

import (
	"errors"
	"fmt"
)

// An ErrorKind classifies an error so the HTTP layer can map it to a status
// code and the CLI to an exit code.
type ErrorKind int

// Error kinds.
const (
	ErrInternal     ErrorKind = iota // a bug or an unexpected failure
	ErrInvalid                       // bad input: malformed file, bad flag, bad config
	ErrNotFound                      // the thing asked for does not exist
	ErrConflict                      // the thing exists already or changed underneath
	ErrUnauthorized                  // the caller has no right to do this
	ErrUnavailable                   // a dependency (database, upstream) cannot be reached
)

func (k ErrorKind) String() string {
	switch k {
	case ErrInvalid:
		return "invalid"
	case ErrNotFound:
		return "not found"
	case ErrConflict:
		return "conflict"
	case ErrUnauthorized:
		return "unauthorized"
	case ErrUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is an error with a kind. Msg is the whole message (it already
// includes the wrapped error's text when built by Errorf). Messages must
// never contain secret material.
type Error struct {
	Kind ErrorKind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind. A %w verb wraps its operand.
func Errorf(kind ErrorKind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf returns the kind of the first *Error in err's chain, or ErrInternal.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ErrInternal
}
