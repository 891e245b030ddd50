package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"
)

const kvMetadataGetUsage = `
Usage: coffer kv metadata get [options] KEY

  Retrieves the metadata of a key in a KV v2 store: its settings and the
  state of every version.

      $ coffer kv metadata get -mount=secret foo
`

const kvMetadataPutUsage = `
Usage: coffer kv metadata put [options] KEY

  Creates a key with no data, or updates a key's settings, in a KV v2 store.
  Only the settings given are changed.

      $ coffer kv metadata put -mount=secret -max-versions=5 foo
      $ coffer kv metadata put -mount=secret -delete-version-after=3h25m19s foo
      $ coffer kv metadata put -mount=secret -cas-required foo
      $ coffer kv metadata put -mount=secret -custom-metadata=owner=ops foo
`

const kvMetadataDeleteUsage = `
Usage: coffer kv metadata delete [options] KEY

  Deletes a key's metadata and all its versions from a KV v2 store. The data
  cannot be recovered.

      $ coffer kv metadata delete -mount=secret foo
`

// connectMetadata is the start of every `kv metadata` command: parse one KEY
// argument, build the client, resolve the key against its mount (which must
// be KV v2) and return the key's metadata path. A nil client means the
// command should stop and return code.
func (k *kvCommand) connectMetadata(args []string) (cl *api.Client, full string, code int) {
	cl, p, code := k.connectKey(args)
	if cl == nil {
		return nil, "", code
	}
	if !p.v2 {
		k.errf("Metadata not supported on KV Version 1")
		return nil, "", exitLocal
	}
	return cl, p.apiPath("metadata"), exitOK
}

// runKVMetadataGet implements `coffer kv metadata get`.
func runKVMetadataGet(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv metadata get", kvMetadataGetUsage, withFormat|withField, stdin, stdout, stderr)
	cl, full, code := k.connectMetadata(args)
	if cl == nil {
		return code
	}
	s, ok := k.read(cl, full, nil)
	if !ok {
		return exitRemote
	}
	if k.flags.field != "" || k.json() {
		return k.outputResponse(s)
	}
	versions, ok := s.Data["versions"].(map[string]any)
	if !ok {
		k.errf("No value found at %s", full)
		k.outputSecret(s)
		return exitRemote
	}
	meta := make(map[string]any, len(s.Data))
	for key, v := range s.Data {
		if key != "versions" {
			meta[key] = v
		}
	}
	k.outputPath(full, "Metadata Path")
	k.outf("%s", headerForMap("Metadata", meta))
	k.outputMap(meta)
	nums := make([]int, 0, len(versions))
	for key := range versions {
		if n, err := strconv.Atoi(key); err == nil {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		v, _ := versions[strconv.Itoa(n)].(map[string]any)
		k.outf("")
		k.outf("%s", headerForMap(fmt.Sprintf("Version %d", n), v))
		k.outputMap(v)
	}
	return exitOK
}

// runKVMetadataPut implements `coffer kv metadata put`.
func runKVMetadataPut(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv metadata put", kvMetadataPutUsage, withFormat, stdin, stdout, stderr)
	maxVersions := k.fs.Int("max-versions", -1, "Number of versions to keep; 0 means the mount's setting. Unchanged if not given.")
	var casRequired optionalBool
	k.fs.Var(&casRequired, "cas-required", "Require the cas option on every write to this key.")
	deleteAfter := k.fs.Duration("delete-version-after", -1, `Delete versions this long after they are written, e.g. "3h25m19s"; 0 disables.`)
	var custom mapFlag
	k.fs.Var(&custom, "custom-metadata", "Custom metadata as key=value (repeatable).")
	cl, full, code := k.connectMetadata(args)
	if cl == nil {
		return code
	}
	s, ok := k.write(cl, full, metadataBody(*maxVersions, casRequired, *deleteAfter, custom))
	if !ok {
		return exitRemote
	}
	return k.outputWritten(s, full)
}

// metadataBody is the request body for `kv metadata put`: only the settings
// the user gave.
func metadataBody(maxVersions int, casRequired optionalBool, deleteAfter time.Duration, custom mapFlag) map[string]any {
	body := map[string]any{}
	if maxVersions >= 0 {
		body["max_versions"] = maxVersions
	}
	if casRequired.set {
		body["cas_required"] = casRequired.value
	}
	if deleteAfter >= 0 {
		body["delete_version_after"] = deleteAfter.String()
	}
	if len(custom) > 0 {
		body["custom_metadata"] = map[string]string(custom)
	}
	return body
}

// runKVMetadataDelete implements `coffer kv metadata delete`.
func runKVMetadataDelete(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv metadata delete", kvMetadataDeleteUsage, 0, stdin, stdout, stderr)
	cl, full, code := k.connectMetadata(args)
	if cl == nil {
		return code
	}
	_, err := cl.Logical().DeleteWithContext(k.ctx(), full)
	return k.deleted(full, err)
}
