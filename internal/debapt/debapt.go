// Package debapt fetches Debian packages through a private apt configuration:
// its own sources list, keyring, state and cache directories under the
// project's cache, so that it works the same on a Debian or an Ubuntu host,
// whatever the host's own sources say, and never changes the host's apt setup.
//
// It is the one way perfconform takes packages from Debian suites the host
// does not use: the cloud kernels (bookworm, bookworm-security, bullseye),
// libbpf and bpftool from bookworm-backports, and aya's crates from trixie.
// Packages are downloaded and unpacked with dpkg-deb -x into a directory;
// nothing is ever installed.
package debapt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/perfconform/perfconform/internal/filelock"
)

var (
	// ErrTool: apt-get, apt-cache or dpkg-deb is missing.
	ErrTool = errors.New("apt tool missing")
	// ErrKeyring: the Debian archive keyring is missing.
	ErrKeyring = errors.New("debian archive keyring missing")
	// ErrUpdate: reading the suites' package lists failed.
	ErrUpdate = errors.New("apt update")
	// ErrNoPackage: no package of that name (or matching) in the suites.
	ErrNoPackage = errors.New("no such package")
	// ErrDownload: apt-get download failed.
	ErrDownload = errors.New("apt download")
	// ErrUnpack: dpkg-deb failed on a downloaded package.
	ErrUnpack = errors.New("unpack package")
)

// Keyring is the Debian archive keyring every source is verified with
// (Debian and Ubuntu both package it as debian-archive-keyring).
const Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// MirrorEnv overrides the Debian mirror (default DefaultMirror); the
// security suites use the same host's debian-security path.
const MirrorEnv = "PERFCONFORM_DEBIAN_MIRROR"

// DefaultMirror is Debian's own redirector.
const DefaultMirror = "http://deb.debian.org/debian"

// Source is one apt source: a suite of a Debian archive.
type Source struct {
	// Suite is the distribution name: bookworm, bookworm-security, trixie...
	Suite string
	// Components default to main.
	Components []string
}

// URI is the archive the suite lives in: the security archive for
// *-security suites, the mirror otherwise.
func (s Source) URI() string {
	m := os.Getenv(MirrorEnv)
	if m == "" {
		m = DefaultMirror
	}
	m = strings.TrimRight(m, "/")
	if strings.HasSuffix(s.Suite, "-security") {
		return m + "-security"
	}
	return m
}

func (s Source) line() string {
	comps := s.Components
	if len(comps) == 0 {
		comps = []string{"main"}
	}
	return fmt.Sprintf("deb [signed-by=%s] %s %s %s", Keyring, s.URI(), s.Suite, strings.Join(comps, " "))
}

// The suites perfconform takes packages from.
var (
	Bookworm          = []Source{{Suite: "bookworm"}, {Suite: "bookworm-updates"}, {Suite: "bookworm-security"}}
	BookwormBackports = []Source{{Suite: "bookworm-backports"}}
	Bullseye          = []Source{{Suite: "bullseye"}, {Suite: "bullseye-security"}}
	Trixie            = []Source{{Suite: "trixie"}}
)

// Archive is a private apt view of some Debian suites for one architecture.
type Archive struct {
	// Dir holds the configuration, package lists and downloaded packages.
	Dir string
	// Arch is the Debian architecture (amd64, arm64).
	Arch    string
	Sources []Source
	// MaxAge is how old package lists may be before Update reads them again
	// (default 24h).
	MaxAge time.Duration
	// Progress, if set, hears about long steps.
	Progress func(msg string)
}

// New returns the archive of sources for arch ("" = the host's) under
// cacheDir/apt/<suites>-<arch>.
func New(cacheDir, arch string, sources ...Source) *Archive {
	if arch == "" {
		arch = HostArch()
	}
	var suites []string
	for _, s := range sources {
		suites = append(suites, s.Suite)
	}
	name := strings.Join(suites, "+") + "-" + arch
	if len(name) > 80 { // keep the directory name sane
		h := sha256.Sum256([]byte(name))
		name = hex.EncodeToString(h[:8]) + "-" + arch
	}
	return &Archive{Dir: filepath.Join(cacheDir, "apt", name), Arch: arch, Sources: sources}
}

// HostArch is the Debian name of the architecture this binary runs on.
func HostArch() string {
	if runtime.GOARCH == "arm64" {
		return "arm64"
	}
	return runtime.GOARCH
}

