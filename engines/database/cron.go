package database

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// A small parser for the standard five-field cron expressions static
// roles accept in rotation_schedule: minute, hour, day of month, month,
// day of week, each a list of *, N, N-M, with an optional /step; month
// and weekday names (JAN, MON); 7 is Sunday; the @hourly, @daily
// (@midnight), @weekly, @monthly and @yearly (@annually) shorthands. As in
// cron, when both day fields are restricted a day matching either runs.
// Schedules are evaluated in UTC.

var errCron = errors.New("database: invalid cron expression")

// cronSchedule is a parsed expression: one bit per allowed value.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record an unrestricted day field ("*" or "?").
	domStar, dowStar bool
}

type cronField struct {
	min, max int
	names    map[string]int
}

var (
	cronMinute = cronField{0, 59, nil}
	cronHour   = cronField{0, 23, nil}
	cronDOM    = cronField{1, 31, nil}
	cronMonth  = cronField{1, 12, map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	cronDOW = cronField{0, 7, map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}}
)

var cronShorthands = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// parseCron parses a five-field expression or a shorthand.
func parseCron(expr string) (*cronSchedule, error) {
	expr = strings.TrimSpace(expr)
	if s, ok := cronShorthands[strings.ToLower(expr)]; ok {
		expr = s
	}
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("%w: want 5 fields, got %d", errCron, len(f))
	}
	var s cronSchedule
	var err error
	if s.minute, _, err = cronMinute.parse(f[0]); err != nil {
		return nil, err
	}
	if s.hour, _, err = cronHour.parse(f[1]); err != nil {
		return nil, err
	}
	if s.dom, s.domStar, err = cronDOM.parse(f[2]); err != nil {
		return nil, err
	}
	if s.month, _, err = cronMonth.parse(f[3]); err != nil {
		return nil, err
	}
	if s.dow, s.dowStar, err = cronDOW.parse(f[4]); err != nil {
		return nil, err
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday too
		s.dow |= 1
	}
	return &s, nil
}

// parse returns the field's bit set and whether it is unrestricted.
func (c cronField) parse(field string) (uint64, bool, error) {
	var set uint64
	star := field == "*" || field == "?"
	for _, part := range strings.Split(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 || n > c.max {
				return 0, false, fmt.Errorf("%w: bad step in %q", errCron, part)
			}
			step = n
		}
		lo, hi := c.min, c.max
		switch {
		case rng == "*" || rng == "?":
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = c.value(a); err != nil {
				return 0, false, err
			}
			hi = lo
			if isRange {
				if hi, err = c.value(b); err != nil {
					return 0, false, err
				}
			} else if hasStep {
				hi = c.max
			}
			if hi < lo {
				return 0, false, fmt.Errorf("%w: range %q ends before it starts", errCron, rng)
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, star, nil
}

func (c cronField) value(s string) (int, error) {
	if v, ok := c.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < c.min || n > c.max {
		return 0, fmt.Errorf("%w: value %q out of range %d-%d", errCron, s, c.min, c.max)
	}
	return n, nil
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

// dayMatches applies cron's rule for the two day fields.
func (s *cronSchedule) dayMatches(t time.Time) bool {
	dom, dow := has(s.dom, t.Day()), has(s.dow, int(t.Weekday()))
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first minute strictly after t (UTC) that the schedule
// matches, or the zero time if there is none within five years (31 Feb).
func (s *cronSchedule) Next(t time.Time) time.Time {
	if s.minute == 0 || s.hour == 0 || s.month == 0 || bits.OnesCount64(s.dom|s.dow) == 0 {
		return time.Time{}
	}
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	limit := t.Year() + 5
wrap:
	if t.Year() > limit {
		return time.Time{}
	}
	for !has(s.month, int(t.Month())) {
		t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		if t.Month() == time.January {
			goto wrap
		}
	}
	for !s.dayMatches(t) {
		t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		if t.Day() == 1 {
			goto wrap
		}
	}
	for !has(s.hour, t.Hour()) {
		t = t.Truncate(time.Hour).Add(time.Hour)
		if t.Hour() == 0 {
			goto wrap
		}
	}
	for !has(s.minute, t.Minute()) {
		t = t.Add(time.Minute)
		if t.Minute() == 0 {
			goto wrap
		}
	}
	return t
}
