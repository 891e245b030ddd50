package engines

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for the client; transport/http maps each code
// to an HTTP status in one table.
type Code int

// The error codes a client can see.
const (
	CodeInternal             Code = iota // 500, detail only in the operator log
	CodeInvalidRequest                   // 400
	CodePermissionDenied                 // 403
	CodeNotFound                         // 404, for unknown paths and missing items
	CodeUnsupportedOperation             // 405
	CodeConflict                         // 409
	CodeSealed                           // 503
	CodeNotInitialized                   // 501 on sys endpoints, 503 elsewhere
	CodeTooLarge                         // 413
	CodeUnavailable                      // 503, e.g. no leader
)

// HTTPStatus is the HTTP status a client gets for the code: the one table
// (transport/http answers with it, sys/metrics labels requests with it).
func (c Code) HTTPStatus() int {
	switch c {
	case CodeInvalidRequest:
		return http.StatusBadRequest
	case CodePermissionDenied:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeUnsupportedOperation:
		return http.StatusMethodNotAllowed
	case CodeConflict:
		return http.StatusConflict
	case CodeSealed, CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeNotInitialized:
		return http.StatusNotImplemented
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// Error is an error whose message is safe to show a client.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// The errors shared by every backend.
var (
	ErrPermissionDenied     = &Error{Code: CodePermissionDenied, Message: "permission denied"}
	ErrUnsupportedPath      = &Error{Code: CodeNotFound, Message: "unsupported path"}
	ErrUnsupportedOperation = &Error{Code: CodeUnsupportedOperation, Message: "unsupported operation"}
	ErrSealed               = &Error{Code: CodeSealed, Message: "Vault is sealed"}
	ErrNotInitialized       = &Error{Code: CodeNotInitialized, Message: "Vault is not initialized"}
	ErrNoLeader             = &Error{Code: CodeUnavailable, Message: "no active node: the cluster has no leader"}
	// ErrForward: this node is a standby and the request must run on the
	// active node; the HTTP layer forwards it.
	ErrForward = &Error{Code: CodeUnavailable, Message: "the request must be served by the active node"}
)

// BadRequest returns a 400 error with a client-safe message.
func BadRequest(format string, args ...any) error {
	return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code and client-safe message of err: an *Error found
// anywhere in err's chain, or CodeInternal and a generic message.
func CodeOf(err error) (Code, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Message
	}
	return CodeInternal, "internal error"
}
