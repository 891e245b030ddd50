// Package peer is the node-to-node transport: one mutual-TLS listener carrying Raft RPC, request forwarding and gossip.
package peer
