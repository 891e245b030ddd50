// Package pkcs11 is the HSM seal: a non-extractable key in a PKCS#11 token
// wraps the root key.
package pkcs11

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"coffer/seal"
)

var _ seal.Wrapper = (*Seal)(nil)

// Seal wraps and unwraps through a key held in a PKCS#11 token. It keeps
// a small pool of logged-in sessions and, when the HSM drops them,
// reopens them and logs in again. Safe for concurrent use.
type Seal struct {
	logger *slog.Logger
	mod    *module
	pool   *pool
	token  string // the token for messages: its label and slot
	keys   keyCache

	mu     sync.RWMutex // guards active (set once Open has settled it)
	active keyRef       // the key new blobs are wrapped with

	closeOnce sync.Once
}

// Type names the seal, as sys/seal-status reports it.
func (s *Seal) Type() string { return "pkcs11" }

// KeyInfo describes the key Wrap uses: its label, its id and the
// mechanism's PKCS#11 name.
func (s *Seal) KeyInfo() (label string, id []byte, mechanism string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mechanism = MechanismAESGCM
	if s.active.mech.isRSA() {
		mechanism = MechanismRSAOAEP
	}
	return s.active.label, []byte(s.active.id), mechanism
}

// Open loads cfg.Lib, finds the token, logs in, finds the key (creating
// it when absent and cfg.GenerateKey is set) and proves it wraps and
// unwraps. A nil logger discards. Its errors wrap exactly one of
// ErrConfig, ErrLibrary, ErrToken, ErrPIN, ErrKeyNotFound, ErrMechanism or
// ErrHSM, and name the library, token or key, never the PIN.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Seal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Mechanism, _ = parseMechanism(cfg.Mechanism)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mod, err := loadModule(cfg.Lib)
	if err != nil {
		return nil, err
	}
	find := cfg
	find.PIN = ""
	slot, err := findSlot(mod.ctx, find)
	if err != nil {
		mod.release()
		return nil, err
	}
	label := cfg.TokenLabel
	if info, err := mod.ctx.GetTokenInfo(slot); err == nil {
		label = tokenLabel(info)
	}
	s := &Seal{logger: logger, mod: mod, token: tokenName(label, slot)}
	s.pool = newPool(mod, label, slot, cfg.PIN, func() (uint, error) { return findSlot(mod.ctx, find) }, logger)
	if err := s.open(ctx, cfg, slot); err != nil {
		s.Close()
		return nil, err
	}
	label, id, mech := s.KeyInfo()
	logger.Info("hsm seal ready", "lib", cfg.Lib, "token", s.token, "key_label", label,
		"key_id", fmt.Sprintf("%x", id), "mechanism", mech, "wrap", s.active.mech.String())
	return s, nil
}

// open logs in, checks the mechanism, settles the key and self-tests.
func (s *Seal) open(ctx context.Context, cfg Config, slot uint) error {
	sess, err := s.pool.acquire(ctx)
	if err != nil {
		return err
	}
	s.pool.release(sess, false)
	if err := s.checkMechanism(slot, cfg.Mechanism); err != nil {
		return err
	}
	r := keyRef{mech: mechAESGCM, label: cfg.KeyLabel, id: string(cfg.KeyID)}
	if cfg.Mechanism == MechanismRSAOAEP {
		r.mech = mechRSAOAEPSHA256
	}
	if err := s.do(ctx, func(sess session) error { return s.settleKey(sess, r, cfg.GenerateKey) }); err != nil {
		return classify(err, "key "+r.String())
	}
	return s.selfTest(ctx)
}

// checkMechanism fails with ErrMechanism when the token does not list
// the mechanism.
func (s *Seal) checkMechanism(slot uint, name string) error {
	want := uint(p11.CKM_AES_GCM)
	if name == MechanismRSAOAEP {
		want = p11.CKM_RSA_PKCS_OAEP
	}
	mechs, err := s.mod.ctx.GetMechanismList(slot)
	if err != nil {
		return fmt.Errorf("%w: token %s: mechanism list: %w", ErrHSM, s.token, err)
	}
	for _, m := range mechs {
		if m.Mechanism == want {
			return nil
		}
	}
	return fmt.Errorf("%w: token %s does not offer %s", ErrMechanism, s.token, name)
}

