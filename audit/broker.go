package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// Broker fans every audit entry out to the enabled devices and decides
// whether it counts as recorded: at least one device must have written it.
//
// LogRequest and LogResponse are safe for concurrent use and take no lock:
// they read an immutable snapshot of the device list. Enable, Disable,
// Reopen and Close are serialized among themselves.
type Broker struct {
	logger  *slog.Logger
	mu      sync.Mutex                // serializes changes to devices
	devices atomic.Pointer[[]*device] // sorted by name; replaced, never modified
}

// NewBroker returns a broker with no device enabled.
func NewBroker(logger *slog.Logger) *Broker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{logger: logger}
	b.devices.Store(&[]*device{})
	return b
}

func (b *Broker) list() []*device { return *b.devices.Load() }

func (b *Broker) find(name string) *device {
	name = normalizeName(name)
	for _, d := range b.list() {
		if d.name == name {
			return d
		}
	}
	return nil
}

// Enable opens the device and writes its genesis record (the test entry),
// and only then enables it: a device that cannot write is reported and
// left disabled. salt is the device's HMAC key (32 bytes, kept behind the
// barrier by the caller); the broker keeps its own copy, zeroed on Disable
// or Close.
func (b *Broker) Enable(ctx context.Context, cfg DeviceConfig, salt []byte) error {
	opts, err := parseOptions(cfg)
	if err != nil {
		return err
	}
	var open opener
	switch cfg.Type {
	case "file":
		open = fileOpener(opts.filePath, opts.mode)
	case "socket":
		open = socketOpener(opts.socketType, opts.address, opts.writeTimeout)
	}
	return b.enable(ctx, cfg, opts, salt, open)
}

// enable is Enable with the sink's opener given, so tests can inject
// faulty writers.
func (b *Broker) enable(ctx context.Context, cfg DeviceConfig, opts deviceOptions, salt []byte, open opener) error {
	defer clear(opts.checkpointKey) // newDevice copies it; zero it on every path
	cfg = cloneConfig(cfg)
	cfg.Name = normalizeName(cfg.Name)
	if cfg.Name == "" {
		return fmt.Errorf("%w: a device needs a path", ErrInvalidConfig)
	}
	if len(salt) < 16 {
		return fmt.Errorf("%w: the HMAC salt must be at least 16 bytes", ErrInvalidConfig)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.list() {
		if d.name == cfg.Name {
			return fmt.Errorf("%w: %s", ErrExists, cfg.Name)
		}
		if sameFile(d.opts, opts) {
			return fmt.Errorf("%w: device %s already writes to %s", ErrInvalidConfig, d.name, opts.filePath)
		}
	}
	d := newDevice(cfg, opts, salt, open)
	if err := d.start(ctx); err != nil {
		_ = d.close()
		return fmt.Errorf("audit: enable %s: %w", cfg.Name, err)
	}
	devs := append(append([]*device{}, b.list()...), d)
	sort.Slice(devs, func(i, j int) bool { return devs[i].name < devs[j].name })
	b.devices.Store(&devs)
	b.logger.Info("audit device enabled", "device", cfg.Name, "type", cfg.Type)
	return nil
}

// sameFile reports whether two file devices would write the same file
// (two chains interleaved in one file could not be verified).
func sameFile(a, b deviceOptions) bool {
	if a.filePath == "" || b.filePath == "" {
		return false
	}
	if a.filePath == stdoutPath || b.filePath == stdoutPath {
		return a.filePath == b.filePath
	}
	pa, errA := filepath.Abs(a.filePath)
	pb, errB := filepath.Abs(b.filePath)
	return errA == nil && errB == nil && pa == pb
}

// Disable removes the device at name, closes it and zeroes its keys.
func (b *Broker) Disable(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.find(name)
	if d == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, normalizeName(name))
	}
	var devs []*device
	for _, o := range b.list() {
		if o != d {
			devs = append(devs, o)
		}
	}
	b.devices.Store(&devs)
	b.logger.Info("audit device disabled", "device", d.name)
	if err := d.close(); err != nil {
		return fmt.Errorf("audit: close %s: %w", d.name, err)
	}
	return nil
}

