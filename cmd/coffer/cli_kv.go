package main

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/hashicorp/vault/api"
)

const kvPutUsage = `
Usage: coffer kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type. With a KV v2 mount this creates a new version.

      $ coffer kv put -mount=secret foo bar=baz
      $ coffer kv put secret/foo bar=baz

  Values of the form @FILE are read from the file, "-" reads the value from
  stdin, and a single "-" argument reads a JSON object from stdin.

  To perform a check-and-set, give the version the key is expected to have
  (0 means "write only if the key does not exist"):

      $ coffer kv put -mount=secret -cas=1 foo bar=baz
`

const kvGetUsage = `
Usage: coffer kv get [options] KEY

  Retrieves the value at the given key in the key-value store.

      $ coffer kv get -mount=secret foo
      $ coffer kv get secret/foo
      $ coffer kv get -mount=secret -version=1 foo
`

const kvPatchUsage = `
Usage: coffer kv patch [options] KEY [DATA]

  Updates the data at the given key without overwriting the fields not named
  (KV v2 only). It sends an HTTP PATCH (JSON merge patch) and falls back to
  read-then-write when the server does not support PATCH.

      $ coffer kv patch -mount=secret foo bar=baz
      $ coffer kv patch -mount=secret -remove-data=bar foo
`

const kvDeleteUsage = `
Usage: coffer kv delete [options] KEY

  Deletes the data for the given key. With KV v2 the data is soft-deleted and
  can be undeleted; by default the latest version is deleted.

      $ coffer kv delete -mount=secret foo
      $ coffer kv delete -mount=secret -versions=1,2 foo
`

const kvUndeleteUsage = `
Usage: coffer kv undelete [options] KEY

  Undeletes soft-deleted versions of the given key (KV v2 only).

      $ coffer kv undelete -mount=secret -versions=3 foo
`

const kvDestroyUsage = `
Usage: coffer kv destroy [options] KEY

  Permanently removes the data of the given versions of a key (KV v2 only).
  The data cannot be recovered.

      $ coffer kv destroy -mount=secret -versions=3 foo
`

const kvListUsage = `
Usage: coffer kv list [options] PATH

  Lists the keys at the given path in the key-value store.

      $ coffer kv list -mount=secret my-app/
      $ coffer kv list secret/my-app/
`

// kvCommand is a kv subcommand with its -mount flag.
type kvCommand struct {
	*command
	mount string
}

func newKVCommand(name, usage string, groups flagGroups, stdin io.Reader, stdout, stderr io.Writer) *kvCommand {
	k := &kvCommand{command: newCommand(name, usage, groups, stdin, stdout, stderr)}
	k.fs.StringVar(&k.mount, "mount", "", "Path where the KV engine is mounted. If set, the argument is the key inside the mount.")
	return k
}

// setup builds the client and resolves arg against its KV mount, printing
// any error; a nil client means the command should stop and return code.
func (k *kvCommand) setup(arg string) (*api.Client, kvPath, int) {
	cl, code := k.client()
	if cl == nil {
		return nil, kvPath{}, code
	}
	p, err := k.resolveKV(cl, k.mount, arg)
	if err != nil {
		k.errf("%s", err)
		return nil, kvPath{}, exitRemote
	}
	return cl, p, exitOK
}

// connectKey is the start of a kv command that takes one KEY argument:
// parseArgs, then setup for the key.
func (k *kvCommand) connectKey(args []string) (*api.Client, kvPath, int) {
	if code, ok := k.parseArgs(args, 1, 1); !ok {
		return nil, kvPath{}, code
	}
	return k.setup(k.fs.Arg(0))
}

// runKVPut implements `coffer kv put`.
func runKVPut(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv put", kvPutUsage, withFormat|withField, stdin, stdout, stderr)
	cas := k.fs.Int("cas", -1, "Check-and-set version: write only if the key's current version is this (0: only if absent). -1 disables.")
	if code, ok := k.parseArgs(args, 1, -1); !ok {
		return code
	}
	if k.fs.NArg() == 1 {
		return k.usageError("Must supply data")
	}
	data, ok := k.dataArgs()
	if !ok {
		return exitLocal
	}
	cl, p, code := k.setup(k.fs.Arg(0))
	if cl == nil {
		return code
	}
	full := p.apiPath("data")
	body := data
	if p.v2 {
		opts := map[string]any{}
		if *cas >= 0 {
			opts["cas"] = *cas
		}
		body = map[string]any{"data": data, "options": opts}
	}
	s, ok := k.write(cl, full, body)
	if !ok {
		return exitRemote
	}
	return k.outputVersionWritten(s, full)
}

