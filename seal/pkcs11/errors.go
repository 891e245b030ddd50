package pkcs11

import (
	"errors"

	p11 "github.com/miekg/pkcs11"
)

// The errors Open, Wrap and Unwrap return, each wrapped with a one-line
// detail naming the library, token or key concerned. No message carries
// the PIN or key material.
var (
	ErrConfig      = errors.New("pkcs11: invalid seal configuration")
	ErrLibrary     = errors.New("pkcs11: cannot load the PKCS#11 library")
	ErrToken       = errors.New("pkcs11: token not found")
	ErrPIN         = errors.New("pkcs11: login refused (wrong, locked or invalid PIN)")
	ErrKeyNotFound = errors.New("pkcs11: key not found")
	ErrMechanism   = errors.New("pkcs11: key type or mechanism not supported")
	ErrHSM         = errors.New("pkcs11: HSM operation failed")
	ErrClosed      = errors.New("pkcs11: seal is closed")
)

// ckr returns the PKCS#11 return value inside err, or 0 (CKR_OK).
func ckr(err error) uint {
	var e p11.Error
	if errors.As(err, &e) {
		return uint(e)
	}
	return p11.CKR_OK
}

// isCKR reports whether err carries one of codes.
func isCKR(err error, codes ...uint) bool {
	rv := ckr(err)
	if rv == p11.CKR_OK {
		return false
	}
	for _, c := range codes {
		if rv == c {
			return true
		}
	}
	return false
}

// sessionLost reports whether err means the session or the token went
// away, so reopening sessions and logging in again may cure it.
func sessionLost(err error) bool {
	return isCKR(err,
		p11.CKR_SESSION_HANDLE_INVALID,
		p11.CKR_SESSION_CLOSED,
		p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_DEVICE_REMOVED,
		p11.CKR_TOKEN_NOT_PRESENT,
		p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_DEVICE_ERROR,
		p11.CKR_SESSION_COUNT, // a reset frees the sessions it held
	)
}

// handleStale reports whether err means a cached object handle no longer
// names an object, so looking the key up again may cure it.
func handleStale(err error) bool {
	return isCKR(err, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID)
}

// pinRefused reports whether a login failed because of the PIN. Such a
// login is never retried: each try may count towards locking the token.
func pinRefused(err error) bool {
	return isCKR(err,
		p11.CKR_PIN_INCORRECT,
		p11.CKR_PIN_INVALID,
		p11.CKR_PIN_LEN_RANGE,
		p11.CKR_PIN_LOCKED,
		p11.CKR_PIN_EXPIRED,
		p11.CKR_USER_PIN_NOT_INITIALIZED,
	)
}

// badKeyOrMechanism reports whether err means the key cannot be used with
// the mechanism (wrong type, usage not permitted, mechanism unsupported).
func badKeyOrMechanism(err error) bool {
	return isCKR(err,
		p11.CKR_MECHANISM_INVALID,
		p11.CKR_MECHANISM_PARAM_INVALID,
		p11.CKR_KEY_TYPE_INCONSISTENT,
		p11.CKR_KEY_FUNCTION_NOT_PERMITTED,
		p11.CKR_KEY_SIZE_RANGE,
	)
}

// notDecryptable reports whether a decryption failed because of its
// input: a blob tampered with, or sealed under another key.
func notDecryptable(err error) bool {
	return isCKR(err,
		p11.CKR_ENCRYPTED_DATA_INVALID,
		p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		p11.CKR_DATA_INVALID,
		p11.CKR_DATA_LEN_RANGE,
	)
}
