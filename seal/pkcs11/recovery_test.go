package pkcs11

import (
	"fmt"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"
)

func TestSessionRecovery(t *testing.T) {
	for _, mech := range []string{MechanismAESGCM, MechanismRSAOAEP} {
		t.Run(mech, func(t *testing.T) {
			tok := mustToken(t, "coffer")
			cfg := configFor(tok, "k", mech)
			cfg.GenerateKey = true
			var logs logBuffer
			s, err := Open(t.Context(), cfg, logs.logger())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			blob, err := s.Wrap(t.Context(), "core/root", []byte("root"))
			if err != nil {
				t.Fatal(err)
			}

			mustCloseAllSessions(t, s)
			if got, err := s.Unwrap(t.Context(), "core/root", blob); err != nil || string(got) != "root" {
				t.Fatalf("Unwrap after the sessions died: %q, %v", got, err)
			}
			mustCloseAllSessions(t, s)
			mustRoundTrip(t, s, "core/root")
			if logs.String() == "" {
				t.Fatal("recovery logged nothing")
			}
		})
	}
}

func TestSessionRecoveryConcurrent(t *testing.T) {
	tok := mustToken(t, "coffer")
	cfg := configFor(tok, "k", "")
	cfg.GenerateKey = true
	s := mustOpen(t, cfg)
	for round := range 5 {
		// Fill the pool, so every idle session dies at once.
		var wg sync.WaitGroup
		for g := range 2 * poolSize {
			wg.Go(func() { mustRoundTrip(t, s, fmt.Sprintf("p/%d/%d", round, g)) })
		}
		wg.Wait()
		mustCloseAllSessions(t, s)
		for g := range 2 * poolSize {
			wg.Go(func() { mustRoundTrip(t, s, fmt.Sprintf("q/%d/%d", round, g)) })
		}
		wg.Wait()
	}
}

func TestRecoveryAfterLogout(t *testing.T) {
	tok := mustToken(t, "coffer")
	cfg := configFor(tok, "k", "")
	cfg.GenerateKey = true
	s := mustOpen(t, cfg)
	mustRoundTrip(t, s, "p")
	// Log the process out behind the pool's back: the sessions stay open.
	sess, err := s.pool.acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.mod.ctx.Logout(sess.h); err != nil {
		t.Fatalf("logout: %v", err)
	}
	s.pool.release(sess, false)
	mustRoundTrip(t, s, "p")
	s.keys.forget() // a lookup while logged out finds nothing
	if err := func() error {
		sess, err := s.pool.acquire(t.Context())
		if err != nil {
			return err
		}
		defer s.pool.release(sess, false)
		return s.mod.ctx.Logout(sess.h)
	}(); err != nil {
		t.Fatalf("logout: %v", err)
	}
	mustRoundTrip(t, s, "p")
}

func TestSharedTokenSurvivesOtherClose(t *testing.T) {
	tok := mustToken(t, "coffer")
	cfg := configFor(tok, "k", "")
	cfg.GenerateKey = true
	a := mustOpen(t, cfg)
	b := mustOpen(t, cfg)
	mustRoundTrip(t, a, "p")
	mustRoundTrip(t, b, "p")
	// b's close must not log a out (a login holds for the whole process).
	b.Close()
	mustRoundTrip(t, a, "p")
	// Killing the slot's sessions hits a's; a recovers.
	mustCloseAllSessions(t, a)
	mustRoundTrip(t, a, "p")
}

// mustCloseAllSessions kills every session on s's slot.
func mustCloseAllSessions(tb testing.TB, s *Seal) {
	tb.Helper()
	if err := s.closeAllSessions(); err != nil && !isCKR(err, p11.CKR_SESSION_HANDLE_INVALID) {
		tb.Fatalf("close all sessions: %v", err)
	}
}
