package http

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"coffer/engines"
)

// Forwarder relays a request a standby cannot serve to the active node and
// copies the answer back, so the client sees one answer.
type Forwarder interface {
	// Forward relays r; body, when non-nil, is r's body already read.
	Forward(w http.ResponseWriter, r *http.Request, body []byte)
}

// forwardedKey marks a request that reached this node from a standby.
type forwardedKey struct{}

func forwardedFrom(ctx context.Context) string {
	v, _ := ctx.Value(forwardedKey{}).(string)
	return v
}

// clientAddrHeader carries the original client's address on a forwarded
// request; it is trusted only on requests that came over the node-to-node
// transport (ServeForwarded), never from a client.
const clientAddrHeader = "X-Coffer-Client-Addr"

// ServeForwarded serves a request a standby forwarded over the
// node-to-node transport; from is the standby's node ID, taken from its
// verified certificate. A forwarded request is never forwarded again.
func (h *Handler) ServeForwarded(w http.ResponseWriter, r *http.Request, from string) {
	if from == "" {
		writeErrorStatus(w, http.StatusForbidden, "permission denied")
		return
	}
	if addr := r.Header.Get(clientAddrHeader); addr != "" {
		r.RemoteAddr = addr
	}
	r = r.WithContext(context.WithValue(r.Context(), forwardedKey{}, from))
	h.ServeHTTP(w, r)
}

// forward relays r to the active node, or answers 503 when it cannot.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	if forwardedFrom(r.Context()) != "" || h.fwd == nil {
		h.writeError(w, r, engines.ErrNoLeader)
		return
	}
	h.fwd.Forward(w, r, body)
}

// PeerForwarder forwards over the node-to-node transport's HTTP client to
// https://LEADER_CLUSTER_ADDR/v1/....
type PeerForwarder struct {
	Client *http.Client
	// Leader returns the active node's cluster address and ID; empty when
	// there is no leader.
	Leader func() (addr, id string)
	// Self is this node's ID: a node never forwards to itself.
	Self string
}

// hopHeaders are not copied across a forward.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	http.CanonicalHeaderKey(clientAddrHeader): true,
}

// Forward implements Forwarder.
func (f *PeerForwarder) Forward(w http.ResponseWriter, r *http.Request, body []byte) {
	addr, id := f.Leader()
	if addr == "" || id == f.Self {
		writeErrorStatus(w, http.StatusServiceUnavailable, engines.ErrNoLeader.Message)
		return
	}
	var in io.Reader = r.Body
	if body != nil {
		in = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "https://"+addr+r.URL.RequestURI(), in)
	if err != nil {
		writeErrorStatus(w, http.StatusInternalServerError, "error forwarding the request to the active node")
		return
	}
	if body != nil {
		out.ContentLength = int64(len(body))
	} else {
		out.ContentLength = r.ContentLength
	}
	for k, vs := range r.Header {
		if !hopHeaders[k] {
			out.Header[k] = vs
		}
	}
	out.Header.Set(clientAddrHeader, r.RemoteAddr)
	resp, err := f.Client.Do(out)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			writeErrorStatus(w, http.StatusGatewayTimeout, "the active node did not answer in time")
			return
		}
		writeErrorStatus(w, http.StatusServiceUnavailable, "error forwarding the request to the active node")
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if !hopHeaders[k] {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// serveRaftBootstrap serves the join endpoints, which a node that is not
// yet a member (so has no token store) must reach: join on the joining
// node itself; challenge and answer on the active node (a standby
// forwards them).
func (h *Handler) serveRaftBootstrap(w http.ResponseWriter, r *http.Request, path string) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	op := strings.TrimPrefix(path, "sys/storage/raft/")
	if op != "join" && forwardedFrom(r.Context()) == "" && h.node.MustForward(path, engines.UpdateOperation) {
		h.forward(w, r, nil)
		return
	}
	data, err := h.parseBody(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	out, err := h.node.RaftBootstrap(r.Context(), op, data, host)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if op == "join" {
		writeJSON(w, http.StatusOK, out) // Vault answers join unwrapped
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}
