package system

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"coffer/audit"
	"coffer/engines"
)

// auditSaltPrefix is where each device's HMAC salt is kept, behind the
// barrier, by device path.
const auditSaltPrefix = "core/audit/salt/"

// auditTableKey keeps the devices enabled through the API (when allowed),
// so they come back at unseal like the configured ones.
const auditTableKey = "core/audit/api-devices"

// enableAudit enables every configured device (and those enabled through
// the API) at unseal. A configured device that cannot write its first
// entry is reported and left disabled; requests then proceed only if
// another device works (fail closed) or if no device is enabled at all.
//
// If devices are declared and none can be enabled, the unseal fails: a
// node that was told to audit never serves unaudited.
func (s *System) enableAudit(ctx context.Context) error {
	devices := append([]audit.DeviceConfig{}, s.auditConfig...)
	apiDevices, err := s.loadAPIAuditDevices(ctx)
	if err != nil {
		return err
	}
	if len(apiDevices) > 0 && !s.auditAPIAllow {
		for _, d := range apiDevices {
			s.logger.Warn("audit device enabled through the API is not loaded: unsafe_allow_api_audit_creation is off", "device", d.Name)
		}
		apiDevices = nil
	}
	devices = append(devices, apiDevices...)
	enabled := 0
	for _, d := range devices {
		salt, err := s.auditSalt(ctx, d.Name)
		if err != nil {
			return err
		}
		if err := s.audit.Enable(ctx, d, salt); err != nil {
			s.logger.Error("audit device could not be enabled", "device", d.Name, "type", d.Type, "error", err)
		} else {
			enabled++
		}
		clear(salt)
	}
	if len(devices) > 0 && enabled == 0 {
		return fmt.Errorf("system: none of the %d audit devices could be enabled; staying sealed rather than serving unaudited", len(devices))
	}
	return nil
}

// auditSalt returns the device's salt, creating it on first use.
func (s *System) auditSalt(ctx context.Context, name string) ([]byte, error) {
	key := auditSaltPrefix + strings.Trim(name, "/")
	salt, err := s.barrier.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("system: read audit salt: %w", err)
	}
	if salt != nil {
		return salt, nil
	}
	salt = make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("system: make audit salt: %w", err)
	}
	if err := s.barrier.Put(ctx, key, salt); err != nil {
		return nil, fmt.Errorf("system: write audit salt: %w", err)
	}
	return salt, nil
}

func (s *System) loadAPIAuditDevices(ctx context.Context) ([]audit.DeviceConfig, error) {
	raw, err := s.barrier.Get(ctx, auditTableKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var out []audit.DeviceConfig
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("system: decode audit table: %w", err)
	}
	return out, nil
}

// listAudit answers GET sys/audit in Vault's shape.
func (s *System) listAudit(*engines.Request) (*engines.Response, error) {
	data := map[string]any{}
	for _, d := range s.audit.Devices() {
		opts := d.Options
		if opts == nil {
			opts = map[string]string{}
		}
		path := strings.TrimSuffix(d.Name, "/") + "/"
		data[path] = map[string]any{
			"type": d.Type, "description": d.Description, "options": opts,
			"path": path, "local": false,
		}
	}
	return &engines.Response{Data: data}, nil
}

// auditPath serves PUT/DELETE sys/audit/:path, only when the config allows
// devices to be managed through the API.
func (s *System) auditPath(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	name = strings.Trim(name, "/")
	if name == "" {
		return nil, engines.BadRequest("audit device path cannot be empty")
	}
	if req.Operation != engines.CreateOperation && req.Operation != engines.UpdateOperation && req.Operation != engines.DeleteOperation {
		return nil, engines.ErrUnsupportedOperation
	}
	if !s.auditAPIAllow {
		return nil, &engines.Error{Code: engines.CodeInvalidRequest, Message: "audit devices are managed in the server configuration; enabling or disabling them through the API needs unsafe_allow_api_audit_creation = true"}
	}
	devices, err := s.loadAPIAuditDevices(ctx)
	if err != nil {
		return nil, err
	}
	kept := devices[:0]
	for _, d := range devices {
		if strings.Trim(d.Name, "/") != name {
			kept = append(kept, d)
		}
	}
	if req.Operation == engines.DeleteOperation {
		if err := s.audit.Disable(name); err != nil {
			return nil, engines.BadRequest("%s", err.Error())
		}
		return nil, s.storeAPIAuditDevices(ctx, kept)
	}
	typ, _ := req.Data["type"].(string)
	d := audit.DeviceConfig{Type: typ, Name: name, Options: map[string]string{}}
	d.Description, _ = req.Data["description"].(string)
	if opts, ok := req.Data["options"].(map[string]any); ok {
		for k, v := range opts {
			d.Options[k] = fmt.Sprint(v)
		}
	}
	salt, err := s.auditSalt(ctx, name)
	if err != nil {
		return nil, err
	}
	defer clear(salt)
	if err := s.audit.Enable(ctx, d, salt); err != nil {
		return nil, engines.BadRequest("audit device could not be enabled: %s", err.Error())
	}
	return nil, s.storeAPIAuditDevices(ctx, append(kept, d))
}

func (s *System) storeAPIAuditDevices(ctx context.Context, devices []audit.DeviceConfig) error {
	sort.Slice(devices, func(i, j int) bool { return devices[i].Name < devices[j].Name })
	raw, err := json.Marshal(devices)
	if err != nil {
		return fmt.Errorf("system: encode audit table: %w", err)
	}
	if err := s.barrier.Put(ctx, auditTableKey, raw); err != nil {
		return fmt.Errorf("system: write audit table: %w", err)
	}
	return nil
}

// auditHash answers POST sys/audit-hash/:path {"input": ...}.
func (s *System) auditHash(req *engines.Request, name string) (*engines.Response, error) {
	input, ok := req.Data["input"].(string)
	if !ok {
		return nil, engines.BadRequest("missing input")
	}
	h, err := s.audit.Hash(strings.Trim(name, "/"), input)
	if err != nil {
		return nil, engines.BadRequest("%s", err.Error())
	}
	return &engines.Response{Data: map[string]any{"hash": h}}, nil
}

// ReopenAudit reopens every file device (SIGHUP, for log rotation).
func (s *System) ReopenAudit() error { return s.audit.Reopen() }
