package audit

import "errors"

// The errors the broker and Verify return. None carries any part of an
// audit entry.
var (
	ErrAuditFailed   = errors.New("audit: no audit device recorded the entry")
	ErrExists        = errors.New("audit: a device is already enabled at this path")
	ErrNotFound      = errors.New("audit: no device enabled at this path")
	ErrInvalidConfig = errors.New("audit: invalid device configuration")
	ErrTimeout       = errors.New("audit: device write timed out")
	ErrStalled       = errors.New("audit: device is stalled in an earlier write")
	ErrClosed        = errors.New("audit: device is closed")
	ErrNoCheckpoints = errors.New("audit: no checkpoints in this log")
	ErrBadCheckpoint = errors.New("audit: invalid checkpoint key")
	errUnloggable    = errors.New("audit: value cannot be written to the log")
)
