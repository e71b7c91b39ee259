package adapters

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/perfconform/perfconform/adapters/internal/bccvm"
	"github.com/perfconform/perfconform/internal/filelock"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/initramfs"
)

// bcc in VMs. Debian's cloud kernels have neither 9p nor CONFIG_IKHEADERS,
// so the host's root file system cannot be shared and the guest kernel
// cannot hand out its headers. What bcc opens at run time (measured with
// strace -f on the host) goes instead into a read-only ext4 image, built
// with mkfs.ext4 -d (no mount, no loop device) from the host's installed
// files at their own paths:
//   - the Python interpreter, its standard library and python3-bpfcc (the
//     files of their Debian packages),
//   - every shared library any ELF file among them loads (libbcc and its
//     LLVM/clang closure, the dynamic loader) and /etc/ld.so.cache, which
//     ctypes needs to find libbcc.so.0,
//   - dash for the launcher script, the kernel headers bcc compiles against
//     (bccHeaders: Debian's 6.12 headers, the same tree the host's build
//     uses; the fixtures use no kernel structure, and a raw tracepoint
//     program does not carry the kernel's version),
//   - adapters/bcc at bccvm.AdapterDir and the launcher at bccvm.Launcher.
//
// The image is cached under CacheDir()/loaders/bcc-image by a hash of every
// input's path, size, mode and modification time (and the launcher), so a
// package upgrade or an edited adapter builds a new one.

// bccImageMemoryMiB is added to a bcc VM's memory: LLVM and clang's
// libraries are paged in from the disk for every load (113 MiB peak RSS
// measured for one load); with the topology's memory alone they are
// evicted between loads and each load reads them again.
const bccImageMemoryMiB = 512

// bccDiskModules drive the guest's virtio-blk disk. Debian's cloud kernels
// build virtio_blk as a module (and virtio_pci too before 6.12); their
// dependencies come with them (kernel.Cache.ExtraModules).
var bccDiskModules = []string{"virtio_pci", "virtio_blk"}

// bccDlopened are the libraries bcc's Python opens by name with ctypes
// (bcc/libbcc.py, bcc/__init__.py, bcc/perf.py), which no ELF file's
// closure shows.
var bccDlopened = []string{"libbcc.so.0", "librt.so.1", "libc.so.6"}

// bccImageSkip are package paths bcc never opens.
var bccImageSkip = []string{"/usr/share/doc/", "/usr/share/man/", "/usr/share/lintian/", "/usr/share/locale/"}

// bccVMExecutable is where the host build puts the adapter's executable for
// VMs (adapters/bcc/vm, static).
func bccVMExecutable(binDir string) string { return filepath.Join(binDir, "vm", "bcc") }

// bccImageInput is one entry of the image: a file, symlink or directory of
// the host at Host, put at Guest.
type bccImageInput struct {
	Host, Guest string
}

