package lease

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// maxIDLen bounds a lease ID, well under the storage's key limit.
const maxIDLen = 1024

// Entry is one lease: what was issued, by whom, until when, and what the
// issuing backend needs to renew or revoke it. It is stored as JSON under
// sys/expire/id/<LeaseID>, encrypted by the barrier.
type Entry struct {
	// LeaseID is "<mount path><request path>/<random>", e.g.
	// "database/creds/ro/2f6c...".
	LeaseID string `json:"lease_id"`
	// Path is the request path that created the lease ("database/creds/ro").
	Path string `json:"path"`
	// MountAccessor and MountPath name the mount that issued it.
	MountAccessor string `json:"mount_accessor"`
	MountPath     string `json:"mount_path"`
	// TokenKey is an opaque id of the token that created the lease ("" for
	// none); RevokeByToken finds the lease by it.
	TokenKey    string    `json:"token_key,omitempty"`
	IssueTime   time.Time `json:"issue_time"`
	ExpireTime  time.Time `json:"expire_time"`
	LastRenewal time.Time `json:"last_renewal"`
	Renewable   bool      `json:"renewable"`
	// MaxExpire is the absolute cap for renewals (issue time plus the
	// smaller of the role's and the mount's max TTL).
	MaxExpire time.Time `json:"max_expire"`
	// InternalData is the backend's (a user name). It round-trips through
	// JSON: numbers come back as float64.
	InternalData map[string]any `json:"internal_data,omitempty"`
	// Attempts counts failed revocation attempts; LastError is the text of
	// the last one.
	Attempts  int    `json:"attempts,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// NextAttempt is when the expiry loop tries again after a failed
	// revocation (zero before any failure).
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Irrevocable is set once MaxAttempts revocations failed: the lease is
	// kept and listed, and the loop no longer tries it.
	Irrevocable bool `json:"irrevocable,omitempty"`
}

// dueTime is when the expiry loop should next try to revoke e: its expiry,
// or its retry time after a failure.
func (e *Entry) dueTime() time.Time {
	if !e.NextAttempt.IsZero() {
		return e.NextAttempt
	}
	return e.ExpireTime
}

func encodeEntry(e *Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("lease: encode: %w", err)
	}
	return b, nil
}

// decodeEntry parses a stored record and checks it names a valid lease.
func decodeEntry(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("lease: decode: %w", err)
	}
	if !validID(e.LeaseID) {
		return nil, fmt.Errorf("lease: decode: %w: bad lease id", ErrInvalid)
	}
	return &e, nil
}

// validID reports whether id can be a lease ID: slash-separated non-empty
// segments, none "." or "..", no control characters, bounded length.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for seg := range strings.SplitSeq(id, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// safeText is err's text, bounded, for Entry.LastError.
func safeText(err error) string {
	const limit = 512
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
