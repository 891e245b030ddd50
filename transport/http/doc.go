// Package http serves Coffer's client API: Vault-compatible /v1 routes,
// JSON in and out, request limits, and the seal and health endpoints.
package http
