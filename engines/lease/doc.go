// Package lease tracks leased secrets and revokes them when they expire.
package lease
