package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	vault "github.com/hashicorp/vault/api"
)

var chaosDuration = flag.Duration("chaos.duration", 0,
	"how long TestClusterLinearizable injects faults (default 25s, 5m with COFFER_CHAOS=1)")

const (
	linKeys    = 5
	linClients = 4
	linOpLimit = 2500 * time.Millisecond
)

// linInput is one operation on a register: a write of Value, or a read.
type linInput struct {
	Write bool
	Key   int
	Value string
}

// linOutput is what a read returned ("" for a missing key).
type linOutput struct {
	Value string
}

// registerModel is one register per key, initially "".
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make([][]porcupine.Operation, linKeys)
		for _, op := range history {
			k := op.Input.(linInput).Key
			byKey[k] = append(byKey[k], op)
		}
		var parts [][]porcupine.Operation
		for _, p := range byKey {
			if len(p) > 0 {
				parts = append(parts, p)
			}
		}
		return parts
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(linInput)
		if in.Write {
			return true, in.Value
		}
		return output.(linOutput).Value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(linInput)
		if in.Write {
			return fmt.Sprintf("write k%d %q", in.Key, in.Value)
		}
		return fmt.Sprintf("read k%d -> %q", in.Key, output.(linOutput).Value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// linHistory collects operations from concurrent clients.
type linHistory struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
	stats map[string]int
}

func (h *linHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *linHistory) add(op porcupine.Operation, outcome string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if op.Input != nil {
		h.ops = append(h.ops, op)
	}
	h.stats[outcome]++
}

// notApplied reports errors after which a write certainly did not happen:
// the connection was refused (the request never left), or the node
// answered that it is sealed (a sealed node neither applies nor forwards).
func notApplied(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var re *vault.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusServiceUnavailable {
		for _, e := range re.Errors {
			if strings.Contains(strings.ToLower(e), "sealed") {
				return true
			}
		}
	}
	return false
}

func linPath(k int) string { return fmt.Sprintf("secret/data/lin/k%d", k) }

// linRead reads key k; a missing key reads as "".
func linRead(ctx context.Context, cl *vault.Client, k int) (string, error) {
	s, err := cl.Logical().ReadWithContext(ctx, linPath(k))
	if err != nil || s == nil {
		return "", err
	}
	data, _ := s.Data["data"].(map[string]any)
	v, _ := data["v"].(string)
	return v, nil
}

func linWrite(ctx context.Context, cl *vault.Client, k int, v string) error {
	_, err := cl.Logical().WriteWithContext(ctx, linPath(k), map[string]any{"data": map[string]any{"v": v}})
	return err
}

// runLinClient does random reads and writes of unique values through one
// node until stop is closed, recording every operation in h.
func runLinClient(id int, addr, token string, h *linHistory, stop <-chan struct{}) {
	cl, err := newVaultClient(addr, token, 2*linOpLimit)
	if err != nil {
		h.add(porcupine.Operation{}, "client error: "+err.Error())
		return
	}
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	backoff := time.Duration(0)
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		case <-time.After(backoff):
		}
		k := rng.IntN(linKeys)
		ctx, cancel := context.WithTimeout(context.Background(), linOpLimit)
		call := h.now()
		var opErr error
		if rng.IntN(2) == 0 {
			v := fmt.Sprintf("c%d-%d", id, seq)
			opErr = linWrite(ctx, cl, k, v)
			op := porcupine.Operation{ClientId: id, Input: linInput{Write: true, Key: k, Value: v}, Call: call, Output: linOutput{}, Return: h.now()}
			switch {
			case opErr == nil:
				h.add(op, "write ok")
			case notApplied(opErr):
				h.add(porcupine.Operation{}, "write refused (not applied)")
			default:
				op.Return = math.MaxInt64 // may have been applied, at any time after the call
				h.add(op, "write indefinite")
			}
		} else {
			var v string
			v, opErr = linRead(ctx, cl, k)
			if opErr == nil {
				h.add(porcupine.Operation{ClientId: id, Input: linInput{Key: k}, Call: call, Output: linOutput{Value: v}, Return: h.now()}, "read ok")
			} else {
				h.add(porcupine.Operation{}, "read failed")
			}
		}
		cancel()
		switch {
		case opErr == nil:
			backoff = 0
		case backoff == 0:
			backoff = 100 * time.Millisecond
		case backoff < time.Second:
			backoff *= 2
		}
	}
}

