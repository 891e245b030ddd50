package audit

import (
	"net"
	"strconv"
	"time"

	"coffer/engines"
	"coffer/engines/jsonobj"
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

// format returns the JSON of one entry without its closing brace.
func (f *formatter) format(in *Input, typ string) ([]byte, error) {
	return f.appendEntry(nil, in, typ)
}

// emptyRequest stands in for a missing Request; it is only read.
var emptyRequest engines.Request

// appendEntry appends the JSON of one entry without its closing brace,
// ready for the device to append the chain fields. It writes in one pass
// exactly what encoding/json wrote for Vault's entry structure (see
// format_ref_test.go): fields in this order, empty ones left out, map
// keys sorted, HTML characters unescaped.
//
//	{"time","type","auth":{...},"request":{...},"response":{...},"error"
func (f *formatter) appendEntry(dst []byte, in *Input, typ string) ([]byte, error) {
	raw := f.rawAllowed(in, typ)
	w := entryWriter{raw: raw, hmacAccessor: f.hmacAccessor}
	if !raw {
		// One read lock and one pooled digest for the whole entry; a
		// zeroed key leaves the zero session, which writes
		// redactedUnavailable.
		if hs, ok := f.h.session(); ok {
			w.hs = hs
			defer w.hs.close()
		}
	}

	req := in.Request
	if req == nil {
		req = &emptyRequest
	}
	t := in.Time
	if t.IsZero() {
		t = time.Now()
	}
	dst = append(dst, `{"time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","type":`...)
	dst = appendJSONString(dst, typ)

	tokenAccessor := ""
	if tok := in.Token; tok != nil {
		tokenAccessor = tok.Accessor
		dst = append(dst, `,"auth":`...)
		dst = w.appendAuth(dst, authFields{
			clientToken:   req.ClientToken,
			accessor:      tok.Accessor,
			displayName:   tok.DisplayName,
			policies:      tok.Policies,
			tokenPolicies: tok.Policies,
			metadata:      tok.Meta,
			entityID:      tok.EntityID,
			tokenType:     tok.Type,
			ttl:           int64(tok.TTL / time.Second),
			issueTime:     tok.CreationTime,
			numUses:       tok.NumUses,
		})
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

	// The error and warnings are scrubbed before anything is written
	// after them.
	var warnings []string
	if typ == typeResponse && in.Response != nil {
		warnings = in.Response.Warnings
	}
	var errMsg string
	if in.Err != nil {
		_, errMsg = engines.CodeOf(in.Err)
	}
	if !raw && (errMsg != "" || len(warnings) > 0) {
		hs := w.hs // a copy for the scrubber's hash func, so w stays on the stack
		s := f.scrubberFor(in, req, hs.hashString)
		errMsg = s.text(errMsg)
		if len(warnings) > 0 {
			scrubbed := make([]string, len(warnings))
			for i, wn := range warnings {
				scrubbed[i] = s.text(wn)
			}
			warnings = scrubbed
		}
	}

	var err error
	first := true
	dst = append(dst, `,"request":{`...)
	dst = appendPlain(dst, &first, "id", req.ID)
	dst = appendPlain(dst, &first, "operation", string(req.Operation))
	dst = appendPlain(dst, &first, "mount_type", in.MountType)
	dst = appendPlain(dst, &first, "mount_point", mountPoint)
	dst = appendPlain(dst, &first, "mount_accessor", mountAccessor)
	dst = w.appendHashed(dst, &first, "client_token", req.ClientToken)
	dst = w.appendAccessor(dst, &first, "client_token_accessor", tokenAccessor)
	dst = appendKey(dst, &first, "namespace")
	dst = append(dst, `{"id":"root"}`...)
	dst = appendPlain(dst, &first, "path", path)
	if dst, err = w.appendData(dst, &first, req.Data); err != nil {
		return nil, err
	}
	dst = appendPlain(dst, &first, "remote_address", addr)
	if port != 0 {
		dst = appendKey(dst, &first, "remote_port")
		dst = strconv.AppendInt(dst, int64(port), 10)
	}
	dst = appendPlain(dst, &first, "forwarded_from", req.ForwardedFrom)
	dst = append(dst, '}')

	if typ == typeResponse {
		first = true
		dst = append(dst, `,"response":{`...)
		dst = appendPlain(dst, &first, "mount_type", in.MountType)
		dst = appendPlain(dst, &first, "mount_point", mountPoint)
		dst = appendPlain(dst, &first, "mount_accessor", mountAccessor)
		if resp := in.Response; resp != nil {
			if a := resp.Auth; a != nil {
				dst = appendKey(dst, &first, "auth")
				dst = w.appendAuth(dst, authFields{
					clientToken:   a.ClientToken,
					accessor:      a.Accessor,
					displayName:   a.DisplayName,
					policies:      a.Policies,
					tokenPolicies: a.TokenPolicies,
					metadata:      a.Metadata,
					entityID:      a.EntityID,
					tokenType:     a.TokenType,
					ttl:           int64(a.LeaseDuration / time.Second),
					numUses:       a.NumUses,
				})
			}
			if resp.Secret != nil {
				dst = appendKey(dst, &first, "secret")
				dst = append(dst, `{"lease_id":`...)
				dst = w.appendSecret(dst, resp.Secret.LeaseID)
				dst = append(dst, '}')
			}
			data := resp.Data
			if f.elideList && req.Operation == engines.ListOperation {
				data = elideListData(data)
			}
			if dst, err = w.appendData(dst, &first, data); err != nil {
				return nil, err
			}
			if len(warnings) > 0 {
				dst = appendKey(dst, &first, "warnings")
				dst = appendJSONStrings(dst, warnings)
			}
		}
		dst = append(dst, '}')
	}
	if errMsg != "" {
		dst = append(dst, `,"error":`...)
		dst = appendJSONString(dst, errMsg)
	}
	return dst, nil
}

// entryWriter writes the fields of one entry that depend on the device's
// settings: hashed or raw values, accessors.
type entryWriter struct {
	hs           hmacSession
	raw          bool
	hmacAccessor bool
	// recent are the last hashed envelope values and where their JSON
	// sits in the entry: the client token and the accessor appear in
	// both the auth and the request block, and are hashed once.
	recent [2]hashedSpan
	next   int
}

// hashedSpan is a value and the span of the entry holding its hash.
type hashedSpan struct {
	value      string
	start, end int
}

// authFields is an auth block: the caller's token, or the token a
// response hands out.
type authFields struct {
	clientToken, accessor, displayName string
	policies, tokenPolicies            []string
	metadata                           map[string]string
	entityID, tokenType                string
	ttl                                int64
	issueTime                          time.Time
	numUses                            int
}

// appendAuth appends an auth object. Token metadata values are hashed,
// unlike Vault, which logs them as they are: a client sets them freely
// (token create's meta) and they may carry anything.
func (w *entryWriter) appendAuth(dst []byte, a authFields) []byte {
	first := true
	dst = append(dst, '{')
	dst = w.appendHashed(dst, &first, "client_token", a.clientToken)
	dst = w.appendAccessor(dst, &first, "accessor", a.accessor)
	dst = appendPlain(dst, &first, "display_name", a.displayName)
	if len(a.policies) > 0 {
		dst = appendKey(dst, &first, "policies")
		dst = appendJSONStrings(dst, a.policies)
	}
	if len(a.tokenPolicies) > 0 {
		dst = appendKey(dst, &first, "token_policies")
		dst = appendJSONStrings(dst, a.tokenPolicies)
	}
	if len(a.metadata) > 0 {
		dst = appendKey(dst, &first, "metadata")
		var buf [8]jsonobj.KeyValue[string]
		dst = append(dst, '{')
		for i, kv := range jsonobj.SortedEntries(buf[:0], a.metadata) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, kv.K)
			dst = append(dst, ':')
			dst = w.appendSecret(dst, kv.V)
		}
		dst = append(dst, '}')
	}
	dst = appendPlain(dst, &first, "entity_id", a.entityID)
	dst = appendPlain(dst, &first, "token_type", a.tokenType)
	if a.ttl != 0 {
		dst = appendKey(dst, &first, "token_ttl")
		dst = strconv.AppendInt(dst, a.ttl, 10)
	}
	if !a.issueTime.IsZero() {
		// RFC 3339 text has nothing JSON escapes.
		dst = appendKey(dst, &first, "token_issue_time")
		dst = append(dst, '"')
		dst = a.issueTime.UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, '"')
	}
	if a.numUses != 0 {
		dst = appendKey(dst, &first, "num_uses")
		dst = strconv.AppendInt(dst, int64(a.numUses), 10)
	}
	return append(dst, '}')
}

