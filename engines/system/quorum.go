package system

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"coffer/engines"
	"coffer/seal"
)

// Quorum operations: what a threshold of operators does together with
// their key shares on an unsealed active node, as Vault does it —
// sys/generate-root (a new root token), sys/rekey (new unseal shares,
// Shamir) and sys/rekey-recovery-key (new recovery shares, auto seal).
// The endpoints are unauthenticated; the shares are the authority.
//
// An attempt lives in the active node's memory only. It is discarded, its
// shares zeroed, when the node seals or loses leadership (watchAttempt
// notices within quorumWatchEvery), or when the raft term changed since
// it started; operators then start again, as after a Vault step-down.

// rootTokenLength is the length of a token ID ("hvs." and 24 random bytes
// in unpadded URL base64), hence of the generate-root OTP.
const rootTokenLength = 4 + 32

// quorumWatchEvery is how often an open attempt checks its node is still
// the unsealed active node.
const quorumWatchEvery = 250 * time.Millisecond

// quorumAttempt is one open attempt.
type quorumAttempt struct {
	q    *seal.Quorum
	term uint64
	done chan struct{}
	// otp is generate-root's one-time password.
	otp string
	// shares and threshold configure the new shares of a rekey.
	shares, threshold int
}

// end discards the attempt's shares and stops its watcher.
func (a *quorumAttempt) end() {
	a.q.Reset()
	close(a.done)
}

// quorumKind names an attempt slot.
type quorumKind int

const (
	quorumGenerateRoot quorumKind = iota
	quorumRekey
	quorumRekeyRecovery
	quorumKinds
)

// quorumState holds a node's open attempts, one per kind. mu is held for
// a whole operation, share verification and writes included.
type quorumState struct {
	mu       sync.Mutex
	attempts [quorumKinds]*quorumAttempt
}

func (s *System) quorum() *quorumState { return &s.quorums }

// current returns the open attempt of kind, discarding one the node's
// leadership has moved on from. Called with qs.mu.
func (s *System) current(qs *quorumState, kind quorumKind) *quorumAttempt {
	a := qs.attempts[kind]
	if a == nil {
		return nil
	}
	if !s.active.Load() || !s.cluster.IsLeader() || s.cluster.Term() != a.term {
		a.end()
		qs.attempts[kind] = nil
		return nil
	}
	return a
}

// open starts an attempt of kind for cfg's operator shares and watches it.
// Called with qs.mu.
func (s *System) open(qs *quorumState, kind quorumKind, cfg *seal.SealConfig) *quorumAttempt {
	a := &quorumAttempt{q: seal.NewQuorum(cfg), term: s.cluster.Term(), done: make(chan struct{})}
	qs.attempts[kind] = a
	go s.watchAttempt(qs, kind, a)
	return a
}

// close ends the attempt of kind if it is a. Called with qs.mu.
func (qs *quorumState) close(kind quorumKind, a *quorumAttempt) {
	if qs.attempts[kind] == a && a != nil {
		a.end()
		qs.attempts[kind] = nil
	}
}

// watchAttempt discards a as soon as its node seals, loses leadership or
// shuts down, so no share outlives the unsealed active node it was given
// to by more than quorumWatchEvery.
func (s *System) watchAttempt(qs *quorumState, kind quorumKind, a *quorumAttempt) {
	t := time.NewTicker(quorumWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		if s.active.Load() && s.cluster.IsLeader() && !s.closed.Load() {
			continue
		}
		qs.mu.Lock()
		qs.close(kind, a)
		qs.mu.Unlock()
		return
	}
}

