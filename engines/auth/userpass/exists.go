package userpass

import (
	"context"
	"strings"

	"coffer/engines"
)

// Exists implements engines.ExistenceChecker, as Vault's userpass does: a
// write to users/<name>, users/<name>/password or users/<name>/policies
// needs create when the user does not exist yet and update when it does.
// Every other path (login, or a name the backend refuses) is an update.
func (b *backend) Exists(ctx context.Context, req *engines.Request) (bool, error) {
	parts := strings.Split(req.Path, "/")
	if parts[0] != "users" || len(parts) < 2 || len(parts) > 3 {
		return true, nil
	}
	if len(parts) == 3 && parts[2] != "password" && parts[2] != "policies" {
		return true, nil
	}
	name, err := pathName(parts[1])
	if err != nil {
		return true, nil
	}
	raw, err := b.storage.Get(ctx, userPrefix+name)
	if err != nil {
		return false, wrapStorage("check existence", err)
	}
	return raw != nil, nil
}
