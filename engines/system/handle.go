package system

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"coffer/audit"
	"coffer/cluster"
	"coffer/engines"
	"coffer/engines/policy"
)

// sysSudoPaths are the sys/ paths that need the sudo capability, as in
// Vault (relative to sys/; a trailing '*' matches any suffix).
var sysSudoPaths = []string{"seal", "step-down", "storage/raft/*", "leases/revoke-prefix/*", "leases/revoke-force/*",
	"leases/lookup", "leases/lookup/*", "revoke-prefix/*", "revoke-force/*", "rotate", "auth/*", "audit", "audit/*", "raw", "raw/*", "policies/acl/root", "pprof", "pprof/*"}

// target is where a request goes once resolved.
type target struct {
	sys      bool
	resolved engines.Resolved
	found    bool
}

func (s *System) resolve(path string) target {
	if path == "sys" || strings.HasPrefix(path, "sys/") {
		return target{sys: true, found: true}
	}
	if strings.HasPrefix(path, "auth/") {
		r, ok := s.authRouter.Resolve(path)
		return target{resolved: r, found: ok}
	}
	r, ok := s.router.Resolve(path)
	return target{resolved: r, found: ok}
}

// Handle serves one logical request: it resolves the mount, authenticates
// the token (unless the mount declares the path unauthenticated, like a
// login), checks the ACL (and sudo where required) on the full path, counts
// a use of the token, and only then calls the backend. A login's auth block
// becomes a token here. The unauthenticated sys endpoints (init, unseal,
// seal-status, health, leader) never come through Handle.
//
// Every refusal before the backend is the same 403 "permission denied",
// whether the token is missing, unknown, expired or not allowed, and
// whether or not the path exists.
func (s *System) Handle(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	start, path := time.Now(), req.Path
	resp, err, sealAfter := s.handle(ctx, req)
	s.observeRequest(path, req, resp, err, start)
	if sealAfter {
		// sys/seal takes effect once its response is on the record and no
		// request is still between its two audit entries.
		s.Seal()
	}
	return resp, err
}

