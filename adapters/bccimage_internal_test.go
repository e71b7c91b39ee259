package adapters

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A library reached through its soname link lands in the image as the link
// and its target, at their host paths; a link inside a copied tree stays a
// link; a file reached twice is staged once.
func TestStageInput(t *testing.T) {
	host, stage := t.TempDir(), t.TempDir()
	lib := filepath.Join(host, "usr", "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lib, "libbcc.so.0.26.0"), []byte("ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("libbcc.so.0.26.0", filepath.Join(lib, "libbcc.so.0")); err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(lib, "libbcc.so.0")
	for range 2 {
		n, err := stageInput(stage, bccImageInput{Host: so, Guest: so})
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 && n != 3 {
			t.Errorf("staged %d bytes, want the target's 3 once", n)
		}
	}
	if target, err := os.Readlink(filepath.Join(stage, so)); err != nil || target != "libbcc.so.0.26.0" {
		t.Errorf("link in the image: %q, %v", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(stage, lib, "libbcc.so.0.26.0")); err != nil || string(b) != "ELF" {
		t.Errorf("link target in the image: %q, %v", b, err)
	}

	// A tree put elsewhere (adapters/bcc at its guest directory): a link
	// is copied as it is, not followed out of the tree.
	n, err := stageInput(stage, bccImageInput{Host: so, Guest: "/perfconform/bcc/lib.so"})
	if err != nil || n != 0 {
		t.Fatalf("tree link: %d, %v", n, err)
	}
	if target, _ := os.Readlink(filepath.Join(stage, "perfconform/bcc/lib.so")); target != "libbcc.so.0.26.0" {
		t.Errorf("tree link target %q", target)
	}
}

// The launcher runs the adapter on the system's Python with the package
// version, the headers when given and the control when given, quoted.
func TestBccLauncher(t *testing.T) {
	got := bccLauncher("0.26.0+ds-1", "/cache/ksrc", "", "/perfconform/bcc/adapter.py")
	for _, want := range []string{"export PERFCONFORM_BCC_PACKAGE='0.26.0+ds-1'\n", "export BCC_KERNEL_SOURCE='/cache/ksrc'\n",
		"exec /usr/bin/python3 '/perfconform/bcc/adapter.py' \"$@\"\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("launcher lacks %q:\n%s", want, got)
		}
	}
	if got := bccLauncher("1", "", "ignore-sample-cpu", "/a'b.py"); strings.Contains(got, "BCC_KERNEL_SOURCE") ||
		!strings.Contains(got, BccControlEnv+"='ignore-sample-cpu'") || !strings.Contains(got, `'/a'\''b.py'`) {
		t.Errorf("launcher without headers, with control:\n%s", got)
	}
}
