package domain

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an error once, so that every edge (HTTP status,
// Temporal retryability, CLI exit code) translates it from one table.
type ErrorKind string

// Error kinds.
const (
	KindInvalid   ErrorKind = "invalid"
	KindNotFound  ErrorKind = "not_found"
	KindConflict  ErrorKind = "conflict"
	KindForbidden ErrorKind = "forbidden"
	// KindUnavailable: a dependency (Temporal) did not answer in time;
	// the request may be retried once it is back.
	KindUnavailable ErrorKind = "unavailable"
	// KindTooLarge: the request asks for more work than one request may.
	KindTooLarge ErrorKind = "too_large"
	// KindBusy: too many such requests run at once; retry shortly.
	KindBusy ErrorKind = "busy"
)

// HTTPStatus is the kind's HTTP status, for the API and the pages alike;
// 500 for a kind without one.
func (k ErrorKind) HTTPStatus() int {
	switch k {
	case KindInvalid:
		return 400
	case KindNotFound:
		return 404
	case KindConflict:
		return 409
	case KindForbidden:
		return 403
	case KindUnavailable:
		return 503
	case KindTooLarge:
		return 413
	case KindBusy:
		return 429
	}
	return 500
}

// Error is a domain error with a kind and, where input was at fault, the field
// that was.
type Error struct {
	Kind    ErrorKind
	Field   string // JSON path of the offending field, e.g. "evidence[2].verdict"
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Errorf returns an *Error of the kind, without a field.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a KindInvalid error naming the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or "" when there
// is none (an internal error).
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}
