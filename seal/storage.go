package seal

import "context"

// Storage is where the barrier keeps its records and the data it encrypts:
// the cluster's replicated store (cluster.Node implements it).
//
// Same contract as engines.Storage: methods are safe for concurrent use,
// Get returns (nil, nil) for a missing key, List returns the immediate
// children of prefix, and Put and Delete return once the write is durable.
// The barrier never hands it a plaintext, except the seal configuration.
type Storage interface {
	Get(ctx context.Context, key string) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// The barrier's own records. They are read and written raw by the
// lifecycle code (Initialize, Unseal, Rotate); Get, Put and Delete refuse
// them so nothing can overwrite them through the keyring.
const (
	// sealConfigPath holds the seal configuration as JSON: no secrets.
	sealConfigPath = "core/seal-config"
	// rootKeyPath holds the root key wrapped by the seal (Wrapper).
	rootKeyPath = "core/root-key"
	// keyringPath holds the keyring encrypted under the root key.
	keyringPath = "core/keyring"
)

func reserved(key string) bool {
	return key == sealConfigPath || key == rootKeyPath || key == keyringPath || key == recoveryKeyPath
}
