package kv

import (
	"context"
	"strings"
	"sync"
	"time"

	"coffer/engines"
)

// versioned is KV version 2: every write of a key makes a new version,
// kept with its metadata, under Vault's data/, metadata/, delete/,
// undelete/, destroy/ and config endpoints.
//
// Invariants:
//   - Metadata never names a version whose data is missing: a write puts
//     the version's data before the metadata that names it (addVersion),
//     and removals update the metadata before deleting data
//     (addVersion's pruning, destroy, deleteMetadata). An interruption
//     leaves at worst an orphan data blob, never a dangling version.
//   - Each read-modify-write of a key's metadata runs under that key's
//     stripe of locks, so check-and-set is exact on this node; writes reach
//     only the active node, so that is every writer.
//   - The mount config is read from storage on every write, never cached,
//     so every node sees a config change at once.
type versioned struct {
	storage engines.Storage
	clock   func() time.Time

	locks    keyLocks
	configMu sync.Mutex // serialises config read-modify-write
}

var _ engines.Backend = (*versioned)(nil)

// now is the backend clock in UTC without a monotonic reading.
func (b *versioned) now() time.Time { return b.clock().UTC().Round(0) }

// gone reports whether a version reads as absent: destroyed, or soft
// deleted with a deletion time at or before now.
func (b *versioned) gone(vm *versionMetadata, now time.Time) bool {
	return vm.Destroyed || (!vm.DeletionTime.IsZero() && !vm.DeletionTime.After(now))
}

// HandleRequest routes a request by its first path segment.
func (b *versioned) HandleRequest(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	if req.Path == "config" {
		switch req.Operation {
		case engines.ReadOperation:
			return b.readConfig(ctx)
		case engines.CreateOperation, engines.UpdateOperation:
			return b.writeConfig(ctx, req.Data)
		}
		return nil, engines.ErrUnsupportedOperation
	}
	section, key, _ := strings.Cut(req.Path, "/")
	op := req.Operation
	switch section {
	case "data", "metadata", "delete", "undelete", "destroy":
	default:
		return nil, engines.ErrUnsupportedPath
	}
	if section == "metadata" && op == engines.ListOperation {
		return b.listMetadata(ctx, key)
	}
	if !b.supports(section, op) {
		return nil, engines.ErrUnsupportedOperation
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	switch section {
	case "data":
		switch op {
		case engines.ReadOperation:
			return b.readData(ctx, key, req.Data)
		case engines.PatchOperation:
			return b.patchData(ctx, key, req.Data)
		case engines.DeleteOperation:
			return nil, b.deleteLatest(ctx, key)
		}
		return b.writeData(ctx, key, req.Data)
	case "metadata":
		switch op {
		case engines.ReadOperation:
			return b.readMetadata(ctx, key)
		case engines.PatchOperation:
			return b.patchMetadata(ctx, key, req.Data)
		case engines.DeleteOperation:
			return nil, b.deleteMetadata(ctx, key)
		}
		return b.writeMetadata(ctx, key, req.Data)
	case "delete":
		return nil, b.deleteVersions(ctx, key, req.Data)
	case "undelete":
		return nil, b.undeleteVersions(ctx, key, req.Data)
	}
	return nil, b.destroyVersions(ctx, key, req.Data)
}

// supports reports whether section serves op (metadata list is routed
// before this check).
func (b *versioned) supports(section string, op engines.Operation) bool {
	switch op {
	case engines.CreateOperation, engines.UpdateOperation:
		return true
	case engines.ReadOperation, engines.PatchOperation, engines.DeleteOperation:
		return section == "data" || section == "metadata"
	}
	return false
}
