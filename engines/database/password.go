package database

import (
	"crypto/rand"
	"errors"
	"math/big"
	"strings"

	"coffer/engines"
)

// The built-in password generator stands in for Vault's default password
// policy: 20 characters from letters and digits, with at least one
// lowercase letter, one uppercase letter and one digit. Named password
// policies (sys/policies/password) do not exist in Coffer yet, so a
// connection's password_policy must be empty.

const (
	passwordLength  = 20
	passwordCharset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

var errRandom = errors.New("database: read random bytes")

// checkPasswordPolicy accepts only the built-in generator ("").
func checkPasswordPolicy(name string) error {
	if name == "" {
		return nil
	}
	return engines.BadRequest("password policy %q not found: only the built-in generator (empty password_policy) is supported", name)
}

// generatePassword returns a fresh password from the built-in generator.
func generatePassword() (string, error) {
	for {
		s, err := randomString(passwordLength, passwordCharset)
		if err != nil {
			return "", err
		}
		if strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") &&
			strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
			strings.ContainsAny(s, "0123456789") {
			return s, nil
		}
	}
}

// randomString draws n characters uniformly from charset.
func randomString(n int, charset string) (string, error) {
	max := big.NewInt(int64(len(charset)))
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", errRandom
		}
		b[i] = charset[k.Int64()]
	}
	return string(b), nil
}
