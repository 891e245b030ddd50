package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// benchKeyPrefix is the folder under the KV mount that bench's keys live in.
const benchKeyPrefix = "coffer-bench/key-"

// benchEnv is what a workload's setup needs: the client, the options and a
// list of clean-up steps to run afterwards, last added first.
type benchEnv struct {
	client  *benchClient
	opts    *benchOptions
	cleanup []func(ctx context.Context) error
}

// onCleanup registers a clean-up step.
func (e *benchEnv) onCleanup(fn func(ctx context.Context) error) {
	e.cleanup = append(e.cleanup, fn)
}

// runCleanup runs the clean-up steps, newest first, and returns their errors joined.
func (e *benchEnv) runCleanup(ctx context.Context) error {
	var errs []error
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, e.cleanup[i](ctx))
	}
	e.cleanup = nil
	return errors.Join(errs...)
}

// benchWorkload is one named load: its default mount, and prepare, which
// checks the server (and with -setup creates what the load needs) and
// returns the operation to repeat.
type benchWorkload struct {
	synopsis     string
	defaultMount string
	prepare      func(ctx context.Context, e *benchEnv) (benchOp, error)
}

// benchWorkloads are the workloads by name.
var benchWorkloads = map[string]benchWorkload{
	"kv-write":        {"write values at random keys", "secret", prepareKVWrite},
	"kv-read":         {"read random keys (-setup writes them)", "secret", prepareKVRead},
	"kv-mixed":        {"90% kv-read, 10% kv-write", "secret", prepareKVMixed},
	"token-create":    {"create child tokens of the caller's token", "", prepareTokenCreate},
	"approle-login":   {"log in (-setup: temporary mount and role)", "approle", prepareAppRoleLogin},
	"db-creds":        {"read creds for -role (and -revoke them)", "database", prepareDBCreds},
	"transit-encrypt": {"encrypt -value-size bytes, -transit-key", "transit", prepareTransitEncrypt},
	"pki-issue":       {"issue certificates from -role", "pki", preparePKIIssue},
}

// kvPaths are the API paths of bench's KV keys: for reading and writing,
// and for deleting every version.
func kvPaths(o *benchOptions) (data, destroy []string) {
	data = make([]string, o.keys)
	destroy = make([]string, o.keys)
	for i := range o.keys {
		key := benchKeyPrefix + strconv.Itoa(i)
		if o.kvVersion == 1 {
			data[i], destroy[i] = o.mount+"/"+key, o.mount+"/"+key
		} else {
			data[i], destroy[i] = o.mount+"/data/"+key, o.mount+"/metadata/"+key
		}
	}
	return data, destroy
}

// kvBody is the JSON body that writes one value of size random characters.
func kvBody(o *benchOptions) []byte {
	raw := make([]byte, (o.valueSize+1)/2)
	_, _ = rand.Read(raw)
	value := hex.EncodeToString(raw)[:o.valueSize]
	var v any = map[string]any{"value": value}
	if o.kvVersion == 2 {
		v = map[string]any{"data": v}
	}
	b, _ := json.Marshal(v)
	return b
}

// prepareKV returns the key paths and the body that writes a value. With
// -setup it registers the deletion of every key bench may write and, when
// writeFirst, writes them all before the run.
func prepareKV(ctx context.Context, e *benchEnv, writeFirst bool) (data []string, body []byte, err error) {
	o := e.opts
	data, destroy := kvPaths(o)
	body = kvBody(o)
	if !o.setup {
		return data, body, nil
	}
	e.onCleanup(func(ctx context.Context) error {
		return parallelEach(ctx, len(destroy), o.concurrency, func(ctx context.Context, i int, buf *bytes.Buffer) error {
			err := e.client.do(ctx, http.MethodDelete, destroy[i], nil, buf)
			var he *benchHTTPError
			if errors.As(err, &he) && he.status == http.StatusNotFound {
				return nil
			}
			return err
		})
	})
	if writeFirst {
		err := parallelEach(ctx, len(data), o.concurrency, func(ctx context.Context, i int, buf *bytes.Buffer) error {
			return e.client.do(ctx, http.MethodPost, data[i], body, buf)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("write %d keys: %w", len(data), err)
		}
	}
	return data, body, nil
}

func prepareKVWrite(ctx context.Context, e *benchEnv) (benchOp, error) {
	data, body, err := prepareKV(ctx, e, false)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, w *benchWorker) error {
		return w.client.do(ctx, http.MethodPost, data[w.rng.IntN(len(data))], body, &w.buf)
	}, nil
}

// kvRead reads one key, explaining a 404 (the usual cause: no -setup).
func kvRead(ctx context.Context, w *benchWorker, path string) error {
	err := w.client.do(ctx, http.MethodGet, path, nil, &w.buf)
	var he *benchHTTPError
	if errors.As(err, &he) && he.status == http.StatusNotFound {
		return fmt.Errorf("%w (no value: run with -setup to write the keys first)", err)
	}
	return err
}

