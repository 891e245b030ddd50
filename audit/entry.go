package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"coffer/engines"
)

// Input is one request or response to record. The broker only reads it:
// nothing in it is modified, and it may be logged to several devices at
// once.
type Input struct {
	// Request is the request as the backend saw it; its Path may be
	// relative to the mount, so the entry uses FullPath.
	Request  *engines.Request
	FullPath string
	// MountType, MountPoint and MountAccessor describe the mount that
	// served the request ("kv", "secret/", "kv_1a2b3c4d").
	MountType, MountPoint, MountAccessor string
	// Token is the caller's token entry; nil when unauthenticated.
	Token *engines.TokenEntry
	// Response is nil for request entries (and for responses that failed).
	Response *engines.Response
	// Err is the error the client gets, if any; only its client-safe
	// message (engines.CodeOf) is logged.
	Err error
	// Sensitive forces every secret in the entry to be hashed even on a
	// device with log_raw=true: sys/init responses, generated credentials.
	Sensitive bool
	// Time is the entry's time; zero means now (leave it zero for
	// response entries, which Vault stamps when the response is logged).
	Time time.Time
}

// Entry types.
const (
	typeRequest  = "request"
	typeResponse = "response"
)

// entry is one audit line, with Vault's field names. Time comes first so
// log shippers find it; the chain fields (seq, prev_hash) are appended by
// the device when it writes the line.
type entry struct {
	Time     string         `json:"time"`
	Type     string         `json:"type"`
	Auth     *entryAuth     `json:"auth,omitempty"`
	Request  *entryRequest  `json:"request,omitempty"`
	Response *entryResponse `json:"response,omitempty"`
	Error    string         `json:"error,omitempty"`
}

