package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
)

const loginUsage = `
Usage: coffer login [options] [AUTH K=V...]

  Authenticates users or machines to Coffer using the provided arguments. A
  successful authentication results in a Coffer token, which is stored with
  the token helper (the file ~/.vault-token, mode 0600) so later commands use
  it without further configuration.

  The default auth method is "token". If the token is not given as an
  argument, Coffer prompts for it without echo (or reads one line from stdin
  when stdin is not a terminal); an argument of "-" reads it from stdin:

      $ coffer login
      $ coffer login s.3jnbMAKl1i4YS3QoKdbHzGXq

  The -method flag selects another auth method, which takes K=V pairs. A
  missing userpass password is prompted for without echo:

      $ coffer login -method=userpass username=my-username
      $ coffer login -method=approle role_id=... secret_id=...

  If the method is enabled at a non-standard path, -method still names its
  type and -path names the path:

      $ coffer login -method=userpass -path=people username=alice
`

// loginMethod authenticates against one type of auth method and returns the
// response, whose auth block holds the new token.
type loginMethod func(c *command, cl *api.Client, mount string, config map[string]string) (*api.Secret, error)

// loginMethods are the auth method types `coffer login` knows.
var loginMethods = map[string]loginMethod{
	"token":    loginToken,
	"userpass": loginUserpass,
	"approle":  loginAppRole,
}

// Errors from collecting login credentials.
var (
	errLoginNoToken    = errors.New("a token must be passed to auth, please view the help for more information")
	errLoginNoUsername = errors.New("'username' must be specified")
	errLoginNoRoleID   = errors.New("'role_id' must be specified")
	errLoginEmpty      = errors.New("empty response from credential provider")
)

// loginInputError marks a login that failed before any request was sent:
// credentials missing or unreadable. It exits 1, not 2.
type loginInputError struct{ error }

func (e loginInputError) Unwrap() error { return e.error }

// runLogin implements `coffer login`.
func runLogin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCommand("login", loginUsage, withFormat|withField, stdin, stdout, stderr)
	var (
		method, mountPath           string
		noStore, noPrint, tokenOnly bool
	)
	c.fs.StringVar(&method, "method", "token", `Type of auth method: "token", "userpass" or "approle" (the type, not the path).`)
	c.fs.StringVar(&mountPath, "path", "", "Path the auth method is enabled at (default: the method type).")
	c.fs.BoolVar(&noStore, "no-store", false, "Do not store the token with the token helper; only print it.")
	c.fs.BoolVar(&noPrint, "no-print", false, "Do not print the token; it is still stored with the token helper.")
	c.fs.BoolVar(&tokenOnly, "token-only", false, `Print only the token and do not store it; short for "-field=token -no-store".`)
	if code, ok := c.parse(args); !ok {
		return code
	}
	if tokenOnly {
		noStore, c.flags.field = true, "token"
	}
	if noStore && noPrint {
		c.errf("-no-store and -no-print cannot be used together")
		return exitLocal
	}
	method = sanitizePath(method)
	if method == "" {
		method = "token"
	}
	authenticate, ok := loginMethods[method]
	if !ok {
		c.errf("%s", wrapAtLength(fmt.Sprintf("Unknown auth method: %s. Use \"coffer auth list\" to see "+
			"the complete list of auth methods. Additionally, some auth methods are only available "+
			"via the HTTP API.", method), 0))
		return exitLocal
	}
	loginArgs := c.fs.Args()
	if method == "token" && len(loginArgs) > 0 && !strings.Contains(loginArgs[0], "=") {
		loginArgs = append([]string{"token=" + loginArgs[0]}, loginArgs[1:]...)
	}
	config, err := loginConfig(c.stdin, loginArgs)
	if err != nil {
		c.errf("Error parsing configuration: %s", err)
		return exitLocal
	}
	mount := sanitizePath(config["mount"])
	delete(config, "mount")
	if mount == "" {
		mount = sanitizePath(mountPath)
	}
	if mount == "" {
		mount = method
	}
	cl, code := c.client()
	if cl == nil {
		return code
	}
	if method != "token" {
		// Only the credentials just given authenticate a login.
		cl.ClearToken()
	}
	s, err := authenticate(c, cl, mount, config)
	if err != nil {
		c.errf("Error authenticating: %s", err)
		if errors.As(err, new(loginInputError)) {
			return exitLocal
		}
		return exitRemote
	}
	if s.Auth == nil {
		c.errf("%s", wrapAtLength("Coffer returned a secret, but the secret has no authentication "+
			"information attached. This should never happen and is likely a bug.", 0))
		return exitRemote
	}
	switch {
	case !noStore:
		if err := newTokenFile(userHome()).Store(s.Auth.ClientToken); err != nil {
			c.errf("Error storing token: %s", err)
			c.errf("%s\n", wrapAtLength("Authentication was successful, but the token was not "+
				"persisted. The resulting token is shown below for your records.", 0))
			c.outputSecret(s)
			return exitLocal
		}
		c.warnTokenEnv()
	case !tokenOnly:
		c.errf("%s\n", wrapAtLength("The token was not stored in token helper. Set the VAULT_TOKEN "+
			"environment variable or pass the token below with each request to Coffer.", 0))
	}
	if noPrint {
		return exitOK
	}
	if c.flags.field != "" {
		return c.printField(rawField(s, c.flags.field), c.flags.field)
	}
	if !c.json() {
		c.outf("%s\n", wrapAtLength("Success! You are now authenticated. The token information "+
			"displayed below is already stored in the token helper. You do NOT need to run "+
			"\"coffer login\" again. Future Coffer requests will automatically use this token.", 0))
	}
	return c.outputSecret(s)
}

