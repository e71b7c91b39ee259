package result

import "testing"

func TestLoaderName(t *testing.T) {
	for _, tc := range []struct {
		name          string
		base, version string
	}{
		{"libbpf@1.4", "libbpf", "1.4"},
		{"cilium-ebpf@v0.12.3", "cilium-ebpf", "v0.12.3"},
		{"reference", "reference", ""},
		{"libbpf@", "libbpf", ""},
	} {
		n := ParseLoaderName(tc.name)
		if n.Base != tc.base || n.Version != tc.version {
			t.Errorf("ParseLoaderName(%q) = %+v, want base %q version %q", tc.name, n, tc.base, tc.version)
		}
		if tc.version != "" && n.String() != tc.name {
			t.Errorf("%+v.String() = %q, want %q", n, n.String(), tc.name)
		}
	}
}

func TestLoaderNameSelects(t *testing.T) {
	for _, tc := range []struct {
		pattern, loader string
		want            bool
	}{
		{"libbpf", "libbpf@1.1", true},
		{"libbpf", "libbpf@1.4", true},
		{"libbpf", "libbpf", true}, // results from before versions
		{"libbpf@1.4", "libbpf@1.4", true},
		{"libbpf@1.4", "libbpf@1.1", false},
		{"libbpf@1.4", "libbpf", false},
		{"libbpf", "libbpfgo@v0.8.0", false},
		{"cilium-ebpf@0.12.3", "cilium-ebpf@v0.12.3", true},
		{"cilium-ebpf@v0.12.3", "cilium-ebpf@v0.12.30", false},
		{"reference", "reference", true},
	} {
		if got := ParseLoaderName(tc.pattern).Selects(tc.loader); got != tc.want {
			t.Errorf("%q selects %q = %v, want %v", tc.pattern, tc.loader, got, tc.want)
		}
	}
}