func (s *System) handle(ctx context.Context, req *engines.Request) (_ *engines.Response, _ error, sealAfter bool) {
	// Held from the active check to the response entry: sealing waits for
	// requests in flight, so none can answer after the audit broker closed.
	s.inflight.RLock()
	defer s.inflight.RUnlock()
	if !s.active.Load() {
		if ok, err := s.barrier.Initialized(ctx); err == nil && !ok {
			return nil, &engines.Error{Code: engines.CodeSealed, Message: "Vault is not initialized"}, false
		}
		return nil, engines.ErrSealed, false
	}
	// One read barrier per request: every read it makes, on the leader or
	// a standby, sees every write acknowledged before it arrived. A write
	// on the leader defers it: committing proves the reads were current,
	// and finishBarrier pays for the proof only if nothing was committed.
	var err error
	finishBarrier := func(context.Context) error { return nil }
	switch {
	case req.Path == "sys/seal":
		// Sealing must work on a node that cannot reach a leader (a
		// partitioned standby, a leader that lost quorum): the token is
		// checked against this node's own copy.
		ctx = cluster.WithoutBarrier(ctx)
	case req.Operation.Writes() && req.Path != "sys/step-down":
		// (A step-down succeeds by giving up leadership: it cannot prove
		// anything afterwards, so it takes the ordinary barrier first.)
		if ctx, finishBarrier, err = s.cluster.WriteBarrier(ctx); err != nil {
			return nil, clientError(err), false
		}
	default:
		if ctx, err = s.cluster.ReadBarrier(ctx); err != nil {
			return nil, clientError(err), false
		}
	}
	if err := s.reloadChanged(ctx); err != nil {
		if errors.Is(err, errReloadSeal) {
			s.logger.Error("the data no longer opens with this node's keys (a forced snapshot restore?); sealing")
			go s.Seal()
			return nil, engines.ErrSealed, false
		}
		return nil, clientError(err), false
	}
	standby := !s.cluster.IsLeader()
	in := &audit.Input{FullPath: req.Path, Request: req, Time: time.Now().UTC()}
	// Login and token-store bodies carry credentials: never logged raw.
	in.Sensitive = strings.HasPrefix(req.Path, "auth/")
	t := s.resolve(req.Path)
	if standby && t.found {
		// A mount that issues leased secrets serves them on the active
		// node only (MustForward may have looked before a new mount
		// replicated here).
		if _, issues := t.resolved.Backend.(engines.SecretBackend); issues {
			return nil, engines.ErrForward, false
		}
	}
	s.describeMount(in, t)
	tok, acl, err := s.authorize(ctx, req, t)
	if standby && tok != nil && tok.NumUses > 0 {
		// Spending a use is a write: the active node serves this one.
		return nil, engines.ErrForward, false
	}
	in.Token = tok
	// The request is on the record before anything is served or spent,
	// refusals included; no record, no answer.
	if aerr := s.audit.LogRequest(ctx, in); aerr != nil {
		s.logger.Error("audit failed: request refused", "path", in.FullPath, "error", aerr)
		countAuditFailure("request")
		return nil, errAuditFailed, false
	}
	// A limited-use token spends a use on every request it authenticated,
	// refused ones included, so it cannot probe without limit.
	if tok != nil && tok.NumUses > 0 {
		if uerr := s.tokens.Use(ctx, tok); uerr != nil {
			err, acl = engines.ErrPermissionDenied, nil
		}
	}
	var resp *engines.Response
	if err == nil {
		resp, err = s.dispatch(ctx, req, t, tok, acl)
	}
	// Whatever the outcome, success or refusal, it leaves only once the
	// reads behind it are known to be current.
	if berr := finishBarrier(ctx); berr != nil {
		resp, err = nil, berr
	}
	if standby && (errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrNotStarted)) {
		// The backend wanted to write: the active node serves the request.
		resp, err = nil, engines.ErrForward
	}
	err = clientError(err)
	in.Response, in.Err, in.Time = resp, err, time.Time{}
	in.Sensitive = in.Sensitive || (resp != nil && (resp.Auth != nil || resp.Secret != nil))
	// The work is done (maybe committed): record it even if the client
	// has gone away; the device's own timeout still bounds the wait.
	if aerr := s.audit.LogResponse(context.WithoutCancel(ctx), in); aerr != nil {
		s.logger.Error("audit failed: response withheld", "path", in.FullPath, "error", aerr)
		countAuditFailure("response")
		return nil, errAuditFailed, false
	}
	sealAfter = err == nil && in.FullPath == "sys/seal"
	return resp, err, sealAfter
}

// errAuditFailed is what a client gets when no audit device recorded its
// request or response.
var errAuditFailed = &engines.Error{Code: engines.CodeInternal, Message: "audit: no audit device could record the request; refusing to serve it"}

// describeMount fills the audit input's mount fields.
func (s *System) describeMount(in *audit.Input, t target) {
	switch {
	case t.sys:
		in.MountType, in.MountPoint, in.MountAccessor = "system", "sys/", "system"
	case t.found:
		in.MountType, in.MountPoint, in.MountAccessor = t.resolved.Entry.Type, t.resolved.MountPoint, t.resolved.Entry.Accessor
	}
}

