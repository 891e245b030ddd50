package seal

import "errors"

// The errors the barrier returns. Messages are safe to show a client; none
// carries a key, a share or a plaintext.
var (
	ErrSealed             = errors.New("seal: barrier is sealed")
	ErrNotInitialized     = errors.New("seal: barrier is not initialized")
	ErrAlreadyInitialized = errors.New("seal: barrier is already initialized")
	ErrInvalidParams      = errors.New("seal: invalid seal configuration")
	ErrBadShares          = errors.New("seal: failed to decrypt the root key: the unseal keys are wrong")
	ErrDecrypt            = errors.New("seal: failed to decrypt")
	ErrReservedPath       = errors.New("seal: path is reserved for the barrier")
)

// detailError is an error with its own client-safe message that still
// matches a sentinel under errors.Is, for cases where "sentinel: detail"
// would read badly (the sentinel's message is a complete sentence).
type detailError struct {
	kind error
	msg  string
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.kind }
