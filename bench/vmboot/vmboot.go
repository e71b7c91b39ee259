// Package vmboot measures what a VM boot costs below vmtest: it boots the
// same kernels with the same QEMU command line (vmtest/qemu.Machine) but a
// bare init (c/bareinit.c: mount devtmpfs, one line on ttyS1, power off),
// packed with vmtest/initramfs, and varies one thing at a time (initramfs
// size and compression, kernel arguments, firmware, HPET, machine type) so
// each cost of the harness can be put in numbers.
package vmboot

import (
	"bufio"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/perfconform/perfconform/vmtest/initramfs"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
)

//go:embed c/bareinit.c
var bareInitSource []byte

// Image is a bootable bare initramfs.
type Image struct {
	Name string // "bare" (init only), "bare+guest" (plus the conform guest binary), "…-gzip"
	Path string
	Size int64
}

// BuildImages builds the bare init and three images in dir: init only; init
// plus guestBinary (the static conform binary vmtest boots as /init, so the
// image is as large as vmtest's); and that one gzip-compressed.
func BuildImages(ctx context.Context, dir, guestBinary string) ([]Image, error) {
	src := filepath.Join(dir, "bareinit.c")
	bin := filepath.Join(dir, "bareinit")
	if err := os.WriteFile(src, bareInitSource, 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "cc", "-Os", "-static", "-o", bin, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bare init: cc: %w\n%s", err, out)
	}
	cache := filepath.Join(dir, "initramfs")
	small, err := initramfs.Build(initramfs.Spec{Init: bin}, cache)
	if err != nil {
		return nil, fmt.Errorf("bare image: %w", err)
	}
	big, err := initramfs.Build(initramfs.Spec{Init: bin, Files: []initramfs.File{{Host: guestBinary, Guest: "/conform"}}}, cache)
	if err != nil {
		return nil, fmt.Errorf("bare image with the guest binary: %w", err)
	}
	gz := filepath.Join(dir, "bare-guest.cpio.gz")
	if err := gzipFile(big.Path, gz); err != nil {
		return nil, fmt.Errorf("gzip image: %w", err)
	}
	var imgs []Image
	for _, i := range []Image{{Name: "bare", Path: small.Path}, {Name: "bare+guest", Path: big.Path}, {Name: "bare+guest-gzip", Path: gz}} {
		st, err := os.Stat(i.Path)
		if err != nil {
			return nil, err
		}
		i.Size = st.Size()
		imgs = append(imgs, i)
	}
	return imgs, nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Variant is one change to the baseline boot.
type Variant struct {
	Name   string
	Image  string   // Image.Name to boot
	Append []string // extra kernel arguments
	Extra  []string // extra QEMU arguments
	// Probe marks a capability check rather than a timing: booted once, with
	// a short timeout (microvm has no second 8250 for the event channel, and
	// its power-off hung in 2 of 3 boots).
	Probe bool
}

// Variants are the changes measured against "baseline" (the bare image,
// vmtest's QEMU flags and kernel arguments).
func Variants() []Variant {
	return []Variant{
		{Name: "baseline", Image: "bare"},
		{Name: "quiet", Image: "bare", Append: []string{"quiet"}},
		{Name: "guest-size-initramfs", Image: "bare+guest"},
		{Name: "guest-size-initramfs-gzip", Image: "bare+guest-gzip"},
		{Name: "qboot", Image: "bare", Extra: []string{"-bios", "qboot.rom"}},
		{Name: "no-hpet", Image: "bare", Extra: []string{"-no-hpet"}},
		{Name: "microvm", Image: "bare", Extra: []string{"-machine", "microvm"}, Probe: true},
		{Name: "quiet+qboot+no-hpet", Image: "bare", Append: []string{"quiet"}, Extra: []string{"-bios", "qboot.rom", "-no-hpet"}},
	}
}

// Boot is one measured boot.
type Boot struct {
	Variant string        `json:"variant"`
	Kernel  string        `json:"kernel"`
	CPUs    int           `json:"cpus"`
	Init    time.Duration `json:"init_ns"`  // QEMU start → the init's line on ttyS1 (0: never came)
	Total   time.Duration `json:"total_ns"` // QEMU start → QEMU exit
	Err     string        `json:"error,omitempty"`
}

// Run boots variant v of kernel k with cpus CPUs under accel and measures it.
func Run(ctx context.Context, k kernel.Kernel, cpus int, accel string, img Image, v Variant, consoleLog string) Boot {
	b := Boot{Variant: v.Name, Kernel: k.Name, CPUs: cpus}
	timeout := time.Minute // a bare TCG boot of 8 CPUs takes ~5 s
	if v.Probe {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := qemu.Machine{
		Accel: accel, SMP: qemu.SMP{CPUs: cpus}, Kernel: k.Path, Initrd: img.Path,
		Append: slices.Clone(v.Append), ConsoleLog: consoleLog, Extra: v.Extra,
	}
	start := time.Now()
	vm, err := qemu.Start(ctx, m)
	if err != nil {
		b.Err = err.Error()
		return b
	}
	sc := bufio.NewScanner(vm.Events())
	for sc.Scan() {
		if b.Init == 0 && sc.Text() == "perfconform bare init" {
			b.Init = time.Since(start)
		}
	}
	err = vm.Wait()
	b.Total = time.Since(start)
	if err != nil {
		b.Err = err.Error()
	} else if ctx.Err() != nil {
		b.Err = fmt.Sprintf("timed out after %v", timeout)
	} else if b.Init == 0 {
		b.Err = "the init's line never arrived on ttyS1"
	}
	return b
}
