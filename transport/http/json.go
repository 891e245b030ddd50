package http

import (
	"errors"
	"fmt"

	"coffer/engines/jsonobj"
)

// Limits bound what one request body may contain.
type Limits struct {
	// MaxBodyBytes caps the request body; zero means 32 MiB.
	MaxBodyBytes int64
	// MaxDepth caps nesting of objects and arrays; zero means 300.
	MaxDepth int
	// MaxStringBytes caps any one string (keys included); zero means 1 MiB.
	MaxStringBytes int
	// MaxEntries caps the members of any one object or array; zero means 10,000.
	MaxEntries int
	// MaxValues caps the values in the whole body, so memory stays
	// proportional to a small multiple of the body; zero means 250,000.
	MaxValues int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 32 << 20
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = 300
	}
	if l.MaxStringBytes == 0 {
		l.MaxStringBytes = 1 << 20
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = 10000
	}
	if l.MaxValues == 0 {
		l.MaxValues = 250000
	}
	return l
}

var (
	errBodyTooLarge = errors.New("http: request body too large")
	errNotObject    = errors.New("http: body must be a JSON object")
)

// decodeBody parses a JSON object from body in one pass, enforcing the
// limits as it goes, with numbers kept as json.Number. An empty body or a
// bare null (what clients send for "no data") is an empty object; any
// other value that is not an object is errNotObject.
func decodeBody(body []byte, lim Limits) (map[string]any, error) {
	data, err := jsonobj.Decode(body, jsonobj.Limits{
		MaxDepth:       lim.MaxDepth,
		MaxStringBytes: lim.MaxStringBytes,
		MaxEntries:     lim.MaxEntries,
		MaxValues:      lim.MaxValues,
	})
	if err == nil {
		return data, nil
	}
	if errors.Is(err, jsonobj.ErrNotObject) {
		return nil, errNotObject
	}
	var jerr *jsonobj.Error
	if errors.As(err, &jerr) {
		return nil, &bodyError{err: jerr}
	}
	return nil, fmt.Errorf("http: decode body: %w", err)
}

// bodyError is a refused body in the words clients see after "failed to
// parse JSON input: ", e.g. "http: JSON nested deeper than 300". Its text
// holds no bytes of the body.
type bodyError struct{ err *jsonobj.Error }

func (e *bodyError) Error() string { return "http: " + e.err.Reason }

func (e *bodyError) Unwrap() error { return e.err }