// appendSecret appends a token, accessor, lease ID or metadata value as
// a JSON string: its HMAC, or itself when raw or empty.
func (w *entryWriter) appendSecret(dst []byte, s string) []byte {
	if s == "" || w.raw {
		return appendJSONString(dst, s)
	}
	for _, r := range w.recent {
		if r.end > 0 && r.value == s {
			return append(dst, dst[r.start:r.end]...)
		}
	}
	start := len(dst)
	dst = w.hs.appendString(dst, s)
	w.recent[w.next] = hashedSpan{value: s, start: start, end: len(dst)}
	w.next ^= 1
	return dst
}

// appendHashed appends the field key with appendSecret's value, unless s
// is empty.
func (w *entryWriter) appendHashed(dst []byte, first *bool, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = appendKey(dst, first, key)
	return w.appendSecret(dst, s)
}

// appendAccessor is appendHashed for a token accessor: kept as it is
// with hmac_accessor=false.
func (w *entryWriter) appendAccessor(dst []byte, first *bool, key, s string) []byte {
	if !w.hmacAccessor {
		return appendPlain(dst, first, key, s)
	}
	return w.appendHashed(dst, first, key, s)
}

// appendData appends a "data" field: every value redacted (hashed even
// when empty, as Vault does), or the data as it is when raw. A nil map
// leaves the field out.
func (w *entryWriter) appendData(dst []byte, first *bool, m map[string]any) ([]byte, error) {
	if m == nil {
		return dst, nil
	}
	dst = appendKey(dst, first, "data")
	if w.raw {
		return appendEncoded(dst, m)
	}
	return redactor{hs: &w.hs}.appendMap(dst, m)
}

// appendKey appends the separator before a field (none before the first)
// and its key, which needs no escaping.
func appendKey(dst []byte, first *bool, key string) []byte {
	if !*first {
		dst = append(dst, ',')
	}
	*first = false
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// appendPlain appends a readable string field, unless s is empty.
func appendPlain(dst []byte, first *bool, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = appendKey(dst, first, key)
	return appendJSONString(dst, s)
}

// scrubberFor collects the values an error or warning could echo: every
// string of the request and response data, and the tokens.
func (f *formatter) scrubberFor(in *Input, req *engines.Request, hash func(string) string) *scrubber {
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
	return newScrubber(hash, values)
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