func prepareKVRead(ctx context.Context, e *benchEnv) (benchOp, error) {
	data, _, err := prepareKV(ctx, e, true)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, w *benchWorker) error {
		return kvRead(ctx, w, data[w.rng.IntN(len(data))])
	}, nil
}

func prepareKVMixed(ctx context.Context, e *benchEnv) (benchOp, error) {
	data, body, err := prepareKV(ctx, e, true)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, w *benchWorker) error {
		path := data[w.rng.IntN(len(data))]
		if w.rng.IntN(10) == 0 {
			return w.client.do(ctx, http.MethodPost, path, body, &w.buf)
		}
		return kvRead(ctx, w, path)
	}, nil
}

func prepareTokenCreate(_ context.Context, e *benchEnv) (benchOp, error) {
	body, _ := json.Marshal(map[string]any{"ttl": e.opts.ttl, "display_name": "coffer-bench"})
	return func(ctx context.Context, w *benchWorker) error {
		return w.client.do(ctx, http.MethodPost, "auth/token/create", body, &w.buf)
	}, nil
}

// randomSuffix is a short random hex string for temporary mount names.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func prepareAppRoleLogin(ctx context.Context, e *benchEnv) (benchOp, error) {
	o := e.opts
	mount, roleID, secretID := o.mount, o.roleID, o.secretID
	if o.setup {
		if !o.mountSet {
			mount = "coffer-bench-approle-" + randomSuffix()
		}
		if err := e.client.call(ctx, http.MethodPost, "sys/auth/"+mount, map[string]any{"type": "approle"}, nil); err != nil {
			return nil, fmt.Errorf("enable approle at %s/: %w", mount, err)
		}
		e.onCleanup(func(ctx context.Context) error {
			return e.client.call(ctx, http.MethodDelete, "sys/auth/"+mount, nil, nil)
		})
		rolePath := "auth/" + mount + "/role/coffer-bench"
		if err := e.client.call(ctx, http.MethodPost, rolePath, map[string]any{"token_ttl": o.ttl, "token_policies": []string{"default"}}, nil); err != nil {
			return nil, fmt.Errorf("create approle role: %w", err)
		}
		var idResp, sidResp struct {
			Data struct {
				RoleID   string `json:"role_id"`
				SecretID string `json:"secret_id"`
			} `json:"data"`
		}
		if err := e.client.call(ctx, http.MethodGet, rolePath+"/role-id", nil, &idResp); err != nil {
			return nil, fmt.Errorf("read role id: %w", err)
		}
		if err := e.client.call(ctx, http.MethodPost, rolePath+"/secret-id", map[string]any{}, &sidResp); err != nil {
			return nil, fmt.Errorf("generate secret id: %w", err)
		}
		roleID, secretID = idResp.Data.RoleID, sidResp.Data.SecretID
	}
	if roleID == "" || secretID == "" {
		return nil, errors.New("approle-login needs -role-id and -secret-id, or -setup")
	}
	body, _ := json.Marshal(map[string]string{"role_id": roleID, "secret_id": secretID})
	e.onCleanup(func(context.Context) error { clear(body); return nil })
	path := "auth/" + mount + "/login"
	return func(ctx context.Context, w *benchWorker) error {
		return w.client.do(ctx, http.MethodPost, path, body, &w.buf)
	}, nil
}

func prepareDBCreds(ctx context.Context, e *benchEnv) (benchOp, error) {
	o := e.opts
	if o.role == "" {
		return nil, errors.New("db-creds needs -role")
	}
	if err := probeMount(ctx, e.client, o.mount, "database"); err != nil {
		return nil, err
	}
	path := o.mount + "/creds/" + o.role
	if !o.revoke {
		return func(ctx context.Context, w *benchWorker) error {
			return w.client.do(ctx, http.MethodGet, path, nil, &w.buf)
		}, nil
	}
	return func(ctx context.Context, w *benchWorker) error {
		if err := w.client.do(ctx, http.MethodGet, path, nil, &w.buf); err != nil {
			return err
		}
		var s struct {
			LeaseID string `json:"lease_id"`
		}
		if err := json.Unmarshal(w.buf.Bytes(), &s); err != nil || s.LeaseID == "" {
			return fmt.Errorf("GET /v1/%s: response has no lease_id", path)
		}
		body, _ := json.Marshal(map[string]string{"lease_id": s.LeaseID})
		return w.client.do(ctx, http.MethodPut, "sys/leases/revoke", body, &w.buf)
	}, nil
}

// benchNoMountError is a probe that found no engine of the wanted type.
type benchNoMountError struct {
	kind, mount, why string
	occupied         bool // another engine holds the path
}

func (e *benchNoMountError) Error() string {
	return fmt.Sprintf("no %s engine mounted at %s/ (%s; -mount names another)", e.kind, e.mount, e.why)
}

