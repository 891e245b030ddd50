package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestConfigFrom(t *testing.T) {
	slot := func(n uint) *uint { return &n }
	base := map[string]string{"lib": "/lib/hsm.so", "token_label": "tok", "pin": "stanza-pin", "key_label": "root"}
	with := func(kv ...string) map[string]string {
		m := make(map[string]string, len(base)+len(kv)/2)
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		stanza map[string]string
		env    map[string]string
		want   Config
	}{
		{
			name:   "stanza only, defaults",
			stanza: base,
			want:   Config{Lib: "/lib/hsm.so", TokenLabel: "tok", PIN: "stanza-pin", KeyLabel: "root", Mechanism: MechanismAESGCM},
		},
		{
			name:   "every key from the stanza",
			stanza: with("slot", "42", "key_id", "0x0a0B", "mechanism", "ckm_rsa_pkcs_oaep", "generate_key", "true", "disabled", "false"),
			want: Config{Lib: "/lib/hsm.so", Slot: slot(42), TokenLabel: "tok", PIN: "stanza-pin", KeyLabel: "root",
				KeyID: []byte{0x0a, 0x0b}, Mechanism: MechanismRSAOAEP, GenerateKey: true},
		},
		{
			name:   "VAULT_HSM_ overrides the stanza",
			stanza: base,
			env:    map[string]string{"VAULT_HSM_PIN": "vault-pin", "VAULT_HSM_KEY_LABEL": "vault-key", "VAULT_HSM_SLOT": "0x10"},
			want:   Config{Lib: "/lib/hsm.so", Slot: slot(16), TokenLabel: "tok", PIN: "vault-pin", KeyLabel: "vault-key", Mechanism: MechanismAESGCM},
		},
		{
			name:   "COFFER_HSM_ overrides VAULT_HSM_",
			stanza: base,
			env: map[string]string{
				"VAULT_HSM_PIN": "vault-pin", "COFFER_HSM_PIN": "coffer-pin",
				"VAULT_HSM_LIB": "/vault.so", "COFFER_HSM_LIB": "/coffer.so",
				"VAULT_HSM_MECHANISM": "CKM_RSA_PKCS_OAEP", "COFFER_HSM_MECHANISM": "0x1087",
				"COFFER_HSM_GENERATE_KEY": "1", "COFFER_HSM_TOKEN_LABEL": "env-tok",
				"COFFER_HSM_KEY_ID": "ff",
			},
			want: Config{Lib: "/coffer.so", TokenLabel: "env-tok", PIN: "coffer-pin", KeyLabel: "root", KeyID: []byte{0xff},
				Mechanism: MechanismAESGCM, GenerateKey: true},
		},
		{
			name:   "environment alone",
			stanza: nil,
			env: map[string]string{"COFFER_HSM_LIB": "/coffer.so", "VAULT_HSM_SLOT": "3", "COFFER_HSM_PIN": "p",
				"VAULT_HSM_KEY_ID": "01"},
			want: Config{Lib: "/coffer.so", Slot: slot(3), PIN: "p", KeyID: []byte{1}, Mechanism: MechanismAESGCM},
		},
		{
			name:   "empty env values do not override",
			stanza: base,
			env:    map[string]string{"COFFER_HSM_PIN": "", "VAULT_HSM_PIN": " "},
			want:   Config{Lib: "/lib/hsm.so", TokenLabel: "tok", PIN: "stanza-pin", KeyLabel: "root", Mechanism: MechanismAESGCM},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFrom(tt.stanza, func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want.String() || got.PIN != tt.want.PIN {
				t.Fatalf("ConfigFrom =\n %v pin %q\nwant\n %v pin %q", got, got.PIN, tt.want, tt.want.PIN)
			}
		})
	}
}

func TestConfigFromNilGetenv(t *testing.T) {
	t.Setenv("COFFER_HSM_PIN", "from-env")
	got, err := ConfigFrom(map[string]string{"lib": "/l.so", "slot": "1", "pin": "p", "key_label": "k"}, nil)
	if err != nil || got.PIN != "p" {
		t.Fatalf("ConfigFrom with nil getenv: pin %q, %v; want the stanza's", got.PIN, err)
	}
}

func TestConfigFromErrors(t *testing.T) {
	const pin = "s3cret-PIN-value"
	valid := map[string]string{"lib": "/lib/hsm.so", "token_label": "tok", "pin": pin, "key_label": "root"}
	tests := []struct {
		name   string
		edit   map[string]string // "" deletes the key
		inText string
	}{
		{"no lib", map[string]string{"lib": ""}, "lib"},
		{"no slot or token", map[string]string{"token_label": ""}, "slot or token_label"},
		{"no pin", map[string]string{"pin": ""}, "pin is required"},
		{"no key", map[string]string{"key_label": ""}, "key_label or key_id"},
		{"bad slot", map[string]string{"slot": "first"}, `slot "first"`},
		{"negative slot", map[string]string{"slot": "-1"}, `slot "-1"`},
		{"bad key id", map[string]string{"key_id": "0xzz"}, "key_id"},
		{"empty key id", map[string]string{"key_id": "0x"}, "key_id"},
		{"bad mechanism", map[string]string{"mechanism": "CKM_AES_CBC"}, "CKM_AES_CBC"},
		{"bad generate_key", map[string]string{"generate_key": "maybe"}, "generate_key"},
		{"token label too long", map[string]string{"token_label": strings.Repeat("x", 33)}, "longer than 32"},
		{"key label too long", map[string]string{"key_label": strings.Repeat("x", maxField+1)}, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stanza := make(map[string]string)
			for k, v := range valid {
				stanza[k] = v
			}
			for k, v := range tt.edit {
				stanza[k] = v
			}
			_, err := ConfigFrom(stanza, nil)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("ConfigFrom: %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.inText) {
				t.Errorf("ConfigFrom: %q does not mention %q", err, tt.inText)
			}
			if strings.Contains(err.Error(), pin) {
				t.Errorf("the PIN appears in the error: %q", err)
			}
		})
	}
}

func TestConfigNeverPrintsPIN(t *testing.T) {
	const pin = "s3cret-PIN-value"
	cfg := Config{Lib: "/l.so", TokenLabel: "t", PIN: pin, KeyLabel: "k", KeyID: []byte{1}}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg)} {
		if strings.Contains(s, pin) {
			t.Errorf("formatted config shows the PIN: %s", s)
		}
	}
	if !bytes.Contains([]byte(cfg.String()), []byte(`key_label="k"`)) {
		t.Errorf("String() = %s", cfg.String())
	}
}
