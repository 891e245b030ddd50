package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"
)

const operatorRaftJoinUsage = `
Usage: coffer operator raft join [options] [LEADER_API_ADDR]

  Joins the node at -address (or VAULT_ADDR) as a peer to the Raft cluster
  led by the node whose API address is LEADER_API_ADDR. The joining node
  must be initialised with the same seal; it enters as a non-voter and is
  promoted once it has caught up.

      $ coffer operator raft join "https://10.0.0.1:8200"

  TLS material for reaching the leader can be given inline or read from a
  file by prefixing the value with "@":

      $ coffer operator raft join "https://10.0.0.1:8200" \
          -leader-ca-cert=@leader_ca.crt \
          -leader-client-cert=@client.crt \
          -leader-client-key=@client.key
`

const operatorRaftListPeersUsage = `
Usage: coffer operator raft list-peers [options]

  Provides the details of all the peers in the Raft cluster: node ID, Raft
  address, state (leader or follower) and whether it votes.

      $ coffer operator raft list-peers
`

const operatorRaftRemovePeerUsage = `
Usage: coffer operator raft remove-peer [options] SERVER_ID

  Removes a node from the Raft cluster by its server (node) ID, as shown by
  "coffer operator raft list-peers".

      $ coffer operator raft remove-peer node3
`

// raftJoinBody is the join request without the client key, which
// encodeJoinBody adds so that it can be zeroed afterwards. The fields are
// those of api.RaftJoinRequest plus Vault's leader_tls_servername.
type raftJoinBody struct {
	LeaderAPIAddr       string `json:"leader_api_addr"`
	LeaderCACert        string `json:"leader_ca_cert"`
	LeaderClientCert    string `json:"leader_client_cert"`
	LeaderTLSServerName string `json:"leader_tls_servername,omitempty"`
	Retry               bool   `json:"retry"`
	NonVoter            bool   `json:"non_voter"`
}

// runOperatorRaftJoin implements `coffer operator raft join`.
func runOperatorRaftJoin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft join", operatorRaftJoinUsage, withFormat, stdin, stdout, stderr)
	var body raftJoinBody
	var caCert, clientCert, clientKey string
	c.fs.BoolVar(&body.Retry, "retry", false, "Keep retrying the join in the background upon failures.")
	c.fs.BoolVar(&body.NonVoter, "non-voter", false, "Join as a non-voter and stay one: the node receives the log but takes no part in quorum.")
	c.fs.StringVar(&caCert, "leader-ca-cert", "", "CA certificate (PEM, or @file) to verify the leader's certificate.")
	c.fs.StringVar(&clientCert, "leader-client-cert", "", "Client certificate (PEM, or @file) to present to the leader.")
	c.fs.StringVar(&clientKey, "leader-client-key", "", "Client key (PEM, or @file) for -leader-client-cert.")
	c.fs.StringVar(&body.LeaderTLSServerName, "leader-tls-servername", "", "Server name to verify the leader's certificate against, if not its address's host.")
	if code, ok := c.parseArgs(args, 0, 1); !ok {
		return code
	}
	body.LeaderAPIAddr = strings.TrimSpace(c.fs.Arg(0))
	for _, f := range []struct {
		what string
		raw  string
		dst  *string
	}{{"leader CA certificate", caCert, &body.LeaderCACert}, {"leader client certificate", clientCert, &body.LeaderClientCert}} {
		b, err := readFlagFile(f.raw)
		if err != nil {
			c.errf("Failed to parse %s: %s", f.what, err)
			return exitLocal
		}
		*f.dst = string(b)
	}
	key, err := readFlagFile(clientKey)
	if err != nil {
		c.errf("Failed to parse leader client key: %s", err)
		return exitLocal
	}
	defer clear(key)
	cl, code := c.client()
	if cl == nil {
		return code
	}
	raw, err := encodeJoinBody(body, key)
	if err != nil {
		c.errf("Error joining the node to the Raft cluster: %s", err)
		return exitLocal
	}
	defer clear(raw)
	var resp api.RaftJoinResponse
	if err := sendJSON(c.ctx(), cl, http.MethodPost, "sys/storage/raft/join", raw, &resp); err != nil {
		c.errf("Error joining the node to the Raft cluster: %s", err)
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(resp)
	}
	c.outf("%s", formatTable([][]string{{"Key", "Value"}, {"Joined", strconv.FormatBool(resp.Joined)}}))
	return exitOK
}

// readFlagFile returns raw, or the contents of the file it names when it
// starts with "@", as Vault's certificate flags do.
func readFlagFile(raw string) ([]byte, error) {
	if name, ok := strings.CutPrefix(raw, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("error reading file: %w", err)
		}
		return b, nil
	}
	return []byte(raw), nil
}

