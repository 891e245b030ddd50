package engines

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Operation is what a request does, in Vault's vocabulary.
type Operation string

// The operations a backend can be asked to perform.
const (
	ReadOperation   Operation = "read"
	CreateOperation Operation = "create"
	UpdateOperation Operation = "update"
	PatchOperation  Operation = "patch"
	DeleteOperation Operation = "delete"
	ListOperation   Operation = "list"
)

// Writes reports whether the operation is expected to change state
// (anything but a read or a list): such a request runs on the active node.
func (o Operation) Writes() bool { return o != ReadOperation && o != ListOperation }

// Request is one API call as a backend sees it.
type Request struct {
	// ID is the request's unique id, echoed as request_id.
	ID string
	// Operation is the verb, already mapped from the HTTP method.
	Operation Operation
	// Path is relative to the mount when a backend sees it ("data/app"),
	// and the full path ("secret/data/app") before routing.
	Path string
	// MountPoint is the mount the request was routed to ("secret/").
	MountPoint string
	// Data is the decoded JSON body; for read and list requests the URL
	// query parameters are merged in as strings, as Vault does.
	Data map[string]any
	// ClientToken is the caller's token; never log it.
	ClientToken string
	// RemoteAddr is the client's address, for audit.
	RemoteAddr string
	// Storage is the mount's private view, set by the router.
	Storage Storage
	// Token is the caller's token entry once authenticated; nil on
	// unauthenticated paths (logins).
	Token *TokenEntry
	// MountAccessor is the accessor of the mount serving the request.
	MountAccessor string
	// ForwardedFrom names the standby node that forwarded the request to
	// this one (empty when the client called this node), for audit.
	ForwardedFrom string
	// Body is the raw request body of the few endpoints that take a
	// stream rather than JSON (a snapshot restore); nil otherwise.
	Body io.Reader
}

// Response is what a backend returns; the HTTP layer wraps it in Vault's
// envelope. A nil Response with a nil error is a 204 (or 404 on read).
type Response struct {
	Data     map[string]any
	Secret   *Secret
	Auth     *Auth
	Warnings []string
	// StatusCode overrides the HTTP status when non-zero (KV v2 answers a
	// deleted version with 404 and its metadata).
	StatusCode int
	// Stream, when set, is the response body, written raw (a snapshot);
	// Data is then ignored.
	Stream func(w io.Writer) error
	// StreamType is Stream's content type; empty means
	// application/octet-stream.
	StreamType string
}

// Secret describes a leased secret in a response.
type Secret struct {
	LeaseID       string
	LeaseDuration time.Duration
	Renewable     bool
	// MaxTTL caps the lease's whole life from issue (a role's max_ttl);
	// zero means the mount's max lease TTL.
	MaxTTL time.Duration
	// InternalData is what the backend needs to renew or revoke the
	// secret (a user name): kept in the lease, encrypted, never returned
	// to the client.
	InternalData map[string]any
}

// SecretBackend is implemented by backends whose responses carry leased
// secrets: the lease manager calls it when a lease is renewed, revoked
// or expires.
type SecretBackend interface {
	// RevokeSecret revokes what a lease stands for. Revoking something
	// already gone returns nil (revocation is retried and must be
	// idempotent).
	RevokeSecret(ctx context.Context, req *SecretRequest) error
	// RenewSecret extends it to req.ExpireTime (already capped by the
	// lease manager); an error refuses the renewal.
	RenewSecret(ctx context.Context, req *SecretRequest) error
}

// SecretRequest is a lease operation on a backend's secret.
type SecretRequest struct {
	// Storage is the mount's view.
	Storage      Storage
	LeaseID      string
	InternalData map[string]any
	IssueTime    time.Time
	// ExpireTime is when the secret expires after this operation.
	ExpireTime time.Time
}

// Closer is implemented by backends that hold connections or run
// background work; the router calls Close when the mount goes away or the
// node seals.
type Closer interface {
	Close() error
}

// Auth is the auth block of a login or token-create response.
//
// An auth method fills the request side (Policies, Metadata, DisplayName,
// LeaseDuration as the wanted TTL, ExplicitMaxTTL, Period, NumUses,
// BoundCIDRs, Renewable) and returns it without a token; the system backend
// then creates the token (TokenCreator) and fills ClientToken, Accessor,
// TokenPolicies and the granted LeaseDuration.
type Auth struct {
	ClientToken    string
	Accessor       string
	Policies       []string
	TokenPolicies  []string
	Metadata       map[string]string
	DisplayName    string
	LeaseDuration  time.Duration
	ExplicitMaxTTL time.Duration
	Period         time.Duration
	NumUses        int
	BoundCIDRs     []string
	Renewable      bool
	EntityID       string
	TokenType      string
	Orphan         bool
	// NoDefaultPolicy keeps "default" out of the token's policies.
	NoDefaultPolicy bool
}

// Backend serves the requests routed to one mount.
//
// HandleRequest is called concurrently from many goroutines; a backend
// that needs read-modify-write atomicity locks for itself. Errors carrying a
// Code (see Error) reach the client with that code's status and message;
// any other error is reported to the client as an internal error and its
// detail goes only to the operator log.
type Backend interface {
	HandleRequest(ctx context.Context, req *Request) (*Response, error)
}

// BackendConfig is what a Factory gets to build a backend for one mount.
type BackendConfig struct {
	// MountPath is the mount's path with its trailing slash.
	MountPath string
	// Options are the mount's options (for KV, "version").
	Options map[string]string
	// Storage is the mount's private view of the barrier.
	Storage Storage
	// Clock returns the current time; tests may replace it.
	Clock func() time.Time
	// Logger is the mount's operational log; nil discards.
	Logger *slog.Logger
	// RunWhileLeader runs svc while this node leads the cluster (scheduled
	// rotations); the returned function stops it. Nil in tests without a
	// cluster: the backend then runs nothing in the background.
	RunWhileLeader func(name string, svc func(ctx context.Context)) (stop func())
	// LeaseTTLs returns the mount's default and max lease TTL (tuned, or
	// the system's); nil means 768h for both, Vault's default.
	LeaseTTLs func() (def, max time.Duration)
	// Event records something a backend did on its own (a scheduled
	// rotation) in the audit log, as a request and response pair on path
	// (relative to the mount) with data (HMAC'd like any other entry). Nil
	// in tests; an error means no audit device recorded it.
	Event func(ctx context.Context, path string, data map[string]any) error
}

// Factory builds a backend for a mount.
type Factory func(ctx context.Context, conf *BackendConfig) (Backend, error)

// ExistenceChecker tells whether a write targets an item that already
// exists, so the ACL can require the create capability for new items and
// update for existing ones, as Vault does. Writes to backends without it
// are checked as updates.
type ExistenceChecker interface {
	Exists(ctx context.Context, req *Request) (bool, error)
}
