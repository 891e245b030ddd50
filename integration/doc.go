// Package integration holds process-level tests: real coffer binaries on
// loopback, driven by the stock Vault API client and by the CLI.
package integration
