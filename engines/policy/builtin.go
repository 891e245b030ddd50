package policy

import "strings"

// The reserved policy names.
const (
	rootPolicyName    = "root"
	defaultPolicyName = "default"
)

// IsReservedName reports whether name is a built-in policy: "root" or
// "default". Callers enforce Vault's rules on them: root cannot be written,
// read back or deleted (it has no text); default is created at setup, can
// be updated, and cannot be deleted.
func IsReservedName(name string) bool {
	n := NormalizeName(name)
	return n == rootPolicyName || n == defaultPolicyName
}

// NormalizeName returns the canonical form of a policy name: Vault treats
// names case-insensitively and stores them lower-cased and trimmed.
func NormalizeName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// Root returns the root policy: it has no rules, and an ACL built from it
// allows every operation on every path with sudo.
func Root() *Policy {
	return &Policy{Name: rootPolicyName}
}

// DefaultText is the text of the default policy written at setup: what a
// token needs to manage itself. It grants the same paths as Vault's default
// policy.
const DefaultText = `# The default policy: attached to every token unless asked otherwise.
# It lets a token manage itself and little else.

# Token self-service.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Ask which capabilities this token has on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Read this token's own identity entity (templated: inert until Coffer has
# an identity store).
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}

path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}

# The union of this token's policies, as the UI shows it.
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

# Renew and look up leases by id (the old and the new renew path).
path "sys/renew" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/leases/lookup" {
  capabilities = ["update"]
}

# The token's private cubbyhole.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap, look up and unwrap.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Hashing tools.
path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}

# Check on a control-group request given its accessor.
path "sys/control-group/request" {
  capabilities = ["update"]
}

# The authorization endpoint of OIDC providers.
path "identity/oidc/provider/+/authorize" {
  capabilities = ["read", "update"]
}
`

// Default returns the default policy parsed from DefaultText.
func Default() *Policy {
	p, err := Parse(defaultPolicyName, DefaultText)
	if err != nil {
		panic("policy: built-in default policy does not parse: " + err.Error())
	}
	return p
}
