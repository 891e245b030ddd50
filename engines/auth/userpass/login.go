package userpass

import (
	"context"

	"coffer/engines"
	"coffer/engines/auth/tokenfields"
)

// login checks a user's password and returns the auth block the system
// backend turns into a token.
//
// An unknown (or impossible) username costs one argon2id hash, like a
// known one: the password is verified against a dummy hash with the
// current parameters, and the answer is the same 400.
func (b *backend) login(ctx context.Context, req *engines.Request, name string, f tokenfields.Fields) (*engines.Response, error) {
	password, _, err := f.Str("password")
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, engines.BadRequest("missing password")
	}
	var u *user
	if validName(name) {
		if u, err = b.getUser(ctx, name); err != nil {
			return nil, err
		}
	}
	hash := b.hasher.dummy
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := b.hasher.verify(ctx, hash, password)
	if err != nil {
		return nil, err
	}
	if u == nil || !ok {
		return nil, errInvalidCredentials
	}
	if len(u.TokenBoundCIDRs) > 0 && !tokenfields.AddrAllowed(req.RemoteAddr, u.TokenBoundCIDRs) {
		return nil, engines.ErrPermissionDenied
	}
	auth := u.Auth()
	auth.Metadata = map[string]string{"username": name}
	auth.DisplayName = "userpass-" + name
	return &engines.Response{Auth: auth}, nil
}
