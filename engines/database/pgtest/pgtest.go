// Package pgtest starts a private PostgreSQL server for tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The package's errors.
var (
	// ErrNoPostgres: no PostgreSQL server binaries were found.
	ErrNoPostgres = errors.New("pgtest: postgresql server binaries not found")
	errNoUser     = errors.New("pgtest: running as root and there is no postgres user")
)

// binGlob is where Debian and Ubuntu install the server binaries.
const binGlob = "/usr/lib/postgresql/*/bin"

// RequireEnv, set to 1, turns a missing PostgreSQL into a test failure
// instead of a skip.
const RequireEnv = "COFFER_REQUIRE_POSTGRES"

// Server is a running private PostgreSQL server listening on 127.0.0.1
// with password (scram-sha-256) authentication.
type Server struct {
	Host          string
	Port          int
	SuperUser     string
	SuperPassword string
	// Dir holds the data directory, the socket and the server log; it is
	// removed when the server is closed.
	Dir string

	bin  string
	cred *syscall.Credential
	mu   sync.Mutex
	up   bool
}

// Start starts a server for tb and stops and removes it at tb's cleanup.
// Without server binaries it skips tb, or fails it when the environment
// variable COFFER_REQUIRE_POSTGRES is 1.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := New()
	if err != nil {
		if errors.Is(err, ErrNoPostgres) && os.Getenv(RequireEnv) != "1" {
			tb.Skipf("%v (set %s=1 to fail instead)", err, RequireEnv)
		}
		tb.Fatalf("start postgresql: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("stop postgresql: %v", err)
		}
	})
	return s
}

// New starts a server for a caller that manages its life itself (a
// TestMain shared by a package's tests); Close stops and removes it.
// It returns an error wrapping ErrNoPostgres when no binaries are found.
func New() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "coffer-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	s := &Server{Host: "127.0.0.1", SuperUser: "coffer_super", SuperPassword: randomHex(16), Dir: dir, bin: bin, cred: cred}
	if err := s.init(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	var startErr error
	for range 3 { // a free port can be taken between probe and start
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s.Port = port
		if startErr = s.configure(); startErr != nil {
			break
		}
		if startErr = s.start(); startErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, startErr
}

// findBin returns the newest PostgreSQL bin directory holding initdb,
// pg_ctl and postgres.
func findBin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		ok := true
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, name)); err != nil {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w under %s", ErrNoPostgres, binGlob)
}

func majorOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// credential returns the identity to run the server as: the postgres OS
// user when running as root (PostgreSQL refuses root), else nil (self).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errNoUser
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, errNoUser
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: chown: %w", err)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }

// run runs a server binary as the server's OS user.
func (s *Server) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// init creates the cluster with the superuser and its password.
func (s *Server) init() error {
	if err := s.chown(s.Dir); err != nil {
		return err
	}
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.SuperPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: write password file: %w", err)
	}
	if err := s.chown(pwfile); err != nil {
		return err
	}
	err := s.run("initdb", "-D", s.dataDir(), "-U", s.SuperUser, "--pwfile="+pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	_ = os.Remove(pwfile)
	return err
}

// configure writes the listen address, port and socket directory; the
// last setting in postgresql.conf wins, so it is appended each time.
func (s *Server) configure() error {
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n",
		s.Port, s.Dir)
	f, err := os.OpenFile(filepath.Join(s.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: open postgresql.conf: %w", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: write postgresql.conf: %w", err)
	}
	return nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.run("pg_ctl", "start", "-w", "-t", "60", "-D", s.dataDir(), "-l", filepath.Join(s.Dir, "server.log")); err != nil {
		return err
	}
	s.up = true
	return nil
}

func (s *Server) stop(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return nil
	}
	if err := s.run("pg_ctl", "stop", "-w", "-m", mode, "-D", s.dataDir()); err != nil {
		return err
	}
	s.up = false
	return nil
}

// Close stops the server (immediate mode) and removes its directory.
func (s *Server) Close() error {
	err := s.stop("immediate")
	if rerr := os.RemoveAll(s.Dir); err == nil {
		err = rerr
	}
	return err
}

// Stop stops the server (fast mode) without removing it; Restart brings
// it back on the same port with the same data.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.stop("fast"); err != nil {
		tb.Fatalf("stop postgresql: %v", err)
	}
}

// Restart starts a stopped server again.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("restart postgresql: %v", err)
	}
}

// URL is a connection URL for user and password on database db.
func (s *Server) URL(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Connect opens a superuser connection to database db ("" is
// "postgres"), closed at tb's cleanup.
func (s *Server) Connect(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	if db == "" {
		db = "postgres"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(s.SuperUser, s.SuperPassword, db))
	if err != nil {
		tb.Fatalf("connect to postgresql as superuser: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// Exec runs sql as the superuser on the postgres database.
func (s *Server) Exec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	s.ExecIn(tb, "postgres", sql, args...)
}

// ExecIn runs sql as the superuser on database db.
func (s *Server) ExecIn(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(s.SuperUser, s.SuperPassword, db))
	if err != nil {
		tb.Fatalf("connect to postgresql as superuser: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("exec %q: %v", sql, err)
	}
}

// NewDatabase creates a database with a unique name starting with prefix,
// owned by owner ("" for the superuser), and returns its name. It is not
// dropped: the whole server goes away at cleanup.
func (s *Server) NewDatabase(tb testing.TB, prefix, owner string) string {
	tb.Helper()
	name := prefix + "_" + randomHex(6)
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if owner != "" {
		stmt += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	s.Exec(tb, stmt)
	return name
}

// Name returns prefix followed by a random suffix, for roles and
// databases unique across the server.
func Name(prefix string) string { return prefix + "_" + randomHex(6) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	return port, nil
}
