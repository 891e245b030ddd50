package lease

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The storage layout, all under sys/expire/.
const (
	idPrefix          = "sys/expire/id/"          // <LeaseID> -> JSON Entry
	timePrefix        = "sys/expire/time/"        // <20-digit UnixNano>/<hash(id)> -> LeaseID
	tokenPrefix       = "sys/expire/token/"       // <hash(token key)>/<hash(id)> -> LeaseID
	irrevocablePrefix = "sys/expire/irrevocable/" // <hash(id)> -> LeaseID
)

const hashLen = 32

var maxTime = time.Unix(0, math.MaxInt64)

// hashOf is the first 32 hex digits of SHA-256(s).
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:hashLen/2])
}

func recordKey(id string) string { return idPrefix + id }

// timeKey is the time-index key of lease id due at t. Times before 1970
// sort first, times past 2262 last.
func timeKey(t time.Time, id string) string {
	var n int64
	switch {
	case t.Before(time.Unix(0, 0)):
		n = 0
	case t.After(maxTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return fmt.Sprintf("%s%020d/%s", timePrefix, n, hashOf(id))
}

// parseTimeKey splits a time-index key into its time and lease hash.
func parseTimeKey(key string) (time.Time, string, bool) {
	rest, ok := strings.CutPrefix(key, timePrefix)
	if !ok || len(rest) != 20+1+hashLen || rest[20] != '/' {
		return time.Time{}, "", false
	}
	for i := range 20 {
		if rest[i] < '0' || rest[i] > '9' {
			return time.Time{}, "", false
		}
	}
	n, err := strconv.ParseInt(rest[:20], 10, 64)
	if err != nil || !isHash(rest[21:]) {
		return time.Time{}, "", false
	}
	return time.Unix(0, n), rest[21:], true
}

func tokenIndexKey(tokenKey, id string) string {
	return tokenPrefix + hashOf(tokenKey) + "/" + hashOf(id)
}

func irrevocableKey(id string) string { return irrevocablePrefix + hashOf(id) }

// indexKeys are the index entries e must have: its time-index entry (or
// its irrevocable entry) and its token-index entry.
func indexKeys(e *Entry) []string {
	keys := make([]string, 0, 2)
	if e.Irrevocable {
		keys = append(keys, irrevocableKey(e.LeaseID))
	} else {
		keys = append(keys, timeKey(e.dueTime(), e.LeaseID))
	}
	if e.TokenKey != "" {
		keys = append(keys, tokenIndexKey(e.TokenKey, e.LeaseID))
	}
	return keys
}

// allIndexKeys are every index key e may have left behind, for a delete.
func allIndexKeys(e *Entry) []string {
	keys := []string{timeKey(e.ExpireTime, e.LeaseID), irrevocableKey(e.LeaseID)}
	if !e.NextAttempt.IsZero() {
		keys = append(keys, timeKey(e.NextAttempt, e.LeaseID))
	}
	if e.TokenKey != "" {
		keys = append(keys, tokenIndexKey(e.TokenKey, e.LeaseID))
	}
	return keys
}

func isHash(s string) bool {
	if len(s) != hashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
