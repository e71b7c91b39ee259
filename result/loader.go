package result

import "strings"

// LoaderName is a loader's name as results carry it: a base name and, for a
// loader perfconform runs at several versions, the version after "@"
// ("libbpf@1.4", "cilium-ebpf@v0.12.3"). A name without "@" has no version
// ("reference", an adapter executable's file name, results written before
// loaders had versions). This is the one place that knows the syntax; the
// adapter registry (package adapters) decides which version a bare name
// runs, and package report matches gates and baselines with Selects.
type LoaderName struct {
	Base    string
	Version string
}

// ParseLoaderName splits "base@version"; a name without "@" is all base.
func ParseLoaderName(s string) LoaderName {
	base, version, _ := strings.Cut(s, "@")
	return LoaderName{Base: base, Version: version}
}

// String is "base@version", or the base alone without a version.
func (n LoaderName) String() string {
	if n.Version == "" {
		return n.Base
	}
	return n.Base + "@" + n.Version
}

// Selects reports whether the pattern n (a --gate value, a baseline's
// loader) covers the loader of a result: a pattern with a version covers that
// version only; a bare pattern covers the loader at every version, so
// `--gate libbpf` gates libbpf@1.1 and libbpf@1.4 alike. A leading "v" is
// not significant ("cilium-ebpf@0.12.3" is "cilium-ebpf@v0.12.3").
func (n LoaderName) Selects(loader string) bool {
	l := ParseLoaderName(loader)
	if n.Base != l.Base {
		return false
	}
	return n.Version == "" || SameVersion(n.Version, l.Version)
}

// SameVersion compares two loader versions, ignoring a leading "v".
func SameVersion(a, b string) bool {
	return strings.TrimPrefix(a, "v") == strings.TrimPrefix(b, "v")
}