// outputVersionWritten prints a KV write's response: the new version's
// metadata under a "Secret Path" header, as Vault does.
func (k *kvCommand) outputVersionWritten(s *api.Secret, full string) int {
	if s == nil || k.flags.field != "" || k.json() {
		return k.outputWritten(s, full)
	}
	k.outputPath(full, "Secret Path")
	k.outf("%s", headerForMap("Metadata", s.Data))
	return k.outputMap(s.Data)
}

// runKVGet implements `coffer kv get`.
func runKVGet(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv get", kvGetUsage, withFormat|withField, stdin, stdout, stderr)
	version := k.fs.Int("version", 0, "Version to read; 0 means the latest.")
	cl, p, code := k.connectKey(args)
	if cl == nil {
		return code
	}
	full := p.apiPath("data")
	var params map[string][]string
	if p.v2 && *version > 0 {
		params = map[string][]string{"version": {strconv.Itoa(*version)}}
	}
	s, ok := k.read(cl, full, params)
	if !ok {
		return exitRemote
	}
	data, meta := s.Data, map[string]any(nil)
	if p.v2 {
		data, _ = s.Data["data"].(map[string]any)
		meta, _ = s.Data["metadata"].(map[string]any)
	}
	if k.flags.field != "" {
		if !p.v2 {
			return k.outputResponse(s)
		}
		if data == nil {
			k.errf("No data found at %s", full)
			return exitRemote
		}
		val := data[k.flags.field]
		if _, ok := data["data"]; !ok && k.flags.field == "data" {
			val = data // like Vault: -field=data is the whole data block
		}
		return k.printField(val, k.flags.field)
	}
	gone := p.v2 && data == nil && versionGone(meta)
	if k.json() {
		if rc := k.outputSecret(s); rc != exitOK || !gone {
			return rc
		}
		return exitRemote
	}
	k.printWarnings(s)
	if p.v2 {
		k.outputPath(full, "Secret Path")
	}
	if meta != nil {
		k.outf("%s", headerForMap("Metadata", meta))
		k.outputMap(meta)
		k.outf("")
	}
	if gone {
		verb := "deleted"
		if b, _ := meta["destroyed"].(bool); b {
			verb = "destroyed"
		}
		k.errf("Version %v of %s has been %s; it holds no data.", meta["version"], full, verb)
		return exitRemote
	}
	if data != nil {
		k.outf("%s", headerForMap("Data", data))
		k.outputMap(data)
	}
	return exitOK
}

// versionGone reports whether KV v2 version metadata marks the version as
// soft-deleted or destroyed.
func versionGone(meta map[string]any) bool {
	if meta == nil {
		return false
	}
	if b, _ := meta["destroyed"].(bool); b {
		return true
	}
	dt, _ := meta["deletion_time"].(string)
	return dt != ""
}

// runKVPatch implements `coffer kv patch`.
func runKVPatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv patch", kvPatchUsage, withFormat|withField, stdin, stdout, stderr)
	cas := k.fs.Int("cas", 0, "Check-and-set version: patch only if the key's current version is this. 0 disables.")
	method := k.fs.String("method", "", `"patch" for HTTP PATCH only, "rw" for read-then-write only; default tries PATCH first.`)
	var remove []string
	k.fs.Func("remove-data", "Key to remove from the data (repeatable).", func(s string) error {
		remove = append(remove, s)
		return nil
	})
	if code, ok := k.parseArgs(args, 1, -1); !ok {
		return code
	}
	if k.fs.NArg() == 1 && len(remove) == 0 {
		return k.usageError("Must supply data")
	}
	switch *method {
	case "", "patch", "rw":
	default:
		return k.usageError("Unsupported method provided to -method flag: %s", *method)
	}
	data, ok := k.dataArgs()
	if !ok {
		return exitLocal
	}
	for _, key := range remove {
		data[key] = nil // a JSON merge patch null removes the key
	}
	cl, p, code := k.setup(k.fs.Arg(0))
	if cl == nil {
		return code
	}
	if !p.v2 {
		k.errf("KV engine mount must be version 2 for patch support")
		return exitRemote
	}
	full := p.apiPath("data")
	var s *api.Secret
	if *method == "rw" {
		s, code = k.readThenWrite(cl, full, data)
	} else {
		s, code = k.mergePatch(cl, full, data, *cas, *method == "")
	}
	if code != exitOK {
		return code
	}
	return k.outputVersionWritten(s, full)
}