// authorize decides whether req may run: unauthenticated (login) paths
// pass with no token; everything else needs a live token whose ACL allows
// the operation on the full path (and sudo where required). It returns the
// token and ACL for dispatch, and the refusal if any.
func (s *System) authorize(ctx context.Context, req *engines.Request, t target) (*engines.TokenEntry, *policy.ACL, error) {
	fullPath := req.Path
	if t.found && !t.sys && unauthenticated(t.resolved, req.Operation) {
		return nil, nil, nil
	}
	tok, err := s.authenticate(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	acl, err := s.policies.acl(ctx, tok.Policies)
	if err != nil {
		return tok, nil, fmt.Errorf("system: compile acl: %w", err)
	}
	checkPath := fullPath
	if req.Operation == engines.ListOperation && !strings.HasSuffix(checkPath, "/") {
		checkPath += "/"
	}
	d := acl.Allowed(checkPath, string(req.Operation), req.Data)
	if s.needsExistence(req, t, d) {
		op, err := s.aclOperation(ctx, req, t)
		if err != nil {
			return tok, nil, err
		}
		d = acl.Allowed(checkPath, string(op), req.Data)
	}
	if !d.Allowed && !selfChecked(fullPath) {
		return tok, nil, engines.ErrPermissionDenied
	}
	if s.needsSudo(t, fullPath) && !d.Sudo {
		return tok, nil, engines.ErrPermissionDenied
	}
	if !t.found {
		return tok, nil, &engines.Error{Code: engines.CodeNotFound, Message: fmt.Sprintf("no handler for route %q. route entry not found.", fullPath)}
	}
	return tok, acl, nil
}

// dispatch runs an authorized request: counts a use of a limited-use
// token, then serves sys/ here and everything else through its backend.
func (s *System) dispatch(ctx context.Context, req *engines.Request, t target, tok *engines.TokenEntry, acl *policy.ACL) (*engines.Response, error) {
	if tok == nil {
		return s.serve(ctx, req, t)
	}
	req.Token = tok
	if t.sys {
		return s.handleSys(ctx, req, tok, acl)
	}
	return s.serve(ctx, req, t)
}

// authenticate finds the caller's live token and checks its CIDR binding.
func (s *System) authenticate(ctx context.Context, req *engines.Request) (*engines.TokenEntry, error) {
	if req.ClientToken == "" {
		return nil, engines.ErrPermissionDenied
	}
	tok, err := s.tokens.Lookup(ctx, req.ClientToken)
	if err != nil {
		return nil, fmt.Errorf("system: look up token: %w", err)
	}
	if tok == nil || !addrAllowed(req.RemoteAddr, tok.BoundCIDRs) {
		return nil, engines.ErrPermissionDenied
	}
	return tok, nil
}

// addrAllowed reports whether remote ("ip:port") is inside one of cidrs;
// no CIDRs allows every address.
func addrAllowed(remote string, cidrs []string) bool {
	if len(cidrs) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, c := range cidrs {
		if _, n, err := net.ParseCIDR(c); err == nil && n.Contains(ip) {
			return true
		}
		if one := net.ParseIP(c); one != nil && one.Equal(ip) {
			return true
		}
	}
	return false
}

// needsExistence reports whether the capability a write needs (create or
// update) depends on whether its item exists, given the decision d made for
// update: only when the matched rule grants one of the two and not the
// other. The rule is chosen by path alone and its parameter constraints
// apply to both, so when it grants both, or neither, the answer is d and
// the backend is not asked (a KV write then reads its metadata once, not
// twice).
func (s *System) needsExistence(req *engines.Request, t target, d policy.Decision) bool {
	if req.Operation != engines.UpdateOperation || !t.found || t.sys || d.Root {
		return false
	}
	if _, ok := t.resolved.Backend.(engines.ExistenceChecker); !ok {
		return false
	}
	create, update := d.Capabilities&policy.CapCreate != 0, d.Capabilities&policy.CapUpdate != 0
	return create != update && d.Capabilities&policy.CapDeny == 0
}

// aclOperation is the capability a request needs: a write is create for a
// new item and update for an existing one when the backend can tell.
func (s *System) aclOperation(ctx context.Context, req *engines.Request, t target) (engines.Operation, error) {
	if req.Operation != engines.UpdateOperation || !t.found || t.sys {
		return req.Operation, nil
	}
	ec, ok := t.resolved.Backend.(engines.ExistenceChecker)
	if !ok {
		return engines.UpdateOperation, nil
	}
	probe := *req
	probe.MountPoint, probe.Path, probe.MountAccessor = t.resolved.MountPoint, t.resolved.Path, t.resolved.Entry.Accessor
	exists, err := ec.Exists(ctx, &probe)
	if err != nil {
		return "", fmt.Errorf("system: existence check: %w", err)
	}
	if exists {
		return engines.UpdateOperation, nil
	}
	return engines.CreateOperation, nil
}

func (s *System) needsSudo(t target, fullPath string) bool {
	if t.sys {
		return matchAny(sysSudoPaths, strings.TrimPrefix(fullPath, "sys/"))
	}
	if !t.found {
		return false
	}
	sp, ok := t.resolved.Backend.(engines.PathsSudo)
	return ok && matchAny(sp.SudoPaths(), t.resolved.Path)
}

// selfChecked marks sys paths any token may call because the handler
// checks the token's ACL itself (sys/internal/ui/mounts/*).
func selfChecked(fullPath string) bool {
	return strings.HasPrefix(fullPath, "sys/internal/ui/mounts/")
}

func unauthenticated(r engines.Resolved, op engines.Operation) bool {
	up, ok := r.Backend.(engines.PathsUnauthenticated)
	return ok && op != engines.ListOperation && matchAny(up.UnauthenticatedPaths(), r.Path)
}

// matchAny matches path against patterns with an optional trailing '*'.
func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if p == path {
			return true
		}
	}
	return false
}

