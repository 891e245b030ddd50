package database

import (
	"context"
	"time"

	"coffer/engines"
)

// Static role limits: Vault's minimum period, and its minimum window.
const (
	minRotationPeriod = 5 * time.Second
	minRotationWindow = time.Hour
	maxGrace          = time.Minute
)

// staticRole is a static role, stored at static-role/<name>: an existing
// PostgreSQL user whose password Coffer rotates.
type staticRole struct {
	DBName             string        `json:"db_name"`
	Username           string        `json:"username"`
	RotationPeriod     time.Duration `json:"rotation_period,omitempty"`
	RotationSchedule   string        `json:"rotation_schedule,omitempty"`
	RotationWindow     time.Duration `json:"rotation_window,omitempty"`
	RotationStatements []string      `json:"rotation_statements"`
	CredentialType     string        `json:"credential_type"`
}

// staticAccount is a static role's credential, stored at
// static-account/<name>: the current password and the one before it.
type staticAccount struct {
	Password         string    `json:"password"`
	LastRotation     time.Time `json:"last_rotation"`
	PreviousPassword string    `json:"previous_password,omitempty"`
	PreviousRotation time.Time `json:"previous_rotation,omitzero"`
}

// nextRotation is when r's password is next due: the zero time (now)
// when it has never been rotated, else a period after the last rotation
// or the schedule's next time after it.
func (r *staticRole) nextRotation(acct *staticAccount) time.Time {
	if acct == nil || acct.LastRotation.IsZero() {
		return time.Time{}
	}
	if r.RotationPeriod > 0 {
		return acct.LastRotation.Add(r.RotationPeriod)
	}
	c, err := parseCron(r.RotationSchedule)
	if err != nil {
		return time.Time{}
	}
	if next := c.Next(acct.LastRotation); !next.IsZero() {
		return next
	}
	return acct.LastRotation.Add(24 * time.Hour * 365 * 5)
}

// grace is how long after a rotation static-creds also returns the
// previous password: half the interval, at most a minute.
func (r *staticRole) grace(acct *staticAccount) time.Duration {
	interval := r.RotationPeriod
	if interval == 0 {
		interval = r.nextRotation(acct).Sub(acct.LastRotation)
	}
	return min(interval/2, maxGrace)
}