// probeMount checks that a secrets engine of type kind is mounted at mount,
// through sys/internal/ui/mounts (which any token with access to the path
// may read). It returns a *benchNoMountError if there is none.
func probeMount(ctx context.Context, c *benchClient, mount, kind string) error {
	var resp struct {
		Data struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"data"`
	}
	err := c.call(ctx, http.MethodGet, "sys/internal/ui/mounts/"+mount, nil, &resp)
	var he *benchHTTPError
	if errors.As(err, &he) && he.status < 500 {
		return &benchNoMountError{kind: kind, mount: mount, why: fmt.Sprintf("the server answered %d", he.status)}
	}
	if err != nil {
		return fmt.Errorf("probe %s/: %w", mount, err)
	}
	if got := strings.Trim(resp.Data.Path, "/"); got != "" && got != mount {
		return &benchNoMountError{kind: kind, mount: mount, why: "the path is under " + got + "/", occupied: true}
	}
	if resp.Data.Type != kind {
		return &benchNoMountError{kind: kind, mount: mount, why: fmt.Sprintf("it is a %q engine", resp.Data.Type), occupied: true}
	}
	return nil
}

// ensureEngine probes for an engine of type kind at mount; with -setup, it
// enables one there if there is none (and disables it in clean-up). It
// reports whether it enabled the engine.
func ensureEngine(ctx context.Context, e *benchEnv, kind string, config map[string]any) (enabled bool, err error) {
	err = probeMount(ctx, e.client, e.opts.mount, kind)
	var missing *benchNoMountError
	if !errors.As(err, &missing) {
		return false, err
	}
	if !e.opts.setup && !missing.occupied {
		missing.why += "; -setup enables one"
	}
	if !e.opts.setup || missing.occupied {
		return false, missing
	}
	mount := e.opts.mount
	body := map[string]any{"type": kind}
	if config != nil {
		body["config"] = config
	}
	if err := e.client.call(ctx, http.MethodPost, "sys/mounts/"+mount, body, nil); err != nil {
		return false, fmt.Errorf("enable %s at %s/ (the server may not have this engine): %w", kind, mount, err)
	}
	e.onCleanup(func(ctx context.Context) error {
		return e.client.call(ctx, http.MethodDelete, "sys/mounts/"+mount, nil, nil)
	})
	return true, nil
}

func prepareTransitEncrypt(ctx context.Context, e *benchEnv) (benchOp, error) {
	o := e.opts
	enabled, err := ensureEngine(ctx, e, "transit", nil)
	if err != nil {
		return nil, err
	}
	if o.setup {
		keyPath := o.mount + "/keys/" + o.transitKey
		if err := e.client.call(ctx, http.MethodPost, keyPath, map[string]any{}, nil); err != nil {
			return nil, fmt.Errorf("create transit key: %w", err)
		}
		if !enabled {
			e.onCleanup(func(ctx context.Context) error {
				if err := e.client.call(ctx, http.MethodPost, keyPath+"/config", map[string]any{"deletion_allowed": true}, nil); err != nil {
					return err
				}
				return e.client.call(ctx, http.MethodDelete, keyPath, nil, nil)
			})
		}
	}
	raw := make([]byte, o.valueSize)
	_, _ = rand.Read(raw)
	body, _ := json.Marshal(map[string]string{"plaintext": base64.StdEncoding.EncodeToString(raw)})
	path := o.mount + "/encrypt/" + o.transitKey
	return func(ctx context.Context, w *benchWorker) error {
		return w.client.do(ctx, http.MethodPost, path, body, &w.buf)
	}, nil
}

func preparePKIIssue(ctx context.Context, e *benchEnv) (benchOp, error) {
	o := e.opts
	enabled, err := ensureEngine(ctx, e, "pki", map[string]any{"max_lease_ttl": "87600h"})
	if err != nil {
		return nil, err
	}
	role := o.role
	if o.setup {
		if role == "" {
			role = "coffer-bench"
		}
		if enabled {
			// Only a mount bench created gets a new root: never replace an
			// existing CA.
			root := map[string]any{"common_name": "coffer-bench root", "ttl": "87600h", "key_type": "ec", "key_bits": 256}
			if err := e.client.call(ctx, http.MethodPost, o.mount+"/root/generate/internal", root, nil); err != nil {
				return nil, fmt.Errorf("generate pki root: %w", err)
			}
		}
		rolePath := o.mount + "/roles/" + role
		spec := map[string]any{"allow_any_name": true, "key_type": "ec", "key_bits": 256, "no_store": true, "max_ttl": o.ttl}
		if err := e.client.call(ctx, http.MethodPost, rolePath, spec, nil); err != nil {
			return nil, fmt.Errorf("create pki role: %w", err)
		}
		if !enabled {
			e.onCleanup(func(ctx context.Context) error {
				return e.client.call(ctx, http.MethodDelete, rolePath, nil, nil)
			})
		}
	}
	if role == "" {
		return nil, errors.New("pki-issue needs -role, or -setup")
	}
	body, _ := json.Marshal(map[string]string{"common_name": "bench.example.com", "ttl": o.ttl})
	path := o.mount + "/issue/" + role
	return func(ctx context.Context, w *benchWorker) error {
		return w.client.do(ctx, http.MethodPost, path, body, &w.buf)
	}, nil
}