// serve calls the resolved backend and turns a login's auth block into a
// token.
func (s *System) serve(ctx context.Context, req *engines.Request, t target) (*engines.Response, error) {
	req.MountPoint, req.Path, req.MountAccessor = t.resolved.MountPoint, t.resolved.Path, t.resolved.Entry.Accessor
	resp, err := t.resolved.Backend.HandleRequest(ctx, req)
	if err == nil && resp != nil && resp.Secret != nil && !strings.HasPrefix(req.MountPoint, "auth/") {
		if err := s.registerLease(ctx, req, t, resp); err != nil {
			return nil, err
		}
	}
	if err != nil || resp == nil || resp.Auth == nil || resp.Auth.ClientToken != "" {
		return resp, err
	}
	if !strings.HasPrefix(req.MountPoint, "auth/") {
		return nil, fmt.Errorf("system: backend at %s returned an auth block", req.MountPoint)
	}
	// The auth mount's tuned TTLs bound the tokens it issues.
	if me := t.resolved.Entry; me.DefaultLeaseTTL > 0 && resp.Auth.LeaseDuration == 0 && resp.Auth.Period == 0 {
		resp.Auth.LeaseDuration = me.DefaultLeaseTTL
	}
	if me := t.resolved.Entry; me.MaxLeaseTTL > 0 && (resp.Auth.ExplicitMaxTTL == 0 || resp.Auth.ExplicitMaxTTL > me.MaxLeaseTTL) {
		resp.Auth.ExplicitMaxTTL = me.MaxLeaseTTL
	}
	entry, err := s.tokens.CreateFromAuth(ctx, req, resp.Auth)
	if err != nil {
		return nil, err
	}
	a := resp.Auth
	a.ClientToken, a.Accessor = entry.ID, entry.Accessor
	a.Policies, a.TokenPolicies = entry.Policies, entry.Policies
	a.LeaseDuration, a.Renewable = entry.TTL, entry.Renewable
	a.Orphan, a.TokenType, a.EntityID = entry.Orphan, "service", entry.EntityID
	if a.Metadata == nil {
		a.Metadata = entry.Meta
	}
	return resp, nil
}

// Router exposes the secrets mount table.
func (s *System) Router() *engines.Router { return s.router }

// MountType names the type of the mount serving path ("kv", "system"), or
// "" when no mount matches.
func (s *System) MountType(path string) string {
	t := s.resolve(path)
	switch {
	case t.sys:
		return "system"
	case t.found:
		return t.resolved.Entry.Type
	}
	return ""
}