// chaos alternates, until stop, between SIGKILL of the leader (then a
// restart and unseal) and SIGSTOP of the leader for 1–2.5 s. It returns
// the events it caused, or an error if the cluster did not recover.
func chaos(c *Cluster, stop <-chan struct{}) ([]string, error) {
	ctx := context.Background()
	var events []string
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	pause := func(d time.Duration) bool {
		select {
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	for round := 0; pause(time.Duration(1500+rng.IntN(1500)) * time.Millisecond); round++ {
		leader, err := c.waitLeader(ctx, clusterWait)
		if err != nil {
			return events, err
		}
		if round%2 == 0 {
			start := time.Now()
			c.Kill(leader)
			next, err := c.waitLeader(ctx, clusterWait, leader)
			if err != nil {
				return events, fmt.Errorf("after SIGKILL of %s: %w", c.Nodes[leader].ID, err)
			}
			events = append(events, fmt.Sprintf("SIGKILL %s: %s leads after %v", c.Nodes[leader].ID, c.Nodes[next].ID, time.Since(start).Round(time.Millisecond)))
			pause(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
			if err := c.restart(ctx, leader); err != nil {
				return events, err
			}
			events = append(events, fmt.Sprintf("restarted and unsealed %s", c.Nodes[leader].ID))
		} else {
			d := time.Duration(1000+rng.IntN(1500)) * time.Millisecond
			c.Stop(leader)
			<-time.After(d)
			c.Cont(leader)
			events = append(events, fmt.Sprintf("SIGSTOP %s for %v", c.Nodes[leader].ID, d.Round(time.Millisecond)))
		}
		if err := c.waitHealthy(ctx, clusterWait); err != nil {
			return events, err
		}
	}
	return events, nil
}

// TestClusterLinearizable runs clients bound to every node doing random
// reads and writes of unique values while the leader is SIGKILLed,
// restarted, and SIGSTOPped, then checks the history with porcupine.
func TestClusterLinearizable(t *testing.T) {
	dur := 25 * time.Second
	if os.Getenv("COFFER_CHAOS") == "1" {
		dur = 5 * time.Minute
	}
	if *chaosDuration > 0 {
		dur = *chaosDuration
	}
	c := startCluster(t, 3)
	mustMountKV(t, c, c.WaitLeader())

	h := &linHistory{start: time.Now(), stats: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for id := 0; id < linClients; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runLinClient(id, c.Nodes[id%len(c.Nodes)].Addr, c.Token, h, stop)
		}()
	}
	chaosStop := make(chan struct{})
	time.AfterFunc(dur, func() { close(chaosStop) })
	events, chaosErr := chaos(c, chaosStop)
	close(stop)
	wg.Wait()
	for _, e := range events {
		t.Log("chaos: " + e)
	}
	if chaosErr != nil {
		t.Errorf("chaos: the cluster did not recover: %v", chaosErr)
		for i := range c.Nodes {
			c.Cont(i)
		}
	}

	// Final reads through every node join the history: what each node
	// serves once the faults stop must fit too. A leader resumed from the
	// last SIGSTOP may still step down and leave an election to run, so a
	// read that fails is tried again until clusterWait; only answered
	// reads join the history.
	if err := c.waitHealthy(context.Background(), clusterWait); err != nil {
		t.Errorf("after chaos: %v", err)
	}
	deadline := time.Now().Add(clusterWait)
	for i, n := range c.Nodes {
		cl, err := newVaultClient(n.Addr, c.Token, 2*linOpLimit)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < linKeys; k++ {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*linOpLimit)
				call := h.now()
				v, err := linRead(ctx, cl, k)
				cancel()
				if err == nil {
					h.add(porcupine.Operation{ClientId: linClients + i, Input: linInput{Key: k}, Call: call, Output: linOutput{Value: v}, Return: h.now()}, "final read ok")
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("final read of k%d via %s: %v", k, n.ID, err)
					break
				}
				time.Sleep(50 * time.Millisecond) // an election takes a heartbeat timeout or more
			}
		}
	}
	t.Logf("chaos %v, %d operations in the history: %v", dur, len(h.ops), h.stats)
	if h.stats["write ok"] == 0 || h.stats["read ok"] == 0 {
		t.Fatalf("no successful writes or reads: the history checks nothing (%v)", h.stats)
	}

	res := porcupine.CheckOperationsTimeout(registerModel, h.ops, 30*time.Second)
	switch res {
	case porcupine.Ok:
		t.Logf("linearizable: %d operations", len(h.ops))
	case porcupine.Unknown:
		t.Logf("porcupine timed out after 30s on %d operations: result unknown", len(h.ops))
	case porcupine.Illegal:
		_, info := porcupine.CheckOperationsVerbose(registerModel, h.ops, time.Minute)
		f, err := os.CreateTemp("", "coffer-linearizability-*.html")
		if err == nil {
			f.Close()
			if err := porcupine.VisualizePath(registerModel, info, f.Name()); err == nil {
				t.Logf("visualization: %s", f.Name())
			}
		}
		t.Errorf("the history is not linearizable (%d operations)", len(h.ops))
	}
}

