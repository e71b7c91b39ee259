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

// TestLibbpfTrixieC23Symbols: the glibc symbols libbpf@1.5's build asks the
// host's libc for, and c23compat.c defines, are exactly the C23 entry points
// trixie's libbpf.a leaves undefined (nm -u): a newer archive that needs
// another one fails here, not only in the link. Downloads trixie's
// libbpf-dev (0.3 MB) once.
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

// TestC23Compat: c23compat.c defines exactly libbpfTrixieC23Symbols, and each
// forwards to the glibc 2.36 function the same call compiles to there: the
// conversions libbpf 1.5 makes (the possible-CPU list, fdinfo's map_flags,
// a Kconfig value) give what __isoc99_sscanf and strtoull give, and a 0b
// prefix, which only C23 reads as binary, stops at the b as before 2.38.
func TestC23Compat(t *testing.T) {
	for _, tool := range []string{"cc", "nm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	if missing, err := staticLibcMissing(libbpfTrixieC23Symbols); err != nil || len(missing) == 0 {
		t.Skipf("the shim is for a static glibc < 2.38 (missing %v, %v)", missing, err)
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(root, "adapters", "libbpf", "c23compat.c")
	dir := t.TempDir()
	obj := filepath.Join(dir, "c23compat.o")
	if out, err := exec.Command("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-c", "-o", obj, shim).CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s", shim, err, out)
	}
	out, err := exec.Command("nm", "--defined-only", "--extern-only", "--format=just-symbols", obj).Output()
	if err != nil {
		t.Fatal(err)
	}
	defined := slices.Sorted(slices.Values(strings.Fields(string(out))))
	if want := slices.Sorted(slices.Values(libbpfTrixieC23Symbols)); !slices.Equal(defined, want) {
		t.Errorf("c23compat.c defines %v, trixie's libbpf.a needs %v", defined, want)
	}

	// Each line: the shim's result, then glibc 2.36's own.
	prog := `#include <stdio.h>
#include <stdlib.h>
int __isoc23_sscanf(const char *, const char *, ...);
int __isoc23_fscanf(FILE *, const char *, ...);
unsigned long long __isoc23_strtoull(const char *, char **, int);
int main(void) {
	int n, a = -1, b = -1, l1 = -1, l2 = -1; char *end; unsigned v = 0; unsigned long long u; FILE *f;
	n = __isoc23_sscanf("4-5,7", "%d%n-%d%n", &a, &l1, &b, &l1);
	printf("%d %d %d %d\n", n, a, b, l1);
	a = b = l2 = -1; n = sscanf("4-5,7", "%d%n-%d%n", &a, &l2, &b, &l2);
	printf("%d %d %d %d\n", n, a, b, l2);
	n = __isoc23_sscanf("map_flags:\t0x400", "map_flags:\t%i", &v); printf("%d %u\n", n, v);
	v = 0; n = sscanf("map_flags:\t0x400", "map_flags:\t%i", &v); printf("%d %u\n", n, v);
	v = 7; n = __isoc23_sscanf("0b11", "%i", &v); printf("%d %u\n", n, v);
	v = 7; n = sscanf("0b11", "%i", &v); printf("%d %u\n", n, v);
	u = __isoc23_strtoull("0x10", &end, 0); printf("%llu [%s]\n", u, end);
	u = strtoull("0x10", &end, 0); printf("%llu [%s]\n", u, end);
	u = __isoc23_strtoull("0b11", &end, 0); printf("%llu [%s]\n", u, end);
	u = strtoull("0b11", &end, 0); printf("%llu [%s]\n", u, end);
	f = fmemopen("0-1,4-5\n", 8, "r"); n = __isoc23_fscanf(f, "%d-%d", &a, &b); printf("%d %d %d\n", n, a, b); fclose(f);
	f = fmemopen("0-1,4-5\n", 8, "r"); n = fscanf(f, "%d-%d", &a, &b); printf("%d %d %d\n", n, a, b); fclose(f);
	return 0;
}
`
	src, exe := filepath.Join(dir, "main.c"), filepath.Join(dir, "main")
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-static", "-o", exe, src, obj).CombinedOutput(); err != nil {
		t.Fatalf("linking: %v\n%s", err, out)
	}
	out, err = exec.Command(exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 12 {
		t.Fatalf("output %q", out)
	}
	for i := 0; i < len(lines); i += 2 {
		if lines[i] != lines[i+1] {
			t.Errorf("shim gave %q, glibc 2.36 %q", lines[i], lines[i+1])
		}
	}
	for i, w := range []string{"2 4 5 3", "1 1024", "1 0", "16 []", "0 [b11]", "2 0 1"} {
		if lines[2*i] != w {
			t.Errorf("conversion %d: %q, want %q", i, lines[2*i], w)
		}
	}
}
