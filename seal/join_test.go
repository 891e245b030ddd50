package seal

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestJoinerUnsealsWithTheClustersRecords(t *testing.T) {
	leader, _, shares := mustBarrier(t)
	ctx := context.Background()
	records, err := leader.Records(ctx)
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	nonce := []byte("0123456789abcdef0123456789abcdef")
	challenge := mustEncrypt(t, leader, "core/raft/challenge", nonce)

	joiner := NewBarrier(newMemStore(), testLogger(t))
	if ok, _ := joiner.Initialized(ctx); ok {
		t.Fatal("an empty joiner reports initialized")
	}
	if err := joiner.SetPendingRecords(records); err != nil {
		t.Fatalf("SetPendingRecords: %v", err)
	}
	if ok, _ := joiner.Initialized(ctx); !ok || !joiner.Joining() {
		t.Fatal("a joiner with the cluster's records is not initialized")
	}
	mustUnseal(t, joiner, shares[2:5])
	got, err := joiner.Decrypt("core/raft/challenge", challenge)
	if err != nil || !bytes.Equal(got, nonce) {
		t.Fatalf("joiner opened the challenge as %q, %v", got, err)
	}
}

func TestJoinerWithOtherSharesCannotAnswer(t *testing.T) {
	leader, _, _ := mustBarrier(t)
	_, _, otherShares := mustBarrier(t) // another cluster, same parameters
	ctx := context.Background()
	records, err := leader.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joiner := NewBarrier(newMemStore(), testLogger(t))
	if err := joiner.SetPendingRecords(records); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for _, s := range otherShares[:3] {
		_, lastErr = joiner.Unseal(ctx, s)
	}
	if !errors.Is(lastErr, ErrBadShares) || !joiner.Sealed() {
		t.Fatalf("unseal with another cluster's shares: %v, sealed=%v", lastErr, joiner.Sealed())
	}
	if _, err := joiner.Decrypt("core/raft/challenge", mustEncrypt(t, leader, "core/raft/challenge", []byte("x"))); !errors.Is(err, ErrSealed) {
		t.Fatalf("sealed joiner decrypt: %v", err)
	}
}
