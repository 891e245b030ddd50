package kv

import (
	"context"
	"encoding/json"

	"coffer/engines"
)

// passthrough is KV version 1: each key holds one JSON object, written
// whole and read back as the response data, with no history.
//
// A write is a single Put, so it needs no locking.
type passthrough struct {
	storage engines.Storage
}

var _ engines.Backend = (*passthrough)(nil)

// HandleRequest serves read, write, delete and list at any path.
func (b *passthrough) HandleRequest(ctx context.Context, req *engines.Request) (*engines.Response, error) {
	key := req.Path
	switch req.Operation {
	case engines.ReadOperation:
		return b.read(ctx, key)
	case engines.CreateOperation, engines.UpdateOperation:
		return nil, b.write(ctx, key, req.Data)
	case engines.DeleteOperation:
		if key == "" {
			return nil, nil
		}
		if err := b.storage.Delete(ctx, key); err != nil {
			return nil, wrapStorage("delete", err)
		}
		return nil, nil
	case engines.ListOperation:
		keys, err := b.storage.List(ctx, listPrefix(key))
		if err != nil {
			return nil, wrapStorage("list", err)
		}
		return listResponse(keys), nil
	}
	return nil, engines.ErrUnsupportedOperation
}

func (b *passthrough) read(ctx context.Context, key string) (*engines.Response, error) {
	if key == "" {
		return nil, nil
	}
	raw, err := b.storage.Get(ctx, key)
	if err != nil {
		return nil, wrapStorage("read", err)
	}
	if raw == nil {
		return nil, nil
	}
	data, err := decodeObject(raw)
	if err != nil {
		return nil, wrapStorage("decode entry", err)
	}
	return &engines.Response{Data: data}, nil
}

// write stores data whole. Like Vault, it refuses an empty object.
func (b *passthrough) write(ctx context.Context, key string, data map[string]any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(data) == 0 {
		return engines.BadRequest("missing data fields")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return engines.BadRequest("data cannot be encoded as JSON")
	}
	if err := b.storage.Put(ctx, key, raw); err != nil {
		return wrapStorage("write", err)
	}
	return nil
}