// quorumBegin is the start of every quorum endpoint: it holds inflight
// (sealing waits for the operation), requires this node to be the
// unsealed active node, passes a read barrier, reads the seal
// configuration and locks the attempt slots (held for the whole
// operation). The caller calls release.
func (s *System) quorumBegin(ctx context.Context) (_ context.Context, cfg *seal.SealConfig, qs *quorumState, release func(), err error) {
	ctx, cfg, done, err := s.quorumCheck(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	qs = s.quorum()
	qs.mu.Lock()
	return ctx, cfg, qs, func() { qs.mu.Unlock(); done() }, nil
}

// quorumCheck is quorumBegin without the slot lock.
func (s *System) quorumCheck(ctx context.Context) (_ context.Context, cfg *seal.SealConfig, release func(), err error) {
	s.inflight.RLock()
	defer func() {
		if err != nil {
			s.inflight.RUnlock()
		}
	}()
	if !s.active.Load() {
		if ok, err := s.barrier.Initialized(ctx); err == nil && !ok {
			return nil, nil, nil, engines.ErrNotInitialized
		}
		return nil, nil, nil, engines.ErrSealed
	}
	if !s.cluster.IsLeader() {
		return nil, nil, nil, &engines.Error{Code: engines.CodeUnavailable, Message: "quorum operations run on the active node"}
	}
	if ctx, err = s.cluster.ReadBarrier(ctx); err != nil {
		return nil, nil, nil, clientError(err)
	}
	if cfg, err = s.barrier.SealConfig(ctx); err != nil {
		return nil, nil, nil, clientError(err)
	}
	if cfg == nil {
		return nil, nil, nil, engines.ErrNotInitialized
	}
	return ctx, cfg, s.inflight.RUnlock, nil
}

// quorumError gives a seal error its client code: a refusal is a 400 with
// the seal's (share-free) message.
func quorumError(op string, err error) error {
	switch {
	case err == seal.ErrBadShares: // bare: the shares combined, to the wrong key
		return engines.BadRequest("the keys submitted do not recombine to the current key; progress was reset: submit the keys again")
	case errors.Is(err, seal.ErrBadShares), errors.Is(err, seal.ErrInvalidParams), errors.Is(err, seal.ErrQuorumNonce),
		errors.Is(err, seal.ErrQuorumStale), errors.Is(err, seal.ErrNotAutoSeal), errors.Is(err, seal.ErrAutoSeal):
		return engines.BadRequest("%s", strings.TrimPrefix(err.Error(), "seal: "))
	case errors.Is(err, seal.ErrSealMismatch):
		return engines.BadRequest("the configured seal cannot check recovery keys: %s", strings.TrimPrefix(err.Error(), "seal: "))
	}
	return clientError(fmt.Errorf("system: %s: %w", op, err))
}

// autoSealFor returns the auto seal that checks cfg's recovery shares
// (nil with the Shamir seal).
func (s *System) autoSealFor(ctx context.Context, cfg *seal.SealConfig) (seal.AutoSeal, error) {
	if !cfg.Auto() {
		return nil, nil
	}
	as, auto, err := s.configuredAutoSeal(ctx)
	if !auto {
		return nil, nil // seal.ErrSealMismatch from the barrier
	}
	return as, err
}

// GenerateRootStatus is the body of sys/generate-root/attempt and
// /update, Vault's field names.
type GenerateRootStatus struct {
	Nonce            string `json:"nonce"`
	Started          bool   `json:"started"`
	Progress         int    `json:"progress"`
	Required         int    `json:"required"`
	Complete         bool   `json:"complete"`
	EncodedToken     string `json:"encoded_token"`
	EncodedRootToken string `json:"encoded_root_token"`
	PGPFingerprint   string `json:"pgp_fingerprint"`
	OTP              string `json:"otp"`
	OTPLength        int    `json:"otp_length"`
}

func generateRootStatus(cfg *seal.SealConfig, a *quorumAttempt) *GenerateRootStatus {
	_, threshold := cfg.SharesNeeded()
	st := &GenerateRootStatus{Required: threshold, OTPLength: rootTokenLength}
	if a != nil {
		st.Started, st.Nonce, st.Progress = true, a.q.Nonce(), a.q.Progress()
	}
	return st
}

// GenerateRootStatus reports the generate-root attempt.
func (s *System) GenerateRootStatus(ctx context.Context) (*GenerateRootStatus, error) {
	_, cfg, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return generateRootStatus(cfg, s.current(qs, quorumGenerateRoot)), nil
}

// GenerateRootInit starts a generate-root attempt. The server draws the
// one-time password (Vault >= 1.10 without an otp or pgp_key): it is
// returned here only, and the token the attempt ends with is returned
// XORed with it.
func (s *System) GenerateRootInit(ctx context.Context) (*GenerateRootStatus, error) {
	_, cfg, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if s.current(qs, quorumGenerateRoot) != nil {
		return nil, engines.BadRequest("root generation already in progress")
	}
	otp, err := randomBase62(rootTokenLength)
	if err != nil {
		return nil, fmt.Errorf("system: generate-root: %w", err)
	}
	a := s.open(qs, quorumGenerateRoot, cfg)
	a.otp = otp
	s.logger.Warn("root token generation started")
	st := generateRootStatus(cfg, a)
	st.OTP = otp
	return st, nil
}

// GenerateRootCancel ends the generate-root attempt, if any.
func (s *System) GenerateRootCancel(ctx context.Context) error {
	return s.cancelAttempt(ctx, quorumGenerateRoot, "")
}

// GenerateRootUpdate submits one key share (unseal share with Shamir,
// recovery share with an auto seal) for the attempt named by nonce. At the
// threshold the shares are verified, and a new root token is created and
// returned encoded (base64 of the token XOR the OTP); the attempt ends.
// Wrong shares end nothing but the progress, which starts over.
func (s *System) GenerateRootUpdate(ctx context.Context, share []byte, nonce string) (*GenerateRootStatus, error) {
	ctx, cfg, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	a := s.current(qs, quorumGenerateRoot)
	if a == nil {
		return nil, engines.BadRequest("no root generation in progress")
	}
	done, err := a.q.Add(nonce, share)
	if err != nil {
		return nil, quorumError("generate-root", err)
	}
	if !done {
		return generateRootStatus(cfg, a), nil
	}
	as, err := s.autoSealFor(ctx, cfg)
	if err != nil {
		a.q.Reset()
		return nil, err
	}
	if err := s.barrier.VerifyQuorum(ctx, a.q, as); err != nil {
		s.logger.Warn("root token generation: the submitted keys were refused; progress reset", "error", err)
		return nil, quorumError("generate-root", err)
	}
	token, err := s.tokens.CreateRoot(ctx, "")
	if err != nil {
		return nil, clientError(fmt.Errorf("system: generate-root: %w", err))
	}
	encoded, err := encodeRootToken(token, a.otp)
	if err != nil {
		return nil, fmt.Errorf("system: generate-root: %w", err)
	}
	st := generateRootStatus(cfg, a)
	st.Progress, st.Complete, st.EncodedToken, st.EncodedRootToken = st.Required, true, encoded, encoded
	qs.close(quorumGenerateRoot, a)
	s.logger.Warn("root token generated by a quorum of key holders")
	return st, nil
}

// encodeRootToken is Vault's encoding: unpadded standard base64 of the
// token XOR the OTP, which have the same length.
func encodeRootToken(token, otp string) (string, error) {
	if len(token) != len(otp) {
		return "", errors.New("token and OTP lengths differ")
	}
	x := make([]byte, len(token))
	for i := range x {
		x[i] = token[i] ^ otp[i]
	}
	return base64.RawStdEncoding.EncodeToString(x), nil
}

const base62Chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters drawn uniformly from base62Chars
// (rejection sampling over crypto/rand bytes).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random otp: %w", err)
		}
		for _, c := range buf {
			if c < 248 && len(out) < n { // 248 = 4*62: no modulo bias
				out = append(out, base62Chars[c%62])
			}
		}
	}
	return string(out), nil
}

