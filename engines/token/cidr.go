package token

import (
	"net"
	"net/netip"
	"strings"

	"coffer/engines"
)

// parseCIDRs validates token_bound_cidrs: CIDR blocks or single addresses,
// returned in canonical form.
func parseCIDRs(list []string) ([]string, error) {
	var out []string
	for _, c := range list {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked().String())
			continue
		}
		a, err := netip.ParseAddr(c)
		if err != nil {
			return nil, engines.BadRequest("invalid CIDR block or address %q", c)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String())
	}
	return out, nil
}

// AddrAllowed reports whether remote ("ip:port" or "ip") falls in one of
// a token's bound CIDRs; a token without any is allowed everywhere.
func AddrAllowed(cidrs []string, remote string) bool {
	if len(cidrs) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(a) {
			return true
		}
		if b, err := netip.ParseAddr(c); err == nil && b.Unmap() == a {
			return true
		}
	}
	return false
}
