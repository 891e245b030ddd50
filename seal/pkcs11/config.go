package pkcs11

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The mechanisms the seal wraps with, by their PKCS#11 names.
const (
	MechanismAESGCM  = "CKM_AES_GCM"
	MechanismRSAOAEP = "CKM_RSA_PKCS_OAEP"
)

// Config says which token and key the seal uses. It comes from a
// `seal "pkcs11"` stanza and the environment (ConfigFrom).
type Config struct {
	Lib         string // path of the PKCS#11 module
	Slot        *uint  // nil: find the token by TokenLabel
	TokenLabel  string // token label; checked against Slot when both are set
	PIN         string // user PIN; never logged, never in an error message
	KeyLabel    string // CKA_LABEL of the wrapping key
	KeyID       []byte // CKA_ID of the wrapping key (hex in config)
	Mechanism   string // MechanismAESGCM (default) or MechanismRSAOAEP
	GenerateKey bool   // create the key in the token when absent
}

// String describes c for logs, without the PIN.
func (c Config) String() string {
	slot := "-"
	if c.Slot != nil {
		slot = strconv.FormatUint(uint64(*c.Slot), 10)
	}
	return fmt.Sprintf("lib=%q slot=%s token_label=%q key_label=%q key_id=%x mechanism=%s generate_key=%t",
		c.Lib, slot, c.TokenLabel, c.KeyLabel, c.KeyID, c.Mechanism, c.GenerateKey)
}

// GoString keeps %#v from printing the PIN.
func (c Config) GoString() string { return "pkcs11.Config{" + c.String() + "}" }

// configKeys are the stanza keys ConfigFrom reads; each also comes from
// COFFER_HSM_<KEY> and VAULT_HSM_<KEY> in upper case.
var configKeys = []string{"lib", "slot", "token_label", "pin", "key_label", "key_id", "mechanism", "generate_key"}

// maxTokenLabel is the size of CK_TOKEN_INFO's label field.
const maxTokenLabel = 32

// ConfigFrom reads a `seal "pkcs11"` stanza's settings, each overridden by
// the environment: COFFER_HSM_<KEY> wins over VAULT_HSM_<KEY>, which wins
// over the stanza (as in Vault). A nil getenv reads no environment. Keys
// it does not know (such as "disabled", or Vault's hmac_* settings) are
// ignored. It checks the result with Validate.
func ConfigFrom(stanza map[string]string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	v := make(map[string]string, len(configKeys))
	for _, k := range configKeys {
		v[k] = strings.TrimSpace(stanza[k])
		for _, prefix := range []string{"VAULT_HSM_", "COFFER_HSM_"} {
			if e := strings.TrimSpace(getenv(prefix + strings.ToUpper(k))); e != "" {
				v[k] = e
			}
		}
	}
	c := Config{Lib: v["lib"], TokenLabel: v["token_label"], PIN: v["pin"], KeyLabel: v["key_label"]}
	if s := v["slot"]; s != "" {
		n, err := parseUint(s)
		if err != nil {
			return Config{}, fmt.Errorf("%w: slot %q is not a slot number", ErrConfig, s)
		}
		slot := uint(n)
		c.Slot = &slot
	}
	if s := v["key_id"]; s != "" {
		id, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
		if err != nil || len(id) == 0 {
			return Config{}, fmt.Errorf("%w: key_id %q is not hexadecimal", ErrConfig, s)
		}
		c.KeyID = id
	}
	mech, err := parseMechanism(v["mechanism"])
	if err != nil {
		return Config{}, err
	}
	c.Mechanism = mech
	if s := v["generate_key"]; s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Config{}, fmt.Errorf("%w: generate_key %q is not true or false", ErrConfig, s)
		}
		c.GenerateKey = b
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks that c names a library, a token, a PIN, a key and a
// known mechanism. An empty Mechanism means MechanismAESGCM.
func (c Config) Validate() error {
	switch {
	case c.Lib == "":
		return fmt.Errorf("%w: lib (the PKCS#11 module path) is required", ErrConfig)
	case c.Slot == nil && c.TokenLabel == "":
		return fmt.Errorf("%w: slot or token_label is required", ErrConfig)
	case len(c.TokenLabel) > maxTokenLabel:
		return fmt.Errorf("%w: token_label %q is longer than %d bytes", ErrConfig, c.TokenLabel, maxTokenLabel)
	case c.PIN == "":
		return fmt.Errorf("%w: pin is required", ErrConfig)
	case c.KeyLabel == "" && len(c.KeyID) == 0:
		return fmt.Errorf("%w: key_label or key_id is required", ErrConfig)
	case len(c.KeyLabel) > maxField || len(c.KeyID) > maxField:
		return fmt.Errorf("%w: key_label and key_id must be at most %d bytes", ErrConfig, maxField)
	}
	if _, err := parseMechanism(c.Mechanism); err != nil {
		return err
	}
	return nil
}

// parseMechanism maps a mechanism name (any case) or its hexadecimal
// value, as Vault accepts, to its name; "" is MechanismAESGCM.
func parseMechanism(s string) (string, error) {
	switch strings.ToUpper(s) {
	case "", MechanismAESGCM, "0X1087":
		return MechanismAESGCM, nil
	case MechanismRSAOAEP, "0X9", "0X0009":
		return MechanismRSAOAEP, nil
	}
	return "", fmt.Errorf("%w: mechanism %q is not %s or %s", ErrConfig, s, MechanismAESGCM, MechanismRSAOAEP)
}

// parseUint parses a decimal number, or a hexadecimal one after "0x".
func parseUint(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseUint(h, 16, strconv.IntSize)
	}
	return strconv.ParseUint(s, 10, strconv.IntSize)
}
