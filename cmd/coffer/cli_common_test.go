package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustWriteFile writes content to a file in a fresh temp dir and returns its path.
func mustWriteFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestParseKVArgs(t *testing.T) {
	valFile := mustWriteFile(t, "val.pem", "-----BEGIN-----\nabc\n")
	jsonFile := mustWriteFile(t, "data.json", `{"a":"1","n":12345678901234567890}`)
	tests := []struct {
		name    string
		stdin   string
		args    []string
		want    map[string]any
		wantErr error // nil: no error; errAny: some error
	}{
		{name: "plain", args: []string{"a=b", "c=d=e"}, want: map[string]any{"a": "b", "c": "d=e"}},
		{name: "empty value", args: []string{"a="}, want: map[string]any{"a": ""}},
		{name: "empty arg ignored", args: []string{"", "a=b"}, want: map[string]any{"a": "b"}},
		{name: "value from file", args: []string{"cert=@" + valFile}, want: map[string]any{"cert": "-----BEGIN-----\nabc\n"}},
		{name: "escaped at", args: []string{`a=\@home`}, want: map[string]any{"a": "@home"}},
		{name: "value from stdin keeps bytes", stdin: "s3cr3t\n", args: []string{"p=-"}, want: map[string]any{"p": "s3cr3t\n"}},
		{name: "json from stdin", stdin: `{"x":"y","n":1}`, args: []string{"-", "z=w"}, want: map[string]any{"x": "y", "n": json.Number("1"), "z": "w"}},
		{name: "json from file", args: []string{"@" + jsonFile}, want: map[string]any{"a": "1", "n": json.Number("12345678901234567890")}},
		{name: "repeated key is a list", args: []string{"a=1", "a=2", "a=3"}, want: map[string]any{"a": []any{"1", "2", "3"}}},
		{name: "no equals", args: []string{"oops"}, wantErr: errKVFormat},
		{name: "stdin twice", stdin: "x", args: []string{"a=-", "b=-"}, wantErr: errStdinConsumed},
		{name: "stdin json twice", stdin: `{}`, args: []string{"-", "-"}, wantErr: errStdinConsumed},
		{name: "missing file", args: []string{"a=@/nonexistent/file"}, wantErr: os.ErrNotExist},
		{name: "bad json on stdin", stdin: "not json", args: []string{"-"}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKVArgs(strings.NewReader(tt.stdin), tt.args)
			switch {
			case tt.wantErr == errAny:
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			case !reflect.DeepEqual(got, tt.want):
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func FuzzParseKVArgs(f *testing.F) {
	f.Add("a=b c=d", `{"x":1}`)
	f.Add("- k=v", `{"a":[1,2]}`)
	f.Add("k=- j=-", "text")
	f.Fuzz(func(t *testing.T, args, stdin string) {
		if strings.Contains(args, "@") {
			t.Skip("file arguments read the filesystem")
		}
		got, err := parseKVArgs(strings.NewReader(stdin), strings.Fields(args))
		if err == nil && got == nil {
			t.Fatal("nil map without error")
		}
	})
}

func TestFormatTable(t *testing.T) {
	tests := []struct {
		name string
		rows [][]string
		want string
	}{
		{
			name: "key value",
			rows: [][]string{{"Key", "Value"}, {"foo", "bar"}, {"longer_key", "v"}},
			want: "Key           Value\n" +
				"---           -----\n" +
				"foo           bar\n" +
				"longer_key    v",
		},
		{
			name: "empty cells are n/a and last column is not padded",
			rows: [][]string{{"Path", "Type", "Description"}, {"secret/", "kv", ""}, {"sys/", "system", "system endpoints"}},
			want: "Path       Type      Description\n" +
				"----       ----      -----------\n" +
				"secret/    kv        n/a\n" +
				"sys/       system    system endpoints",
		},
		{name: "header only", rows: [][]string{{"Keys"}}, want: "Keys\n----"},
		{name: "nothing", rows: nil, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatTable(tt.rows); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestMapRowsDurations(t *testing.T) {
	rows := mapRows(map[string]any{"ttl": json.Number("2764800"), "max_ttl": 3600, "name": "x", "token_duration": json.Number("90")})
	want := [][]string{{"max_ttl", "1h"}, {"name", "x"}, {"token_duration", "1m30s"}, {"ttl", "768h"}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got %v, want %v", rows, want)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0:                             "0s",
		time.Hour:                     "1h",
		90 * time.Minute:              "1h30m",
		time.Hour + 5*time.Second:     "1h5s",
		45 * time.Second:              "45s",
		768 * time.Hour:               "768h",
		2*time.Minute + 3*time.Second: "2m3s",
	}
	for d, want := range tests {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPadEqualSigns(t *testing.T) {
	tests := []struct {
		header string
		width  int
		want   string
	}{
		{"Secret Path", len("secret/data/creds"), "== Secret Path =="},
		{"Secret Path", len("secret/data/foo"), "= Secret Path ="},
		{"Data", 3 + 4 + 5, "=== Data ==="},
		{"Metadata", 2, "== Metadata =="},
	}
	for _, tt := range tests {
		if got := padEqualSigns(tt.header, tt.width); got != tt.want {
			t.Errorf("padEqualSigns(%q, %d) = %q, want %q", tt.header, tt.width, got, tt.want)
		}
	}
	if got := headerForMap("Metadata", map[string]any{"created_time": 1, "custom_metadata": nil, "version": 2}); got != "======= Metadata =======" {
		t.Errorf("headerForMap = %q", got)
	}
}

func TestWrapAtLength(t *testing.T) {
	s := strings.Repeat("word ", 40)
	for _, line := range strings.Split(wrapAtLength(s, 2), "\n") {
		if len(line) > wrapWidth {
			t.Fatalf("line longer than %d: %q", wrapWidth, line)
		}
		if !strings.HasPrefix(line, "  word") {
			t.Fatalf("line not indented: %q", line)
		}
	}
}

func TestResolveAddress(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		flag string
		want string
	}{
		{name: "default", want: "http://127.0.0.1:8200"},
		{name: "vault", env: map[string]string{"VAULT_ADDR": "https://v:8200"}, want: "https://v:8200"},
		{name: "coffer over vault", env: map[string]string{"VAULT_ADDR": "https://v:8200", "COFFER_ADDR": "https://c:8200"}, want: "https://c:8200"},
		{name: "flag over env", env: map[string]string{"VAULT_ADDR": "https://v", "COFFER_ADDR": "https://c"}, flag: "http://f:1", want: "http://f:1"},
		{name: "blank coffer ignored", env: map[string]string{"VAULT_ADDR": "https://v", "COFFER_ADDR": "  "}, want: "https://v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			if got := resolveAddress(getenv, tt.flag); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveToken(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		home string
		want string
	}{
		{name: "none", home: t.TempDir(), want: ""},
		{name: "no home", want: ""},
		{name: "token file", home: home, want: "file-token"},
		{name: "vault over file", env: map[string]string{"VAULT_TOKEN": "v"}, home: home, want: "v"},
		{name: "coffer over vault", env: map[string]string{"VAULT_TOKEN": "v", "COFFER_TOKEN": "c"}, home: home, want: "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			if got := resolveToken(getenv, tt.home); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestClientEnvPrecedence checks the configured client end to end: which
// address it dials and which token it sends.
func TestClientEnvPrecedence(t *testing.T) {
	f := mustFakeServer(t)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1") // nothing listens there
	t.Setenv("COFFER_ADDR", f.URL)
	t.Setenv("VAULT_TOKEN", "vault-token")
	t.Setenv("COFFER_TOKEN", "coffer-token")
	var out, errb strings.Builder
	if code := run([]string{"status"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errb.String())
	}
	if got := f.last(t).Token; got != "coffer-token" {
		t.Fatalf("token sent = %q, want coffer-token", got)
	}
}

func TestSanitizePath(t *testing.T) {
	tests := map[string]string{" /secret/foo/ ": "secret/foo", "secret": "secret", "//a//": "a", "": ""}
	for in, want := range tests {
		if got := sanitizePath(in); got != want {
			t.Errorf("sanitizePath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ensureTrailingSlash("kv//"); got != "kv/" {
		t.Errorf("ensureTrailingSlash = %q", got)
	}
}

func TestVersionsFlag(t *testing.T) {
	var v versionsFlag
	for _, s := range []string{"1,2", "5", " 7 , "} {
		if err := v.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if want := (versionsFlag{1, 2, 5, 7}); !reflect.DeepEqual(v, want) {
		t.Fatalf("got %v, want %v", v, want)
	}
	if err := v.Set("x"); err == nil {
		t.Fatal("want error for non-numeric version")
	}
}
