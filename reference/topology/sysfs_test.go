package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/reference/topology/topologytest"
)

func str(s string) *string { return &s }

func TestReadFakeSysfs(t *testing.T) {
	longOnline := ""
	for c := 0; c < 200; c += 2 {
		longOnline += strconv.Itoa(c) + ","
	}
	longOnline = strings.TrimSuffix(longOnline, ",") + "\n"

	tests := []struct {
		name                      string
		possible, present, online string
		wantSize                  uint32
		wantRings                 string
	}{
		{"one CPU", "0\n", "0\n", "0\n", 1, "0"},
		{"contiguous", "0-3\n", "0-3\n", "0-3\n", 4, "0-3"},
		{"gapped possible", "0-1,4-5\n", "0-1,4-5\n", "0-1,4-5\n", 6, "0-1,4-5"},
		{"sparse online", "0-3\n", "0-3\n", "0,2-3\n", 4, "0,2-3"},
		{"possible > present > online", "0-7\n", "0-3\n", "0-1\n", 8, "0-1"},
		{"long online list", "0-199\n", "0-199\n", longOnline, 200, strings.TrimSpace(longOnline)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := topologytest.Sysfs(t, topologytest.Masks{Possible: tt.possible, Present: tt.present, Online: tt.online})
			topo, err := Read(root)
			if err != nil {
				t.Fatal(err)
			}
			if got := PerfArraySize(topo.Possible); got != tt.wantSize {
				t.Errorf("PerfArraySize = %d, want %d", got, tt.wantSize)
			}
			if got := RingCPUs(topo, PerfArraySize(topo.Possible)).String(); got != tt.wantRings {
				t.Errorf("RingCPUs = %q, want %q", got, tt.wantRings)
			}
			if got := topo.Present.String(); got != strings.TrimSpace(tt.present) {
				t.Errorf("Present = %q, want %q", got, strings.TrimSpace(tt.present))
			}
		})
	}
}

func TestReadFakeSysfsErrors(t *testing.T) {
	huge := strings.Repeat("0,", maxMaskFileSize)
	tests := []struct {
		name      string
		possible  *string
		mentions  []string
		wantParse bool
	}{
		{"missing possible", nil, []string{"possible", "no such file"}, false},
		{"garbage possible", str("garbage\n"), []string{"possible", `"garbage"`}, true},
		{"empty possible", str(""), []string{"possible", "empty"}, true},
		{"descending", str("3-1\n"), []string{"possible", "3-1"}, true},
		{"enormous file", &huge, []string{"possible", "larger than"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			possible := topologytest.Missing
			if tt.possible != nil {
				possible = *tt.possible
			}
			root := topologytest.Sysfs(t, topologytest.Masks{Possible: possible, Present: "0", Online: "0"})
			_, err := Read(root)
			if err == nil {
				t.Fatal("Read succeeded, want an error")
			}
			if !errors.Is(err, ErrCPUDetection) {
				t.Errorf("%v does not wrap ErrCPUDetection", err)
			}
			if got := errors.Is(err, ErrBadCPUList); got != tt.wantParse {
				t.Errorf("errors.Is(ErrBadCPUList) = %v, want %v", got, tt.wantParse)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestReadUnreadableFile(t *testing.T) {
	// A directory where the file should be: open succeeds, read fails, even as root.
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "possible"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ReadPossible(root)
	if err == nil || !errors.Is(err, ErrCPUDetection) || !strings.Contains(err.Error(), filepath.Join(root, "possible")) {
		t.Fatalf("ReadPossible on a directory: %v", err)
	}
}

func TestReadHost(t *testing.T) {
	if _, err := os.Stat(DefaultSysfsRoot + "/possible"); err != nil {
		t.Skip("no sysfs CPU masks on this machine:", err)
	}
	topo, err := Read("")
	if err != nil {
		t.Fatal(err)
	}
	if topo.Online.Empty() || !topo.Online.Difference(topo.Possible).Empty() {
		t.Errorf("online %q is not a non-empty subset of possible %q", topo.Online, topo.Possible)
	}
}
