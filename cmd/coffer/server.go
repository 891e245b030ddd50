package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"coffer/cluster"
	"coffer/cluster/gossip"
	"coffer/engines"
	"coffer/engines/auth/approle"
	"coffer/engines/auth/userpass"
	"coffer/engines/database"
	"coffer/engines/kv"
	"coffer/engines/system"
	"coffer/seal"
	"coffer/seal/pkcs11"
	"coffer/transport/http"
	"coffer/transport/peer"
)

// version is Coffer's release; set at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// backendFactories are the secrets engines a mount may name.
var backendFactories = map[string]engines.Factory{
	"kv":       kv.Factory,
	"database": database.Factory,
}

// authFactories are the auth methods sys/auth may enable.
var authFactories = map[string]engines.Factory{
	"approle":  approle.Factory,
	"userpass": userpass.Factory,
}

func runServer(args []string) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	configPath := fs.String("config", "", "path to an HCL server config file")
	dev := fs.Bool("dev", false, "run a single in-memory-style dev node: temp Raft storage, initialised, unsealed")
	devRoot := fs.String("dev-root-token-id", "", "dev mode: the root token's ID")
	devListen := fs.String("dev-listen-address", "127.0.0.1:8200", "dev mode: API listen address")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	var cfg *serverConfig
	var cleanup func()
	switch {
	case *dev:
		dir, err := os.MkdirTemp("", "coffer-dev-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error creating dev storage dir: %v\n", err)
			return 1
		}
		cleanup = func() { os.RemoveAll(dir) }
		cfg = &serverConfig{
			Storage:  storageConfig{Type: "raft", Path: dir, NodeID: "dev-node"},
			Listener: listenerConfig{Type: "tcp", Address: *devListen, tlsDisabled: true},
			LogLevel: "info",
		}
		if err := cfg.Listener.finish(); err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return 1
		}
	case *configPath != "":
		var err error
		if cfg, err = loadConfig(*configPath); err != nil {
			fmt.Fprintf(os.Stderr, "Error loading configuration from %s: %v\n", *configPath, err)
			return 1
		}
	default:
		fmt.Fprintln(os.Stderr, "Usage: coffer server -config FILE.hcl | -dev [-dev-root-token-id=T] [-dev-listen-address=ADDR]")
		return 1
	}
	if cleanup != nil {
		defer cleanup()
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	tuneRuntime()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP (log rotation) must never kill the server, even while it starts.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	if err := serve(ctx, cfg, *dev, *devRoot, os.Stdout, hup); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// serve runs a node until ctx ends, then shuts it down in order: stop
// taking requests, seal (zeroing keys), stop Raft, close the stores.
// SIGHUPs arriving on hup reopen the audit files.
func serve(ctx context.Context, cfg *serverConfig, dev bool, devRoot string, out io.Writer, hup <-chan os.Signal) error {
	logger := newLogger(cfg.LogLevel)
	nodeID := cfg.Storage.NodeID
	if nodeID == "" {
		host, _ := os.Hostname()
		nodeID = host
	}
	advertise, err := clusterAdvertise(cfg)
	if err != nil {
		return err
	}
	pt, err := peer.Listen(peer.Config{
		BindAddr:      cfg.Listener.ClusterAddress,
		AdvertiseAddr: advertise,
		Logger:        logger.With("component", "peer"),
	})
	if err != nil {
		return fmt.Errorf("listen on cluster address %s: %w", cfg.Listener.ClusterAddress, err)
	}
	defer pt.Close()
	apiAddr := cfg.APIAddr
	if apiAddr == "" {
		scheme := "https"
		if cfg.Listener.tlsDisabled {
			scheme = "http"
		}
		apiAddr = scheme + "://" + cfg.Listener.Address
	}
	node, err := cluster.Open(ctx, cluster.Config{
		Dir:          cfg.Storage.Path,
		NodeID:       nodeID,
		StreamLayer:  pt.RaftLayer(),
		RPCClient:    pt.HTTPClient(),
		APIAddr:      apiAddr,
		Logger:       logger.With("component", "cluster"),
		RaftLogLevel: raftLevel(cfg.LogLevel),

		SnapshotThreshold: uint64(max(cfg.Storage.SnapshotThreshold, 0)),
		SnapshotInterval:  cfg.Storage.snapshotInterval,
		TrailingLogs:      uint64(max(cfg.Storage.TrailingLogs, 0)),
	})
	if err != nil {
		return fmt.Errorf("start storage: %w", err)
	}
	defer func() {
		if err := node.Close(); err != nil {
			logger.Error("close storage", "error", err)
		}
	}()
	barrier := seal.NewBarrier(node, logger.With("component", "seal"))
	autoSeal, closeSeal, err := autoSealFrom(cfg, logger.With("component", "seal"))
	if err != nil {
		return err
	}
	defer closeSeal()
	gossipLogger := logger.With("component", "gossip")
	sys := system.New(system.Config{
		Barrier:       barrier,
		Cluster:       node,
		Peer:          pt,
		ClusterAddr:   advertise,
		Factories:     backendFactories,
		AuthFactories: authFactories,
		Logger:        logger.With("component", "system"),
		APIAddr:       apiAddr,
		Version:       version,
		Gossip: func(key []byte, meta func() gossip.Meta) (system.Gossip, error) {
			return gossip.Start(gossip.Config{
				NodeID:    nodeID,
				Transport: pt.GossipTransport(),
				SecretKey: key,
				Meta:      meta,
				Logger:    gossipLogger,
			})
		},

		AuditDevices:          cfg.Audit,
		AllowAPIAuditCreation: cfg.UnsafeAllowAPIAuditCreation,
		AutoSeal:              autoSeal,
	})
	defer sys.Close()
	sys.Start(ctx)

	ln, err := net.Listen("tcp", cfg.Listener.Address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listener.Address, err)
	}
	if !cfg.Listener.tlsDisabled {
		cert, err := tls.LoadX509KeyPair(cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	handler := http.New(http.Config{
		Node:      sys,
		Logger:    logger.With("component", "http"),
		Limits:    http.Limits{MaxBodyBytes: cfg.Listener.maxRequestSize},
		Forwarder: &http.PeerForwarder{Client: pt.HTTPClient(), Leader: node.Leader, Self: nodeID},
	})
	// Node-to-node RPC: cluster calls, and API requests standbys forward.
	// Only members of the Raft configuration may call: a removed node's
	// certificate is still valid until it expires.
	rpc := nethttp.NewServeMux()
	rpc.Handle(cluster.RPCPrefix, node.RPCHandler())
	rpc.HandleFunc("/v1/", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		handler.ServeForwarded(w, r, peer.PeerNodeID(r))
	})
	pt.SetRPCHandler(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if !node.IsMember(peer.PeerNodeID(r)) {
			nethttp.Error(w, "not a member of this cluster", nethttp.StatusForbidden)
			return
		}
		rpc.ServeHTTP(w, r)
	}))
	srv := &nethttp.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       90 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// A dev node is set up before it serves, so a client never sees it
	// half-initialised.
	if dev {
		if err := devSetup(ctx, sys, devRoot, apiAddr, out); err != nil {
			ln.Close()
			return err
		}
	}
	if !node.Started() && len(cfg.Storage.RetryJoin) > 0 {
		if err := startRetryJoin(ctx, sys, cfg.Storage.RetryJoin[0]); err != nil {
			ln.Close()
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	go func() {
		for range hup {
			if err := sys.ReopenAudit(); err != nil {
				logger.Error("reopening audit files on SIGHUP", "error", err)
			} else {
				logger.Info("audit files reopened")
			}
		}
	}()
	logger.Info("coffer server started", "api_addr", apiAddr, "cluster_addr", advertise, "node_id", nodeID, "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
		logger.Warn("http shutdown", "error", err)
	}
	return nil
}

// autoSealFrom builds the configured auto seal: the seal "pkcs11" stanza,
// with COFFER_HSM_* / VAULT_HSM_* from the environment over it. A
// configuration error stops the server; an HSM that cannot be opened does
// not: the node stays sealed and retries (see system.Start).
func autoSealFrom(cfg *serverConfig, logger *slog.Logger) (*system.AutoSealConfig, func(), error) {
	if cfg.Seal == nil {
		return nil, func() {}, nil
	}
	pc, err := pkcs11.ConfigFrom(cfg.Seal.Values, os.Getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("seal %q: %w", cfg.Seal.Type, err)
	}
	var mu sync.Mutex
	var opened *pkcs11.Seal
	open := func(ctx context.Context) (seal.AutoSeal, error) {
		s, err := pkcs11.Open(ctx, pc, logger)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		opened = s
		mu.Unlock()
		return s, nil
	}
	closeSeal := func() {
		mu.Lock()
		defer mu.Unlock()
		if opened != nil {
			_ = opened.Close()
		}
	}
	permanent := func(err error) bool { return errors.Is(err, pkcs11.ErrPIN) }
	return &system.AutoSealConfig{Type: cfg.Seal.Type, Disabled: cfg.Seal.Disabled, Open: open, Permanent: permanent}, closeSeal, nil
}

// clusterAdvertise is the host:port other nodes reach this node's cluster
// listener at: cluster_addr (Vault writes it as a URL) or the listener's
// cluster_address.
func clusterAdvertise(cfg *serverConfig) (string, error) {
	addr := cfg.ClusterAddr
	if addr == "" {
		addr = cfg.Listener.ClusterAddress
	}
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	host, port, err := net.SplitHostPort(strings.TrimSuffix(addr, "/"))
	if err != nil {
		return "", fmt.Errorf("cluster_addr %q: %w", cfg.ClusterAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "", fmt.Errorf("cluster_addr %q: set an address other nodes can reach", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// retryJoin starts joining the leader named in the config, retrying in
// the background until one answers.
func startRetryJoin(ctx context.Context, sys *system.System, rj retryJoin) error {
	req := system.JoinRequest{LeaderAPIAddr: rj.LeaderAPIAddr, Retry: true, NonVoter: rj.NonVoter, LeaderTLSServerName: rj.LeaderTLSServerName}
	for _, f := range []struct {
		path string
		dst  *string
	}{{rj.LeaderCACertFile, &req.LeaderCACert}, {rj.LeaderClientCert, &req.LeaderClientCert}, {rj.LeaderClientKey, &req.LeaderClientKey}} {
		if f.path == "" {
			continue
		}
		raw, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("retry_join: %w", err)
		}
		*f.dst = string(raw)
	}
	if err := sys.Join(ctx, req); err != nil {
		return fmt.Errorf("retry_join: %w", err)
	}
	return nil
}

func raftLevel(level string) string {
	switch strings.ToLower(level) {
	case "debug", "trace":
		return level
	}
	return "warn"
}

// devSetup initialises with one share, unseals, mounts KV v2 at secret/
// and prints what a developer needs: the address, unseal key and root
// token. Dev mode is for local use only; the banner says so.
func devSetup(ctx context.Context, sys *system.System, rootID, apiAddr string, out io.Writer) error {
	res, err := sys.Init(ctx, system.InitRequest{SecretShares: 1, SecretThreshold: 1, RootTokenID: rootID})
	if err != nil {
		return fmt.Errorf("dev init: %w", err)
	}
	share := res.Shares[0]
	defer clear(share)
	// Encode before unsealing: the barrier zeroes the share it is given.
	unsealKey := base64.StdEncoding.EncodeToString(share)
	if err := sys.Unseal(ctx, share, false); err != nil {
		return fmt.Errorf("dev unseal: %w", err)
	}
	if err := sys.Mount(ctx, engines.MountEntry{Path: "secret/", Type: "kv", Description: "key/value secret storage", Options: map[string]string{"version": "2"}}); err != nil {
		return fmt.Errorf("dev mount secret/: %w", err)
	}
	fmt.Fprintf(out, `WARNING! dev mode is enabled! In this mode, Coffer runs entirely from a
temporary directory, starts unsealed with a single unseal key, and is NOT
for production use.

You may need to set the following environment variables:

    $ export VAULT_ADDR='%s'

The unseal key and root token are displayed below in case you want to
seal/unseal the node or re-authenticate.

Unseal Key: %s
Root Token: %s

Development mode should NOT be used in production installations!
`, apiAddr, unsealKey, res.RootToken)
	return nil
}