// bccImageInputs lists what the image holds (without the launcher). Every
// file is taken at its own path; symlinked parents (/lib64 -> usr/lib64)
// are links in the image too.
func bccImageInputs(ctx context.Context, root, ksrc string) ([]bccImageInput, error) {
	python, err := filepath.EvalSymlinks(bccPython)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bccPython, err)
	}
	version := strings.TrimPrefix(filepath.Base(python), "python") // 3.11
	pycTag := "cpython-" + strings.ReplaceAll(version, ".", "")    // cpython-311
	pkgs := []string{"python3-minimal", "python" + version + "-minimal", "libpython" + version + "-minimal",
		"libpython" + version + "-stdlib", "python3-bpfcc", "libbpfcc", "dash"}
	out, err := exec.CommandContext(ctx, "dpkg-query", append([]string{"-L"}, pkgs...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query -L %s: %w", strings.Join(pkgs, " "), err)
	}
	seen := map[string]bool{}
	var files []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	for _, p := range strings.Split(string(out), "\n") {
		if p == "" || p == "/." || slices.ContainsFunc(bccImageSkip, func(s string) bool { return strings.HasPrefix(p, s) }) {
			continue
		}
		if st, err := os.Lstat(p); err == nil && !st.IsDir() {
			add(p)
			// Debian compiles the packages' Python files at install
			// time (py3compile), so their byte code is not in the
			// package lists; without it every adapter start in the
			// read-only image compiles the standard library and bcc
			// anew, under TCG.
			if strings.HasSuffix(p, ".py") {
				pyc := filepath.Join(filepath.Dir(p), "__pycache__", strings.TrimSuffix(filepath.Base(p), ".py")+"."+pycTag+".pyc")
				if _, err := os.Stat(pyc); err == nil {
					add(pyc)
				}
			}
		}
	}
	for _, p := range []string{bccPython, "/bin/sh", "/etc/ld.so.cache"} {
		add(p)
	}
	for _, lib := range bccDlopened {
		add("/usr/lib/" + runtimeTriplet() + "/" + lib)
	}
	// The shared-library closure of every ELF file (the interpreter,
	// lib-dynload's extension modules, libbcc).
	for _, p := range slices.Clone(files) {
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 && !strings.Contains(filepath.Base(p), ".so") {
			continue
		}
		libs, err := initramfs.Closure(p)
		if err != nil {
			return nil, fmt.Errorf("libraries of %s: %w", p, err)
		}
		for _, l := range libs {
			add(l)
		}
	}
	var inputs []bccImageInput
	for _, f := range files {
		inputs = append(inputs, bccImageInput{Host: f, Guest: f})
	}
	// Directory trees: the headers at their host path (the launcher names
	// it), the adapter at AdapterDir.
	for _, tree := range []bccImageInput{{ksrc, ksrc}, {filepath.Join(root, bccSource), bccvm.AdapterDir}} {
		err := filepath.WalkDir(tree.Host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || strings.HasSuffix(p, ".pyc") {
				return nil
			}
			rel, _ := filepath.Rel(tree.Host, p)
			inputs = append(inputs, bccImageInput{Host: p, Guest: filepath.Join(tree.Guest, rel)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("bcc image: %w", err)
		}
	}
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Guest < inputs[j].Guest })
	return inputs, nil
}

// bccImageKey hashes the inputs' paths, sizes, modes, modification times
// and link targets, and the launcher.
func bccImageKey(inputs []bccImageInput, launcher string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "perfconform bcc image 1\n%s\n", launcher)
	for _, in := range inputs {
		st, err := os.Lstat(in.Host)
		if err != nil {
			return "", fmt.Errorf("bcc image: %w", err)
		}
		link := ""
		if st.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(in.Host)
		}
		fmt.Fprintf(h, "%s %s %d %o %d %s\n", in.Guest, in.Host, st.Size(), st.Mode(), st.ModTime().UnixNano(), link)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// BccImage returns the bcc image for VMs (building it when the cache has
// none for the current inputs) and the disk a VM attaches it as.
func BccImage(ctx context.Context, progress func(string)) (vmtest.Disk, error) {
	root, err := ModuleRoot()
	if err != nil {
		return vmtest.Disk{}, err
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return vmtest.Disk{}, fmt.Errorf("bcc image: mkfs.ext4 not found (apt-get install e2fsprogs): %w", err)
	}
	ksrc, err := bccHeaders(ctx, progress)
	if err != nil {
		return vmtest.Disk{}, err
	}
	pkg, err := bccPackageVersion(ctx)
	if err != nil {
		return vmtest.Disk{}, err
	}
	launcher := bccLauncher(pkg, ksrc, "", filepath.Join(bccvm.AdapterDir, "adapter.py"))
	inputs, err := bccImageInputs(ctx, root, ksrc)
	if err != nil {
		return vmtest.Disk{}, err
	}
	key, err := bccImageKey(inputs, launcher)
	if err != nil {
		return vmtest.Disk{}, err
	}
	dir := filepath.Join(CacheDir(), "loaders", "bcc-image")
	img := filepath.Join(dir, key+".ext4")
	disk := vmtest.Disk{Image: img, FSType: "ext4", Mount: bccvm.Mount, Modules: bccDiskModules, MemoryMiB: bccImageMemoryMiB}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return disk, err
	}
	unlock, err := filelock.Lock(ctx, filepath.Join(dir, "build.lock"), "bcc image")
	if err != nil {
		return disk, err
	}
	defer unlock()
	if _, err := os.Stat(img); err == nil {
		return disk, nil
	}
	// A build killed before it finished left its stage (hard links) and
	// a partial image; under the lock nobody is using them.
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".stage-*"))
	partial, _ := filepath.Glob(filepath.Join(dir, "*.ext4.tmp"))
	for _, p := range append(leftovers, partial...) {
		os.RemoveAll(p)
	}
	progress(fmt.Sprintf("building the bcc image for VMs (%d files) into %s", len(inputs), img))
	if err := buildBccImage(ctx, inputs, launcher, img); err != nil {
		return disk, fmt.Errorf("bcc image %s: %w", img, err)
	}
	// Images of older inputs are of no use any more.
	old, _ := filepath.Glob(filepath.Join(dir, "*.ext4"))
	for _, o := range old {
		if o != img {
			os.Remove(o)
		}
	}
	return disk, nil
}

