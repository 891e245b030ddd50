package token

import (
	"testing"
	"time"

	"coffer/engines"
)

func TestRenew(t *testing.T) {
	e := mustEnv(t, func(c *Config) { c.MaxTTL = 10 * time.Hour })
	type step struct {
		after     time.Duration // clock advance before renewing
		increment any
		want      time.Duration // granted TTL; 0 expects an error
		msg       string
	}
	cases := []struct {
		name   string
		create map[string]any
		path   string // renew, renew-self or renew-accessor
		steps  []step
	}{
		{name: "increment zero is the current TTL", create: map[string]any{"ttl": "1h"}, path: "renew",
			steps: []step{{after: 30 * time.Minute, increment: 0, want: time.Hour}}},
		{name: "increment", create: map[string]any{"ttl": "1h"}, path: "renew-self",
			steps: []step{{after: time.Minute, increment: "3h", want: 3 * time.Hour}, {after: time.Minute, want: 3 * time.Hour}}},
		{name: "capped by max TTL from creation", create: map[string]any{"ttl": "9h"}, path: "renew",
			steps: []step{{after: 8 * time.Hour, increment: 5 * 3600, want: 2 * time.Hour}}},
		{name: "capped by explicit max", create: map[string]any{"ttl": "1h", "explicit_max_ttl": "2h"}, path: "renew-accessor",
			steps: []step{{after: 30 * time.Minute, increment: "2h", want: 90 * time.Minute}, {after: 80 * time.Minute, increment: "1h", want: 10 * time.Minute}}},
		{name: "past explicit max", create: map[string]any{"ttl": "1h", "explicit_max_ttl": "1h"}, path: "renew",
			steps: []step{{after: 59*time.Minute + 59*time.Second, increment: "1h", want: time.Second}, {after: time.Second, msg: "token not found"}}},
		{name: "not renewable", create: map[string]any{"ttl": "1h", "renewable": false}, path: "renew",
			steps: []step{{msg: "lease is not renewable"}}},
		{name: "periodic renews to its period", create: map[string]any{"period": "1h"}, path: "renew-self",
			steps: []step{{after: 50 * time.Minute, increment: "5h", want: time.Hour}, {after: 50 * time.Minute, want: time.Hour}, {after: 50 * time.Minute, want: time.Hour}}},
		{name: "periodic outlives max TTL", create: map[string]any{"period": "6h"}, path: "renew",
			steps: []step{{after: 5 * time.Hour, want: 6 * time.Hour}, {after: 5 * time.Hour, want: 6 * time.Hour}, {after: 5 * time.Hour, want: 6 * time.Hour}}},
		{name: "periodic bounded by explicit max", create: map[string]any{"period": "1h", "explicit_max_ttl": "90m"}, path: "renew",
			steps: []step{{after: 50 * time.Minute, want: 40 * time.Minute}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.create["policies"] = "p"
			id, acc := e.mustCreate(e.root, "create", c.create)
			for i, st := range c.steps {
				e.clock.Advance(st.after)
				data := map[string]any{"increment": st.increment}
				caller := e.root
				switch c.path {
				case "renew":
					data["token"] = id
				case "renew-self":
					caller = id
				case "renew-accessor":
					data["accessor"] = acc
				}
				resp, err := e.do(engines.UpdateOperation, c.path, caller, data)
				if st.msg != "" {
					if c.path == "renew-self" && err != nil {
						continue
					}
					wantCode(t, err, engines.CodeInvalidRequest, st.msg)
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				a := resp.Auth
				if a.LeaseDuration != st.want || !a.Renewable || a.Accessor != acc {
					t.Fatalf("step %d: granted %v, want %v (%+v)", i, a.LeaseDuration, st.want, a)
				}
				if wantID := map[bool]string{true: "", false: id}[c.path == "renew-accessor"]; a.ClientToken != wantID {
					t.Fatalf("step %d: client_token %q", i, a.ClientToken)
				}
				te := e.mustLookup(id)
				if !te.ExpireTime.Equal(e.clock.Now().Add(st.want)) || te.TTL != st.want {
					t.Fatalf("step %d: entry expires %v ttl %v", i, te.ExpireTime, te.TTL)
				}
			}
		})
	}
	// A root token without TTL cannot be renewed.
	_, err := e.do(engines.UpdateOperation, "renew-self", e.root, nil)
	wantCode(t, err, engines.CodeInvalidRequest, "lease is not renewable")
	_, err = e.do(engines.UpdateOperation, "renew", e.root, nil)
	wantCode(t, err, engines.CodeInvalidRequest, "missing token ID")
	_, err = e.do(engines.UpdateOperation, "renew-accessor", e.root, map[string]any{"accessor": "nope"})
	wantCode(t, err, engines.CodeInvalidRequest, "invalid accessor")
}

func TestRenewKeepsLastRenewal(t *testing.T) {
	e := mustEnv(t)
	id, _ := e.mustCreate(e.root, "create", map[string]any{"policies": "p", "ttl": "1h"})
	e.clock.Advance(time.Minute)
	e.mustDo(engines.UpdateOperation, "renew-self", id, nil)
	d := e.mustDo(engines.ReadOperation, "lookup-self", id, nil).Data
	if d["last_renewal_time"] != e.clock.Now().Unix() || d["creation_ttl"] != int64(3600) || d["ttl"] != int64(3600) {
		t.Fatalf("lookup after renew: %v", d)
	}
}
