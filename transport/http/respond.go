package http

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"coffer/engines"
	"coffer/engines/jsonobj"
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

// writeJSON answers status with v as JSON, byte for byte what
// json.Encoder writes (HTML-escaped, one trailing newline). The logical
// envelope and the plain values backends answer with are written without
// reflection (engines/jsonobj); other types go through encoding/json. A
// value that cannot be encoded is a 500, never a truncated body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := respBufs.Get().(*[]byte)
	defer func() {
		// Responses carry secrets: nothing stays in the pool.
		clear((*bp)[:cap(*bp)])
		if cap(*bp) <= maxPooledResponse {
			respBufs.Put(bp)
		}
	}()
	var err error
	if env, ok := v.(*envelope); ok {
		*bp, err = appendEnvelope((*bp)[:0], env)
	} else {
		*bp, err = jsonobj.AppendValue((*bp)[:0], v, true)
	}
	if err != nil {
		status, *bp = http.StatusInternalServerError, append((*bp)[:0], `{"errors":["internal error"]}`...)
	}
	*bp = append(*bp, '\n')
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["Content-Length"] = []string{strconv.Itoa(len(*bp))}
	w.WriteHeader(status)
	_, _ = w.Write(*bp)
}

// Header values every JSON response carries, shared (a literal's capacity
// equals its length, so an Add elsewhere copies instead of writing into
// them).
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// maxPooledResponse: larger response buffers are left to the collector.
const maxPooledResponse = 64 << 10

var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendEnvelope writes env with encoding/json's field order and rules.
func appendEnvelope(dst []byte, env *envelope) ([]byte, error) {
	var err error
	dst = append(dst, `{"request_id":`...)
	dst = jsonobj.AppendString(dst, env.RequestID, true)
	dst = append(dst, `,"lease_id":`...)
	dst = jsonobj.AppendString(dst, env.LeaseID, true)
	dst = append(dst, `,"renewable":`...)
	dst = strconv.AppendBool(dst, env.Renewable)
	dst = append(dst, `,"lease_duration":`...)
	dst = strconv.AppendInt(dst, env.LeaseDuration, 10)
	dst = append(dst, `,"data":`...)
	if dst, err = jsonobj.AppendValue(dst, env.Data, true); err != nil {
		return dst, err
	}
	dst = append(dst, `,"wrap_info":`...)
	if dst, err = jsonobj.AppendValue(dst, env.WrapInfo, true); err != nil {
		return dst, err
	}
	dst = append(dst, `,"warnings":`...)
	dst = jsonobj.AppendStrings(dst, env.Warnings, true)
	dst = append(dst, `,"auth":`...)
	if a := env.Auth; a == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"client_token":`...)
		dst = jsonobj.AppendString(dst, a.ClientToken, true)
		dst = append(dst, `,"accessor":`...)
		dst = jsonobj.AppendString(dst, a.Accessor, true)
		dst = append(dst, `,"policies":`...)
		dst = jsonobj.AppendStrings(dst, a.Policies, true)
		dst = append(dst, `,"token_policies":`...)
		dst = jsonobj.AppendStrings(dst, a.TokenPolicies, true)
		dst = append(dst, `,"metadata":`...)
		if dst, err = jsonobj.AppendValue(dst, a.Metadata, true); err != nil {
			return dst, err
		}
		dst = append(dst, `,"lease_duration":`...)
		dst = strconv.AppendInt(dst, a.LeaseDuration, 10)
		dst = append(dst, `,"renewable":`...)
		dst = strconv.AppendBool(dst, a.Renewable)
		dst = append(dst, `,"entity_id":`...)
		dst = jsonobj.AppendString(dst, a.EntityID, true)
		dst = append(dst, `,"token_type":`...)
		dst = jsonobj.AppendString(dst, a.TokenType, true)
		dst = append(dst, `,"orphan":`...)
		dst = strconv.AppendBool(dst, a.Orphan)
		dst = append(dst, `,"num_uses":`...)
		dst = strconv.AppendInt(dst, int64(a.NumUses), 10)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"mount_type":`...)
	dst = jsonobj.AppendString(dst, env.MountType, true)
	return append(dst, '}'), nil
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
