package tokenfields_test

import (
	"testing"

	"coffer/engines/auth/tokenfields"
)

func TestCIDRHelpers(t *testing.T) {
	allowed := []struct {
		remote string
		blocks []string
		want   bool
	}{
		{"10.0.0.1:80", []string{"10.0.0.0/8"}, true},
		{"10.0.0.1", []string{"10.0.0.1"}, true},
		{"10.0.0.2:80", []string{"10.0.0.1"}, false},
		{"[::1]:80", []string{"::1"}, true},
		{"[fe80::1%eth0]:80", []string{"fe80::/10"}, true},
		{"[::ffff:192.168.0.5]:1", []string{"192.168.0.0/24"}, true},
		{"192.168.0.5:1", []string{"::ffff:192.168.0.0/120"}, true},
		{"", []string{"0.0.0.0/0"}, false},
		{"host.example:80", []string{"0.0.0.0/0"}, false},
		{"10.0.0.1:80", []string{"10.1.2.3/8"}, true},
	}
	for _, tc := range allowed {
		if got := tokenfields.AddrAllowed(tc.remote, tc.blocks); got != tc.want {
			t.Errorf("AddrAllowed(%q, %v) = %v", tc.remote, tc.blocks, got)
		}
	}
	subsets := []struct {
		sub, super []string
		want       bool
	}{
		{[]string{"10.1.0.0/16"}, []string{"10.0.0.0/8"}, true},
		{[]string{"10.1.0.0/16", "11.0.0.1"}, []string{"10.0.0.0/8"}, false},
		{[]string{"10.0.0.0/8"}, []string{"10.1.0.0/16"}, false},
		{[]string{"10.0.0.5"}, []string{"10.0.0.5/32"}, true},
		{[]string{"anything"}, nil, true},
	}
	for _, tc := range subsets {
		if got := tokenfields.CIDRSubset(tc.sub, tc.super); got != tc.want {
			t.Errorf("CIDRSubset(%v, %v) = %v", tc.sub, tc.super, got)
		}
	}
}