func (b *backend) loadStaticRole(ctx context.Context, name string) (*staticRole, error) {
	var r staticRole
	ok, err := b.getJSON(ctx, staticRolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func (b *backend) loadAccount(ctx context.Context, name string) (*staticAccount, error) {
	var a staticAccount
	ok, err := b.getJSON(ctx, staticAccountPrefix+name, &a)
	if err != nil || !ok {
		return nil, err
	}
	return &a, nil
}

// readStaticRole answers static-roles/:name in Vault's shape.
func (b *backend) readStaticRole(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	r, err := b.loadStaticRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	acct, err := b.loadAccount(ctx, name)
	if err != nil {
		return nil, err
	}
	data := map[string]any{
		"db_name":             r.DBName,
		"username":            r.Username,
		"rotation_statements": nonNil(r.RotationStatements),
		"credential_type":     r.CredentialType,
		"credential_config":   map[string]any{},
	}
	r.scheduleFields(data)
	if acct != nil {
		data["last_vault_rotation"] = acct.LastRotation.UTC().Format(time.RFC3339Nano)
	}
	return &engines.Response{Data: data}, nil
}

// scheduleFields adds rotation_period or rotation_schedule (and
// rotation_window) to a response.
func (r *staticRole) scheduleFields(data map[string]any) {
	if r.RotationPeriod > 0 {
		data["rotation_period"] = seconds64(r.RotationPeriod)
		return
	}
	data["rotation_schedule"] = r.RotationSchedule
	if r.RotationWindow > 0 {
		data["rotation_window"] = seconds64(r.RotationWindow)
	}
}

// writeStaticRole creates or updates a static role. Creating one rotates
// its password at once, as Vault does; if that fails the role is not
// kept.
func (b *backend) writeStaticRole(ctx context.Context, req *engines.Request, name string) (*engines.Response, error) {
	defer b.roleLocks.lock(name)()
	if dyn, err := b.loadRole(ctx, name); err != nil {
		return nil, err
	} else if dyn != nil {
		return nil, engines.BadRequest("role %q already exists as a dynamic role", name)
	}
	old, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return nil, err
	}
	r := staticRole{CredentialType: credentialPassword}
	if old != nil {
		r = *old
	}
	f := &fields{data: req.Data}
	var username string
	f.str("db_name", &r.DBName)
	f.str("username", &username)
	f.statements("rotation_statements", &r.RotationStatements)
	f.str("credential_type", &r.CredentialType)
	var period, window time.Duration
	var sched string
	f.duration("rotation_period", &period)
	f.str("rotation_schedule", &sched)
	f.duration("rotation_window", &window)
	if f.err != nil {
		return nil, f.err
	}
	if err := r.applySchedule(f, period, sched, window); err != nil {
		return nil, err
	}
	switch {
	case old != nil && f.has("username") && username != old.Username:
		return nil, engines.BadRequest("cannot update static account username")
	case old == nil:
		r.Username = username
	}
	if r.CredentialType == "" {
		r.CredentialType = credentialPassword
	}
	switch {
	case r.DBName == "":
		return nil, engines.BadRequest("db_name is required")
	case r.Username == "":
		return nil, engines.BadRequest("username is a required field to create a static account")
	case r.CredentialType != credentialPassword:
		return nil, engines.BadRequest("unsupported credential_type %q: only %q", r.CredentialType, credentialPassword)
	}
	if _, err := b.roleConfig(ctx, r.DBName, name); err != nil {
		return nil, err
	}
	if err := b.putJSON(ctx, staticRolePrefix+name, &r); err != nil {
		return nil, err
	}
	if old != nil {
		acct, err := b.loadAccount(ctx, name)
		if err != nil {
			return nil, err
		}
		b.sched.set(name, r.nextRotation(acct))
		return nil, nil
	}
	if err := b.rotateLocked(ctx, name, &r); err != nil {
		if derr := b.deleteStatic(ctx, name); derr != nil {
			b.logger.Warn("database: could not remove a static role whose first rotation failed", "role", name, "error", derr)
		}
		return nil, err
	}
	return nil, nil
}

// applySchedule validates and applies rotation_period or
// rotation_schedule (mutually exclusive; giving one clears the other).
func (r *staticRole) applySchedule(f *fields, period time.Duration, sched string, window time.Duration) error {
	hasPeriod, hasSched := f.has("rotation_period") && period > 0, f.has("rotation_schedule") && sched != ""
	switch {
	case hasPeriod && hasSched:
		return engines.BadRequest("mutually exclusive fields rotation_period and rotation_schedule were both specified; only one of them can be provided")
	case hasPeriod:
		if period < minRotationPeriod {
			return engines.BadRequest("rotation_period must be %d seconds or more", int(minRotationPeriod/time.Second))
		}
		r.RotationPeriod, r.RotationSchedule, r.RotationWindow = period, "", 0
	case hasSched:
		if _, err := parseCron(sched); err != nil {
			return engines.BadRequest("could not parse rotation_schedule: %v", err)
		}
		r.RotationPeriod, r.RotationSchedule = 0, sched
	}
	if f.has("rotation_window") {
		if r.RotationSchedule == "" && window > 0 {
			return engines.BadRequest("rotation_window is invalid with use of rotation_period")
		}
		if window > 0 && window < minRotationWindow {
			return engines.BadRequest("rotation_window must be %d seconds or more", int(minRotationWindow/time.Second))
		}
		r.RotationWindow = window
	}
	if r.RotationPeriod == 0 && r.RotationSchedule == "" {
		return engines.BadRequest("one of rotation_period or rotation_schedule is required")
	}
	return nil
}

// deleteStaticRole forgets a static role; the PostgreSQL user keeps its
// last password.
func (b *backend) deleteStaticRole(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	defer b.roleLocks.lock(name)()
	return nil, b.deleteStatic(ctx, name)
}

func (b *backend) deleteStatic(ctx context.Context, name string) error {
	for _, k := range []string{staticRolePrefix, staticAccountPrefix, walPrefix} {
		if err := b.delete(ctx, k+name); err != nil {
			return err
		}
	}
	b.sched.remove(name)
	return nil
}

// staticCreds answers static-creds/:name: the current password, when it
// was set and how long until the next rotation; within a grace window
// after a rotation also the previous password and when it was set.
func (b *backend) staticCreds(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	r, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, engines.BadRequest("unknown role: %s", name)
	}
	acct, err := b.loadAccount(ctx, name)
	if err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, &engines.Error{Code: engines.CodeUnavailable, Message: "static role " + name + " has no credential yet: its rotation has not completed"}
	}
	now := b.clock()
	ttl := r.nextRotation(acct).Sub(now)
	if ttl < 0 {
		ttl = 0
	}
	data := map[string]any{
		"username":            r.Username,
		"password":            acct.Password,
		"last_vault_rotation": acct.LastRotation.UTC().Format(time.RFC3339Nano),
		"ttl":                 seconds64(ttl),
	}
	r.scheduleFields(data)
	if acct.PreviousPassword != "" && now.Sub(acct.LastRotation) < r.grace(acct) {
		data["previous_password"] = acct.PreviousPassword
		data["previous_rotation"] = acct.PreviousRotation.UTC().Format(time.RFC3339Nano)
	}
	return &engines.Response{Data: data}, nil
}

// rotateRole rotates a static role's password now.
func (b *backend) rotateRole(ctx context.Context, _ *engines.Request, name string) (*engines.Response, error) {
	defer b.roleLocks.lock(name)()
	r, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, engines.BadRequest("unknown role: %s", name)
	}
	return nil, b.rotateLocked(ctx, name, r)
}
