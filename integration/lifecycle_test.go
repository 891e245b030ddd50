package integration

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	vault "github.com/hashicorp/vault/api"
)

// TestLifecycle walks a node through what an operator does on day one:
// init, unseal, write, restart, unseal again, seal.
func TestLifecycle(t *testing.T) {
	n := mustStartNode(t)
	ctx := context.Background()
	anon := n.Client("")

	code, _ := rawRequest(t, http.MethodGet, "http://"+n.Addr+"/v1/sys/health", "", "", "")
	if code != http.StatusNotImplemented {
		t.Fatalf("health before init: got %d, want 501", code)
	}
	if ok, err := anon.Sys().InitStatusWithContext(ctx); err != nil || ok {
		t.Fatalf("init status before init: %v %v", ok, err)
	}

	init, err := anon.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if len(init.Keys) != 5 || len(init.KeysB64) != 5 || init.RootToken == "" {
		t.Fatalf("init returned %d keys, %d base64 keys, token set %v", len(init.Keys), len(init.KeysB64), init.RootToken != "")
	}
	if _, err := anon.Sys().InitWithContext(ctx, &vault.InitRequest{SecretShares: 5, SecretThreshold: 3}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("second init: want 400, got %v", err)
	}
	code, _ = rawRequest(t, http.MethodGet, "http://"+n.Addr+"/v1/sys/health", "", "", "")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("health after init, sealed: got %d, want 503", code)
	}
	st, err := anon.Sys().SealStatusWithContext(ctx)
	if err != nil || !st.Sealed || !st.Initialized || st.T != 3 || st.N != 5 {
		t.Fatalf("seal status after init: %+v %v", st, err)
	}

	root := n.Client(init.RootToken)
	if _, err := root.Logical().Read("secret/data/x"); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("read while sealed: want 503, got %v", err)
	}

	// Hex keys unseal as well as base64 ones.
	mustUnseal(t, anon, []string{init.Keys[4], init.KeysB64[0], init.Keys[2]})
	code, _ = rawRequest(t, http.MethodGet, "http://"+n.Addr+"/v1/sys/health", "", "", "")
	if code != http.StatusOK {
		t.Fatalf("health when active: got %d, want 200", code)
	}

	if err := root.Sys().MountWithContext(ctx, "kv", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount kv v2: %v", err)
	}
	if _, err := root.KVv2("kv").Put(ctx, "app/db", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatalf("put: %v", err)
	}

	n.Restart()
	st, err = anon.Sys().SealStatusWithContext(ctx)
	if err != nil || !st.Sealed {
		t.Fatalf("after restart the node must be sealed: %+v %v", st, err)
	}
	if _, err := root.KVv2("kv").Get(ctx, "app/db"); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("read after restart while sealed: want 503, got %v", err)
	}
	mustUnseal(t, anon, init.KeysB64[1:4])
	got, err := root.KVv2("kv").Get(ctx, "app/db")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if got.Data["password"] != "hunter2" {
		t.Fatalf("value after restart: %v", got.Data)
	}

	if err := root.Sys().SealWithContext(ctx); err != nil {
		t.Fatalf("seal: %v", err)
	}
	if _, err := root.KVv2("kv").Get(ctx, "app/db"); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("read after sys/seal: want 503, got %v", err)
	}
	st, err = anon.Sys().SealStatusWithContext(ctx)
	if err != nil || !st.Sealed {
		t.Fatalf("seal status after seal: %+v %v", st, err)
	}
}

// TestUnsealWrongKeys checks that bad shares never unseal and progress
// resets.
func TestUnsealWrongKeys(t *testing.T) {
	n := mustStartNode(t)
	anon := n.Client("")
	init, err := anon.Sys().Init(&vault.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, err := anon.Sys().Unseal("not-a-key!"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("garbage key: want 400, got %v", err)
	}
	other := mustStartNode(t)
	otherInit, err := other.Client("").Sys().Init(&vault.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init other: %v", err)
	}
	st, err := anon.Sys().Unseal(init.KeysB64[0])
	if err != nil || st.Progress != 1 {
		t.Fatalf("first share: %+v %v", st, err)
	}
	// A share of the other node's key at another x-coordinate than the
	// first one (the last byte): one at the same x is refused before any
	// combination, without resetting the progress.
	foreign := ""
	for _, k := range otherInit.KeysB64 {
		if shareX(t, k) != shareX(t, init.KeysB64[0]) {
			foreign = k
			break
		}
	}
	if _, err := anon.Sys().Unseal(foreign); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("a share of another node's key: want 400, got %v", err)
	}
	st, err = anon.Sys().SealStatus()
	if err != nil || !st.Sealed || st.Progress != 0 {
		t.Fatalf("after a failed combination the node must stay sealed with progress reset: %+v %v", st, err)
	}
	st, err = anon.Sys().Unseal(init.KeysB64[0])
	if err != nil || st.Progress != 1 {
		t.Fatalf("share after reset: %+v %v", st, err)
	}
	if st, err = anon.Sys().ResetUnsealProcess(); err != nil || st.Progress != 0 {
		t.Fatalf("reset: %+v %v", st, err)
	}
	mustUnseal(t, anon, init.KeysB64[1:3])
}

// shareX is the x-coordinate of a base64 unseal share (its last byte).
func shareX(t *testing.T, b64 string) byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) == 0 {
		t.Fatalf("decode share: %v", err)
	}
	return raw[len(raw)-1]
}
