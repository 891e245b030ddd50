// Package cluster runs one Coffer node's Raft: log and snapshot stores,
// group-committed writes, linearizable reads and leadership.
package cluster
