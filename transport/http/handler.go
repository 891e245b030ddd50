package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"coffer/engines"
	"coffer/engines/system"
)

// Node is what the API needs from the node behind it.
type Node interface {
	Initialized(ctx context.Context) (bool, error)
	Init(ctx context.Context, req system.InitRequest) (*system.InitResult, error)
	// Unseal submits a key share; with migrate, toward a seal migration.
	Unseal(ctx context.Context, share []byte, migrate bool) error
	ResetUnseal()
	SealStatus(ctx context.Context) (*system.SealStatus, error)
	Health(ctx context.Context) (*system.Health, error)
	Leader(ctx context.Context) (*system.Leader, error)
	Handle(ctx context.Context, req *engines.Request) (*engines.Response, error)
	// MountType names the type of the mount serving path, for the
	// response's mount_type; empty if none.
	MountType(path string) string
	// MustForward reports whether this node (a standby) must forward the
	// request to the active node rather than serve it.
	MustForward(path string, op engines.Operation) bool
	// RaftBootstrap serves the unauthenticated join endpoints: op is
	// "join", "bootstrap/challenge" or "bootstrap/answer".
	RaftBootstrap(ctx context.Context, op string, data map[string]any, from string) (map[string]any, error)
	// Quorum operations (generate-root, rekey), on the active node.
	GenerateRootStatus(ctx context.Context) (*system.GenerateRootStatus, error)
	GenerateRootInit(ctx context.Context) (*system.GenerateRootStatus, error)
	GenerateRootCancel(ctx context.Context) error
	GenerateRootUpdate(ctx context.Context, share []byte, nonce string) (*system.GenerateRootStatus, error)
	RekeyStatus(ctx context.Context, recovery bool) (*system.RekeyStatus, error)
	RekeyInit(ctx context.Context, recovery bool, shares, threshold int) (*system.RekeyStatus, error)
	RekeyCancel(ctx context.Context, recovery bool, nonce string) error
	RekeyUpdate(ctx context.Context, recovery bool, share []byte, nonce string) (*system.RekeyResult, error)
}

// Config configures a Handler.
type Config struct {
	Node   Node
	Logger *slog.Logger
	Limits Limits
	// RequestTimeout bounds how long one request may run; zero means 90s.
	RequestTimeout time.Duration
	// Forwarder relays what a standby cannot serve to the active node;
	// nil answers such requests 503.
	Forwarder Forwarder
}

// Handler is the http.Handler for /v1.
type Handler struct {
	node    Node
	fwd     Forwarder
	logger  *slog.Logger
	limits  Limits
	timeout time.Duration
	// bigBodies admits a few large bodies at a time, so many concurrent
	// 30 MiB uploads cannot exhaust memory before any is authenticated.
	bigBodies chan struct{}
}

// bigBody is the size from which a body needs a bigBodies slot.
const bigBody = 1 << 20

// sysBodyLimit caps the bodies of the unauthenticated seal endpoints.
const sysBodyLimit = 64 << 10

// New returns the API handler.
func New(cfg Config) *Handler {
	h := &Handler{node: cfg.Node, fwd: cfg.Forwarder, logger: cfg.Logger, limits: cfg.Limits.withDefaults(), timeout: cfg.RequestTimeout,
		bigBodies: make(chan struct{}, 4)}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.timeout == 0 {
		h.timeout = 90 * time.Second
	}
	return h
}

// ServeHTTP routes a request: the unauthenticated sys endpoints here, every
// other /v1 path through Node.Handle.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := withBound(r.Context(), h.timeout)
	defer cancel()
	r = r.WithContext(ctx)
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErrorStatus(w, http.StatusNotFound, "unsupported path")
		return
	}
	if !canonical(path) {
		writeErrorStatus(w, http.StatusBadRequest, "invalid request path: empty, '.' or '..' segments are not allowed")
		return
	}
	switch path {
	case "sys/init":
		h.serveInit(w, r)
	case "sys/seal-status":
		h.serveSealStatus(w, r)
	case "sys/unseal":
		h.serveUnseal(w, r)
	case "sys/health":
		h.serveHealth(w, r)
	case "sys/leader":
		h.serveLeader(w, r)
	case "sys/storage/raft/join", "sys/storage/raft/bootstrap/challenge", "sys/storage/raft/bootstrap/answer":
		h.serveRaftBootstrap(w, r, path)
	case "sys/generate-root/attempt":
		h.serveGenerateRootAttempt(w, r, path)
	case "sys/generate-root/update":
		h.serveGenerateRootUpdate(w, r, path)
	case "sys/rekey/init", "sys/rekey-recovery-key/init":
		h.serveRekeyInit(w, r, path)
	case "sys/rekey/update", "sys/rekey-recovery-key/update":
		h.serveRekeyUpdate(w, r, path)
	default:
		h.serveLogical(w, r, path)
	}
}

// canonical reports whether path has no empty, "." or ".." segment (one
// trailing slash is allowed, for list requests). Policies and backends see
// exactly this string, so "a//b" or "a/./b" can never be checked as one
// path and served as another.
func canonical(path string) bool {
	rest := strings.TrimSuffix(path, "/")
	if rest == "" {
		return false
	}
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// readBody reads the body within limit bytes.
func (h *Handler) readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, &engines.Error{Code: engines.CodeTooLarge, Message: "request body too large"}
	}
	if r.ContentLength < 0 || r.ContentLength > bigBody {
		select {
		case h.bigBodies <- struct{}{}:
			defer func() { <-h.bigBodies }()
		case <-r.Context().Done():
			return nil, &engines.Error{Code: engines.CodeUnavailable, Message: "server busy: too many large requests"}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, engines.BadRequest("failed to read request body")
	}
	if int64(len(body)) > limit {
		return nil, &engines.Error{Code: engines.CodeTooLarge, Message: "request body too large"}
	}
	return body, nil
}