// encodeJoinBody is body as JSON with "leader_client_key": key appended,
// built in one buffer the caller can clear, so the key is never copied
// into a string or a buffer the caller cannot reach.
func encodeJoinBody(body raftJoinBody, key []byte) ([]byte, error) {
	head, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode join request: %w", err)
	}
	if !utf8.Valid(key) {
		return nil, errors.New("leader client key is not valid UTF-8")
	}
	out := make([]byte, 0, len(head)+len(`,"leader_client_key":""`)+6*len(key))
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"leader_client_key":`...)
	out = appendJSONString(out, key)
	return append(out, '}'), nil
}

// appendJSONString appends s, valid UTF-8, to dst as a JSON string. dst
// must have room (6 bytes per byte of s) so the append never reallocates
// and leaves a copy behind.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, b := range s {
		switch {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b == '\n':
			dst = append(dst, '\\', 'n')
		case b == '\r':
			dst = append(dst, '\\', 'r')
		case b == '\t':
			dst = append(dst, '\\', 't')
		case b < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
		default:
			dst = append(dst, b)
		}
	}
	return append(dst, '"')
}

// sendJSON sends body (JSON) with method to the API path and, when out is
// not nil and the server answered with content, decodes the reply into it.
// Unlike Logical().Write it keeps the verb and the raw (non-envelope) reply.
func sendJSON(ctx context.Context, cl *api.Client, method, path string, body []byte, out any) error {
	r := cl.NewRequest(method, "/v1/"+path)
	r.BodyBytes = body
	// RawRequestWithContext is deprecated, but it is the one client call
	// that keeps the verb and the raw reply without cancelling the request's
	// context before the body is read (Logical().WriteRaw does).
	resp, err := cl.RawRequestWithContext(ctx, r)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := resp.DecodeJSON(out); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// raftPeer is one server of sys/storage/raft/configuration.
type raftPeer struct {
	NodeID  string
	Address string
	Leader  bool
	Voter   bool
}

// runOperatorRaftListPeers implements `coffer operator raft list-peers`.
func runOperatorRaftListPeers(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft list-peers", operatorRaftListPeersUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 0, 0)
	if cl == nil {
		return code
	}
	s, err := cl.Logical().ReadWithContext(c.ctx(), "sys/storage/raft/configuration")
	if err != nil {
		c.errf("Error reading the raft cluster configuration: %s", err)
		return exitRemote
	}
	if s == nil {
		c.errf("No raft cluster configuration found")
		return exitRemote
	}
	if c.json() {
		return c.outputJSON(s)
	}
	peers, err := parseRaftPeers(s.Data)
	if err != nil {
		c.errf("Error reading the raft cluster configuration: %s", err)
		return exitRemote
	}
	rows := [][]string{{"Node", "Address", "State", "Voter"}}
	for _, p := range peers {
		state := "follower"
		if p.Leader {
			state = "leader"
		}
		rows = append(rows, []string{p.NodeID, p.Address, state, strconv.FormatBool(p.Voter)})
	}
	c.outf("%s", formatTable(rows))
	return exitOK
}

// errBadPeers is a configuration response not in Vault's shape.
var errBadPeers = errors.New("unexpected configuration format")

// parseRaftPeers reads data.config.servers of a configuration response.
func parseRaftPeers(data map[string]any) ([]raftPeer, error) {
	config, ok := data["config"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: no config", errBadPeers)
	}
	servers, ok := config["servers"].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: no servers", errBadPeers)
	}
	peers := make([]raftPeer, 0, len(servers))
	for i, raw := range servers {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: server %d", errBadPeers, i)
		}
		var p raftPeer
		p.NodeID, _ = m["node_id"].(string)
		p.Address, _ = m["address"].(string)
		p.Leader, _ = m["leader"].(bool)
		p.Voter, _ = m["voter"].(bool)
		peers = append(peers, p)
	}
	return peers, nil
}

// runOperatorRaftRemovePeer implements `coffer operator raft remove-peer`.
func runOperatorRaftRemovePeer(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("operator raft remove-peer", operatorRaftRemovePeerUsage, 0, stdin, stdout, stderr)
	if code, ok := c.parseArgs(args, 1, 1); !ok {
		return code
	}
	id := strings.TrimSpace(c.fs.Arg(0))
	if id == "" {
		c.errf("Server id is required")
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	body, err := json.Marshal(map[string]string{"server_id": id})
	if err != nil {
		c.errf("Error removing the peer from raft cluster: %s", err)
		return exitLocal
	}
	if err := sendJSON(c.ctx(), cl, http.MethodPost, "sys/storage/raft/remove-peer", body, nil); err != nil {
		c.errf("Error removing the peer from raft cluster: %s", err)
		return exitRemote
	}
	c.outf("Peer removed successfully!")
	return exitOK
}
