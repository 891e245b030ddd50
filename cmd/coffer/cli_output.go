package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/term"
)

// Table layout follows Vault's (ryanuber/columnize with Vault's settings):
// columns separated by four spaces, every column but the last padded to its
// widest cell, empty cells shown as "n/a", and a header row underlined with
// dashes as long as each header.
const (
	tableGlue  = "    "
	tableEmpty = "n/a"
	wrapWidth  = 78 // Vault's maxLineLength for wrapped prose
)

// formatTable renders rows (the first is the header) as an aligned table,
// without a trailing newline.
func formatTable(rows [][]string) string {
	if len(rows) == 0 {
		return ""
	}
	under := make([]string, len(rows[0]))
	for i, h := range rows[0] {
		under[i] = strings.Repeat("-", len(strings.TrimSpace(h)))
	}
	all := make([][]string, 0, len(rows)+1)
	all = append(all, rows[0], under)
	all = append(all, rows[1:]...)
	return formatColumns(all)
}

// formatColumns aligns rows into columns, without a header.
func formatColumns(rows [][]string) string {
	cells := make([][]string, len(rows))
	var widths []int
	for r, row := range rows {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			v = strings.TrimSpace(v)
			if v == "" {
				v = tableEmpty
			}
			cells[r][i] = v
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			if n := len([]rune(v)); n > widths[i] {
				widths[i] = n
			}
		}
	}
	var b strings.Builder
	for r, row := range cells {
		if r > 0 {
			b.WriteByte('\n')
		}
		for i, v := range row {
			if i == len(row)-1 {
				b.WriteString(v)
				break
			}
			b.WriteString(v)
			b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(v))))
			b.WriteString(tableGlue)
		}
	}
	return b.String()
}

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// outputJSON prints v as JSON, reporting a failure Vault's way.
func (c *command) outputJSON(v any) int {
	if err := writeJSON(c.stdout, v); err != nil {
		c.errf("Could not parse output: %s", err)
		return exitLocal
	}
	return exitOK
}

// outputSecret prints a response in the chosen format: JSON of the whole
// envelope, or a Key/Value table of lease, auth and data fields.
func (c *command) outputSecret(s *api.Secret) int {
	if c.json() {
		return c.outputJSON(s)
	}
	if s == nil {
		return exitOK
	}
	c.printWarnings(s)
	rows := secretRows(s)
	if len(rows) == 0 {
		return exitOK
	}
	c.outf("%s", formatTable(append([][]string{{"Key", "Value"}}, rows...)))
	return exitOK
}

// outputMap prints a map as a sorted Key/Value table, or as JSON.
func (c *command) outputMap(m map[string]any) int {
	if c.json() {
		return c.outputJSON(m)
	}
	rows := mapRows(m)
	if len(rows) == 0 {
		return exitOK
	}
	c.outf("%s", formatTable(append([][]string{{"Key", "Value"}}, rows...)))
	return exitOK
}

// outputList prints list keys under a "Keys" header, sorted, or as a JSON array.
func (c *command) outputList(s *api.Secret, keys []any) int {
	if c.json() {
		return c.outputJSON(keys)
	}
	c.printWarnings(s)
	strs := make([]string, 0, len(keys))
	for _, k := range keys {
		strs = append(strs, fmt.Sprint(k))
	}
	sort.Strings(strs)
	rows := [][]string{{"Keys"}}
	for _, k := range strs {
		rows = append(rows, []string{k})
	}
	c.outf("%s", formatTable(rows))
	return exitOK
}

// printWarnings prints a response's warnings to stderr, as Vault's table
// output does.
func (c *command) printWarnings(s *api.Secret) {
	if s == nil || len(s.Warnings) == 0 {
		return
	}
	c.errf("WARNING! The following warnings were returned from Coffer:\n")
	for _, w := range s.Warnings {
		c.errf("%s\n", wrapAtLength("* "+w, 2))
	}
}

// secretRows are the Key/Value rows for a response envelope.
func secretRows(s *api.Secret) [][]string {
	var rows [][]string
	add := func(k string, v any) { rows = append(rows, []string{k, fmt.Sprint(v)}) }
	if s.LeaseDuration > 0 {
		if s.LeaseID != "" {
			add("lease_id", s.LeaseID)
			add("lease_duration", humanDurationInt(s.LeaseDuration))
			add("lease_renewable", s.Renewable)
		} else {
			add("refresh_interval", humanDurationInt(s.LeaseDuration))
		}
	}
	if a := s.Auth; a != nil {
		add("token", a.ClientToken)
		add("token_accessor", a.Accessor)
		if a.LeaseDuration == 0 {
			add("token_duration", "∞")
		} else {
			add("token_duration", humanDurationInt(a.LeaseDuration))
		}
		add("token_renewable", a.Renewable)
		add("token_policies", fmt.Sprintf("%q", a.TokenPolicies))
		add("identity_policies", fmt.Sprintf("%q", a.IdentityPolicies))
		add("policies", fmt.Sprintf("%q", a.Policies))
		metaKeys := make([]string, 0, len(a.Metadata))
		for k := range a.Metadata {
			metaKeys = append(metaKeys, k)
		}
		sort.Strings(metaKeys)
		for _, k := range metaKeys {
			add("token_meta_"+k, a.Metadata[k])
		}
	}
	if w := s.WrapInfo; w != nil {
		add("wrapping_token:", w.Token)
		add("wrapping_accessor:", w.Accessor)
		add("wrapping_token_ttl:", humanDurationInt(w.TTL))
		add("wrapping_token_creation_time:", w.CreationTime.String())
		add("wrapping_token_creation_path:", w.CreationPath)
		if w.WrappedAccessor != "" {
			add("wrapped_accessor:", w.WrappedAccessor)
		}
	}
	return append(rows, mapRows(s.Data)...)
}

