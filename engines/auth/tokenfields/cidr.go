package tokenfields

import (
	"net"
	"net/netip"
	"strings"

	"coffer/engines"
)

// parsePrefix reads an IP address (a single-address block) or a CIDR block.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errBadCIDR
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errBadCIDR
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseCIDRs validates a list of addresses and blocks and returns them in
// canonical text form, an address without a mask staying without one.
func ParseCIDRs(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, engines.BadRequest("invalid %s: %q is not an IP address or CIDR block", field, s)
		}
		if !strings.Contains(s, "/") {
			out = append(out, p.Addr().String())
		} else {
			out = append(out, p.String())
		}
	}
	return out, nil
}

// remoteIP extracts the client's IP from an "ip:port" (or bare ip) string.
func remoteIP(addr string) (netip.Addr, bool) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// AddrAllowed reports whether the client at remoteAddr is inside one of
// the blocks. A remote address that does not parse is never allowed.
func AddrAllowed(remoteAddr string, blocks []string) bool {
	ip, ok := remoteIP(remoteAddr)
	if !ok {
		return false
	}
	for _, b := range blocks {
		p, err := parsePrefix(b)
		if err == nil && p.Masked().Contains(ip) {
			return true
		}
	}
	return false
}

// CIDRSubset reports whether every block of sub lies inside some block of
// super. An empty super allows anything.
func CIDRSubset(sub, super []string) bool {
	if len(super) == 0 {
		return true
	}
	for _, s := range sub {
		p, err := parsePrefix(s)
		if err != nil {
			return false
		}
		inside := false
		for _, t := range super {
			q, err := parsePrefix(t)
			if err == nil && q.Bits() <= p.Bits() && q.Masked().Contains(p.Addr()) {
				inside = true
				break
			}
		}
		if !inside {
			return false
		}
	}
	return true
}
