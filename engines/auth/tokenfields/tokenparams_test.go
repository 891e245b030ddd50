package tokenfields_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

func TestTokenParamsParse(t *testing.T) {
	tests := []struct {
		name     string
		in       tokenfields.Fields
		want     tokenfields.TokenParams
		warnings int
		bad      bool
	}{
		{name: "empty", in: tokenfields.Fields{}, want: tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}},
		{
			name: "all",
			in: tokenfields.Fields{
				"token_bound_cidrs": "::ffff:10.0.0.1, 10.0.0.0/8", "token_explicit_max_ttl": "2h",
				"token_max_ttl": json.Number("3600"), "token_no_default_policy": "true", "token_num_uses": "3",
				"token_period": "1d", "token_policies": " B ,a,b,,", "token_type": "service", "token_ttl": "1.5",
			},
			want: tokenfields.TokenParams{
				TokenBoundCIDRs: []string{"10.0.0.1", "10.0.0.0/8"}, TokenExplicitMaxTTL: 2 * time.Hour,
				TokenMaxTTL: time.Hour, TokenNoDefaultPolicy: true, TokenNumUses: 3, TokenPeriod: 24 * time.Hour,
				TokenPolicies: []string{"a", "b"}, TokenType: tokenfields.TokenTypeService, TokenTTL: time.Second,
			},
		},
		{
			name:     "default-service",
			in:       tokenfields.Fields{"token_type": "default-service"},
			want:     tokenfields.TokenParams{TokenType: tokenfields.TokenTypeService},
			warnings: 1,
		},
		{name: "empty type", in: tokenfields.Fields{"token_type": ""}, want: tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}},
		{name: "null is absent", in: tokenfields.Fields{"token_ttl": nil}, want: tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}},
		{name: "batch", in: tokenfields.Fields{"token_type": "batch"}, bad: true},
		{name: "unknown type", in: tokenfields.Fields{"token_type": "weird"}, bad: true},
		{name: "negative uses", in: tokenfields.Fields{"token_num_uses": -1}, bad: true},
		{name: "negative ttl", in: tokenfields.Fields{"token_ttl": "-1s"}, bad: true},
		{name: "bad ttl", in: tokenfields.Fields{"token_ttl": "soon"}, bad: true},
		{name: "ttl over max", in: tokenfields.Fields{"token_ttl": "2h", "token_max_ttl": "1h"}, bad: true},
		{name: "bad cidr", in: tokenfields.Fields{"token_bound_cidrs": []any{"10.0.0.0/33"}}, bad: true},
		{name: "bad bool", in: tokenfields.Fields{"token_no_default_policy": "maybe"}, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}
			warnings, err := p.Parse(tc.in)
			if tc.bad {
				if code, _ := engines.CodeOf(err); code != engines.CodeInvalidRequest {
					t.Fatalf("Parse = %v, want a 400", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", warnings, tc.warnings)
			}
			if !reflect.DeepEqual(p, tc.want) {
				t.Errorf("Parse gave %+v, want %+v", p, tc.want)
			}
		})
	}
}

func TestTokenParamsPopulate(t *testing.T) {
	m := map[string]any{}
	(&tokenfields.TokenParams{TokenTTL: 90 * time.Second}).Populate(m)
	want := map[string]any{
		"token_bound_cidrs": []string{}, "token_explicit_max_ttl": int64(0), "token_max_ttl": int64(0),
		"token_no_default_policy": false, "token_period": int64(0), "token_policies": []string{},
		"token_type": tokenfields.TokenTypeDefault, "token_ttl": int64(90), "token_num_uses": 0,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Populate gave %#v", m)
	}
}

