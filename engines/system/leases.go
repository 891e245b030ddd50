package system

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
	"coffer/engines/lease"
)

// leaseRevoker reaches the backend that issued a lease.
type leaseRevoker struct{ s *System }

// errMountUnavailable: the lease's mount exists but cannot revoke now (its
// backend failed to start); the lease is kept and retried.
var errMountUnavailable = errors.New("the mount that issued the lease cannot revoke it now (see the server log)")

// backend finds the lease's backend; found is false only when the mount
// itself is gone.
func (r leaseRevoker) backend(e *lease.Entry) (sb engines.SecretBackend, view engines.Storage, found bool, err error) {
	res, view, ok := r.s.router.ByAccessor(e.MountAccessor)
	if !ok {
		return nil, nil, false, nil
	}
	sb, ok = res.Backend.(engines.SecretBackend)
	if !ok {
		return nil, nil, true, errMountUnavailable
	}
	return sb, view, true, nil
}

func (r leaseRevoker) Revoke(ctx context.Context, e *lease.Entry) error {
	sb, view, found, err := r.backend(e)
	if err != nil {
		return err
	}
	if !found {
		// The mount is gone (its data with it): nothing is left to revoke.
		r.s.logger.Warn("lease of a mount that no longer exists; dropping it", "mount", e.MountPath)
		return nil
	}
	if err := sb.RevokeSecret(ctx, &engines.SecretRequest{Storage: view, LeaseID: e.LeaseID, InternalData: e.InternalData, IssueTime: e.IssueTime, ExpireTime: e.ExpireTime}); err != nil {
		return err
	}
	r.s.logger.Debug("lease revoked", "mount", e.MountPath, "node", r.s.cluster.NodeID())
	return nil
}

func (r leaseRevoker) Renew(ctx context.Context, e *lease.Entry, newExpire time.Time) error {
	sb, view, found, err := r.backend(e)
	if err != nil {
		return err
	}
	if !found {
		return errors.New("the mount that issued the lease no longer exists")
	}
	return sb.RenewSecret(ctx, &engines.SecretRequest{Storage: view, LeaseID: e.LeaseID, InternalData: e.InternalData, IssueTime: e.IssueTime, ExpireTime: newExpire})
}

// registerLease gives a response's secret a lease: recorded (with its
// expiry index entry, in one Raft entry) before the response leaves. If it
// cannot be recorded, the secret is revoked at once and the request fails:
// no credential exists without its lease.
func (s *System) registerLease(ctx context.Context, req *engines.Request, t target, resp *engines.Response) error {
	sec := resp.Secret
	def, max := s.router.LeaseTTLs(t.resolved.Entry.UUID)
	ttl := sec.LeaseDuration
	if ttl <= 0 {
		ttl = def
	}
	maxTTL := max
	if sec.MaxTTL > 0 && sec.MaxTTL < maxTTL {
		maxTTL = sec.MaxTTL
	}
	ttl = min(ttl, maxTTL)
	now := time.Now().UTC()
	e := &lease.Entry{
		LeaseID:       lease.NewLeaseID(req.MountPoint, req.Path),
		Path:          req.MountPoint + req.Path,
		MountAccessor: t.resolved.Entry.Accessor,
		MountPath:     req.MountPoint,
		IssueTime:     now,
		ExpireTime:    now.Add(ttl),
		LastRenewal:   now,
		Renewable:     sec.Renewable,
		MaxExpire:     now.Add(maxTTL),
		InternalData:  sec.InternalData,
	}
	if req.Token != nil {
		e.TokenKey = req.Token.Accessor
	}
	if err := s.leases.Register(ctx, e); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := (leaseRevoker{s}).Revoke(rctx, e); rerr != nil {
			s.logger.Error("a secret whose lease could not be recorded could not be revoked either", "path", e.Path, "error", rerr)
		}
		return fmt.Errorf("system: record lease: %w", err)
	}
	sec.LeaseID, sec.LeaseDuration, sec.InternalData = e.LeaseID, ttl, nil
	return nil
}

// revokeTokenLeases revokes the leases a token created, as it goes away.
func (s *System) revokeTokenLeases(ctx context.Context, accessor string) {
	if accessor == "" || s.leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if n, err := s.leases.RevokeByToken(ctx, accessor); err != nil {
		s.logger.Warn("revoking a revoked token's leases failed; they expire at their TTL", "revoked", n, "error", err)
	}
}

