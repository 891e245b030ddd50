package audit

// The reference formatter: the audit entry encoder as it was before the
// append-style encoder (encoding/json over built structures), kept verbatim
// apart from names as the oracle the production encoder must match byte
// for byte. It hashes with crypto/hmac over the salt directly, so it
// shares no code with the production hasher.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"coffer/engines"
)

// refEntry is one audit line, with Vault's field names. Time comes first so
// log shippers find it; the chain fields (seq, prev_hash) are appended by
// the device when it writes the line.
type refEntry struct {
	Time     string            `json:"time"`
	Type     string            `json:"type"`
	Auth     *refEntryAuth     `json:"auth,omitempty"`
	Request  *refEntryRequest  `json:"request,omitempty"`
	Response *refEntryResponse `json:"response,omitempty"`
	Error    string            `json:"error,omitempty"`
}

type refEntryAuth struct {
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

type refEntryNamespace struct {
	ID string `json:"id"`
}

type refEntryRequest struct {
	ID                  string             `json:"id,omitempty"`
	Operation           string             `json:"operation,omitempty"`
	MountType           string             `json:"mount_type,omitempty"`
	MountPoint          string             `json:"mount_point,omitempty"`
	MountAccessor       string             `json:"mount_accessor,omitempty"`
	ClientToken         string             `json:"client_token,omitempty"`
	ClientTokenAccessor string             `json:"client_token_accessor,omitempty"`
	Namespace           *refEntryNamespace `json:"namespace"`
	Path                string             `json:"path,omitempty"`
	Data                any                `json:"data,omitempty"`
	RemoteAddress       string             `json:"remote_address,omitempty"`
	RemotePort          int                `json:"remote_port,omitempty"`
	// ForwardedFrom is the node ID of the standby that forwarded the
	// request to the node that ran it (and wrote this entry).
	ForwardedFrom string `json:"forwarded_from,omitempty"`
}

type refEntrySecret struct {
	LeaseID string `json:"lease_id"`
}

type refEntryResponse struct {
	MountType     string          `json:"mount_type,omitempty"`
	MountPoint    string          `json:"mount_point,omitempty"`
	MountAccessor string          `json:"mount_accessor,omitempty"`
	Auth          *refEntryAuth   `json:"auth,omitempty"`
	Secret        *refEntrySecret `json:"secret,omitempty"`
	Data          any             `json:"data,omitempty"`
	Warnings      []string        `json:"warnings,omitempty"`
}

var refRootNamespace = &refEntryNamespace{ID: "root"}

// refFormatter mirrors formatter with the salt in the clear.
type refFormatter struct {
	salt         []byte
	hmacAccessor bool
	logRaw       bool
	elideList    bool
}

func (f *refFormatter) hashString(s string) string {
	m := hmac.New(sha256.New, f.salt)
	m.Write([]byte(s))
	return hmacPrefix + hex.EncodeToString(m.Sum(nil))
}

// rawAllowed is the live rule: the reference differs only in how it
// encodes.
func (f *refFormatter) rawAllowed(in *Input, typ string) bool {
	return (&formatter{logRaw: f.logRaw}).rawAllowed(in, typ)
}

// format returns the JSON of one entry without its closing brace, ready
// for the device to append the chain fields.
func (f *refFormatter) format(in *Input, typ string) ([]byte, error) {
	raw := f.rawAllowed(in, typ)
	hashStr := func(s string) string {
		if s == "" || raw {
			return s
		}
		return f.hashString(s)
	}
	accessor := func(s string) string {
		if !f.hmacAccessor {
			return s
		}
		return hashStr(s)
	}
	// Data values are hashed even when empty, as Vault does; the token
	// and accessor fields stay empty when there is none.
	red := refRedactor{hash: func(s string) string {
		if raw {
			return s
		}
		return f.hashString(s)
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
	e := refEntry{Time: t.UTC().Format(time.RFC3339Nano), Type: typ}

	tokenAccessor := ""
	if in.Token != nil {
		tok := in.Token
		tokenAccessor = tok.Accessor
		e.Auth = &refEntryAuth{
			ClientToken:   hashStr(req.ClientToken),
			Accessor:      accessor(tok.Accessor),
			DisplayName:   tok.DisplayName,
			Policies:      tok.Policies,
			TokenPolicies: tok.Policies,
			Metadata:      refHashMeta(tok.Meta, hashStr),
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
	e.Request = &refEntryRequest{
		ID:                  req.ID,
		Operation:           string(req.Operation),
		MountType:           in.MountType,
		MountPoint:          mountPoint,
		MountAccessor:       mountAccessor,
		ClientToken:         hashStr(req.ClientToken),
		ClientTokenAccessor: accessor(tokenAccessor),
		Namespace:           refRootNamespace,
		Path:                path,
		Data:                reqData,
		RemoteAddress:       addr,
		RemotePort:          port,
		ForwardedFrom:       req.ForwardedFrom,
	}

	var warnings []string
	if typ == typeResponse {
		r := &refEntryResponse{MountType: in.MountType, MountPoint: mountPoint, MountAccessor: mountAccessor}
		if resp := in.Response; resp != nil {
			data := resp.Data
			if f.elideList && req.Operation == engines.ListOperation {
				data = elideListData(data)
			}
			if r.Data, err = dataOf(data); err != nil {
				return nil, err
			}
			if resp.Secret != nil {
				r.Secret = &refEntrySecret{LeaseID: hashStr(resp.Secret.LeaseID)}
			}
			if a := resp.Auth; a != nil {
				r.Auth = &refEntryAuth{
					ClientToken:   hashStr(a.ClientToken),
					Accessor:      accessor(a.Accessor),
					DisplayName:   a.DisplayName,
					Policies:      a.Policies,
					TokenPolicies: a.TokenPolicies,
					Metadata:      refHashMeta(a.Metadata, hashStr),
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
func refHashMeta(m map[string]string, hashStr func(string) string) map[string]string {
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
func (f *refFormatter) scrubberFor(in *Input, req *engines.Request) *scrubber {
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
	return newScrubber(f.hashString, values)
}

// refRedactor replaces every string value in a structure with its HMAC, as
// Vault's HashStructure does: map keys stay readable, Go numbers, booleans
// and times stay as they are, byte slices are hashed as strings, and so
// are json.Number values (numbers as a client sent them in a JSON body:
// Vault hashes them too, a PIN is a number). It never mutates its input:
// it returns new maps and slices.
type refRedactor struct {
	hash func(string) string
	// keepNumbers keeps json.Number values: set for values that went
	// through their JSON form here, whose numbers were Go numbers.
	keepNumbers bool
}

// value returns a redacted copy of v. Types it does not know are turned
// into their JSON form first and then redacted, so an unexpected type
// errs toward hashing.
func (r refRedactor) value(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if r.keepNumbers {
			return x, nil
		}
		return r.hash(string(x)), nil
	case nil, bool,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Duration:
		return x, nil
	case string:
		return r.hash(x), nil
	case []byte:
		return r.hash(string(x)), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case map[string]any:
		return r.mapAny(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := r.value(e)
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = r.hash(e)
		}
		return out, nil
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = r.hash(e)
		}
		return out, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			rv, err := r.mapAny(e)
			if err != nil {
				return nil, err
			}
			out[i] = rv
		}
		return out, nil
	case json.RawMessage:
		return r.viaJSON(x, false)
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("redact a %T value: %w", x, errUnloggable)
		}
		return r.viaJSON(raw, true)
	}
}

func (r refRedactor) mapAny(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		rv, err := r.value(e)
		if err != nil {
			return nil, err
		}
		out[k] = rv
	}
	return out, nil
}

// viaJSON decodes raw JSON and redacts it; keepNumbers says whether its
// numbers were Go numbers (a value marshaled here) or client text.
func (r refRedactor) viaJSON(raw []byte, keepNumbers bool) (any, error) {
	r.keepNumbers = keepNumbers
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("redact: %w", errUnloggable)
	}
	return r.value(v)
}