// parseBody reads and decodes the JSON body under the limits; the seal
// endpoints, which anyone may call, get a much smaller size cap.
func (h *Handler) parseBody(r *http.Request) (map[string]any, error) {
	body, err := h.readBody(r, h.bodyLimit(r))
	if err != nil {
		return nil, err
	}
	return h.decode(body)
}

// bodyLimit is the size cap for r's body.
func (h *Handler) bodyLimit(r *http.Request) int64 {
	limit := h.limits.MaxBodyBytes
	if strings.HasPrefix(r.URL.Path, "/v1/sys/init") || strings.HasPrefix(r.URL.Path, "/v1/sys/unseal") ||
		strings.HasPrefix(r.URL.Path, "/v1/sys/storage/raft/join") || strings.HasPrefix(r.URL.Path, "/v1/sys/storage/raft/bootstrap/") {
		limit = min(limit, sysBodyLimit)
	}
	return limit
}

// decode parses a JSON body under the limits.
func (h *Handler) decode(body []byte) (map[string]any, error) {
	data, err := decodeBody(body, h.limits)
	if err != nil {
		if errors.Is(err, errNotObject) {
			return nil, engines.BadRequest("failed to parse JSON input: body must be a JSON object")
		}
		return nil, engines.BadRequest("failed to parse JSON input: %s", strings.TrimPrefix(err.Error(), "http: "))
	}
	return data, nil
}

// clientToken reads X-Vault-Token, or a Bearer token.
func clientToken(r *http.Request) string {
	if t := r.Header.Get("X-Vault-Token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// operation maps an HTTP method (and ?list=true) to an operation.
func operation(r *http.Request) (engines.Operation, bool) {
	switch r.Method {
	case http.MethodGet:
		if r.URL.RawQuery != "" { // most reads carry no query: nothing to parse
			if v := r.URL.Query().Get("list"); v == "true" || v == "1" {
				return engines.ListOperation, true
			}
		}
		return engines.ReadOperation, true
	case "LIST":
		return engines.ListOperation, true
	case http.MethodPost, http.MethodPut:
		return engines.UpdateOperation, true
	case http.MethodPatch:
		return engines.PatchOperation, true
	case http.MethodDelete:
		return engines.DeleteOperation, true
	}
	return "", false
}

func (h *Handler) serveLogical(w http.ResponseWriter, r *http.Request, path string) {
	op, ok := operation(r)
	if !ok {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if forwardedFrom(r.Context()) == "" && h.node.MustForward(path, op) {
		h.forward(w, r, nil)
		return
	}
	req := &engines.Request{
		ID:            engines.NewRequestID(),
		Operation:     op,
		Path:          path,
		ClientToken:   clientToken(r),
		RemoteAddr:    r.RemoteAddr,
		ForwardedFrom: forwardedFrom(r.Context()),
	}
	var body []byte
	switch {
	case streamed(path) && op == engines.UpdateOperation:
		// A snapshot restore: the body is the stream, not JSON.
		req.Data = map[string]any{}
		req.Body = http.MaxBytesReader(w, r.Body, maxStreamBytes)
	case op == engines.ReadOperation, op == engines.ListOperation, op == engines.DeleteOperation:
		req.Data = map[string]any{}
		if r.URL.RawQuery != "" {
			for k, vs := range r.URL.Query() {
				if k == "list" || len(vs) == 0 {
					continue
				}
				req.Data[k] = vs[0]
			}
		}
	default:
		if op == engines.PatchOperation && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/merge-patch+json") {
			writeErrorStatus(w, http.StatusUnsupportedMediaType, "PATCH requires Content-Type application/merge-patch+json")
			return
		}
		var err error
		body, err = h.readBody(r, h.bodyLimit(r))
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		data, err := h.decode(body)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		req.Data = data
	}
	fullPath := req.Path
	resp, err := h.node.Handle(r.Context(), req)
	if errors.Is(err, engines.ErrForward) && req.Body == nil {
		// A read this standby started needs the active node after all
		// (a limited-use token, a backend that writes).
		if body == nil {
			body = []byte{}
		}
		h.forward(w, r, body)
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if resp != nil && resp.Stream != nil {
		ct := resp.StreamType
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		if err := resp.Stream(w); err != nil {
			// Headers are out: the client sees a cut stream, which the
			// snapshot's own checksum rejects.
			h.logger.Warn("streaming response failed", "path", fullPath, "error", err)
		}
		return
	}
	h.respond(w, req, fullPath, resp)
}

// maxStreamBytes bounds a streamed request body (a snapshot): 64 GiB.
const maxStreamBytes = 64 << 30

// streamed reports whether path takes a raw stream as its body.
func streamed(path string) bool {
	return path == "sys/storage/raft/snapshot" || path == "sys/storage/raft/snapshot-force"
}

func (h *Handler) respond(w http.ResponseWriter, req *engines.Request, fullPath string, resp *engines.Response) {
	if resp == nil {
		if req.Operation == engines.ReadOperation || req.Operation == engines.ListOperation {
			writeErrorStatus(w, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status := http.StatusOK
	if resp.StatusCode != 0 {
		status = resp.StatusCode
	}
	if resp.Data == nil && resp.Auth == nil && resp.Secret == nil && len(resp.Warnings) == 0 {
		if status >= 400 {
			writeErrorStatus(w, status)
			return
		}
		if status == http.StatusOK {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeJSON(w, status, newEnvelope(req.ID, h.node.MountType(fullPath), resp))
}
