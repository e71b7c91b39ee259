package adapters_test

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/vmtest/arch"
)

func foreignArch() arch.Arch {
	if runtime.GOARCH == "arm64" {
		return arch.Amd64
	}
	return arch.Arm64
}

func TestForArch(t *testing.T) {
	f := foreignArch()
	ref, err := adapters.Get("reference")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arch, want string
	}{
		{runtime.GOARCH, "/b/reference"},
		{f.Name, "/b/" + f.Name + "/reference"},
	} {
		if got := ref.PathFor("/b", tc.arch); got != tc.want {
			t.Errorf("PathFor(%s) = %s, want %s", tc.arch, got, tc.want)
		}
	}
	if err := ref.AvailableFor("riscv64"); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("unknown arch: %v, want ErrUnavailable", err)
	}
	// An adapter without a foreign build says why it cannot run there.
	noCross := adapters.Adapter{Name: "x", Source: "adapters/reference", NoForeign: "needs a rustup target"}
	if err := noCross.AvailableFor(f.Name); !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "needs a rustup target") {
		t.Errorf("no foreign build: %v", err)
	}
	if _, err := noCross.BuildFor(context.Background(), t.TempDir(), f.Name); !errors.Is(err, adapters.ErrUnavailable) {
		t.Errorf("build without a foreign build: %v", err)
	}
	// The backports entries say why they do not run there.
	for _, name := range []string{"libbpf@1.4", "bpftool@7.5"} {
		a, err := adapters.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AvailableFor(f.Name); !errors.Is(err, adapters.ErrUnavailable) || !strings.Contains(err.Error(), "backports") {
			t.Errorf("%s on %s: %v, want unavailable with the reason", name, f.Name, err)
		}
	}
	// On the host's architecture the host tools keep their paths.
	bt, _ := adapters.Get("bpftool")
	files, err := bt.VMFilesFor(context.Background(), "/b", runtime.GOARCH)
	if err != nil || len(files) != 2 || files[0].Host != bt.Path("/b") || files[1].Host != "/usr/sbin/bpftool" || files[1].Sysroot != "" {
		t.Errorf("bpftool host files %+v, %v", files, err)
	}
}

// TestBuildForeign cross-builds the Go adapters (always possible) and, when
// the cross compiler is installed, libbpf, and checks the ELF machine.
func TestBuildForeign(t *testing.T) {
	if testing.Short() {
		t.Skip("builds adapters")
	}
	f := foreignArch()
	dir := t.TempDir()
	for _, name := range []string{"cilium-ebpf", "libbpf", "libbpfgo"} {
		a, err := adapters.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AvailableFor(f.Name); err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		path, err := a.BuildFor(context.Background(), dir, f.Name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if path != filepath.Join(dir, f.Name, a.Name) {
			t.Errorf("%s built at %s", name, path)
		}
		e, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if e.Machine != f.Machine {
			t.Errorf("%s: ELF machine %v, want %v", name, e.Machine, f.Machine)
		}
		if _, err := e.DynString(elf.DT_NEEDED); err == nil {
			if libs, _ := e.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("%s: dynamically linked (%v); VMs need it static", name, libs)
			}
		}
		e.Close()
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
