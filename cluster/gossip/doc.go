// Package gossip spreads node metadata and detects failed nodes with memberlist.
package gossip
