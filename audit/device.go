package audit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Batching bounds: the writer loop gathers the entries waiting for it into
// one write (group commit) up to these limits.
const (
	maxBatchEntries = 256
	maxBatchBytes   = 1 << 20
	queueLen        = 1024
)

// device is one enabled audit device: its options, its keys, its sink and
// the state of its hash chain.
//
// One goroutine, loop, owns the sink and the chain state (out, seq,
// lastHash, sinceCheckpoint): every entry and every lifecycle step (open,
// reopen, close) reaches it through queue, so the chain is well defined
// and entries waiting together are written in one system call. Callers
// wait for their entry with a deadline; a write that blocks past it keeps
// the loop busy, and while it is stuck later entries fail at once
// (ErrStalled) instead of each waiting out its timeout.
type device struct {
	cfg        DeviceConfig
	name       string
	opts       deviceOptions
	form       formatter
	salt       *hasher
	signer     *hasher // nil without a checkpoint key
	open       opener
	reopenable bool

	queue chan *job
	quit  chan struct{} // closed when loop returns

	// Owned by loop.
	out             sink
	seq             uint64
	lastHash        []byte // hex; empty until the first open
	sinceCheckpoint int
	buf             []byte
	lines           []lineSpec

	writeStart atomic.Int64            // unix nanos of the write in progress, 0 when idle
	current    atomic.Pointer[sinkBox] // the open sink, for close under a stuck write
	closed     atomic.Bool
	failing    atomic.Bool
}

type sinkBox struct{ s sink }

// job is an entry to write (body) or a lifecycle step to run (fn).
type job struct {
	ctx context.Context
	// deadline bounds an entry job on top of ctx (lifecycle jobs carry
	// it in ctx): the caller stops waiting then, and the loop drops a job
	// whose caller gave up.
	deadline time.Time
	body     []byte
	fn       func(ctx context.Context) error
	stop     bool // loop returns after fn
	done     chan error
	wait     *time.Timer // an entry caller's deadline timer, reused with the job
}

// expired reports whether the job's caller has given up.
func (j *job) expired() bool {
	return j.ctx.Err() != nil || (!j.deadline.IsZero() && !time.Now().Before(j.deadline))
}

// maxPooledBody is the largest entry buffer kept for reuse.
const maxPooledBody = 64 << 10

// entryJobs holds entry jobs the loop is done with, with their buffer and
// channel, so an entry costs no allocation for them.
var entryJobs = sync.Pool{New: func() any { return &job{done: make(chan error, 1)} }}

// newEntryJob returns an idle entry job with an empty body buffer.
func newEntryJob() *job {
	j := entryJobs.Get().(*job)
	j.body = j.body[:0]
	return j
}

// releaseEntryJob returns j to the pool; only once the loop cannot touch
// it any more. The buffer is cleared: it held an entry.
func releaseEntryJob(j *job) {
	clear(j.body[:cap(j.body)])
	if cap(j.body) > maxPooledBody {
		j.body = nil
	}
	j.ctx = nil
	j.deadline = time.Time{}
	entryJobs.Put(j)
}

func newDevice(cfg DeviceConfig, opts deviceOptions, salt []byte, open opener) *device {
	d := &device{
		cfg:        cfg,
		name:       cfg.Name,
		opts:       opts,
		salt:       newHasher(salt),
		open:       open,
		reopenable: cfg.Type == "file" && opts.filePath != stdoutPath,
		queue:      make(chan *job, queueLen),
		quit:       make(chan struct{}),
	}
	if opts.checkpointKey != nil {
		d.signer = newHasher(opts.checkpointKey)
		clear(d.opts.checkpointKey)
		d.opts.checkpointKey = nil
	}
	d.form = formatter{h: d.salt, hmacAccessor: opts.hmacAccessor, logRaw: opts.logRaw, elideList: opts.elideList}
	go d.loop()
	return d
}

// admit fails a job at once when the device is closed or stuck in a
// write.
func (d *device) admit(j *job) error {
	if d.closed.Load() && !j.stop {
		return ErrClosed
	}
	if ws := d.writeStart.Load(); ws != 0 && time.Since(time.Unix(0, ws)) > d.opts.writeTimeout {
		return ErrStalled
	}
	return nil
}