// mapRows are the sorted Key/Value rows of m; values whose key looks like a
// duration in seconds are shown as a duration ("768h", "1h30m").
func mapRows(m map[string]any) [][]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if looksLikeDuration(k) {
			v = humanDurationInt(v)
		}
		rows = append(rows, []string{k, fmt.Sprint(v)})
	}
	return rows
}

// looksLikeDuration reports whether a field named k holds seconds.
func looksLikeDuration(k string) bool {
	return k == "period" || strings.HasSuffix(k, "_period") ||
		k == "ttl" || strings.HasSuffix(k, "_ttl") ||
		k == "duration" || strings.HasSuffix(k, "_duration") ||
		k == "lease_max" || k == "ttl_max"
}

// humanDuration formats d without Vault-noisy zero units ("1h" not "1h0m0s").
func humanDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if i := strings.Index(s, "h0m"); i > 0 {
		s = s[:i+1] + s[i+3:]
	}
	return s
}

// humanDurationInt formats a count of seconds as a duration; other values
// are returned unchanged.
func humanDurationInt(v any) any {
	switch n := v.(type) {
	case int:
		return humanDuration(time.Duration(n) * time.Second)
	case int64:
		return humanDuration(time.Duration(n) * time.Second)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return humanDuration(time.Duration(i) * time.Second)
		}
	}
	return v
}

// rawField extracts a named field from a response the way Vault's -field
// does: envelope fields by name, "data" as the nested data block if there is
// one, anything else from the data map.
func rawField(s *api.Secret, field string) any {
	switch {
	case s.Auth != nil:
		switch field {
		case "token":
			return s.Auth.ClientToken
		case "token_accessor":
			return s.Auth.Accessor
		case "token_duration":
			return s.Auth.LeaseDuration
		case "token_renewable":
			return s.Auth.Renewable
		case "token_policies":
			return s.Auth.TokenPolicies
		case "identity_policies":
			return s.Auth.IdentityPolicies
		case "policies":
			return s.Auth.Policies
		}
	case s.WrapInfo != nil:
		switch field {
		case "wrapping_token":
			return s.WrapInfo.Token
		case "wrapping_accessor":
			return s.WrapInfo.Accessor
		case "wrapping_token_ttl":
			return s.WrapInfo.TTL
		case "wrapping_token_creation_time":
			return s.WrapInfo.CreationTime.Format(time.RFC3339Nano)
		case "wrapping_token_creation_path":
			return s.WrapInfo.CreationPath
		case "wrapped_accessor":
			return s.WrapInfo.WrappedAccessor
		}
	}
	switch field {
	case "lease_duration", "refresh_interval":
		return s.LeaseDuration
	case "lease_id":
		return s.LeaseID
	case "request_id":
		return s.RequestID
	case "renewable":
		return s.Renewable
	case "data":
		if v, ok := s.Data["data"]; ok {
			return v
		}
		return s.Data
	}
	return s.Data[field]
}

// outputResponse prints a response: the -field value when one was asked
// for, else the whole response.
func (c *command) outputResponse(s *api.Secret) int {
	if c.flags.field != "" {
		return c.printField(rawField(s, c.flags.field), c.flags.field)
	}
	return c.outputSecret(s)
}

// printField prints one value raw: as text for table format, as JSON for
// json. Like Vault, the trailing newline is omitted when stdout is not a
// terminal, so `coffer read -field=x` can be piped or captured verbatim.
func (c *command) printField(val any, field string) int {
	if val == nil {
		c.errf("Field %q not present in secret", field)
		return exitLocal
	}
	var s string
	if c.json() {
		b, err := json.MarshalIndent(val, "", "  ")
		if err != nil {
			c.errf("Error formatting output: %s", err)
			return exitLocal
		}
		s = string(b)
	} else {
		s = fmt.Sprint(val)
	}
	if isTerminal(c.stdout) {
		s += "\n"
	}
	fmt.Fprint(c.stdout, s)
	return exitOK
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// padEqualSigns centres header in a run of "=" about totalLen wide, as
// Vault's section headers ("==== Data ====").
func padEqualSigns(header string, totalLen int) string {
	n := totalLen - (len(header) + 2)
	if n <= 0 {
		n = 4
	}
	if n%2 != 0 {
		n++
	}
	eq := strings.Repeat("=", n/2)
	return eq + " " + header + " " + eq
}

// headerForMap is a section header as wide as the Key/Value table of m.
func headerForMap(header string, m map[string]any) string {
	maxKey := 0
	for k := range m {
		if len(k) > maxKey {
			maxKey = len(k)
		}
	}
	return padEqualSigns(header, maxKey+len(tableGlue)+len("Value"))
}

// outputPath prints a titled path section ("== Secret Path ==", path, blank).
func (c *command) outputPath(p, title string) {
	c.outf("%s", padEqualSigns(title, len(p)))
	c.outf("%s", p)
	c.outf("")
}

// wrapAtLength word-wraps s to Vault's line length, indenting every line by pad.
func wrapAtLength(s string, pad int) string {
	indent := strings.Repeat(" ", pad)
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len(line)+1+len(w) > wrapWidth-pad {
				lines = append(lines, indent+line)
				line = w
				continue
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		if line == "" {
			lines = append(lines, "")
			continue
		}
		lines = append(lines, indent+line)
	}
	return strings.Join(lines, "\n")
}
