// Package archtest holds the architecture test: the module's packages import
// only downward (cmd → conform → suite, vmtest, adapters, report → reference,
// result), checked with `go list -deps` so a violation fails CI instead of
// being found in review. It has no code of its own.
package archtest
