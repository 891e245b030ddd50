package main

import (
	"fmt"
	"io"

	"github.com/hashicorp/vault/api"
)

const readUsage = `
Usage: coffer read [options] PATH

  Reads data from Coffer at the given path. This can be used to read secrets,
  generate dynamic credentials, get configuration details, and more.

      $ coffer read secret/my-secret
      $ coffer read -field=password secret/my-secret
`

const writeUsage = `
Usage: coffer write [options] PATH [DATA K=V...]

  Writes data to Coffer at the given path. The data can be credentials,
  secrets, configuration, or arbitrary data.

  Values of the form @FILE are read from the file, and "-" reads the value
  from stdin. A single "-" argument reads a JSON object from stdin:

      $ coffer write secret/my-secret password=s3cr3t
      $ coffer write secret/tls cert=@cert.pem
      $ echo '{"foo":"bar"}' | coffer write secret/foo -
`

const listUsage = `
Usage: coffer list [options] PATH

  Lists data from Coffer at the given path. This can be used to list keys in
  a given secrets engine.

      $ coffer list secret/my-app/
`

const deleteUsage = `
Usage: coffer delete [options] PATH

  Deletes secrets and configuration from Coffer at the given path.

      $ coffer delete secret/my-secret
`

// runRead implements `coffer read`.
func runRead(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("read", readUsage, withFormat|withField, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, -1)
	if cl == nil {
		return code
	}
	p := sanitizePath(c.fs.Arg(0))
	var params map[string][]string
	if c.fs.NArg() > 1 {
		data, ok := c.dataArgs()
		if !ok {
			return exitLocal
		}
		params = queryParams(data)
	}
	s, ok := c.read(cl, p, params)
	if !ok {
		return exitRemote
	}
	return c.outputResponse(s)
}

// queryParams turns K=V data into query parameters, a list value becoming
// a repeated parameter.
func queryParams(data map[string]any) map[string][]string {
	params := make(map[string][]string, len(data))
	for k, v := range data {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				params[k] = append(params[k], fmt.Sprint(e))
			}
		default:
			params[k] = []string{fmt.Sprint(v)}
		}
	}
	return params
}

// read reads p with the query params; when the read fails or finds nothing
// it prints why and ok is false (exit code 2).
func (c *command) read(cl *api.Client, p string, params map[string][]string) (s *api.Secret, ok bool) {
	s, err := cl.Logical().ReadWithDataWithContext(c.ctx(), p, params)
	if err != nil {
		c.errf("Error reading %s: %s", p, err)
		return nil, false
	}
	if s == nil {
		c.errf("No value found at %s", p)
		return nil, false
	}
	return s, true
}

// runWrite implements `coffer write`.
func runWrite(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("write", writeUsage, withFormat|withField, stdin, stdout, stderr)
	var force bool
	c.fs.BoolVar(&force, "force", false, "Allow the operation to continue with no key=value pairs.")
	c.fs.BoolVar(&force, "f", false, "Alias for -force.")
	if code, ok := c.parseArgs(args, 1, -1); !ok {
		return code
	}
	if c.fs.NArg() == 1 && !force {
		return c.usageError("Must supply data or use -force")
	}
	data, ok := c.dataArgs()
	if !ok {
		return exitLocal
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	p := sanitizePath(c.fs.Arg(0))
	s, ok := c.write(cl, p, data)
	if !ok {
		return exitRemote
	}
	return c.outputWritten(s, p)
}

// write writes data to p; when the write fails it prints why, and any
// response the server sent with the error, and ok is false (exit code 2).
func (c *command) write(cl *api.Client, p string, data map[string]any) (s *api.Secret, ok bool) {
	s, err := cl.Logical().WriteWithContext(c.ctx(), p, data)
	if err != nil {
		c.errf("Error writing data to %s: %s", p, err)
		if s != nil {
			c.outputSecret(s)
		}
		return nil, false
	}
	return s, true
}

// outputWritten prints a write's response: Vault's success line when the
// server returned no body, the requested field, or the response.
func (c *command) outputWritten(s *api.Secret, p string) int {
	if s == nil {
		if !c.json() {
			c.outf("Success! Data written to: %s", p)
		}
		return exitOK
	}
	return c.outputResponse(s)
}

// runList implements `coffer list`.
func runList(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("list", listUsage, withFormat, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	return c.listPath(cl, ensureTrailingSlash(sanitizePath(c.fs.Arg(0))))
}

// listPath lists p and prints the keys; shared by `list` and `kv list`.
func (c *command) listPath(cl *api.Client, p string) int {
	s, err := cl.Logical().ListWithContext(c.ctx(), p)
	if err != nil {
		c.errf("Error listing %s: %s", p, err)
		return exitRemote
	}
	var keys []any
	found := false
	if s != nil && s.Data != nil {
		keys, found = s.Data["keys"].([]any)
	}
	if c.json() && !found {
		c.outputJSON(map[string]any{})
		return exitRemote
	}
	if s == nil || s.Data == nil {
		c.errf("No value found at %s", p)
		return exitRemote
	}
	if !found {
		c.errf("No entries found at %s", p)
		return exitRemote
	}
	return c.outputList(s, keys)
}

// runDelete implements `coffer delete`.
func runDelete(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("delete", deleteUsage, 0, stdin, stdout, stderr)
	cl, code := c.connect(args, 1, 1)
	if cl == nil {
		return code
	}
	p := sanitizePath(c.fs.Arg(0))
	_, err := cl.Logical().DeleteWithContext(c.ctx(), p)
	return c.deleted(p, err)
}

// deleted prints the outcome of deleting p (err from the request) and
// returns the exit code; shared by `delete` and the kv deletes.
func (c *command) deleted(p string, err error) int {
	if err != nil {
		c.errf("Error deleting %s: %s", p, err)
		return exitRemote
	}
	c.outf("Success! Data deleted (if it existed) at: %s", p)
	return exitOK
}
