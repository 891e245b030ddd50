package jsonobj

import (
	"errors"
	"strconv"
)

// The kinds of refusal; every error Decode and DecodePrefix return is an
// *Error wrapping one of them.
var (
	ErrSyntax         = errors.New("jsonobj: malformed JSON")
	ErrTrailingData   = errors.New("jsonobj: unexpected data after the JSON value")
	ErrNotObject      = errors.New("jsonobj: not a JSON object")
	ErrTooDeep        = errors.New("jsonobj: JSON nested too deeply")
	ErrStringTooLong  = errors.New("jsonobj: JSON string too long")
	ErrTooManyEntries = errors.New("jsonobj: JSON object or array with too many members")
	ErrTooManyValues  = errors.New("jsonobj: JSON document with too many values")
)

// Error says why an input was refused and where. Its text never holds
// input bytes, so it is safe to log and to show to the client that sent
// the input.
type Error struct {
	// Err is the kind of refusal, one of the Err sentinels.
	Err error
	// Offset is the byte offset in the input where decoding stopped.
	Offset int
	// Reason is the refusal in words, e.g. "JSON nested deeper than 300"
	// or "malformed JSON: unexpected end of input at byte 9".
	Reason string
}

func (e *Error) Error() string { return "jsonobj: " + e.Reason }

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// syntaxError is a malformed-input refusal: what was wrong at offset off.
func syntaxError(what string, off int) *Error {
	return &Error{Err: ErrSyntax, Offset: off, Reason: "malformed JSON: " + what + " at byte " + strconv.Itoa(off)}
}

// limitError is a limit refusal: before and after surround the limit n
// ("JSON nested deeper than " 300 "").
func limitError(kind error, before string, n int, after string, off int) *Error {
	return &Error{Err: kind, Offset: off, Reason: before + strconv.Itoa(n) + after}
}
