package database

import (
	"errors"
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		expr, from, want string
	}{
		{"* * * * *", "2024-05-06 07:08", "2024-05-06 07:09"},
		{"*/15 * * * *", "2024-05-06 07:08", "2024-05-06 07:15"},
		{"0 0 * * *", "2024-05-06 07:08", "2024-05-07 00:00"},
		{"@daily", "2024-05-06 00:00", "2024-05-07 00:00"},
		{"@hourly", "2024-05-06 07:08", "2024-05-06 08:00"},
		{"30 2 1 * *", "2024-12-15 00:00", "2025-01-01 02:30"},
		{"0 12 * * MON", "2024-05-06 12:00", "2024-05-13 12:00"}, // 6 May 2024 is a Monday
		{"0 0 * * 7", "2024-05-06 00:00", "2024-05-12 00:00"},    // 7 is Sunday
		{"0 0 29 2 *", "2024-03-01 00:00", "2028-02-29 00:00"},
		{"0 0 1 JAN-MAR/2 *", "2024-01-01 00:00", "2024-03-01 00:00"},
		{"0 0 13 * FRI", "2024-05-06 00:00", "2024-05-10 00:00"}, // either day field
		{"5,10-12 1 * * *", "2024-05-06 01:10", "2024-05-06 01:11"},
		{"0 0 31 2 *", "2024-01-01 00:00", ""}, // never
	}
	for _, tc := range cases {
		c, err := parseCron(tc.expr)
		if err != nil {
			t.Fatalf("parseCron(%q): %v", tc.expr, err)
		}
		got := c.Next(at(tc.from))
		if tc.want == "" {
			if !got.IsZero() {
				t.Errorf("%q after %s = %v, want none", tc.expr, tc.from, got)
			}
			continue
		}
		if want := at(tc.want); !got.Equal(want) {
			t.Errorf("%q after %s = %v, want %v", tc.expr, tc.from, got, want)
		}
	}
}

func TestCronParseErrors(t *testing.T) {
	for _, expr := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
		"* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1-2-3 * * * *", "@reboot"} {
		if _, err := parseCron(expr); !errors.Is(err, errCron) {
			t.Errorf("parseCron(%q) = %v, want %v", expr, err, errCron)
		}
	}
}

func (s *cronSchedule) matches(t time.Time) bool {
	return has(s.minute, t.Minute()) && has(s.hour, t.Hour()) && has(s.month, int(t.Month())) && s.dayMatches(t)
}

func FuzzCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/7 3-5 1,15 * MON-FRI", "@weekly", "0 0 29 2 *", "59 23 31 12 7"} {
		f.Add(s, int64(1714979289))
	}
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		c, err := parseCron(expr)
		if err != nil {
			return
		}
		from := time.Unix(unix%(1<<34), 0).UTC()
		next := c.Next(from)
		if next.IsZero() {
			return
		}
		if !next.After(from) || next.Second() != 0 || !c.matches(next) {
			t.Fatalf("%q after %v: %v is not a later matching minute", expr, from, next)
		}
		// Nothing in between matches (checked over a bounded span).
		for m := from.Truncate(time.Minute).Add(time.Minute); m.Before(next) && m.Sub(from) < 48*time.Hour; m = m.Add(time.Minute) {
			if c.matches(m) {
				t.Fatalf("%q after %v: %v matches before %v", expr, from, m, next)
			}
		}
	})
}
