// Package engines is Coffer's logical layer: requests, responses, backends,
// the storage they see, the router and mount table, and the token store.
package engines
