package adapters

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/internal/debapt"
)

// TestArSymbolIndex: the index of a real archive lists what its members
// define, and a file that is not an archive is refused.
func TestArSymbolIndex(t *testing.T) {
	if _, err := exec.LookPath("ar"); err != nil {
		t.Skip("needs ar (binutils)")
	}
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("needs cc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "a.c")
	if err := os.WriteFile(src, []byte("int perfconform_first(void){return 1;}\nint perfconform_second(void){return 2;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj, lib := filepath.Join(dir, "a.o"), filepath.Join(dir, "liba.a")
	for _, c := range [][]string{{"cc", "-c", "-o", obj, src}, {"ar", "rcs", lib, obj}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	index, err := arSymbolIndex(lib)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), "\x00perfconform_second\x00") || strings.Contains(string(index), "\x00perfconform_third\x00") {
		t.Errorf("index %q", index)
	}
	if _, err := arSymbolIndex(src); err == nil {
		t.Error("a C source accepted as an archive")
	}
}

// TestLibbpfTrixieC23Symbols: the glibc symbols libbpf@1.5's availability
// check asks the host's libc for are exactly the C23 entry points trixie's
// libbpf.a leaves undefined (nm -u), so the reason conform adapters prints
// is the link's own. Downloads trixie's libbpf-dev (0.3 MB) once.
func TestLibbpfTrixieC23Symbols(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads trixie's libbpf-dev")
	}
	if err := debapt.CheckTools(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("nm"); err != nil {
		t.Skip("needs nm (binutils)")
	}
	if _, err := trixieLibbpf(context.Background()); err != nil {
		t.Skipf("trixie's libbpf-dev: %v", err)
	}
	out, err := exec.Command("nm", "-u", filepath.Join(TrixieLoadersDir(), "usr", "lib", runtimeTriplet(), "libbpf.a")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var c23 []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "__isoc23_") && !slices.Contains(c23, f) {
			c23 = append(c23, f)
		}
	}
	slices.Sort(c23)
	want := slices.Sorted(slices.Values(libbpfTrixieC23Symbols))
	if !slices.Equal(c23, want) {
		t.Errorf("trixie's libbpf.a needs %v, the check asks for %v", c23, want)
	}
}
