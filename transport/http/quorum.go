package http

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"coffer/engines"
)

// The quorum endpoints (sys/generate-root, sys/rekey,
// sys/rekey-recovery-key) are unauthenticated, as in Vault: the key
// shares are the authority. Their state lives on the active node, so a
// standby forwards every call, reads included.

// quorumBody reads a quorum endpoint's JSON body under the seal
// endpoints' small size cap.
func (h *Handler) quorumBody(r *http.Request) (map[string]any, error) {
	body, err := h.readBody(r, sysBodyLimit)
	if err != nil {
		return nil, err
	}
	return h.decode(body)
}

// forwardQuorum forwards r to the active node when this node is a
// standby; it reports whether it did.
func (h *Handler) forwardQuorum(w http.ResponseWriter, r *http.Request, path string) bool {
	if forwardedFrom(r.Context()) == "" && h.node.MustForward(path, engines.UpdateOperation) {
		h.forward(w, r, nil)
		return true
	}
	return false
}

// shareAndNonce reads {key, nonce} and decodes the key (hex or base64).
// The caller zeroes the share.
func shareAndNonce(data map[string]any) (share []byte, nonce string, msg string) {
	key, _ := data["key"].(string)
	if key == "" {
		return nil, "", "'key' must be specified in request body as JSON"
	}
	nonce, _ = data["nonce"].(string)
	share, err := decodeShare(key)
	if err != nil {
		return nil, "", "'key' must be a valid hex or base64 string"
	}
	return share, nonce, ""
}

// nonEmpty reports whether a body field is set to something other than
// its zero value (the stock client sends "", null and false for unset).
func nonEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case bool:
		return v
	case []any:
		return len(v) > 0
	}
	return true
}

// serveGenerateRootAttempt serves sys/generate-root/attempt: GET the
// status, PUT start (the server draws the OTP), DELETE cancel.
func (h *Handler) serveGenerateRootAttempt(w http.ResponseWriter, r *http.Request, path string) {
	if h.forwardQuorum(w, r, path) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		st, err := h.node.GenerateRootStatus(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodPut, http.MethodPost:
		data, err := h.quorumBody(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if nonEmpty(data["pgp_key"]) {
			writeErrorStatus(w, http.StatusBadRequest, "pgp_key is not supported: Coffer does not PGP-encrypt root tokens; start without it and decode with the OTP")
			return
		}
		if nonEmpty(data["otp"]) {
			writeErrorStatus(w, http.StatusBadRequest, "otp must not be given: the server generates the one-time password and returns it")
			return
		}
		st, err := h.node.GenerateRootInit(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodDelete:
		if err := h.node.GenerateRootCancel(r.Context()); err != nil {
			h.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// quorumShare takes the share and nonce of an update request (PUT or POST,
// served on the active node: forwarded from a standby), or answers the
// refusal itself and reports false.
func (h *Handler) quorumShare(w http.ResponseWriter, r *http.Request, path string) (share []byte, nonce string, ok bool) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return nil, "", false
	}
	if h.forwardQuorum(w, r, path) {
		return nil, "", false
	}
	data, err := h.quorumBody(r)
	if err != nil {
		h.writeError(w, r, err)
		return nil, "", false
	}
	share, nonce, msg := shareAndNonce(data)
	if msg != "" {
		writeErrorStatus(w, http.StatusBadRequest, msg)
		return nil, "", false
	}
	return share, nonce, true
}

// serveGenerateRootUpdate serves sys/generate-root/update: one share.
func (h *Handler) serveGenerateRootUpdate(w http.ResponseWriter, r *http.Request, path string) {
	share, nonce, ok := h.quorumShare(w, r, path)
	if !ok {
		return
	}
	st, err := h.node.GenerateRootUpdate(r.Context(), share, nonce)
	clear(share)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// serveRekeyInit serves sys/rekey/init and sys/rekey-recovery-key/init:
// GET the status, PUT start, DELETE cancel.
func (h *Handler) serveRekeyInit(w http.ResponseWriter, r *http.Request, path string) {
	if h.forwardQuorum(w, r, path) {
		return
	}
	recovery := strings.HasPrefix(path, "sys/rekey-recovery-key/")
	switch r.Method {
	case http.MethodGet:
		st, err := h.node.RekeyStatus(r.Context(), recovery)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodPut, http.MethodPost:
		data, err := h.quorumBody(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		shares, err1 := intField(data, "secret_shares")
		threshold, err2 := intField(data, "secret_threshold")
		if err1 != nil || err2 != nil {
			writeErrorStatus(w, http.StatusBadRequest, "secret_shares and secret_threshold must be integers")
			return
		}
		for _, f := range []struct{ field, msg string }{
			{"pgp_keys", "pgp_keys is not supported: Coffer does not PGP-encrypt key shares"},
			{"backup", "backup is not supported: Coffer does not store encrypted copies of key shares"},
			{"Backup", "backup is not supported: Coffer does not store encrypted copies of key shares"},
			{"require_verification", "require_verification is not supported"},
		} {
			if nonEmpty(data[f.field]) {
				writeErrorStatus(w, http.StatusBadRequest, f.msg)
				return
			}
		}
		st, err := h.node.RekeyInit(r.Context(), recovery, shares, threshold)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case http.MethodDelete:
		data, err := h.quorumBody(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		nonce, _ := data["nonce"].(string)
		if err := h.node.RekeyCancel(r.Context(), recovery, nonce); err != nil {
			h.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// serveRekeyUpdate serves sys/rekey/update and
// sys/rekey-recovery-key/update: one current share. Below the threshold
// it answers the status; at it, the new shares, once.
func (h *Handler) serveRekeyUpdate(w http.ResponseWriter, r *http.Request, path string) {
	share, nonce, ok := h.quorumShare(w, r, path)
	if !ok {
		return
	}
	recovery := strings.HasPrefix(path, "sys/rekey-recovery-key/")
	res, err := h.node.RekeyUpdate(r.Context(), recovery, share, nonce)
	clear(share)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if !res.Complete {
		writeJSON(w, http.StatusOK, res.Status)
		return
	}
	out := struct {
		Nonce                string   `json:"nonce"`
		Complete             bool     `json:"complete"`
		Keys                 []string `json:"keys"`
		KeysBase64           []string `json:"keys_base64"`
		PGPFingerprints      []string `json:"pgp_fingerprints"`
		Backup               bool     `json:"backup"`
		VerificationRequired bool     `json:"verification_required"`
	}{Nonce: res.Nonce, Complete: true, Keys: []string{}, KeysBase64: []string{}}
	for _, s := range res.Shares {
		out.Keys = append(out.Keys, hex.EncodeToString(s))
		out.KeysBase64 = append(out.KeysBase64, base64.StdEncoding.EncodeToString(s))
		clear(s)
	}
	writeJSON(w, http.StatusOK, out)
}
