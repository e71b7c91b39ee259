package adapters

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRustcVersion(t *testing.T) {
	for _, tc := range []struct {
		out          string
		major, minor int
		version      string
		bad          bool
	}{
		{out: "rustc 1.95.0 (59807616e 2026-04-14)\n", major: 1, minor: 95, version: "1.95.0"},
		{out: "rustc 1.63.0", major: 1, minor: 63, version: "1.63.0"},
		{out: "rustc 1.85.0-nightly (abc 2024-11-01)", major: 1, minor: 85, version: "1.85.0-nightly"},
		{out: "cargo 1.95.0", bad: true},
		{out: "rustc x.y", bad: true},
		{out: "", bad: true},
	} {
		major, minor, version, err := parseRustcVersion(tc.out)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: parsed as %d.%d", tc.out, major, minor)
			}
			continue
		}
		if err != nil || major != tc.major || minor != tc.minor || version != tc.version {
			t.Errorf("%q = %d, %d, %q, %v; want %d, %d, %q", tc.out, major, minor, version, err, tc.major, tc.minor, tc.version)
		}
	}
}

// TestFindRust: cargo and rustc are taken side by side from PATH or
// $HOME/.cargo/bin, the first pair new enough wins, and otherwise the error
// says what was found and how to get a toolchain.
func TestFindRust(t *testing.T) {
	fake := func(dir, version string) string {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "rustc"), []byte("#!/bin/sh\necho 'rustc "+version+" (0 2020-01-01)'\n"), 0o755)
		os.WriteFile(filepath.Join(dir, "cargo"), []byte("#!/bin/sh\n"), 0o755)
		return dir
	}
	for _, tc := range []struct {
		name      string
		path      []string // versions of toolchains in PATH, in order
		home      string   // version in $HOME/.cargo/bin, "" for none
		want      string   // version chosen, "" for an error
		errSubstr string
	}{
		{name: "none", errSubstr: "no cargo and rustc side by side"},
		{name: "rustup only", home: "1.95.0", want: "1.95.0"},
		{name: "too old only", path: []string{"1.63.0"}, errSubstr: "rustc 1.63.0"},
		{name: "old in PATH, rustup new", path: []string{"1.63.0"}, home: "1.95.0", want: "1.95.0"},
		{name: "new in PATH first", path: []string{"1.85.0"}, home: "1.95.0", want: "1.85.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			path := []string{filepath.Join(tmp, "empty")} // not /usr/bin: it may hold a real rustc
			for i, v := range tc.path {
				path = append([]string{fake(filepath.Join(tmp, "path", string(rune('a'+i))), v)}, path...)
			}
			home := filepath.Join(tmp, "home")
			if tc.home != "" {
				fake(filepath.Join(home, ".cargo", "bin"), tc.home)
			}
			t.Setenv("PATH", strings.Join(path, ":"))
			t.Setenv("HOME", home)
			tc0, err := findRust()
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSubstr) || !strings.Contains(err.Error(), "rustc-web") {
					t.Fatalf("findRust = %+v, %v; want an error with %q and how to install", tc0, err, tc.errSubstr)
				}
				return
			}
			if err != nil || tc0.version != tc.want {
				t.Fatalf("findRust = %+v, %v; want rustc %s", tc0, err, tc.want)
			}
		})
	}
}

func TestCargoConfigIsOfflineAgainstTheDirectory(t *testing.T) {
	c := cargoConfig("/c/crates/trixie/usr/share/cargo/registry")
	for _, want := range []string{
		"[source.crates-io]\nreplace-with = \"debian-trixie\"",
		"[source.debian-trixie]\ndirectory = \"/c/crates/trixie/usr/share/cargo/registry\"",
		"[net]\noffline = true",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("cargo config lacks %q:\n%s", want, c)
		}
	}
}

// TestCheckStatic: the check behind the aya entry's Static claim refuses an
// executable with a dynamic loader (/bin/true on Debian) and a non-ELF file.
func TestCheckStatic(t *testing.T) {
	if err := checkStatic("/bin/true"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/true) = %v, want a dynamically linked error", err)
	}
	// A static-pie with a shared library linked in by mistake (-Bdynamic -lz
	// after -static-pie, as a trailing -C link-arg=-lz ends up): it has no
	// interpreter, leaves libc and zlib symbols undefined and crashes before main.
	if _, err := exec.LookPath("cc"); err == nil {
		dir := t.TempDir()
		src := filepath.Join(dir, "z.c")
		os.WriteFile(src, []byte("#include <zlib.h>\nint main(void){return zlibVersion()[0]==0;}\n"), 0o644)
		for _, tc := range []struct {
			name string
			libz string
			want string // "" = accepted
		}{{"bad", "-Wl,-Bdynamic -lz", "is static but leaves"}, {"good", "-l:libz.a", ""}} {
			out := filepath.Join(dir, tc.name)
			args := append([]string{"-static-pie", "-o", out, src}, strings.Fields(tc.libz)...)
			if b, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
				t.Logf("cc %v: %v\n%s (skipping this case: needs zlib1g-dev)", args, err, b)
				continue
			}
			err := checkStatic(out)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("checkStatic(%s, libz %s) = %v, want %q", tc.name, tc.libz, err, tc.want)
			}
		}
	}
	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	if err := checkStatic(notELF); err == nil {
		t.Error("checkStatic accepted a shell script")
	}
}
