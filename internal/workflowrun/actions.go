package workflowrun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rhysd/actionlint"
)

// localAction is the local equivalent of an action: it gets the evaluated
// with: inputs and returns the step's failure (first) or the runner's.
type localAction struct {
	// inputs lists every with: key the equivalent honours or deliberately
	// ignores; any other key is refused, so nothing is silently dropped.
	inputs []string
	run    func(ctx context.Context, j *job, with map[string]string, sr *StepResult, out io.Writer) (error, error)
}

var localActions = map[string]localAction{
	// The local tree of the repository stands for every ref; fetch-depth
	// and submodules are whatever the tree holds.
	"actions/checkout": {[]string{"repository", "ref", "path", "fetch-depth", "submodules"}, checkout},
	// The runner's own Go stands for the version asked; the module and
	// build caches are whatever Runner.Env says (setup-go restores them).
	"actions/setup-go":          {[]string{"go-version", "go-version-file", "cache", "cache-dependency-path"}, setupGo},
	"actions/cache":             {[]string{"path", "key", "restore-keys"}, cache},
	"actions/upload-artifact":   {[]string{"name", "path", "if-no-files-found", "retention-days"}, uploadArtifact},
	"actions/download-artifact": {[]string{"name", "pattern", "path", "merge-multiple"}, downloadArtifact},
}

func (j *job) action(ctx context.Context, sc *scope, e *actionlint.ExecAction, _ map[string]string, sr *StepResult, out io.Writer) (error, error) {
	uses := e.Uses.Value
	name, _, _ := strings.Cut(strings.ToLower(uses), "@")
	a, ok := localActions[name]
	if !ok {
		return nil, fmt.Errorf("%w: action %s has no local equivalent", ErrUnsupported, uses)
	}
	with := map[string]string{}
	for key, in := range e.Inputs {
		known := false
		for _, k := range a.inputs {
			known = known || k == key
		}
		if !known {
			return nil, fmt.Errorf("%w: %s input %s", ErrUnsupported, uses, in.Name.Value)
		}
		v, err := sc.interpolate(in.Value.Value)
		if err != nil {
			return nil, fmt.Errorf("%s with.%s: %w", uses, in.Name.Value, err)
		}
		with[key] = v
	}
	fmt.Fprintf(out, "%s (local equivalent) with %v\n", uses, with)
	return a.run(ctx, j, with, sr, out)
}

// within resolves p against the workspace (~ is HOME).
func (j *job) within(p string) string {
	if rest, ok := strings.CutPrefix(p, "~"); ok {
		return filepath.Join(j.run.Home, rest)
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(j.run.Workspace, p)
}

func checkout(ctx context.Context, j *job, with map[string]string, _ *StepResult, out io.Writer) (error, error) {
	repo := with["repository"]
	if repo == "" {
		repo = j.r.Repository
	}
	src, ok := j.r.Repos[repo]
	if !ok {
		return fmt.Errorf("checkout: no local tree for repository %s", repo), nil
	}
	dst := j.within(with["path"])
	if dst == j.run.Workspace {
		entries, _ := os.ReadDir(dst)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dst, e.Name()))
		}
	} else if err := os.RemoveAll(dst); err != nil {
		return nil, err
	}
	n, err := CopyTree(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("checkout %s: %w", repo, err), nil
	}
	fmt.Fprintf(out, "copied %d files of %s (%s) into %s\n", n, repo, src, dst)
	return nil, nil
}

// CopyTree copies the files of the tree at src into dst: what git would
// check out (tracked and untracked-but-not-ignored files, so uncommitted
// work is tested too) when src is in a git work tree, every file otherwise.
// It returns how many files it copied.
func CopyTree(ctx context.Context, src, dst string) (int, error) {
	var files []string
	cmd := exec.CommandContext(ctx, "git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if b, err := cmd.Output(); err == nil {
		for _, f := range bytes.Split(b, []byte{0}) {
			if len(f) > 0 {
				files = append(files, string(f))
			}
		}
	} else {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			files = append(files, rel)
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	n := 0
	for _, f := range files {
		c, err := copyPath(filepath.Join(src, f), filepath.Join(dst, f))
		if err != nil {
			return n, err
		}
		n += c
	}
	return n, nil
}

// copyPath copies a file, symlink or directory tree; a path that does not
// exist (deleted but still tracked) is skipped.
func copyPath(src, dst string) (int, error) {
	st, err := os.Lstat(src)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return 0, err
		}
		return 1, os.Symlink(target, dst)
	case st.IsDir():
		n := 0
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == src {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			c, err := copyPath(p, filepath.Join(dst, rel))
			n += c
			return err
		})
		return n, err
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return 0, err
	}
	return 1, o.Close()
}

func setupGo(ctx context.Context, j *job, with map[string]string, sr *StepResult, out io.Writer) (error, error) {
	if j.r.GoRoot == "" {
		return nil, fmt.Errorf("%w: actions/setup-go without Runner.GoRoot", ErrUnsupported)
	}
	goBin := filepath.Join(j.r.GoRoot, "bin", "go")
	b, err := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("%s env GOVERSION: %w", goBin, err)
	}
	have := strings.TrimPrefix(strings.TrimSpace(string(b)), "go")
	want := with["go-version"]
	if f := with["go-version-file"]; f != "" {
		mod, err := os.ReadFile(j.within(f))
		if err != nil {
			return fmt.Errorf("setup-go: go-version-file: %w", err), nil
		}
		for _, l := range strings.Split(string(mod), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "go "); ok {
				want = strings.TrimSpace(v)
			}
		}
		if want == "" {
			return fmt.Errorf("setup-go: %s has no go directive", f), nil
		}
	}
	if want != "" && versionLess(have, want) {
		return fmt.Errorf("setup-go: the local Go %s is older than the %s asked; it cannot stand in", have, want), nil
	}
	if p := with["cache-dependency-path"]; p != "" {
		if _, err := os.Stat(j.within(p)); err != nil {
			return fmt.Errorf("setup-go: cache-dependency-path: %w", err), nil
		}
	}
	j.paths = append([]string{filepath.Join(j.r.GoRoot, "bin")}, j.paths...)
	sr.Outputs["go-version"] = have
	fmt.Fprintf(out, "Go %s (%s) on PATH for %s\n", have, j.r.GoRoot, want)
	return nil, nil
}