// settleKey finds the configured key, or creates it when absent and
// generate is set, and makes it the active key, recording its actual
// label and id. The caller holds sess.
func (s *Seal) settleKey(sess session, r keyRef, generate bool) error {
	k, err := s.lookup(sess.h, r)
	if errors.Is(err, ErrKeyNotFound) && !errors.Is(err, errAmbiguous) {
		other, n, oerr := s.othersNamed(sess.h, r)
		switch {
		case oerr != nil:
			return oerr
		case other != "":
			return fmt.Errorf("%w: key %s in token %s is %s; %s needs %s", ErrMechanism, r, s.token, other, r.mech.configName(), r.mech.keyKind())
		case n > 0:
			return fmt.Errorf("%w (only part of the key pair is there)", err)
		case !generate:
			return fmt.Errorf("%w; create it or set generate_key", err)
		}
		if r, err = s.generate(sess.h, r); err != nil {
			return err
		}
		s.logger.Info("hsm key generated", "key", r.String(), "token", s.token, "mechanism", r.mech.configName())
		if k, err = s.lookup(sess.h, r); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if r.mech.isRSA() && k.encrypt == 0 {
		return fmt.Errorf("%w: no RSA public key with %s in token %s", ErrKeyNotFound, r, s.token)
	}
	if r, err = s.actualName(sess.h, k.decrypt, r); err != nil {
		return err
	}
	s.checkExposure(sess.h, k.decrypt, r)
	k.gen = sess.gen
	s.keys.put(r, k)
	s.mu.Lock()
	s.active = r
	s.mu.Unlock()
	return nil
}

// actualName returns r with the label and id the key object carries, so
// blobs name the key as precisely as the token allows.
func (s *Seal) actualName(h p11.SessionHandle, obj p11.ObjectHandle, r keyRef) (keyRef, error) {
	attrs, err := s.mod.ctx.GetAttributeValue(h, obj, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_LABEL, nil),
		p11.NewAttribute(p11.CKA_ID, nil),
	})
	if err != nil {
		return r, fmt.Errorf("key %s: label and id: %w", r, err)
	}
	if len(attrs[0].Value) > maxField || len(attrs[1].Value) > maxField {
		return r, fmt.Errorf("%w: key %s: label or id longer than %d bytes", ErrKeyNotFound, r, maxField)
	}
	if len(attrs[0].Value) == 0 && len(attrs[1].Value) == 0 {
		return r, nil
	}
	r.label, r.id = string(attrs[0].Value), string(attrs[1].Value)
	return r, nil
}

// errAmbiguous marks a lookup that found several matching keys.
var errAmbiguous = errors.New("several keys match; set key_id")

// selfTest wraps and unwraps a random key, proving the key and mechanism
// work. An RSA token that refuses OAEP with SHA-256 (SoftHSM2 2.6 offers
// SHA-1 only) is retried with SHA-1, which the blobs then record.
func (s *Seal) selfTest(ctx context.Context) error {
	const path = "pkcs11/self-test"
	probe := make([]byte, dekSize)
	rand.Read(probe)
	defer clear(probe)
	blob, err := s.Wrap(ctx, path, probe)
	if err != nil && s.active.mech == mechRSAOAEPSHA256 && isCKR(err, p11.CKR_ARGUMENTS_BAD, p11.CKR_MECHANISM_PARAM_INVALID) {
		s.mu.Lock()
		sha1 := s.active
		sha1.mech = mechRSAOAEPSHA1
		s.active = sha1
		s.mu.Unlock()
		s.logger.Info("hsm token refuses OAEP with SHA-256; using SHA-1", "token", s.token)
		blob, err = s.Wrap(ctx, path, probe)
	}
	if err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	got, err := s.Unwrap(ctx, path, blob)
	defer clear(got)
	if err != nil {
		if errors.Is(err, seal.ErrDecrypt) {
			return fmt.Errorf("%w: self-test: key %s in token %s: %w", ErrHSM, s.active, s.token, err)
		}
		return fmt.Errorf("self-test: %w", err)
	}
	return nil
}

// Close waits for operations in progress, logs out (unless another Seal
// in the process still uses the token), closes the sessions and releases
// the library (finalizing it after the last Seal). Later Wrap and Unwrap
// fail with ErrClosed. It always returns nil.
func (s *Seal) Close() error {
	s.closeOnce.Do(func() {
		s.pool.close()
		s.keys.forget()
		s.mod.release()
	})
	return nil
}

// closeAllSessions closes every session on the seal's slot behind the
// pool's back, as a token reset would. For tests of recovery.
func (s *Seal) closeAllSessions() error {
	s.pool.mu.Lock()
	slot := s.pool.slot
	s.pool.mu.Unlock()
	return s.mod.ctx.CloseAllSessions(slot)
}

// do runs fn with a session. When fn fails because the session or login
// was lost, it resets the pool and runs fn again; when a key handle went
// stale, it forgets the cached handles and runs fn again; each at most
// once per call.
func (s *Seal) do(ctx context.Context, fn func(session) error) error {
	reset, forgot := false, false
	for {
		sess, err := s.pool.acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(sess)
		lost := sessionLost(err)
		s.pool.release(sess, lost)
		switch {
		case err == nil:
			return nil
		case lost && !reset:
			reset = true
			s.logger.Warn("hsm session lost; reopening", "token", s.token, "error", err)
			if err := s.pool.reset(ctx, sess.gen); err != nil {
				return err
			}
		case handleStale(err) && !forgot:
			forgot = true
			s.keys.forget()
		default:
			return err
		}
	}
}

// classify wraps an error that carries none of the package's sentinels in
// the one that fits its PKCS#11 code, with what as context.
func classify(err error, what string) error {
	for _, kind := range []error{ErrConfig, ErrLibrary, ErrToken, ErrPIN, ErrKeyNotFound, ErrMechanism, ErrHSM, ErrClosed, seal.ErrDecrypt} {
		if errors.Is(err, kind) {
			return err
		}
	}
	switch {
	case badKeyOrMechanism(err):
		return fmt.Errorf("%w: %s: %w", ErrMechanism, what, err)
	case pinRefused(err):
		return fmt.Errorf("%w: %s: %w", ErrPIN, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrHSM, what, err)
}

// tokenName describes a token for messages: its label and slot.
func tokenName(label string, slot uint) string {
	return strconv.Quote(label) + " (slot " + strconv.FormatUint(uint64(slot), 10) + ")"
}
