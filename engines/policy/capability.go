package policy

import (
	"fmt"
	"math/bits"
)

// Capability is a set of capabilities, one bit each.
type Capability uint16

// The capabilities of Vault's policy language. CapDeny on a rule overrides
// every other bit of that rule.
const (
	CapDeny Capability = 1 << iota
	CapCreate
	CapRead
	CapUpdate
	CapPatch
	CapDelete
	CapList
	CapSudo
)

// capGrants is every capability except deny: what the root policy holds.
const capGrants = CapCreate | CapRead | CapUpdate | CapPatch | CapDelete | CapList | CapSudo

// capNames lists the capabilities in alphabetical order of their names,
// which is the order Strings returns them in (Vault sorts sys/capabilities
// output the same way).
var capNames = [...]struct {
	c    Capability
	name string
}{
	{CapCreate, "create"},
	{CapDelete, "delete"},
	{CapDeny, "deny"},
	{CapList, "list"},
	{CapPatch, "patch"},
	{CapRead, "read"},
	{CapSudo, "sudo"},
	{CapUpdate, "update"},
}

// The names Vault uses outside the capability list.
const (
	rootCapability = "root"
	denyCapability = "deny"
)

// ParseCapabilities converts Vault capability names into a set. A "deny"
// anywhere in the list yields CapDeny alone. An unknown name is an error
// wrapping ErrInvalidPolicy.
func ParseCapabilities(names []string) (Capability, error) {
	var c Capability
	for _, n := range names {
		b, ok := capabilityByName(n)
		if !ok {
			return 0, fmt.Errorf("%w: invalid capability %q", ErrInvalidPolicy, n)
		}
		c |= b
	}
	if c&CapDeny != 0 {
		return CapDeny, nil
	}
	return c, nil
}

func capabilityByName(n string) (Capability, bool) {
	for _, cn := range capNames {
		if cn.name == n {
			return cn.c, true
		}
	}
	return 0, false
}

// Strings returns the names of the capabilities in c in alphabetical order.
// A set holding CapDeny is reported as ["deny"] alone, and so is the empty
// set, as Vault reports capabilities.
func (c Capability) Strings() []string {
	if c&CapDeny != 0 || c == 0 {
		return []string{denyCapability}
	}
	out := make([]string, 0, bits.OnesCount16(uint16(c)))
	for _, cn := range capNames {
		if c&cn.c != 0 {
			out = append(out, cn.name)
		}
	}
	return out
}

// Has reports whether every capability in want is in c.
func (c Capability) Has(want Capability) bool { return c&want == want }

// opCapability maps an operation name to the capability it needs.
func opCapability(op string) (Capability, bool) {
	switch op {
	case "read":
		return CapRead, true
	case "list":
		return CapList, true
	case "create":
		return CapCreate, true
	case "update":
		return CapUpdate, true
	case "patch":
		return CapPatch, true
	case "delete":
		return CapDelete, true
	}
	return 0, false
}
