package system

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"coffer/engines"
	"coffer/engines/policy"
)

// policyStore keeps ACL policies behind the barrier (one record per policy,
// the HCL text) and compiles ACLs through a cache that every request uses.
type policyStore struct {
	storage engines.Storage
	cache   *policy.Cache
}

func newPolicyStore(storage engines.Storage) *policyStore {
	ps := &policyStore{storage: storage}
	ps.cache = policy.NewCache(ps.load, 1024)
	return ps
}

// load reads one policy; root is built in; unknown names are (nil, nil).
func (ps *policyStore) load(ctx context.Context, name string) (*policy.Policy, error) {
	if name == "root" {
		return policy.Root(), nil
	}
	raw, err := ps.storage.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("system: read policy %s: %w", name, err)
	}
	if raw == nil {
		return nil, nil
	}
	p, err := policy.Parse(name, string(raw))
	if err != nil {
		return nil, fmt.Errorf("system: stored policy %s does not parse: %w", name, err)
	}
	return p, nil
}

// ensureDefault writes Vault's default policy the first time.
func (ps *policyStore) ensureDefault(ctx context.Context) error {
	raw, err := ps.storage.Get(ctx, "default")
	if err != nil {
		return fmt.Errorf("system: read default policy: %w", err)
	}
	if raw != nil {
		return nil
	}
	if err := ps.storage.Put(ctx, "default", []byte(policy.Default().Raw)); err != nil {
		return fmt.Errorf("system: write default policy: %w", err)
	}
	return nil
}

// acl returns the compiled ACL for a token's policies.
func (ps *policyStore) acl(ctx context.Context, names []string) (*policy.ACL, error) {
	return ps.cache.ACL(ctx, names)
}

// invalidate drops cached ACLs naming a policy another node changed.
func (ps *policyStore) invalidate(name string) { ps.cache.Invalidate(name) }

func (ps *policyStore) reset() {
	ps.cache.Purge()
}

// normalizePolicyName checks a policy name. A name that is not already
// lower case and trimmed is refused rather than folded: the ACL checked
// the path as written, so folding "ADMIN" into "admin" after the check
// would let a caller write a policy its own policy denies.
func normalizePolicyName(name string) (string, error) {
	if name == "" {
		return "", engines.BadRequest("policy name must be provided")
	}
	if norm := strings.ToLower(strings.TrimSpace(name)); norm != name {
		return "", engines.BadRequest("policy names are lower case without surrounding spaces; use %q", norm)
	}
	if strings.ContainsAny(name, "/\\ \t\n") || len(name) > 128 {
		return "", engines.BadRequest("invalid policy name %q", name)
	}
	return name, nil
}

func (ps *policyStore) list(ctx context.Context) ([]string, error) {
	keys, err := ps.storage.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("system: list policies: %w", err)
	}
	out := append([]string{}, keys...)
	out = append(out, "root")
	sort.Strings(out)
	return out, nil
}

func (ps *policyStore) get(ctx context.Context, name string) (string, bool, error) {
	if name == "root" {
		return "", true, nil
	}
	raw, err := ps.storage.Get(ctx, name)
	if err != nil {
		return "", false, fmt.Errorf("system: read policy: %w", err)
	}
	return string(raw), raw != nil, nil
}

func (ps *policyStore) put(ctx context.Context, name, text string) error {
	if name == "root" {
		return engines.BadRequest("cannot update the root policy")
	}
	if _, err := policy.Parse(name, text); err != nil {
		return engines.BadRequest("failed to parse policy: %s", err.Error())
	}
	if err := ps.storage.Put(ctx, name, []byte(text)); err != nil {
		return fmt.Errorf("system: write policy: %w", err)
	}
	ps.cache.Invalidate(name)
	return nil
}

func (ps *policyStore) delete(ctx context.Context, name string) error {
	if name == "root" || name == "default" {
		return engines.BadRequest("cannot delete %s policy", name)
	}
	if err := ps.storage.Delete(ctx, name); err != nil {
		return fmt.Errorf("system: delete policy: %w", err)
	}
	ps.cache.Invalidate(name)
	return nil
}
