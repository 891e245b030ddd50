package gossip

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node tells every other node about itself. It travels as
// JSON in memberlist's node metadata, so its encoding must fit
// memberlist.MetaMaxSize (512 bytes).
type Meta struct {
	NodeID       string `json:"node_id"`
	APIAddr      string `json:"api_addr"`
	ClusterAddr  string `json:"cluster_addr"`
	Version      string `json:"version"`
	Sealed       bool   `json:"sealed"`
	AppliedIndex uint64 `json:"applied_index"`
}

// encodeMeta returns m's wire form, or ErrMetaTooLarge if it does not fit.
func encodeMeta(m Meta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("gossip: encode meta: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// decodeMeta parses another node's metadata. Empty input is a zero Meta (a
// node that advertises none).
func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, nil
	}
	if len(b) > memberlist.MetaMaxSize {
		return Meta{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("gossip: decode meta: %w", err)
	}
	return m, nil
}