// leasePath serves sys/leases/*, and the sys/renew, sys/revoke,
// sys/revoke-prefix and sys/revoke-force aliases.
func (s *System) leasePath(ctx context.Context, req *engines.Request, path string) (*engines.Response, error) {
	op := req.Operation
	write := op == engines.UpdateOperation || op == engines.CreateOperation
	leaseID := func(rest string) string {
		if rest != "" {
			return rest
		}
		id, _ := req.Data["lease_id"].(string)
		return id
	}
	cut := func(p, name string) (string, bool) {
		if p == name {
			return "", true
		}
		return strings.CutPrefix(p, name+"/")
	}
	switch {
	case path == "" && op == engines.ReadOperation:
		return s.irrevocableLeases(ctx)
	case path == "count" && op == engines.ReadOperation:
		// Vault counts irrevocable leases (type=irrevocable); without a
		// type Coffer counts them all.
		var n int
		var err error
		if typ, _ := req.Data["type"].(string); typ == "irrevocable" {
			var list []*lease.Entry
			list, err = s.leases.Irrevocable(ctx)
			n = len(list)
		} else {
			n, err = s.leases.Count(ctx, "")
		}
		if err != nil {
			return nil, err
		}
		return &engines.Response{Data: map[string]any{"lease_count": n, "counts": map[string]any{"root": n}}}, nil
	case path == "tidy" && write:
		if _, err := s.leases.Tidy(ctx); err != nil {
			return nil, err
		}
		return &engines.Response{StatusCode: 202, Warnings: []string{"Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs."}}, nil
	case path == "lookup" && write:
		return s.leaseLookup(ctx, leaseID(""))
	case (path == "lookup" || strings.HasPrefix(path, "lookup/")) && op == engines.ListOperation:
		prefix := strings.TrimPrefix(strings.TrimPrefix(path, "lookup"), "/")
		keys, err := s.leases.ListPrefix(ctx, prefix)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, nil
		}
		return &engines.Response{Data: map[string]any{"keys": keys}}, nil
	}
	if rest, ok := cut(path, "renew"); ok && write {
		return s.leaseRenew(ctx, leaseID(rest), req.Data)
	}
	if rest, ok := cut(path, "revoke"); ok && write {
		id := leaseID(rest)
		if id == "" {
			return nil, engines.BadRequest("lease_id is required")
		}
		if err := s.leases.Revoke(ctx, id); err != nil {
			return nil, leaseError(err)
		}
		return nil, nil
	}
	for _, force := range []bool{false, true} {
		name := map[bool]string{false: "revoke-prefix", true: "revoke-force"}[force]
		if rest, ok := cut(path, name); ok && write {
			if rest == "" {
				return nil, engines.BadRequest("a prefix is required: sys/leases/%s/<prefix>", name)
			}
			if _, err := s.leases.RevokePrefix(ctx, rest, force); err != nil {
				return nil, leaseError(err)
			}
			return nil, nil
		}
	}
	return nil, engines.ErrUnsupportedPath
}

func leaseError(err error) error {
	switch {
	case errors.Is(err, lease.ErrNotFound):
		return engines.BadRequest("invalid lease")
	case errors.Is(err, lease.ErrNotRenewable):
		return engines.BadRequest("lease is not renewable")
	case errors.Is(err, lease.ErrExpired):
		return engines.BadRequest("lease expired or too close to expiry to renew")
	case errors.Is(err, lease.ErrIrrevocable):
		return engines.BadRequest("lease is irrevocable: its backend failed to revoke it; see sys/leases")
	case errors.Is(err, lease.ErrInvalid):
		return engines.BadRequest("%s", strings.TrimPrefix(err.Error(), "lease: "))
	}
	return err
}

func (s *System) leaseLookup(ctx context.Context, id string) (*engines.Response, error) {
	if id == "" {
		return nil, engines.BadRequest("lease_id is required")
	}
	e, err := s.leases.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, engines.BadRequest("invalid lease")
	}
	ttl := time.Until(e.ExpireTime)
	if ttl < 0 {
		ttl = 0
	}
	data := map[string]any{
		"id":           e.LeaseID,
		"issue_time":   e.IssueTime.Format(time.RFC3339Nano),
		"expire_time":  e.ExpireTime.Format(time.RFC3339Nano),
		"last_renewal": nil,
		"renewable":    e.Renewable && !e.Irrevocable,
		"ttl":          int64(ttl.Seconds()),
	}
	if !e.LastRenewal.Equal(e.IssueTime) {
		data["last_renewal"] = e.LastRenewal.Format(time.RFC3339Nano)
	}
	return &engines.Response{Data: data}, nil
}

func (s *System) leaseRenew(ctx context.Context, id string, data map[string]any) (*engines.Response, error) {
	if id == "" {
		return nil, engines.BadRequest("lease_id is required")
	}
	increment, _, err := tokenfields.Fields(data).Duration("increment")
	if err != nil {
		return nil, engines.BadRequest("%s", err.Error())
	}
	if increment < 0 {
		return nil, engines.BadRequest("increment must not be negative")
	}
	e, err := s.leases.Renew(ctx, id, increment)
	if err != nil {
		return nil, leaseError(err)
	}
	return &engines.Response{Secret: &engines.Secret{LeaseID: e.LeaseID, LeaseDuration: time.Until(e.ExpireTime).Round(time.Second), Renewable: e.Renewable}}, nil
}

func (s *System) irrevocableLeases(ctx context.Context) (*engines.Response, error) {
	list, err := s.leases.Irrevocable(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(list))
	for _, e := range list {
		out = append(out, map[string]any{
			"lease_id":    e.LeaseID,
			"mount_id":    e.MountAccessor,
			"expire_time": e.ExpireTime.Format(time.RFC3339Nano),
			"error":       e.LastError,
		})
	}
	return &engines.Response{Data: map[string]any{"lease_count": len(out), "leases": out}}, nil
}
