// Package bench holds Go benchmarks of Coffer's hot paths, built only on
// the packages' public APIs.
package bench