func TestTokenParamsAuth(t *testing.T) {
	tests := []struct {
		explicit, max, want time.Duration
	}{
		{0, 0, 0},
		{time.Hour, 0, time.Hour},
		{0, time.Hour, time.Hour},
		{2 * time.Hour, time.Hour, time.Hour},
		{time.Hour, 2 * time.Hour, time.Hour},
	}
	for _, tc := range tests {
		p := tokenfields.TokenParams{TokenExplicitMaxTTL: tc.explicit, TokenMaxTTL: tc.max}
		if got := p.Auth().ExplicitMaxTTL; got != tc.want {
			t.Errorf("explicit %v, max %v: ExplicitMaxTTL %v, want %v", tc.explicit, tc.max, got, tc.want)
		}
	}

	p := tokenfields.TokenParams{
		TokenBoundCIDRs: []string{"10.0.0.0/8"}, TokenNoDefaultPolicy: true, TokenNumUses: 2,
		TokenPeriod: time.Minute, TokenPolicies: []string{"a"}, TokenTTL: time.Hour,
	}
	a := p.Auth()
	want := &engines.Auth{
		Policies: []string{"a"}, LeaseDuration: time.Hour, Period: time.Minute, NumUses: 2,
		BoundCIDRs: []string{"10.0.0.0/8"}, Renewable: true, NoDefaultPolicy: true, TokenType: tokenfields.TokenTypeService,
	}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("Auth gave %+v", a)
	}
	a.Policies[0], a.BoundCIDRs[0] = "changed", "changed"
	if p.TokenPolicies[0] != "a" || p.TokenBoundCIDRs[0] != "10.0.0.0/8" {
		t.Fatal("Auth shares its slices with the params")
	}
	if a := (&tokenfields.TokenParams{}).Auth(); a.Policies == nil {
		t.Fatal("Auth gave nil policies")
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := tokenfields.ParseCIDRs("f", []string{" 10.0.0.1 ", "::ffff:10.0.0.2", "10.1.2.3/8", "::ffff:10.0.0.0/104", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1", "10.0.0.2", "10.1.2.3/8", "10.0.0.0/8", "::1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseCIDRs = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "x", "10.0.0.0/33", "fe80::1%eth0", "10.0.0.1/"} {
		if _, err := tokenfields.ParseCIDRs("f", []string{bad}); err == nil {
			t.Errorf("ParseCIDRs accepted %q", bad)
		}
	}
}

// FuzzTokenParams feeds arbitrary JSON bodies to Parse. A body either fails
// with a 400 or gives params whose Populate output, parsed again, populates
// the same.
func FuzzTokenParams(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"token_policies":"a,B","token_ttl":"1h","token_max_ttl":7200}`,
		`{"token_bound_cidrs":["::ffff:10.0.0.1","10.1.2.3/8"],"token_type":"default-service"}`,
		`{"token_period":"2d","token_num_uses":"3","token_no_default_policy":1}`,
		`{"token_ttl":1e3,"token_num_uses":1.5,"token_explicit_max_ttl":"1.9"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var data map[string]any
		if d.Decode(&data) != nil || data == nil {
			return
		}
		first, ok := mustPopulate(t, data, true)
		if !ok {
			return
		}
		var again map[string]any
		d = json.NewDecoder(bytes.NewReader(first))
		d.UseNumber()
		if err := d.Decode(&again); err != nil {
			t.Fatal(err)
		}
		second, _ := mustPopulate(t, again, false)
		if !bytes.Equal(first, second) {
			t.Fatalf("read-back changed on rewrite:\n%s\n%s", first, second)
		}
	})
}

// mustPopulate parses data into fresh params and returns their Populate
// output as JSON; a 400 is allowed (ok false) only when mayFail is set.
func mustPopulate(tb testing.TB, data map[string]any, mayFail bool) ([]byte, bool) {
	tb.Helper()
	p := tokenfields.TokenParams{TokenType: tokenfields.TokenTypeDefault}
	if _, err := p.Parse(data); err != nil {
		if code, _ := engines.CodeOf(err); code != engines.CodeInvalidRequest || !mayFail {
			tb.Fatalf("Parse %v: %v", data, err)
		}
		return nil, false
	}
	m := map[string]any{}
	p.Populate(m)
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out, true
}