// versionLess compares dotted versions numerically (1.26 < 1.26.1).
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(strings.TrimFunc(as[i], func(r rune) bool { return r < '0' || r > '9' }))
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(strings.TrimFunc(bs[i], func(r rune) bool { return r < '0' || r > '9' }))
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// cacheEntry is the store directory of a cache key.
func (j *job) cacheEntry(key string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(j.st.cache, hex.EncodeToString(h[:8]))
}

// cache restores paths from the exact key or the newest entry whose key
// starts with a restore-key, and saves them after a successful job when the
// key was not hit (entries are immutable, as on GitHub).
func cache(_ context.Context, j *job, with map[string]string, sr *StepResult, out io.Writer) (error, error) {
	paths, key := lines(with["path"]), with["key"]
	if len(paths) == 0 || key == "" {
		return fmt.Errorf("cache: path and key are required"), nil
	}
	hit := ""
	if _, err := os.Stat(filepath.Join(j.cacheEntry(key), "key")); err == nil {
		hit = key
	} else {
		entries, _ := os.ReadDir(j.st.cache)
		var best time.Time
		for _, prefix := range lines(with["restore-keys"]) {
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(j.st.cache, e.Name(), "key"))
				info, ierr := e.Info()
				if err == nil && ierr == nil && strings.HasPrefix(string(b), prefix) && info.ModTime().After(best) {
					hit, best = string(b), info.ModTime()
				}
			}
			if hit != "" {
				break
			}
		}
	}
	sr.Outputs["cache-hit"] = strconv.FormatBool(hit == key)
	if hit != "" {
		for i, p := range paths {
			if _, err := copyPath(filepath.Join(j.cacheEntry(hit), strconv.Itoa(i)), j.within(p)); err != nil {
				return nil, fmt.Errorf("cache restore %s: %w", p, err)
			}
		}
		sr.Outputs["cache-matched-key"] = hit
		fmt.Fprintf(out, "cache restored from key %s\n", hit)
	} else {
		fmt.Fprintf(out, "cache not found for key %s\n", key)
	}
	if hit == key {
		return nil, nil
	}
	j.post = append(j.post, func() error {
		if j.failed {
			return nil // the post step runs if: success()
		}
		dir := j.cacheEntry(key)
		tmp := dir + ".tmp"
		os.RemoveAll(tmp)
		for i, p := range paths {
			if _, err := copyPath(j.within(p), filepath.Join(tmp, strconv.Itoa(i))); err != nil {
				return fmt.Errorf("cache save %s: %w", p, err)
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, "key"), []byte(key), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(j.r.Log, "cache saved with key %s\n", key)
		return os.Rename(tmp, dir)
	})
	return nil, nil
}

func uploadArtifact(_ context.Context, j *job, with map[string]string, _ *StepResult, out io.Writer) (error, error) {
	name := with["name"]
	if name == "" {
		name = "artifact"
	}
	if strings.ContainsAny(name, "\":<>|*?\r\n\\/") {
		return fmt.Errorf("upload-artifact: name %q contains a character artifacts may not have", name), nil
	}
	paths := lines(with["path"])
	if len(paths) != 1 {
		return nil, fmt.Errorf("%w: upload-artifact with %d paths (one is supported)", ErrUnsupported, len(paths))
	}
	dst := filepath.Join(j.st.artifacts, name)
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("upload-artifact: an artifact named %s already exists in this run", name), nil
	}
	src := j.within(paths[0])
	n, err := copyPath(src, dst)
	if err != nil {
		return fmt.Errorf("upload-artifact %s: %w", name, err), nil
	}
	if n == 0 {
		msg := fmt.Sprintf("upload-artifact %s: no files found at %s", name, paths[0])
		switch with["if-no-files-found"] {
		case "error":
			return fmt.Errorf("%s", msg), nil
		case "ignore":
		default:
			fmt.Fprintln(out, "warning: "+msg)
		}
		return nil, nil
	}
	fmt.Fprintf(out, "artifact %s: %d files from %s\n", name, n, src)
	return nil, nil
}

func downloadArtifact(_ context.Context, j *job, with map[string]string, _ *StepResult, out io.Writer) (error, error) {
	dest := j.within(with["path"])
	entries, err := os.ReadDir(j.st.artifacts)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if name := with["name"]; name != "" {
		if _, err := copyPath(filepath.Join(j.st.artifacts, name), dest); err != nil || !slices.Contains(names, name) {
			return fmt.Errorf("download-artifact: artifact %s not found (%v)", name, err), nil
		}
		return nil, nil
	}
	pattern := with["pattern"]
	if pattern == "" {
		pattern = "*"
	}
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); !ok {
			continue
		}
		d := filepath.Join(dest, n)
		if with["merge-multiple"] == "true" {
			d = dest
		}
		if _, err := copyPath(filepath.Join(j.st.artifacts, n), d); err != nil {
			return fmt.Errorf("download-artifact %s: %w", n, err), nil
		}
		fmt.Fprintf(out, "artifact %s -> %s\n", n, d)
	}
	return nil, nil
}