// buildBccImage stages inputs (hard links where it can, copies otherwise)
// and the launcher in a temporary tree beside img and makes the ext4 image
// from it.
func buildBccImage(ctx context.Context, inputs []bccImageInput, launcher, img string) error {
	stage, err := os.MkdirTemp(filepath.Dir(img), ".stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	// usrmerge: /bin, /lib, /lib64, /sbin are links on the host, and the
	// paths the loader opens go through them.
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		if target, err := os.Readlink(top); err == nil {
			if err := os.Symlink(target, filepath.Join(stage, top)); err != nil {
				return err
			}
			if !filepath.IsAbs(target) {
				target = "/" + target
			}
			if err := os.MkdirAll(filepath.Join(stage, target), 0o755); err != nil {
				return err
			}
		}
	}
	for _, d := range append(slices.Clone(bccvm.BindDirs), "/perfconform") {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	var total int64
	for _, in := range inputs {
		n, err := stageInput(stage, in)
		if err != nil {
			return err
		}
		total += n
	}
	if err := os.WriteFile(filepath.Join(stage, bccvm.Launcher), []byte(launcher), 0o755); err != nil {
		return err
	}
	// Room for the files, their metadata and directories; one inode per
	// input and directory with slack.
	size := total + total/5 + 64<<20
	inodes := 2*len(inputs) + 4096
	tmp := img + ".tmp"
	os.Remove(tmp)
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(tmp, size); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-N", strconv.Itoa(inodes),
		"-E", "root_owner=0:0", "-L", "perfconform-bcc", "-d", stage, tmp).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mkfs.ext4 -d %s: %w: %s", stage, err, strings.TrimSpace(string(out)))
	}
	return os.Rename(tmp, img)
}

// stageInput puts one input under stage (its parent directories resolved
// through the stage's own links) and returns the bytes it adds.
func stageInput(stage string, in bccImageInput) (int64, error) {
	dst := filepath.Join(stage, in.Guest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	if _, err := os.Lstat(dst); err == nil {
		return 0, nil // reached twice (through a link of a parent)
	}
	st, err := os.Lstat(in.Host)
	if err != nil {
		return 0, err
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(in.Host)
		if err != nil {
			return 0, err
		}
		if err := os.Symlink(target, dst); err != nil {
			return 0, err
		}
		if in.Host != in.Guest {
			return 0, nil // a link inside a tree: its target is in the tree too
		}
		// A file's link needs its target too (libbcc.so.0 -> libbcc.so.0.26.0).
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(in.Host), target)
		}
		if _, err := os.Stat(target); err != nil {
			return 0, nil // a dangling link stays dangling
		}
		return stageInput(stage, bccImageInput{Host: target, Guest: target})
	case st.Mode().IsRegular():
		if err := os.Link(in.Host, dst); err == nil {
			return st.Size(), nil
		}
		return st.Size(), copyRegular(in.Host, dst, st.Mode().Perm())
	}
	return 0, nil
}

func copyRegular(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// bccPackageVersion is the installed python3-bpfcc's Debian version.
func bccPackageVersion(ctx context.Context) (string, error) {
	pkg, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", "python3-bpfcc").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg-query python3-bpfcc: %w (apt-get install python3-bpfcc)", err)
	}
	return strings.TrimSpace(string(pkg)), nil
}
