package lease

import "errors"

// The errors the lease manager returns; callers match them with errors.Is.
var (
	ErrNotFound     = errors.New("lease: lease not found")
	ErrNotRenewable = errors.New("lease: lease is not renewable")
	ErrExpired      = errors.New("lease: lease expired or too close to expiry")
	ErrIrrevocable  = errors.New("lease: lease is irrevocable")
	ErrInvalid      = errors.New("lease: invalid lease")
)
