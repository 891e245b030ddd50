package autopilot

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseConfigUpdate(t *testing.T) {
	t.Parallel()
	base := DefaultConfig()
	tests := []struct {
		name    string
		body    map[string]any
		want    func(*Config)
		wantErr bool
	}{
		{name: "empty body keeps everything", body: map[string]any{}, want: func(*Config) {}},
		{
			name: "every field, Go durations",
			body: map[string]any{
				"cleanup_dead_servers":               true,
				"last_contact_threshold":             "5s",
				"dead_server_last_contact_threshold": "1h",
				"max_trailing_logs":                  float64(500),
				"min_quorum":                         float64(5),
				"server_stabilization_time":          "30s",
				"disable_upgrade_migration":          false,
			},
			want: func(c *Config) {
				c.CleanupDeadServers = true
				c.LastContactThreshold = 5 * time.Second
				c.DeadServerLastContactThreshold = time.Hour
				c.MaxTrailingLogs = 500
				c.MinQuorum = 5
				c.ServerStabilizationTime = 30 * time.Second
			},
		},
		{
			name: "durations as seconds: number, json.Number, numeric string",
			body: map[string]any{
				"last_contact_threshold":             float64(7),
				"server_stabilization_time":          json.Number("20"),
				"dead_server_last_contact_threshold": "120",
			},
			want: func(c *Config) {
				c.LastContactThreshold = 7 * time.Second
				c.ServerStabilizationTime = 20 * time.Second
				c.DeadServerLastContactThreshold = 2 * time.Minute
			},
		},
		{
			name: "zeros keep the current values, like Vault",
			body: map[string]any{
				"last_contact_threshold":    "0s",
				"max_trailing_logs":         json.Number("0"),
				"min_quorum":                float64(0),
				"server_stabilization_time": "",
			},
			want: func(*Config) {},
		},
		{name: "cleanup as a string", body: map[string]any{"cleanup_dead_servers": "true", "dead_server_last_contact_threshold": "1m"},
			want: func(c *Config) { c.CleanupDeadServers = true; c.DeadServerLastContactThreshold = time.Minute }},
		{name: "cleanup off", body: map[string]any{"cleanup_dead_servers": false}, want: func(*Config) {}},
		{name: "unknown fields are ignored", body: map[string]any{"dr_operation_token": "x"}, want: func(*Config) {}},
		{name: "min_quorum below 3 with cleanup", body: map[string]any{"cleanup_dead_servers": true, "min_quorum": float64(2)}, wantErr: true},
		{name: "min_quorum below 3 without cleanup", body: map[string]any{"min_quorum": float64(2)}, want: func(c *Config) { c.MinQuorum = 2 }},
		{name: "dead threshold below 1m with cleanup", body: map[string]any{"cleanup_dead_servers": true, "dead_server_last_contact_threshold": "59s"}, wantErr: true},
		{name: "negative duration", body: map[string]any{"last_contact_threshold": "-1s"}, wantErr: true},
		{name: "negative seconds", body: map[string]any{"server_stabilization_time": float64(-3)}, wantErr: true},
		{name: "negative min_quorum", body: map[string]any{"min_quorum": float64(-1)}, wantErr: true},
		{name: "negative max_trailing_logs", body: map[string]any{"max_trailing_logs": json.Number("-5")}, wantErr: true},
		{name: "fractional max_trailing_logs", body: map[string]any{"max_trailing_logs": 1.5}, wantErr: true},
		{name: "huge min_quorum", body: map[string]any{"min_quorum": float64(1 << 40)}, wantErr: true},
		{name: "garbage duration", body: map[string]any{"last_contact_threshold": "soon"}, wantErr: true},
		{name: "duration overflow", body: map[string]any{"last_contact_threshold": math.MaxFloat64}, wantErr: true},
		{name: "wrong type", body: map[string]any{"cleanup_dead_servers": float64(1)}, wantErr: true},
		{name: "upgrade migration is Enterprise", body: map[string]any{"disable_upgrade_migration": true}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfigUpdate(base, tt.body)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			want := base
			tt.want(&want)
			if got != want {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	c := Config{CleanupDeadServers: true, DeadServerLastContactThreshold: 90 * time.Minute, MinQuorum: 5}
	b, err := json.Marshal(c.JSON())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cleanup_dead_servers":true,"last_contact_threshold":"10s","dead_server_last_contact_threshold":"1h30m0s","max_trailing_logs":1000,"min_quorum":5,"server_stabilization_time":"10s","disable_upgrade_migration":false}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

// FuzzParseConfigUpdate feeds arbitrary JSON bodies. Whatever is accepted
// must be a safe configuration, and its own JSON form must parse back to it.
func FuzzParseConfigUpdate(f *testing.F) {
	f.Add([]byte(`{"cleanup_dead_servers":true,"min_quorum":3,"dead_server_last_contact_threshold":"2m"}`))
	f.Add([]byte(`{"last_contact_threshold":10,"max_trailing_logs":"100"}`))
	f.Add([]byte(`{"server_stabilization_time":"1h2m3.5s","min_quorum":1e2}`))
	f.Add([]byte(`{"max_trailing_logs":-1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.UseNumber()
		var body map[string]any
		if err := dec.Decode(&body); err != nil {
			return
		}
		c, err := ParseConfigUpdate(DefaultConfig(), body)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error does not wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		if c.LastContactThreshold <= 0 || c.DeadServerLastContactThreshold <= 0 || c.ServerStabilizationTime <= 0 ||
			c.MinQuorum <= 0 || c.MaxTrailingLogs == 0 {
			t.Fatalf("accepted a non-positive setting: %+v", c)
		}
		if c.CleanupDeadServers && (c.MinQuorum < 3 || c.DeadServerLastContactThreshold < time.Minute) {
			t.Fatalf("accepted unsafe cleanup: %+v", c)
		}
		out, err := json.Marshal(c.JSON())
		if err != nil {
			t.Fatal(err)
		}
		var again map[string]any
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatal(err)
		}
		c2, err := ParseConfigUpdate(DefaultConfig(), again)
		if err != nil || c2 != c {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", c, out, c2, err)
		}
	})
}
