package pkcs11

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// A PKCS#11 library is process-wide state: C_Initialize and C_Finalize
// act on the whole process, and a login holds for every session the
// process has on the token. So every Seal using the same library shares
// one module, counted here, finalized when the last one closes.
var modules = struct {
	sync.Mutex
	byPath map[string]*module
}{byPath: make(map[string]*module)}

// module is one loaded, initialized PKCS#11 library.
type module struct {
	path string // resolved path, the key in modules
	ctx  *p11.Ctx
	refs int  // guarded by modules' mutex
	ours bool // we initialized it, so we finalize it

	mu sync.Mutex
	// owner records which pool opened each live session, so a pool that
	// lost its sessions never closes a handle the library has since
	// reused for another pool's session.
	owner map[p11.SessionHandle]*pool
	// users counts the pools logged in to each slot, so only the last to
	// close logs out (a logout ends the login for every session).
	users map[uint]int
}

// loadModule returns the module for lib, loading and initializing it if
// this process has not. Errors wrap ErrLibrary and name lib.
func loadModule(lib string) (*module, error) {
	if _, err := os.Stat(lib); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrLibrary, lib, err)
	}
	path, err := filepath.EvalSymlinks(lib)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrLibrary, lib, err)
	}
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.byPath[path]; ok {
		m.refs++
		return m, nil
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: %q: not a loadable PKCS#11 module", ErrLibrary, lib)
	}
	ours := true
	if err := ctx.Initialize(); err != nil {
		if !isCKR(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			return nil, fmt.Errorf("%w: %q: initialize: %w", ErrLibrary, lib, err)
		}
		ours = false // someone else in this process initialized it
	}
	m := &module{
		path: path, ctx: ctx, refs: 1, ours: ours,
		owner: make(map[p11.SessionHandle]*pool),
		users: make(map[uint]int),
	}
	modules.byPath[path] = m
	return m, nil
}

// release drops a reference; the last finalizes and unloads the library.
func (m *module) release() {
	modules.Lock()
	defer modules.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules.byPath, m.path)
	if m.ours {
		_ = m.ctx.Finalize() // nothing useful to do about a failure here
	}
	m.ctx.Destroy()
}

// claim records that p opened session h.
func (m *module) claim(h p11.SessionHandle, p *pool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owner[h] = p
}

// disown forgets h if p owns it, reporting whether it did.
func (m *module) disown(h p11.SessionHandle, p *pool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner[h] != p {
		return false
	}
	delete(m.owner, h)
	return true
}

// join counts a pool using slot; leave uncounts it and reports whether it
// was the last.
func (m *module) join(slot uint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[slot]++
}

func (m *module) leave(slot uint) (last bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[slot]--
	if m.users[slot] > 0 {
		return false
	}
	delete(m.users, slot)
	return true
}