// Devices returns the enabled devices' configurations, sorted by name.
func (b *Broker) Devices() []DeviceConfig {
	devs := b.list()
	out := make([]DeviceConfig, len(devs))
	for i, d := range devs {
		out[i] = cloneConfig(d.cfg)
	}
	return out
}

// Enabled reports whether any device is enabled.
func (b *Broker) Enabled() bool { return len(b.list()) > 0 }

// Reopen closes and reopens every file device's file (SIGHUP, after log
// rotation). Each reopened file starts a new segment whose genesis names
// the previous segment's last line. A device that cannot reopen stays
// enabled and retries on its next entry; its error is returned.
func (b *Broker) Reopen() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, d := range b.list() {
		if err := d.reopen(context.Background()); err != nil {
			errs = append(errs, fmt.Errorf("audit: reopen %s: %w", d.name, err))
		}
	}
	return errors.Join(errs...)
}

// Close disables every device, closing it and zeroing its keys (at seal).
// The broker can be used again: Enable starts afresh.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	devs := b.list()
	b.devices.Store(&[]*device{})
	var errs []error
	for _, d := range devs {
		if err := d.close(); err != nil {
			errs = append(errs, fmt.Errorf("audit: close %s: %w", d.name, err))
		}
	}
	return errors.Join(errs...)
}

// Hash returns "hmac-sha256:<hex>" of input with the named device's salt,
// as it would appear in that device's log (sys/audit-hash).
func (b *Broker) Hash(device, input string) (string, error) {
	d := b.find(device)
	if d == nil {
		return "", fmt.Errorf("%w: %s", ErrNotFound, normalizeName(device))
	}
	h := d.salt.hashString(input)
	if h == redactedUnavailable {
		return "", fmt.Errorf("%w: %s", ErrClosed, d.name)
	}
	return h, nil
}

// LogRequest records the request entry on every enabled device at once,
// each write bounded by ctx and the device's write_timeout. It returns nil
// when at least one device recorded it or when no device is enabled, and
// ErrAuditFailed otherwise: the caller must then fail the request.
func (b *Broker) LogRequest(ctx context.Context, in *Input) error {
	return b.log(ctx, in, typeRequest)
}

// LogResponse records the response entry like LogRequest; on
// ErrAuditFailed the caller must not return the response.
func (b *Broker) LogResponse(ctx context.Context, in *Input) error {
	return b.log(ctx, in, typeResponse)
}

func (b *Broker) log(ctx context.Context, in *Input, typ string) error {
	devs := b.list()
	if len(devs) == 0 {
		return nil
	}
	if in == nil {
		return ErrAuditFailed
	}
	if len(devs) == 1 {
		if b.logTo(ctx, devs[0], in, typ) != nil {
			return ErrAuditFailed
		}
		return nil
	}
	results := make(chan error, len(devs))
	for _, d := range devs {
		go func() { results <- b.logTo(ctx, d, in, typ) }()
	}
	recorded := false
	for range devs {
		if <-results == nil {
			recorded = true
		}
	}
	if !recorded {
		return ErrAuditFailed
	}
	return nil
}

// logTo formats and writes one entry on one device, and logs the device's
// failures once per change of state. Errors never carry entry content.
func (b *Broker) logTo(ctx context.Context, d *device, in *Input, typ string) error {
	j := newEntryJob()
	body, err := d.form.appendEntry(j.body, in, typ)
	// Even a failed entry may have been partly written: keep the buffer
	// it was written into, so that releasing the job clears it.
	j.body = body
	reusable := true
	if err == nil {
		reusable, err = d.record(ctx, j)
	} else {
		j.body = j.body[:0]
		clear(body[:cap(body)])
	}
	if reusable {
		releaseEntryJob(j)
	}
	if err != nil {
		if !errors.Is(err, ErrClosed) && d.failing.CompareAndSwap(false, true) {
			b.logger.Error("audit device failed to record an entry; it is retried on every entry", "device", d.name, "error", err)
		}
		return err
	}
	if d.failing.CompareAndSwap(true, false) {
		b.logger.Info("audit device recovered", "device", d.name)
	}
	return nil
}
