// Package system is the node's system backend: the seal lifecycle (init,
// unseal, seal), request authentication and routing, and the sys/ API.
package system
