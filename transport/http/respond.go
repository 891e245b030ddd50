package http

import (
	"encoding/json"
	"net/http"
	"time"

	"coffer/engines"
)

// envelope is Vault's response body for logical requests.
type envelope struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	Renewable     bool           `json:"renewable"`
	LeaseDuration int64          `json:"lease_duration"`
	Data          map[string]any `json:"data"`
	WrapInfo      any            `json:"wrap_info"`
	Warnings      []string       `json:"warnings"`
	Auth          *authBlock     `json:"auth"`
	MountType     string         `json:"mount_type"`
}

type authBlock struct {
	ClientToken   string            `json:"client_token"`
	Accessor      string            `json:"accessor"`
	Policies      []string          `json:"policies"`
	TokenPolicies []string          `json:"token_policies"`
	Metadata      map[string]string `json:"metadata"`
	LeaseDuration int64             `json:"lease_duration"`
	Renewable     bool              `json:"renewable"`
	EntityID      string            `json:"entity_id"`
	TokenType     string            `json:"token_type"`
	Orphan        bool              `json:"orphan"`
	NumUses       int               `json:"num_uses"`
}

func newEnvelope(id, mountType string, resp *engines.Response) *envelope {
	env := &envelope{RequestID: id, Data: resp.Data, Warnings: resp.Warnings, MountType: mountType}
	if s := resp.Secret; s != nil {
		env.LeaseID = s.LeaseID
		env.Renewable = s.Renewable
		env.LeaseDuration = int64(s.LeaseDuration / time.Second)
	}
	if a := resp.Auth; a != nil {
		env.Auth = &authBlock{
			ClientToken: a.ClientToken, Accessor: a.Accessor, Policies: a.Policies,
			TokenPolicies: a.TokenPolicies, Metadata: a.Metadata,
			LeaseDuration: int64(a.LeaseDuration / time.Second), Renewable: a.Renewable,
			EntityID: a.EntityID, TokenType: a.TokenType, Orphan: a.Orphan, NumUses: a.NumUses,
		}
	}
	return env
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with Vault's {"errors": [...]} shape. Only the
// error's client-safe message is sent; the detail of an internal error
// goes to the operator log.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := engines.CodeOf(err)
	status := code.HTTPStatus()
	if code == engines.CodeInternal {
		h.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeErrorStatus(w, status, msg)
}

func writeErrorStatus(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string][]string{"errors": msgs})
}
