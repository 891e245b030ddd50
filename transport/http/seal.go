package http

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"coffer/engines/system"
)

func (h *Handler) serveInit(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		ok, err := h.node.Initialized(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"initialized": ok})
	case http.MethodPut, http.MethodPost:
		data, err := h.parseBody(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		shares, err1 := intField(data, "secret_shares")
		threshold, err2 := intField(data, "secret_threshold")
		rshares, err3 := intField(data, "recovery_shares")
		rthreshold, err4 := intField(data, "recovery_threshold")
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			writeErrorStatus(w, http.StatusBadRequest, "secret_shares, secret_threshold, recovery_shares and recovery_threshold must be integers")
			return
		}
		for _, field := range []string{"pgp_keys", "root_token_pgp_key", "recovery_pgp_keys"} {
			if v, ok := data[field]; ok && v != nil && v != "" {
				writeErrorStatus(w, http.StatusBadRequest, field+" is not supported: Coffer does not PGP-encrypt init output")
				return
			}
		}
		res, err := h.node.Init(r.Context(), system.InitRequest{SecretShares: shares, SecretThreshold: threshold,
			RecoveryShares: rshares, RecoveryThreshold: rthreshold})
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		out := struct {
			Keys               []string `json:"keys"`
			KeysBase64         []string `json:"keys_base64"`
			RecoveryKeys       []string `json:"recovery_keys,omitempty"`
			RecoveryKeysBase64 []string `json:"recovery_keys_base64,omitempty"`
			RootToken          string   `json:"root_token"`
		}{Keys: []string{}, KeysBase64: []string{}, RootToken: res.RootToken}
		for _, s := range res.Shares {
			out.Keys = append(out.Keys, hex.EncodeToString(s))
			out.KeysBase64 = append(out.KeysBase64, base64.StdEncoding.EncodeToString(s))
			clear(s)
		}
		for _, s := range res.RecoveryShares {
			out.RecoveryKeys = append(out.RecoveryKeys, hex.EncodeToString(s))
			out.RecoveryKeysBase64 = append(out.RecoveryKeysBase64, base64.StdEncoding.EncodeToString(s))
			clear(s)
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// intField reads a whole number from a decoded body; absent is zero.
func intField(data map[string]any, key string) (int, error) {
	switch v := data[key].(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := v.Int64()
		return int(n), err
	case string:
		return strconv.Atoi(v)
	}
	return 0, strconv.ErrSyntax
}

func (h *Handler) serveSealStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	h.writeSealStatus(w, r)
}

func (h *Handler) writeSealStatus(w http.ResponseWriter, r *http.Request) {
	st, err := h.node.SealStatus(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Handler) serveUnseal(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	data, err := h.parseBody(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if reset, _ := data["reset"].(bool); reset {
		h.node.ResetUnseal()
		h.writeSealStatus(w, r)
		return
	}
	migrate, _ := data["migrate"].(bool)
	key, _ := data["key"].(string)
	if key == "" {
		writeErrorStatus(w, http.StatusBadRequest, "'key' must be specified in request body as JSON, or 'reset' set to true")
		return
	}
	share, err := decodeShare(key)
	if err != nil {
		writeErrorStatus(w, http.StatusBadRequest, "'key' must be a valid hex or base64 string")
		return
	}
	err = h.node.Unseal(r.Context(), share, migrate)
	clear(share)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.writeSealStatus(w, r)
}

// decodeShare accepts a share in hex or in standard base64, as Vault does.
func decodeShare(key string) ([]byte, error) {
	key = strings.TrimSpace(key)
	if b, err := hex.DecodeString(key); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(key)
}

func (h *Handler) serveLeader(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	l, err := h.node.Leader(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// serveHealth answers sys/health with Vault's status codes and their
// query overrides.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	hs, err := h.node.Health(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	code := func(name string, def int) int {
		if v := q.Get(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 100 && n <= 599 {
				return n
			}
		}
		return def
	}
	isTrue := func(name string) bool {
		v, ok := q[name]
		if !ok {
			return false
		}
		if len(v) == 0 || v[0] == "" {
			return true
		}
		b, _ := strconv.ParseBool(v[0])
		return b
	}
	status := code("activecode", http.StatusOK)
	switch {
	case !hs.Initialized:
		status = code("uninitcode", http.StatusNotImplemented)
		if isTrue("uninitok") {
			status = http.StatusOK
		}
	case hs.Sealed:
		status = code("sealedcode", http.StatusServiceUnavailable)
	case hs.Standby:
		status = code("standbycode", http.StatusTooManyRequests)
		if isTrue("standbyok") {
			status = code("activecode", http.StatusOK)
		}
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, hs)
}
