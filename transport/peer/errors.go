package peer

import "errors"

// Sentinel errors. Callers compare with errors.Is.
var (
	ErrNoIdentity     = errors.New("peer: no identity")
	ErrClosed         = errors.New("peer: transport closed")
	ErrInvalidNodeID  = errors.New("peer: invalid node id")
	ErrUnsupportedKey = errors.New("peer: unsupported key type")
	ErrKeyMismatch    = errors.New("peer: key does not match certificate")
	ErrNotCA          = errors.New("peer: certificate is not a CA")
	ErrUntrusted      = errors.New("peer: certificate does not chain to the cluster CA")
	ErrBadPEM         = errors.New("peer: malformed PEM")
	ErrBadFrame       = errors.New("peer: malformed frame")
	ErrFrameTooLarge  = errors.New("peer: frame too large")
	ErrProtocol       = errors.New("peer: unexpected application protocol")
)