// submit hands a lifecycle job to the loop and waits for its result,
// bounded by the device's write timeout and ctx.
func (d *device) submit(ctx context.Context, j *job) error {
	if err := d.admit(j); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.writeTimeout)
	defer cancel()
	j.ctx = ctx
	j.done = make(chan error, 1)
	select {
	case d.queue <- j:
	case <-ctx.Done():
		return ErrTimeout
	case <-d.quit:
		return ErrClosed
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ErrTimeout
	case <-d.quit:
		// The loop may have finished j just before returning.
		select {
		case err := <-j.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// loop owns the sink and the chain; it runs until a stop job.
func (d *device) loop() {
	defer close(d.quit)
	batch := make([]*job, 0, maxBatchEntries)
	for j := range d.queue {
		if j.fn != nil {
			j.done <- j.fn(j.ctx)
			if j.stop {
				return
			}
			continue
		}
		// Alone in the queue: let the goroutines already runnable (other
		// requests about to log) queue their entries first, so that they
		// share this write. It costs nothing when none is waiting to run,
		// and halves the writes under load.
		if len(d.queue) == 0 {
			runtime.Gosched()
		}
		// Gather the entries already waiting; a lifecycle job ends the
		// batch and runs after it.
		batch = append(batch[:0], j)
		size := len(j.body)
		var next *job
	gather:
		for len(batch) < maxBatchEntries && size < maxBatchBytes {
			select {
			case k := <-d.queue:
				if k.fn != nil {
					next = k
					break gather
				}
				batch = append(batch, k)
				size += len(k.body)
			default:
				break gather
			}
		}
		d.writeBatch(batch)
		clear(batch)
		if next != nil {
			next.done <- next.fn(next.ctx)
			if next.stop {
				return
			}
		}
	}
}

// writeBatch writes the live entries of batch as consecutive chain lines
// in one write, and answers each job.
func (d *device) writeBatch(batch []*job) {
	live := batch[:0]
	for _, j := range batch {
		if j.expired() {
			j.done <- ErrTimeout // its caller gave up: do not record it late
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	err := d.writeEntries(live)
	for _, j := range live {
		j.done <- err
	}
}

func (d *device) writeEntries(jobs []*job) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if d.out == nil {
		ctx, cancel := context.WithDeadline(jobs[0].ctx, jobs[0].deadline)
		err := d.openLocked(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	lines := d.lines[:0]
	defer func() { clear(lines); d.lines = lines[:0] }()
	since := d.sinceCheckpoint
	for _, j := range jobs {
		lines = append(lines, lineSpec{body: j.body})
		since++
		if d.signer != nil && since >= d.opts.checkpointInterval {
			lines = append(lines, lineSpec{body: checkpointBody(time.Now()), signed: true})
			since = 0
		}
	}
	if err := d.writeLines(lines); err != nil {
		return err
	}
	d.sinceCheckpoint = since
	return nil
}

// lineSpec is one line to write: its body, and whether it carries a mac.
// A genesis has seq 0; every other line the next seq.
type lineSpec struct {
	body    []byte
	signed  bool
	genesis bool
}

// writeLines appends the lines to the chain and writes them in one write.
// On success the chain advances; on failure it does not, and the sink is
// closed, so the next entry reopens it and starts a new segment.
func (d *device) writeLines(lines []lineSpec) error {
	buf := d.buf[:0]
	seq := d.seq
	var lastHex [2 * sha256.Size]byte
	last := lastHex[:copy(lastHex[:], d.lastHash)]
	for _, l := range lines {
		start := len(buf)
		buf = append(buf, d.opts.prefix...)
		buf = append(buf, l.body...)
		if l.genesis {
			seq = 0
		} else {
			seq++
		}
		buf = appendTail(buf, seq, last)
		if l.signed && !signLine(d.signer, buf[start:]) {
			return ErrClosed // the key is gone: the device is closing
		}
		lineHashTo(&lastHex, buf[start:])
		last = lastHex[:]
		buf = append(buf, '\n')
	}
	if cap(buf) <= maxBatchBytes {
		d.buf = buf
	} else {
		d.buf = nil
	}
	d.writeStart.Store(time.Now().UnixNano())
	_, err := d.out.Write(buf)
	d.writeStart.Store(0)
	if err != nil {
		_ = d.closeOutLocked()
		return fmt.Errorf("write: %w", err)
	}
	d.seq, d.lastHash = seq, append(d.lastHash[:0], last...)
	return nil
}

// openLocked opens the sink and writes a genesis naming the chain head:
// the device's own last line, else the last line already at the
// destination, else zeroHash.
func (d *device) openLocked(ctx context.Context) error {
	s, tail, err := d.open(ctx)
	if err != nil {
		return err
	}
	d.out = s
	d.current.Store(&sinkBox{s: s})
	if len(d.lastHash) == 0 {
		d.lastHash = append(d.lastHash, tail...)
	}
	if len(d.lastHash) == 0 {
		d.lastHash = append(d.lastHash, zeroHash...)
	}
	signed := d.signer != nil
	body := genesisBody(time.Now(), d.name, d.opts.prefix, d.opts.checkpointInterval, signed)
	if err := d.writeLines([]lineSpec{{body: body, signed: signed, genesis: true}}); err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	d.sinceCheckpoint = 0
	return nil
}

// checkpointLocked writes a signed checkpoint line.
func (d *device) checkpointLocked() error {
	if err := d.writeLines([]lineSpec{{body: checkpointBody(time.Now()), signed: true}}); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	d.sinceCheckpoint = 0
	return nil
}

func (d *device) closeOutLocked() error {
	if d.out == nil {
		return nil
	}
	err := d.out.Close()
	d.out = nil
	d.current.Store(nil)
	return err
}

// start opens the sink and writes the genesis: Enable's test entry.
func (d *device) start(ctx context.Context) error {
	return d.submit(ctx, &job{fn: d.openLocked})
}

// record writes the entry body of j (from newEntryJob) like submit, with
// the write timeout on a timer reused with the job rather than a context
// per entry. It reports whether the loop is done with j, so the caller
// may release it: not when the caller gave up while j was queued.
func (d *device) record(ctx context.Context, j *job) (reusable bool, err error) {
	if err := d.admit(j); err != nil {
		return true, err
	}
	j.ctx = ctx
	j.deadline = time.Now().Add(d.opts.writeTimeout)
	if j.wait == nil {
		j.wait = time.NewTimer(d.opts.writeTimeout)
	} else {
		j.wait.Reset(d.opts.writeTimeout)
	}
	defer j.wait.Stop()
	select {
	case d.queue <- j:
	case <-ctx.Done():
		return true, ErrTimeout
	case <-j.wait.C:
		return true, ErrTimeout
	case <-d.quit:
		return true, ErrClosed
	}
	select {
	case err := <-j.done:
		return true, err
	case <-ctx.Done():
		return false, ErrTimeout
	case <-j.wait.C:
		return false, ErrTimeout
	case <-d.quit:
		// The loop may have finished j just before returning.
		select {
		case err := <-j.done:
			return true, err
		default:
			return false, ErrClosed
		}
	}
}

// reopen closes the file and opens it again (log rotation): the new file
// starts a segment whose genesis names the old file's last line. A device
// that cannot open its file now retries on its next entry.
func (d *device) reopen(ctx context.Context) error {
	if !d.reopenable {
		return nil
	}
	return d.submit(ctx, &job{fn: func(ctx context.Context) error {
		if d.closed.Load() {
			return nil
		}
		var errs []error
		if d.out != nil {
			if d.signer != nil && d.sinceCheckpoint > 0 {
				errs = append(errs, d.checkpointLocked())
			}
			errs = append(errs, d.closeOutLocked())
		}
		errs = append(errs, d.openLocked(ctx))
		return errors.Join(errs...)
	}})
}

// close ends the device: a last checkpoint when signed, the sink closed,
// the loop stopped, every key zeroed. A write stuck in the sink has its
// sink closed under it. Safe to call more than once.
func (d *device) close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := d.submit(context.Background(), &job{stop: true, fn: func(context.Context) error {
		var errs []error
		if d.out != nil && d.signer != nil && d.sinceCheckpoint > 0 {
			errs = append(errs, d.checkpointLocked())
		}
		errs = append(errs, d.closeOutLocked())
		return errors.Join(errs...)
	}})
	if errors.Is(err, ErrStalled) || errors.Is(err, ErrTimeout) {
		if box := d.current.Load(); box != nil {
			err = errors.Join(err, box.s.Close())
		}
		// The loop stops once the stuck write returns: stop job queued,
		// or, if the queue was full, entries fail with ErrClosed.
		go func() {
			stop := &job{stop: true, fn: func(context.Context) error { return nil }, done: make(chan error, 1), ctx: context.Background()}
			select {
			case d.queue <- stop:
			case <-d.quit:
			}
		}()
	}
	d.salt.zero()
	if d.signer != nil {
		d.signer.zero()
	}
	return err
}
