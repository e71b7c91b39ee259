package debapt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/internal/debapt/debapttest"
)

func TestConfigKeepsHostAptOut(t *testing.T) {
	a := New("/cache", "arm64", Bookworm...)
	if want := "/cache/apt/bookworm+bookworm-updates+bookworm-security-arm64"; a.Dir != want {
		t.Fatalf("Dir = %s, want %s", a.Dir, want)
	}
	conf := a.config()
	for _, want := range []string{
		`Dir::Etc::main "/dev/null";`,
		`Dir::Etc::parts "` + a.Dir + `/empty";`,
		`Dir::Etc::sourceparts "` + a.Dir + `/empty";`,
		`Dir::Etc::trustedparts "` + a.Dir + `/empty";`,
		`Dir::State::status "` + a.Dir + `/state/status";`,
		`APT::Architectures { "arm64"; };`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %s:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "/etc/apt") {
		t.Errorf("config mentions the host's /etc/apt:\n%s", conf)
	}
}

func TestSourcesList(t *testing.T) {
	t.Setenv(MirrorEnv, "http://mirror.example/debian/")
	a := New("/c", "amd64", append(Bookworm, BookwormBackports...)...)
	got := a.sourcesList()
	want := "deb [signed-by=" + Keyring + "] http://mirror.example/debian bookworm main\n" +
		"deb [signed-by=" + Keyring + "] http://mirror.example/debian bookworm-updates main\n" +
		"deb [signed-by=" + Keyring + "] http://mirror.example/debian-security bookworm-security main\n" +
		"deb [signed-by=" + Keyring + "] http://mirror.example/debian bookworm-backports main\n"
	if got != want {
		t.Errorf("sources.list:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseDepends(t *testing.T) {
	out := `librust-aya-dev
  Depends: librust-bitflags-2+default-dev
  Depends: <librust-libc-0.2+default-dev>
    librust-libc-dev
librust-bitflags-2+default-dev
  Depends: librust-bitflags-dev
<librust-libc-0.2+default-dev>
librust-libc-dev
librust-bitflags-dev
`
	got := strings.Join(parseDepends(out), " ")
	if want := "librust-aya-dev librust-bitflags-2+default-dev librust-bitflags-dev librust-libc-dev"; got != want {
		t.Errorf("parseDepends = %s, want %s", got, want)
	}
}

// TestFetchWithHostSourcesHidden fetches from Debian with the host's apt
// configuration replaced by one that lists no sources at all, so the
// private configuration is shown to carry everything.
func TestFetchWithHostSourcesHidden(t *testing.T) {
	if testing.Short() {
		t.Skip("reaches Debian's archive")
	}
	if err := CheckTools(); err != nil {
		t.Skip(err)
	}
	t.Setenv("APT_CONFIG", debapttest.HiddenSources(t))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a := New(t.TempDir(), "amd64", BookwormBackports...)
	names, err := a.PackageNames(ctx, "libbpf-dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 || names[0] != "libbpf-dev" {
		t.Fatalf("bookworm-backports lists %v for libbpf-dev", names)
	}
	v, err := a.Version(ctx, "libbpf-dev")
	if err != nil || !strings.Contains(v, "bpo12") {
		t.Fatalf("libbpf-dev candidate %q, %v: want a backports (bpo12) version", v, err)
	}
	dest := filepath.Join(t.TempDir(), "tree")
	got, err := a.Unpacked(ctx, dest, "libbpf-dev")
	if err != nil {
		t.Fatal(err)
	}
	if got["libbpf-dev"] != v {
		t.Errorf("unpacked %v, want libbpf-dev %s", got, v)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/lib/x86_64-linux-gnu/libbpf.a")); err != nil {
		t.Errorf("libbpf.a not unpacked: %v", err)
	}
	if _, err := a.Version(ctx, "no-such-package-perfconform"); err == nil {
		t.Error("Version of a missing package succeeded")
	}
}