// TestRegisterModel checks the checker set-up on small histories, so that
// a passing TestClusterLinearizable means something.
func TestRegisterModel(t *testing.T) {
	w := func(client, key int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{Write: true, Key: key, Value: v}, Call: call, Output: linOutput{}, Return: ret}
	}
	r := func(client, key int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: linInput{Key: key}, Call: call, Output: linOutput{Value: v}, Return: ret}
	}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read of a missing key", []porcupine.Operation{r(0, 0, "", 0, 1)}, porcupine.Ok},
		{"read after write", []porcupine.Operation{w(0, 0, "a", 0, 1), r(1, 0, "a", 2, 3)}, porcupine.Ok},
		{"stale read", []porcupine.Operation{w(0, 0, "a", 0, 1), w(0, 0, "b", 2, 3), r(1, 0, "a", 4, 5)}, porcupine.Illegal},
		{"concurrent write may be seen or not", []porcupine.Operation{w(0, 0, "a", 0, 10), r(1, 0, "", 1, 2), r(1, 0, "a", 3, 4)}, porcupine.Ok},
		{"value seen then unseen", []porcupine.Operation{w(0, 0, "a", 0, 10), r(1, 0, "a", 1, 2), r(1, 0, "", 3, 4)}, porcupine.Illegal},
		{"indefinite write applied late", []porcupine.Operation{w(0, 0, "a", 0, math.MaxInt64), r(1, 0, "", 5, 6), r(1, 0, "a", 7, 8)}, porcupine.Ok},
		{"indefinite write never applied", []porcupine.Operation{w(0, 0, "a", 0, math.MaxInt64), r(1, 0, "", 5, 6)}, porcupine.Ok},
		{"value never written", []porcupine.Operation{r(1, 0, "zzz", 5, 6)}, porcupine.Illegal},
		{"keys are independent", []porcupine.Operation{w(0, 0, "a", 0, 1), w(0, 1, "b", 0, 1), r(1, 1, "b", 2, 3), r(1, 0, "a", 2, 3)}, porcupine.Ok},
		{"another key's value", []porcupine.Operation{w(0, 0, "a", 0, 1), r(1, 1, "a", 2, 3)}, porcupine.Illegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registerModel, tc.ops, 5*time.Second); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
