package policy

import "errors"

// The errors this package returns. Messages wrapping ErrInvalidPolicy
// describe the client's own policy text and are safe to show the client
// (they become a 400).
var (
	ErrInvalidPolicy = errors.New("policy: invalid policy")
	ErrRootWithOther = errors.New("policy: other policies present along with root")
	ErrNotFound      = errors.New("policy: no such policy")
)