type entryAuth struct {
	ClientToken    string            `json:"client_token,omitempty"`
	Accessor       string            `json:"accessor,omitempty"`
	DisplayName    string            `json:"display_name,omitempty"`
	Policies       []string          `json:"policies,omitempty"`
	TokenPolicies  []string          `json:"token_policies,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	EntityID       string            `json:"entity_id,omitempty"`
	TokenType      string            `json:"token_type,omitempty"`
	TokenTTL       int64             `json:"token_ttl,omitempty"`
	TokenIssueTime string            `json:"token_issue_time,omitempty"`
	NumUses        int               `json:"num_uses,omitempty"`
}

type entryNamespace struct {
	ID string `json:"id"`
}

type entryRequest struct {
	ID                  string          `json:"id,omitempty"`
	Operation           string          `json:"operation,omitempty"`
	MountType           string          `json:"mount_type,omitempty"`
	MountPoint          string          `json:"mount_point,omitempty"`
	MountAccessor       string          `json:"mount_accessor,omitempty"`
	ClientToken         string          `json:"client_token,omitempty"`
	ClientTokenAccessor string          `json:"client_token_accessor,omitempty"`
	Namespace           *entryNamespace `json:"namespace"`
	Path                string          `json:"path,omitempty"`
	Data                any             `json:"data,omitempty"`
	RemoteAddress       string          `json:"remote_address,omitempty"`
	RemotePort          int             `json:"remote_port,omitempty"`
	// ForwardedFrom is the node ID of the standby that forwarded the
	// request to the node that ran it (and wrote this entry).
	ForwardedFrom string `json:"forwarded_from,omitempty"`
}

type entrySecret struct {
	LeaseID string `json:"lease_id"`
}

type entryResponse struct {
	MountType     string       `json:"mount_type,omitempty"`
	MountPoint    string       `json:"mount_point,omitempty"`
	MountAccessor string       `json:"mount_accessor,omitempty"`
	Auth          *entryAuth   `json:"auth,omitempty"`
	Secret        *entrySecret `json:"secret,omitempty"`
	Data          any          `json:"data,omitempty"`
	Warnings      []string     `json:"warnings,omitempty"`
}

var rootNamespace = &entryNamespace{ID: "root"}

// formatter turns an Input into one device's entry body.
type formatter struct {
	h            *hasher
	hmacAccessor bool
	logRaw       bool
	elideList    bool
}

// rawAllowed reports whether the entry may be logged unhashed: only with
// log_raw, never for a Sensitive input, and never for a response that
// hands out a new token (a login or token creation).
func (f *formatter) rawAllowed(in *Input, typ string) bool {
	if !f.logRaw || in.Sensitive {
		return false
	}
	if typ == typeResponse && in.Response != nil && in.Response.Auth != nil && in.Response.Auth.ClientToken != "" {
		return false
	}
	return true
}

// format returns the JSON of one entry without its closing brace, ready
// for the device to append the chain fields.
func (f *formatter) format(in *Input, typ string) ([]byte, error) {
	raw := f.rawAllowed(in, typ)
	hashStr := func(s string) string {
		if s == "" || raw {
			return s
		}
		return f.h.hashString(s)
	}
	accessor := func(s string) string {
		if !f.hmacAccessor {
			return s
		}
		return hashStr(s)
	}
	// Data values are hashed even when empty, as Vault does; the token
	// and accessor fields stay empty when there is none.
	red := redactor{hash: func(s string) string {
		if raw {
			return s
		}
		return f.h.hashString(s)
	}}
	dataOf := func(m map[string]any) (any, error) {
		if m == nil {
			return nil, nil
		}
		if raw {
			return m, nil
		}
		return red.mapAny(m)
	}

	req := in.Request
	if req == nil {
		req = &engines.Request{}
	}
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	e := entry{Time: t.UTC().Format(time.RFC3339Nano), Type: typ}

	tokenAccessor := ""
	if in.Token != nil {
		tok := in.Token
		tokenAccessor = tok.Accessor
		e.Auth = &entryAuth{
			ClientToken:   hashStr(req.ClientToken),
			Accessor:      accessor(tok.Accessor),
			DisplayName:   tok.DisplayName,
			Policies:      tok.Policies,
			TokenPolicies: tok.Policies,
			Metadata:      hashMeta(tok.Meta, hashStr),
			EntityID:      tok.EntityID,
			TokenType:     tok.Type,
			TokenTTL:      int64(tok.TTL / time.Second),
			NumUses:       tok.NumUses,
		}
		if !tok.CreationTime.IsZero() {
			e.Auth.TokenIssueTime = tok.CreationTime.UTC().Format(time.RFC3339)
		}
	}

	path := in.FullPath
	if path == "" {
		path = req.Path
	}
	mountAccessor := in.MountAccessor
	if mountAccessor == "" {
		mountAccessor = req.MountAccessor
	}
	mountPoint := in.MountPoint
	if mountPoint == "" {
		mountPoint = req.MountPoint
	}
	addr, port := splitRemote(req.RemoteAddr)
	reqData, err := dataOf(req.Data)
	if err != nil {
		return nil, err
	}
	e.Request = &entryRequest{
		ID:                  req.ID,
		Operation:           string(req.Operation),
		MountType:           in.MountType,
		MountPoint:          mountPoint,
		MountAccessor:       mountAccessor,
		ClientToken:         hashStr(req.ClientToken),
		ClientTokenAccessor: accessor(tokenAccessor),
		Namespace:           rootNamespace,
		Path:                path,
		Data:                reqData,
		RemoteAddress:       addr,
		RemotePort:          port,
		ForwardedFrom:       req.ForwardedFrom,
	}

	var warnings []string
	if typ == typeResponse {
		r := &entryResponse{MountType: in.MountType, MountPoint: mountPoint, MountAccessor: mountAccessor}
		if resp := in.Response; resp != nil {
			data := resp.Data
			if f.elideList && req.Operation == engines.ListOperation {
				data = elideListData(data)
			}
			if r.Data, err = dataOf(data); err != nil {
				return nil, err
			}
			if resp.Secret != nil {
				r.Secret = &entrySecret{LeaseID: hashStr(resp.Secret.LeaseID)}
			}
			if a := resp.Auth; a != nil {
				r.Auth = &entryAuth{
					ClientToken:   hashStr(a.ClientToken),
					Accessor:      accessor(a.Accessor),
					DisplayName:   a.DisplayName,
					Policies:      a.Policies,
					TokenPolicies: a.TokenPolicies,
					Metadata:      hashMeta(a.Metadata, hashStr),
					EntityID:      a.EntityID,
					TokenType:     a.TokenType,
					TokenTTL:      int64(a.LeaseDuration / time.Second),
					NumUses:       a.NumUses,
				}
			}
			warnings = resp.Warnings
		}
		e.Response = r
	}

	var errMsg string
	if in.Err != nil {
		_, errMsg = engines.CodeOf(in.Err)
	}
	if !raw && (errMsg != "" || len(warnings) > 0) {
		s := f.scrubberFor(in, req)
		errMsg = s.text(errMsg)
		if len(warnings) > 0 {
			scrubbed := make([]string, len(warnings))
			for i, w := range warnings {
				scrubbed[i] = s.text(w)
			}
			warnings = scrubbed
		}
	}
	e.Error = errMsg
	if e.Response != nil {
		e.Response.Warnings = warnings
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&e); err != nil {
		return nil, fmt.Errorf("encode entry: %w", errUnloggable)
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	return b[:len(b)-1], nil // drop the closing brace
}

// hashMeta returns token metadata with its values hashed: unlike Vault,
// which logs them as they are, because a client sets them freely (token
// create's meta) and they may carry anything.
func hashMeta(m map[string]string, hashStr func(string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = hashStr(v)
	}
	return out
}

// scrubberFor collects the values an error or warning could echo: every
// string of the request and response data, and the tokens.
func (f *formatter) scrubberFor(in *Input, req *engines.Request) *scrubber {
	values := collectStrings(nil, req.Data)
	if req.ClientToken != "" {
		values = append(values, req.ClientToken)
	}
	if resp := in.Response; resp != nil {
		values = collectStrings(values, resp.Data)
		if resp.Auth != nil && resp.Auth.ClientToken != "" {
			values = append(values, resp.Auth.ClientToken)
		}
		if resp.Secret != nil && resp.Secret.LeaseID != "" {
			values = append(values, resp.Secret.LeaseID)
		}
	}
	return newScrubber(f.h.hashString, values)
}

// elideListData returns a copy of a list response's data with "keys" (and
// "key_info") replaced by their number of elements, as Vault's
// elide_list_responses does.
func elideListData(data map[string]any) map[string]any {
	if data == nil {
		return nil
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[k] = v
	}
	if n, ok := lenOf(data["keys"]); ok {
		out["keys"] = n
	}
	if n, ok := lenOf(data["key_info"]); ok {
		out["key_info"] = n
	}
	return out
}

func lenOf(v any) (int, bool) {
	switch x := v.(type) {
	case []string:
		return len(x), true
	case []any:
		return len(x), true
	case map[string]any:
		return len(x), true
	case map[string]string:
		return len(x), true
	}
	return 0, false
}

// splitRemote splits "host:port" into Vault's remote_address and
// remote_port; anything else is the address alone.
func splitRemote(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return addr, 0
	}
	return host, port
}