func (a *Archive) progress(format string, args ...any) {
	if a.Progress != nil {
		a.Progress(fmt.Sprintf(format, args...))
	}
}

func (a *Archive) confPath() string { return filepath.Join(a.Dir, "apt.conf") }

// config is the whole apt configuration: APT_CONFIG is read before anything
// else, and it points the main file and the parts directory away from /etc,
// so no host setting (sources, proxies, pinning, hooks) reaches these calls.
func (a *Archive) config() string {
	d := a.Dir
	var b strings.Builder
	fmt.Fprintf(&b, "Dir::Etc::main \"/dev/null\";\n")
	fmt.Fprintf(&b, "Dir::Etc::parts \"%s/empty\";\n", d)
	fmt.Fprintf(&b, "Dir::Etc::preferencesparts \"%s/empty\";\n", d)
	fmt.Fprintf(&b, "Dir::Etc::preferences \"/dev/null\";\n")
	fmt.Fprintf(&b, "Dir::Etc::sourcelist \"%s/sources.list\";\n", d)
	fmt.Fprintf(&b, "Dir::Etc::sourceparts \"%s/empty\";\n", d)
	fmt.Fprintf(&b, "Dir::Etc::trustedparts \"%s/empty\";\n", d)
	fmt.Fprintf(&b, "Dir::State \"%s/state\";\n", d)
	fmt.Fprintf(&b, "Dir::State::lists \"%s/state/lists\";\n", d)
	fmt.Fprintf(&b, "Dir::State::status \"%s/state/status\";\n", d)
	fmt.Fprintf(&b, "Dir::Cache \"%s/cache\";\n", d)
	fmt.Fprintf(&b, "Dir::Log \"%s/log\";\n", d)
	fmt.Fprintf(&b, "APT::Architecture \"%s\";\n", a.Arch)
	fmt.Fprintf(&b, "APT::Architectures { \"%s\"; };\n", a.Arch)
	fmt.Fprintf(&b, "APT::Sandbox::User \"root\";\n") // root-owned private dirs; no _apt drop
	fmt.Fprintf(&b, "Acquire::Languages \"none\";\n")
	fmt.Fprintf(&b, "Acquire::Retries \"3\";\n")
	fmt.Fprintf(&b, "APT::Get::AllowUnauthenticated \"false\";\n")
	return b.String()
}

func (a *Archive) sourcesList() string {
	var b strings.Builder
	for _, s := range a.Sources {
		b.WriteString(s.line())
		b.WriteByte('\n')
	}
	return b.String()
}

// prepare writes the configuration and the empty state apt needs.
func (a *Archive) prepare() error {
	for _, sub := range []string{"empty", "state/lists/partial", "cache/archives/partial", "log", "debs"} {
		if err := os.MkdirAll(filepath.Join(a.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := writeIfChanged(filepath.Join(a.Dir, "state/status"), ""); err != nil {
		return err
	}
	if err := writeIfChanged(a.confPath(), a.config()); err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(a.Dir, "sources.list"), a.sourcesList())
}

func writeIfChanged(path, content string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == content {
		return nil
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// lock serializes apt calls on one archive across processes (apt's own lock
// would make a concurrent second run fail instead of wait).
func (a *Archive) lock(ctx context.Context) (func(), error) {
	return filelock.Lock(ctx, filepath.Join(a.Dir, ".lock"), "apt in "+a.Dir)
}

// CheckTools says what is missing to use an archive on this host.
func CheckTools() error {
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found in PATH (perfconform fetches Debian packages with apt and dpkg-deb; on Debian or Ubuntu: apt-get install apt dpkg)", ErrTool, tool)
		}
	}
	if _, err := os.Stat(Keyring); err != nil {
		return fmt.Errorf("%w: %s: %w (apt-get install debian-archive-keyring)", ErrKeyring, Keyring, err)
	}
	return nil
}

// Update reads the suites' package lists unless they are younger than MaxAge.
func (a *Archive) Update(ctx context.Context) error {
	if err := CheckTools(); err != nil {
		return err
	}
	unlock, err := a.lock(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUpdate, err)
	}
	defer unlock()
	return a.updateLocked(ctx, false)
}

func (a *Archive) updateLocked(ctx context.Context, force bool) error {
	if err := a.prepare(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUpdate, a.Dir, err)
	}
	stamp := filepath.Join(a.Dir, "state", "updated")
	maxAge := a.MaxAge
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	if st, err := os.Stat(stamp); err == nil && !force && time.Since(st.ModTime()) < maxAge {
		if b, _ := os.ReadFile(stamp); string(b) == a.sourcesList() {
			return nil
		}
	}
	a.progress("apt: reading package lists of %s (%s)", a.suites(), a.Arch)
	if out, err := a.apt(ctx, "", "apt-get", "update", "-q"); err != nil {
		return fmt.Errorf("%w: %s (%s): %w: %s", ErrUpdate, a.suites(), a.Dir, err, tail(out))
	} else if strings.Contains(out, "W: ") || strings.Contains(out, "E: ") {
		// apt-get update exits 0 when a suite failed to download; a
		// missing list must not pass for "no such package" later.
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: Failed to fetch") {
				return fmt.Errorf("%w: %s: %s", ErrUpdate, a.suites(), l)
			}
		}
	}
	return os.WriteFile(stamp, []byte(a.sourcesList()), 0o644)
}