// RekeyStatus is the body of sys/rekey/init and
// sys/rekey-recovery-key/init, Vault's field names.
type RekeyStatus struct {
	Nonce                string   `json:"nonce"`
	Started              bool     `json:"started"`
	T                    int      `json:"t"`
	N                    int      `json:"n"`
	Progress             int      `json:"progress"`
	Required             int      `json:"required"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

// RekeyResult is the outcome of a rekey update: the status below the
// threshold, the new shares (returned once; the caller encodes, then
// zeroes them) when complete.
type RekeyResult struct {
	Status   *RekeyStatus
	Complete bool
	Nonce    string
	Shares   [][]byte
}

func rekeyKind(recovery bool) quorumKind {
	if recovery {
		return quorumRekeyRecovery
	}
	return quorumRekey
}

func rekeyStatus(cfg *seal.SealConfig, a *quorumAttempt) *RekeyStatus {
	_, threshold := cfg.SharesNeeded()
	st := &RekeyStatus{Required: threshold}
	if a != nil {
		st.Started, st.Nonce, st.Progress, st.T, st.N = true, a.q.Nonce(), a.q.Progress(), a.threshold, a.shares
	}
	return st
}

// checkRekeySeal refuses a rekey of the wrong kind for the stored seal.
func checkRekeySeal(cfg *seal.SealConfig, recovery bool) error {
	switch {
	case recovery && !cfg.Auto():
		return engines.BadRequest("recovery rekeying is only available with an auto seal; this node uses the Shamir seal: use sys/rekey")
	case !recovery && cfg.Auto():
		return engines.BadRequest("this node uses an auto seal (%s): rekey its recovery key with sys/rekey-recovery-key", cfg.Type)
	}
	return nil
}

// RekeyStatus reports the rekey attempt (recovery: of the recovery key).
func (s *System) RekeyStatus(ctx context.Context, recovery bool) (*RekeyStatus, error) {
	_, cfg, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return rekeyStatus(cfg, s.current(qs, rekeyKind(recovery))), nil
}

// RekeyInit starts a rekey to shares shares with threshold threshold:
// of the unseal key (Shamir only) or, with recovery, of the recovery key
// (auto seal only).
func (s *System) RekeyInit(ctx context.Context, recovery bool, shares, threshold int) (*RekeyStatus, error) {
	_, cfg, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := checkRekeySeal(cfg, recovery); err != nil {
		return nil, err
	}
	if err := seal.CheckRekeyParams(shares, threshold, recovery); err != nil {
		return nil, quorumError("rekey", err)
	}
	kind := rekeyKind(recovery)
	if s.current(qs, kind) != nil {
		return nil, engines.BadRequest("rekey already in progress")
	}
	a := s.open(qs, kind, cfg)
	a.shares, a.threshold = shares, threshold
	s.logger.Warn("rekey started", "recovery", recovery, "shares", shares, "threshold", threshold)
	return rekeyStatus(cfg, a), nil
}

// RekeyCancel ends the rekey attempt, if any; a non-empty nonce must name it.
func (s *System) RekeyCancel(ctx context.Context, recovery bool, nonce string) error {
	return s.cancelAttempt(ctx, rekeyKind(recovery), nonce)
}

func (s *System) cancelAttempt(ctx context.Context, kind quorumKind, nonce string) error {
	_, _, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return err
	}
	defer release()
	a := s.current(qs, kind)
	if a == nil {
		return nil
	}
	if nonce != "" && nonce != a.q.Nonce() {
		return engines.BadRequest("incorrect nonce")
	}
	qs.close(kind, a)
	return nil
}

// RekeyUpdate submits one current share (unseal share, or with recovery a
// recovery share) for the attempt named by nonce. At the threshold the
// shares are verified and the key is replaced (seal.Barrier.Rekey or
// RekeyRecovery: one atomic write); the new shares are returned once and
// the attempt ends. Wrong shares reset the progress only.
func (s *System) RekeyUpdate(ctx context.Context, recovery bool, share []byte, nonce string) (*RekeyResult, error) {
	ctx, cfg, qs, release, err := s.quorumBegin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := checkRekeySeal(cfg, recovery); err != nil {
		return nil, err
	}
	kind := rekeyKind(recovery)
	a := s.current(qs, kind)
	if a == nil {
		return nil, engines.BadRequest("no rekey in progress")
	}
	done, err := a.q.Add(nonce, share)
	if err != nil {
		return nil, quorumError("rekey", err)
	}
	if !done {
		return &RekeyResult{Status: rekeyStatus(cfg, a), Nonce: a.q.Nonce()}, nil
	}
	var shares [][]byte
	if recovery {
		as, err := s.autoSealFor(ctx, cfg)
		if err != nil {
			a.q.Reset()
			return nil, err
		}
		res, err := s.barrier.RekeyRecovery(ctx, a.q, seal.AutoInitParams{RecoveryShares: a.shares, RecoveryThreshold: a.threshold}, as)
		if err != nil {
			s.logger.Warn("recovery rekey refused; progress reset", "error", err)
			return nil, quorumError("rekey", err)
		}
		shares = res.RecoveryShares
	} else {
		res, err := s.barrier.Rekey(ctx, a.q, seal.InitParams{SecretShares: a.shares, SecretThreshold: a.threshold})
		if err != nil {
			s.logger.Warn("rekey refused; progress reset", "error", err)
			return nil, quorumError("rekey", err)
		}
		shares = res.Shares
	}
	out := &RekeyResult{Complete: true, Nonce: a.q.Nonce(), Shares: shares}
	qs.close(kind, a)
	return out, nil
}
