package conform

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/perfconform/perfconform/adapters/reference/refadapter"
)

// TestGuestPayloads: each loader alone gets its own guest arguments, its own
// adapter files only and one loader's payload timeout; all of them together
// get every loader under the same guest paths as Run would give them. An
// in-process Go loader cannot go into a VM.
func TestGuestPayloads(t *testing.T) {
	dir := t.TempDir()
	// A compiled adapter (a script is refused for VMs) under a file name
	// of its own; it declares loader "sizeone".
	aya := filepath.Join(dir, "target/release/perfconform-adapter")
	if out, err := exec.Command("go", "build", "-o", aya, "../adapters/testdata/sizeone").CombinedOutput(); err != nil {
		t.Fatalf("build the adapter: %v\n%s", err, out)
	}
	alone, all, err := GuestPayloads(context.Background(), parsed("reference", aya), []string{"debian-6.1"}, dir, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(alone) != 2 {
		t.Fatalf("alone = %+v, want one payload per loader", alone)
	}
	ref, ay := alone[0], alone[1]
	if !reflect.DeepEqual(ref.Loaders, []string{"reference"}) || !reflect.DeepEqual(ref.Args, []string{"--loader", "reference"}) || len(ref.Files["amd64"]) != 0 {
		t.Errorf("reference alone = %+v, want the in-process reference and no files", ref)
	}
	if !reflect.DeepEqual(ay.Loaders, []string{"sizeone"}) || !reflect.DeepEqual(ay.Args, []string{"--loader", "sizeone=" + GuestLoaderDir + "/0-perfconform-adapter"}) ||
		len(ay.Files["amd64"]) != 1 || ay.Files["amd64"][0].Host != aya {
		t.Errorf("aya alone = %+v, want its adapter alone at its guest path", ay)
	}
	if ref.Timeout != vmPayloadTimeout(1, 0) || all.Timeout != vmPayloadTimeout(2, 0) {
		t.Errorf("timeouts: alone %v, all %v; want one loader's and two loaders'", ref.Timeout, all.Timeout)
	}
	back, err := ParseGuestArgs(all.Args)
	want := []GuestLoader{{Name: "reference"}, {Name: "sizeone", Path: GuestLoaderDir + "/1-perfconform-adapter"}}
	if err != nil || !reflect.DeepEqual(back.Loaders, want) || !reflect.DeepEqual(all.Loaders, []string{"reference", "sizeone"}) {
		t.Errorf("all = %+v (guest loaders %+v, %v); want %+v", all, back.Loaders, err, want)
	}

	if _, _, err := GuestPayloads(context.Background(), []Loader{InProcess(refadapter.New())}, []string{"debian-6.1"}, dir, func(string) {}); !errors.Is(err, ErrLoader) {
		t.Errorf("an in-process loader for VMs: %v, want ErrLoader", err)
	}
}