func (a *Archive) suites() string {
	var s []string
	for _, src := range a.Sources {
		s = append(s, src.Suite)
	}
	return strings.Join(s, ", ")
}

// apt runs an apt tool with this archive's configuration.
func (a *Archive) apt(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "APT_CONFIG="+a.confPath(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// PackageNames lists the package names that start with prefix.
func (a *Archive) PackageNames(ctx context.Context, prefix string) ([]string, error) {
	if err := a.Update(ctx); err != nil {
		return nil, err
	}
	out, err := a.apt(ctx, "", "apt-cache", "pkgnames", prefix)
	if err != nil {
		return nil, fmt.Errorf("apt-cache pkgnames %s (%s): %w: %s", prefix, a.suites(), err, tail(out))
	}
	names := strings.Fields(out)
	slices.Sort(names)
	return names, nil
}

// Version is the candidate version apt would download for pkg.
func (a *Archive) Version(ctx context.Context, pkg string) (string, error) {
	if err := a.Update(ctx); err != nil {
		return "", err
	}
	return a.candidate(ctx, pkg)
}

// candidate reads the candidate version from lists already read.
func (a *Archive) candidate(ctx context.Context, pkg string) (string, error) {
	out, err := a.apt(ctx, "", "apt-cache", "policy", pkg)
	if err != nil {
		return "", fmt.Errorf("apt-cache policy %s: %w: %s", pkg, err, tail(out))
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Candidate: "); ok && v != "(none)" {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: %s in %s (%s)", ErrNoPackage, pkg, a.suites(), a.Arch)
}

// Closure returns pkgs and every package they depend on, recursively
// (Depends and PreDepends only; virtual packages resolved to a provider).
func (a *Archive) Closure(ctx context.Context, pkgs ...string) ([]string, error) {
	if err := a.Update(ctx); err != nil {
		return nil, err
	}
	args := append([]string{"depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances"}, pkgs...)
	out, err := a.apt(ctx, "", "apt-cache", args...)
	if err != nil {
		return nil, fmt.Errorf("apt-cache depends %s: %w: %s", strings.Join(pkgs, " "), err, tail(out))
	}
	return parseDepends(out), nil
}

// parseDepends takes the package names out of apt-cache depends --recurse
// output: unindented lines are packages, "<virtual>" ones are skipped (their
// provider appears as an indented line and then as its own entry).
func parseDepends(out string) []string {
	seen := map[string]bool{}
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "<") {
			continue
		}
		n := strings.TrimSpace(l)
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Download fetches pkgs (name or name=version) into the archive's debs
// directory, keeping those already there, and returns the .deb paths in
// the order given. The missing ones are fetched by one apt-get call: a call
// costs about half a second whatever it fetches, and a crate closure is
// over a hundred small packages.
func (a *Archive) Download(ctx context.Context, pkgs ...string) ([]string, error) {
	if err := a.Update(ctx); err != nil {
		return nil, err
	}
	unlock, err := a.lock(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDownload, err)
	}
	defer unlock()
	debs := filepath.Join(a.Dir, "debs")
	paths := make([]string, len(pkgs))
	var missing []int       // indexes into pkgs
	var args, want []string // name=version to fetch, and each one's name
	versions := make([]string, len(pkgs))
	for i, p := range pkgs {
		name, version, _ := strings.Cut(p, "=")
		if version == "" {
			v, err := a.candidate(ctx, name)
			if err != nil {
				return nil, err
			}
			version = v
		}
		versions[i] = version
		if have := findDeb(debs, name, version); have != "" {
			paths[i] = have
			continue
		}
		missing = append(missing, i)
		if !slices.Contains(args, name+"="+version) {
			args = append(args, name+"="+version)
			want = append(want, name)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	if len(args) == 1 {
		a.progress("apt: downloading %s", strings.Replace(args[0], "=", " ", 1))
	} else {
		a.progress("apt: downloading %d packages (%s, ...)", len(args), strings.Join(want[:min(3, len(want))], ", "))
	}
	work, err := os.MkdirTemp(debs, ".dl-")
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrDownload, strings.Join(want, " "), err)
	}
	defer os.RemoveAll(work)
	out, err := a.apt(ctx, work, "apt-get", append([]string{"download", "-q"}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("%w %s from %s: %w: %s", ErrDownload, strings.Join(args, " "), a.suites(), err, tail(out))
	}
	for _, i := range missing {
		name, _, _ := strings.Cut(pkgs[i], "=")
		if paths[i] = findDeb(debs, name, versions[i]); paths[i] != "" {
			continue // a duplicate in pkgs, moved already
		}
		got := findDeb(work, name, versions[i])
		if got == "" {
			return nil, fmt.Errorf("%w %s=%s: apt-get download left no %s_*.deb", ErrDownload, name, versions[i], name)
		}
		dst := filepath.Join(debs, filepath.Base(got))
		if err := os.Rename(got, dst); err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrDownload, name, err)
		}
		paths[i] = dst
	}
	return paths, nil
}

