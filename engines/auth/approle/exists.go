package approle

import (
	"context"
	"strings"

	"coffer/engines"
)

// Exists implements engines.ExistenceChecker, as Vault's AppRole does: a
// write to role/<name>, role/<name>/role-id or one of the role's setting
// paths (role/<name>/policies, .../token-ttl, ...) needs create when the
// role does not exist yet and update when it does. Secret-ID generation,
// lookups, destroys, tidy, login and names the backend refuses create no
// role and are updates.
func (b *backend) Exists(ctx context.Context, req *engines.Request) (bool, error) {
	parts := strings.Split(req.Path, "/")
	if parts[0] != "role" || len(parts) < 2 || len(parts) > 3 {
		return true, nil
	}
	if len(parts) == 3 {
		if _, setting := roleFieldPaths[parts[2]]; !setting && parts[2] != "role-id" {
			return true, nil
		}
	}
	name, err := pathName(parts[1])
	if err != nil {
		return true, nil
	}
	raw, err := b.storage.Get(ctx, rolePrefix+name)
	if err != nil {
		return false, wrapStorage("check existence", err)
	}
	return raw != nil, nil
}
