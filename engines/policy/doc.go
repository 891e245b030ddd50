// Package policy parses Vault-compatible ACL policies (HCL v1) and compiles
// a set of them into an immutable ACL that authorizes requests.
//
// # Purpose
//
// Every request Coffer serves is checked against the union of the caller's
// policies. This package owns the policy language (Parse, Format), the
// evaluator (NewACL, ACL.Allowed, ACL.Capabilities), the compiled-ACL cache
// (Cache) and the two built-in policies (Root, Default). It has no storage
// and no knowledge of tokens: the caller loads policy text and passes names.
//
// # Background: Vault's semantics, which this package reproduces
//
//   - A policy is a list of `path "<pattern>" { capabilities = [...] }`
//     blocks (or the legacy `policy = "read"|"write"|"sudo"|"deny"` form).
//     JSON policies are accepted too, as Vault does.
//   - Patterns: an exact path; a trailing `*` makes a prefix glob; a `+`
//     segment matches exactly one path segment and may be combined with a
//     trailing `*`. `+*` is rejected. A leading `/` is dropped.
//   - Rules with the same pattern string are merged across every policy in
//     the set (capabilities unioned, parameter constraints merged, the
//     smaller wrapping TTLs kept) before matching; a `deny` on one of them
//     makes the merged rule deny-only.
//   - Matching: an exact rule wins outright. Otherwise, among the glob and
//     `+` rules that match, the most specific one is chosen by Vault's
//     priority order (see priorityLess in match.go): the later first
//     wildcard wins; then a rule without a trailing `*` beats one with it;
//     then fewer `+` segments win; then the longer pattern wins; then the
//     lexicographically greater pattern wins. Only that one rule applies;
//     rules are never combined across different patterns.
//   - List requests are checked with the request path plus a trailing "/"
//     (Vault's router adds it, and so must Coffer's): "LIST secret/foo"
//     must be passed as Allowed("secret/foo/", "list", nil). For list,
//     the rule for the path without that slash is tried first, as Vault
//     does.
//   - allowed_parameters, denied_parameters and required_parameters are
//     checked for create, update, patch and read requests (Vault has
//     checked read since 2018, hashicorp/vault#4579, because GET query
//     parameters reach backends); denied wins over allowed.
//   - min_wrapping_ttl / max_wrapping_ttl require the request to be
//     response-wrapped with a TTL in range (AllowedWrapped); an unwrapped
//     request to such a rule is denied.
//   - Templated paths ({{identity.entity.id}} and friends) are validated
//     when parsed, but Coffer has no identity store yet, so a templated rule
//     never matches anything (Vault also drops a rule whose template cannot
//     be filled in).
//   - The root policy allows everything, with sudo. "root" and "default"
//     are reserved names (IsReservedName): root cannot be written, read
//     back or deleted; default can be updated but not deleted.
//
// # Key decisions and trade-offs
//
//   - All work happens in NewACL: rules are merged and classified once into
//     an exact-path map, a radix tree of prefix globs and a slice of `+`
//     rules sorted by priority. ACL.Allowed does no allocation and uses no
//     regular expressions; the common case is one map lookup.
//   - Cache keys ACLs by the set of policy names (order and duplicates do
//     not matter) and finds them without allocating; Invalidate drops
//     every ACL built from a changed policy and fences off compilations
//     already in flight, so a stale ACL is never stored.
//   - Deliberate differences from Vault, all in the safe or obvious
//     direction: numbers in parameter value lists compare by value (Vault
//     compares Go types and so never matches 60 against a JSON 60);
//     malformed parts of a deny rule are still rejected (Vault stops parsing
//     a rule at `deny`); negative wrapping TTLs and a `path` block without
//     a pattern are rejected; mfa_methods and control_group (Enterprise)
//     are rejected rather than silently ignored; a JSON policy must be
//     valid JSON (the HCL library's JSON reader is lenient); brackets and
//     braces may nest at most 32 deep (the HCL parser is superlinear in
//     depth: a 100 KB body of "[" would otherwise burn minutes of CPU).
//     Format keeps JSON policies JSON (indented) instead of failing.
package policy