// warnTokenEnv warns on stderr that a token in the environment will be used
// instead of the one just stored.
func (c *command) warnTokenEnv() {
	for _, env := range []string{"COFFER_TOKEN", "VAULT_TOKEN"} {
		if strings.TrimSpace(os.Getenv(env)) != "" {
			c.errf("%s\n", wrapAtLength(fmt.Sprintf("WARNING! The %s environment variable is set! "+
				"The value of this variable will take precedence; if this is unwanted please unset "+
				"%s or update its value accordingly.", env, env), 0))
			return
		}
	}
}

// loginConfig parses login K=V arguments (with parseKVArgs's @file and "-"
// forms) into strings; a key given twice keeps its last value.
func loginConfig(stdin io.Reader, args []string) (map[string]string, error) {
	data, err := parseKVArgs(stdin, args)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		if list, ok := v.([]any); ok && len(list) > 0 {
			v = list[len(list)-1]
		}
		out[k] = fmt.Sprint(v)
	}
	return out, nil
}

// loginToken verifies a token with lookup-self and presents what it learnt
// as an auth block, as Vault's token login does.
func loginToken(c *command, cl *api.Client, _ string, config map[string]string) (*api.Secret, error) {
	lookup := true
	if v, ok := config["lookup"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, loginInputError{fmt.Errorf("parse \"lookup\" as boolean: %w", err)}
		}
		lookup = b
	}
	token, ok := config["token"]
	if !ok {
		var err error
		if token, err = c.readHidden(c.stderr, "Token (will be hidden): "); err != nil {
			return nil, loginInputError{fmt.Errorf("read token: %w", err)}
		}
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, loginInputError{errLoginNoToken}
	}
	if !lookup {
		return &api.Secret{Auth: &api.SecretAuth{ClientToken: token}}, nil
	}
	cl.SetToken(token)
	s, err := cl.Auth().Token().LookupSelfWithContext(c.ctx())
	if err != nil {
		return nil, fmt.Errorf("error looking up token: %w", err)
	}
	if s == nil {
		return nil, errors.New("empty response from lookup-self")
	}
	return lookupAsAuth(s)
}

// lookupAsAuth turns a lookup response (token fields in data) into a
// response with the equivalent auth block.
func lookupAsAuth(s *api.Secret) (*api.Secret, error) {
	id, err := s.TokenID()
	if err != nil {
		return nil, fmt.Errorf("error accessing token ID: %w", err)
	}
	accessor, err := s.TokenAccessor()
	if err != nil {
		return nil, fmt.Errorf("error accessing token accessor: %w", err)
	}
	if _, err := s.TokenPolicies(); err != nil { // fills s.Auth's policy lists
		return nil, fmt.Errorf("error accessing token policies: %w", err)
	}
	meta, err := s.TokenMetadata()
	if err != nil {
		return nil, fmt.Errorf("error accessing token metadata: %w", err)
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return nil, fmt.Errorf("error converting token TTL: %w", err)
	}
	renewable, err := s.TokenIsRenewable()
	if err != nil {
		return nil, fmt.Errorf("error checking if token is renewable: %w", err)
	}
	auth := &api.SecretAuth{ClientToken: id, Accessor: accessor, Metadata: meta,
		LeaseDuration: int(ttl.Seconds()), Renewable: renewable}
	if s.Auth != nil {
		auth.Policies, auth.TokenPolicies, auth.IdentityPolicies = s.Auth.Policies, s.Auth.TokenPolicies, s.Auth.IdentityPolicies
	}
	return &api.Secret{Auth: auth}, nil
}

// loginUserpass logs in at auth/<mount>/login/<username>; a missing password
// is prompted for without echo.
func loginUserpass(c *command, cl *api.Client, mount string, config map[string]string) (*api.Secret, error) {
	username := config["username"]
	if username == "" {
		username = usernameFromEnv()
	}
	if username == "" {
		return nil, loginInputError{errLoginNoUsername}
	}
	password, ok := config["password"]
	if !ok {
		var err error
		if password, err = c.readHidden(c.stderr, "Password (will be hidden): "); err != nil {
			return nil, loginInputError{fmt.Errorf("read password: %w", err)}
		}
	}
	body := map[string]any{"password": password}
	for k, v := range config {
		if k != "username" && k != "password" {
			body[k] = v
		}
	}
	return loginWrite(c, cl, "auth/"+mount+"/login/"+username, body)
}

// loginAppRole logs in at auth/<mount>/login with role_id and, when given,
// secret_id.
func loginAppRole(c *command, cl *api.Client, mount string, config map[string]string) (*api.Secret, error) {
	if config["role_id"] == "" {
		return nil, loginInputError{errLoginNoRoleID}
	}
	body := make(map[string]any, len(config))
	for k, v := range config {
		body[k] = v
	}
	return loginWrite(c, cl, "auth/"+mount+"/login", body)
}

// loginWrite sends a login request and insists on a response.
func loginWrite(c *command, cl *api.Client, p string, body map[string]any) (*api.Secret, error) {
	s, err := cl.Logical().WriteWithContext(c.ctx(), p, body)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errLoginEmpty
	}
	return s, nil
}

// usernameFromEnv is the login name from the environment, as Vault's
// userpass login falls back to.
func usernameFromEnv() string {
	for _, env := range []string{"LOGNAME", "USER", "LNAME", "USERNAME"} {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return v
		}
	}
	return ""
}
