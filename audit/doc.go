// Package audit records every request and response as HMAC-redacted JSON
// lines on one or more devices (file, socket), hash-chained so that edits,
// insertions and deletions can be detected by Verify.
package audit