// findDeb finds an already downloaded package: apt names files
// name_version_arch.deb with the epoch's colon escaped as %3a.
func findDeb(dir, name, version string) string {
	v := strings.ReplaceAll(version, ":", "%3a")
	got, _ := filepath.Glob(filepath.Join(dir, name+"_"+v+"_*.deb"))
	if len(got) == 1 {
		return got[0]
	}
	return ""
}

// Extract unpacks a .deb's files into dir (dpkg-deb -x: no scripts run).
func Extract(ctx context.Context, deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w %s: %w", ErrUnpack, filepath.Base(deb), err)
	}
	cmd := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: dpkg-deb -x %s %s: %w: %s", ErrUnpack, deb, dir, err, tail(string(out)))
	}
	return nil
}

// Field reads one control field (Version, Package...) of a .deb.
func Field(ctx context.Context, deb, field string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, field).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: dpkg-deb -f %s %s: %w: %s", ErrUnpack, deb, field, err, tail(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Unpacked downloads pkgs and unpacks all of them into dest, once: a stamp
// file records what dest holds, and a tree that holds exactly pkgs at the
// same versions is reused. It returns name -> version.
func (a *Archive) Unpacked(ctx context.Context, dest string, pkgs ...string) (map[string]string, error) {
	debs, err := a.Download(ctx, pkgs...)
	if err != nil {
		return nil, err
	}
	var stamp strings.Builder
	versions := map[string]string{}
	for _, d := range debs {
		name, err := Field(ctx, d, "Package")
		if err != nil {
			return nil, err
		}
		v, err := Field(ctx, d, "Version")
		if err != nil {
			return nil, err
		}
		versions[name] = v
		fmt.Fprintf(&stamp, "%s %s\n", name, v)
	}
	// Another process may be unpacking the same tree, or using it: decide
	// and swap under a lock, so a complete tree is never replaced by a copy.
	unlock, err := filelock.Lock(ctx, dest+".lock", "unpack into "+dest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnpack, err)
	}
	defer unlock()
	stampPath := filepath.Join(dest, ".perfconform-unpacked")
	if b, err := os.ReadFile(stampPath); err == nil && string(b) == stamp.String() {
		return versions, nil
	}
	// Unpack into a fresh sibling and swap it in, so an interrupted unpack
	// never leaves a tree that looks complete.
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnpack, err)
	}
	work, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+"-")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnpack, err)
	}
	defer os.RemoveAll(work)
	a.progress("apt: unpacking %d packages into %s", len(debs), dest)
	for _, d := range debs {
		if err := Extract(ctx, d, work); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(work, ".perfconform-unpacked"), []byte(stamp.String()), 0o644); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnpack, err)
	}
	if err := os.RemoveAll(dest); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnpack, err)
	}
	if err := os.Rename(work, dest); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnpack, err)
	}
	return versions, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