// mergePatch sends data as a JSON merge patch; with fallback, a server that
// refuses PATCH (405) gets read-then-write instead.
func (k *kvCommand) mergePatch(cl *api.Client, full string, data map[string]any, cas int, fallback bool) (*api.Secret, int) {
	opts := map[string]any{}
	if cas > 0 {
		opts["cas"] = cas
	}
	s, err := cl.Logical().JSONMergePatch(k.ctx(), full, map[string]any{"data": data, "options": opts})
	if err != nil {
		var re *api.ResponseError
		if fallback && errors.As(err, &re) && re.StatusCode == http.StatusMethodNotAllowed {
			return k.readThenWrite(cl, full, data)
		}
		k.errf("Error writing data to %s: %s", full, err)
		return nil, exitRemote
	}
	return s, exitOK
}

// readThenWrite patches by reading the current version, merging locally and
// writing it back with check-and-set on the version read.
func (k *kvCommand) readThenWrite(cl *api.Client, full string, patch map[string]any) (*api.Secret, int) {
	s, err := cl.Logical().ReadWithContext(k.ctx(), full)
	if err != nil {
		k.errf("Error doing pre-read at %s: %s", full, err)
		return nil, exitRemote
	}
	if s == nil || s.Data == nil {
		k.errf("No value found at %s", full)
		return nil, exitRemote
	}
	meta, _ := s.Data["metadata"].(map[string]any)
	if meta == nil {
		k.errf("No metadata found at %s; patch only works on existing data", full)
		return nil, exitRemote
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		k.errf("No data found at %s; patch only works on existing data", full)
		return nil, exitRemote
	}
	for key, v := range patch {
		if v == nil {
			delete(data, key)
			continue
		}
		data[key] = v
	}
	s, err = cl.Logical().WriteWithContext(k.ctx(), full, map[string]any{
		"data":    data,
		"options": map[string]any{"cas": meta["version"]},
	})
	if err != nil {
		k.errf("Error writing data to %s: %s", full, err)
		return nil, exitRemote
	}
	return s, exitOK
}

// runKVDelete implements `coffer kv delete`.
func runKVDelete(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv delete", kvDeleteUsage, 0, stdin, stdout, stderr)
	var versions versionsFlag
	k.fs.Var(&versions, "versions", "Comma-separated version numbers to delete (repeatable). Default: the latest.")
	cl, p, code := k.connectKey(args)
	if cl == nil {
		return code
	}
	full := p.apiPath("data")
	var err error
	if p.v2 && len(versions) > 0 {
		full = p.apiPath("delete")
		_, err = cl.Logical().WriteWithContext(k.ctx(), full, map[string]any{"versions": []int(versions)})
	} else {
		_, err = cl.Logical().DeleteWithContext(k.ctx(), full)
	}
	return k.deleted(full, err)
}

// runKVUndelete implements `coffer kv undelete`.
func runKVUndelete(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runKVVersionsOp("undelete", kvUndeleteUsage, "Undelete", args, stdin, stdout, stderr)
}

// runKVDestroy implements `coffer kv destroy`.
func runKVDestroy(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runKVVersionsOp("destroy", kvDestroyUsage, "Destroy", args, stdin, stdout, stderr)
}

// runKVVersionsOp is undelete and destroy: a KV v2 write of {"versions": [...]}
// to <mount>/<op>/<key>.
func runKVVersionsOp(op, usage, title string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv "+op, usage, 0, stdin, stdout, stderr)
	var versions versionsFlag
	k.fs.Var(&versions, "versions", "Comma-separated version numbers to "+op+" (repeatable). Required.")
	if code, ok := k.parseArgs(args, 1, 1); !ok {
		return code
	}
	if len(versions) == 0 {
		return k.usageError("No versions provided, use the \"-versions\" flag to specify the version to %s.", op)
	}
	cl, p, code := k.setup(k.fs.Arg(0))
	if cl == nil {
		return code
	}
	if !p.v2 {
		k.errf("%s not supported on KV Version 1", title)
		return exitLocal
	}
	full := p.apiPath(op)
	s, err := cl.Logical().WriteWithContext(k.ctx(), full, map[string]any{"versions": []int(versions)})
	if err != nil {
		k.errf("Error writing data to %s: %s", full, err)
		return exitRemote
	}
	return k.outputWritten(s, full)
}

// runKVList implements `coffer kv list`.
func runKVList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	k := newKVCommand("kv list", kvListUsage, withFormat, stdin, stdout, stderr)
	if code, ok := k.parse(args); !ok {
		return code
	}
	arg := k.fs.Arg(0)
	if k.fs.NArg() == 0 && k.mount == "" {
		k.wantArgs(1, 1)
		return exitLocal
	}
	if !k.wantArgs(0, 1) {
		return exitLocal
	}
	cl, p, code := k.setup(arg)
	if cl == nil {
		return code
	}
	return k.listPath(cl, ensureTrailingSlash(p.apiPath("metadata")))
}
