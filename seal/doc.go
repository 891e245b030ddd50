// Package seal protects Coffer's data at rest: the root key behind a seal
// (Shamir key shares), and the barrier that encrypts every stored value
// with a rotating AES-256-GCM keyring.
package seal
