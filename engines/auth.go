package engines

import (
	"context"
	"time"
)

// TokenEntry is what a token grants. The token ID itself is never stored:
// stores keep entries under a keyed hash of the ID.
type TokenEntry struct {
	// ID is the token; set only in memory on an entry just created, so
	// the creator can hand it out once. Never serialised.
	ID string `json:"-"`
	// Accessor names the token without granting anything.
	Accessor string `json:"accessor"`
	// Parent is the parent token's accessor; empty for orphans and root.
	Parent       string            `json:"parent,omitempty"`
	Policies     []string          `json:"policies"`
	Meta         map[string]string `json:"meta,omitempty"`
	DisplayName  string            `json:"display_name"`
	Path         string            `json:"path"`
	CreationTime time.Time         `json:"creation_time"`
	// ExpireTime is when the token stops working; zero never expires.
	ExpireTime time.Time `json:"expire_time,omitempty"`
	// TTL is the TTL granted at creation or the last renewal.
	TTL            time.Duration `json:"ttl"`
	ExplicitMaxTTL time.Duration `json:"explicit_max_ttl,omitempty"`
	Period         time.Duration `json:"period,omitempty"`
	// NumUses left; zero is unlimited.
	NumUses    int      `json:"num_uses,omitempty"`
	Renewable  bool     `json:"renewable"`
	Orphan     bool     `json:"orphan"`
	Role       string   `json:"role,omitempty"`
	BoundCIDRs []string `json:"bound_cidrs,omitempty"`
	// Type is "service" (the only type so far).
	Type     string `json:"type"`
	EntityID string `json:"entity_id,omitempty"`
}

// IsRoot reports whether the entry carries the root policy.
func (e *TokenEntry) IsRoot() bool {
	for _, p := range e.Policies {
		if p == "root" {
			return true
		}
	}
	return false
}

// PathsUnauthenticated is implemented by backends that serve some paths
// without a token (login endpoints). Paths are relative to the mount; a
// trailing '*' matches any suffix.
type PathsUnauthenticated interface {
	UnauthenticatedPaths() []string
}

// TokenCreator turns the auth block of a login response into a token. The
// system backend implements it for auth methods.
type TokenCreator interface {
	CreateFromAuth(ctx context.Context, req *Request, auth *Auth) (*TokenEntry, error)
}

// PathsSudo is implemented by backends with paths that need the sudo
// capability on top of the operation's own (e.g. auth/token/create-orphan).
// Paths are relative to the mount; a trailing '*' matches any suffix.
type PathsSudo interface {
	SudoPaths() []string
}
