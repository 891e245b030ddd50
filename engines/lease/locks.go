package lease

import "sync"

// idLocks is a lock per lease ID, held only while someone uses it.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks id and returns the unlock function.
func (l *idLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*idLock{}
	}
	lk, ok := l.m[id]
	if !ok {
		lk = &idLock{}
		l.m[id] = lk
	}
	lk.refs++
	l.mu.Unlock()
	lk.mu.Lock()
	return func() {
		lk.mu.Unlock()
		l.mu.Lock()
		lk.refs--
		if lk.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
