// Package autopilot keeps the Raft voter set healthy: it promotes caught-up non-voters and removes servers that stay dead.
package autopilot
