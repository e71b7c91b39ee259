package workflowrun

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rhysd/actionlint"
)

// ErrExpr: an expression does not parse or uses something this runner does
// not evaluate.
var ErrExpr = errors.New("expression")

// scope is what an expression can see: the contexts (github, env, inputs,
// matrix, steps, needs, jobs, runner, secrets) and the status functions.
// Values are nil, bool, float64, string, []any and map[string]any, as
// fromJSON produces them.
type scope struct {
	contexts map[string]any
	// status answers success(), failure(), always() and cancelled().
	status func(name string) bool
	// workspace is where hashFiles looks.
	workspace string
}

var statusFuncs = map[string]bool{"success": true, "failure": true, "always": true, "cancelled": true}

// parseExpr parses the expression text between "${{" and "}}" (src may
// continue after the closing braces) and returns the node and how many bytes
// of src it used, the braces included.
func parseExpr(src string) (actionlint.ExprNode, int, error) {
	lex := actionlint.NewExprLexer(src)
	node, err := actionlint.NewExprParser().Parse(lex)
	if err != nil {
		return nil, 0, fmt.Errorf("%w %q: %s", ErrExpr, src, err.Message)
	}
	return node, lex.Offset(), nil
}

// interpolate replaces every ${{ expr }} in s with the value's string form.
func (sc *scope) interpolate(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		node, n, err := parseExpr(s[i+3:])
		if err != nil {
			return "", err
		}
		v, err := sc.eval(node)
		if err != nil {
			return "", fmt.Errorf("%s: %w", strings.TrimSpace(s[i:i+3+n]), err)
		}
		b.WriteString(toString(v))
		s = s[i+3+n:]
	}
}

// value evaluates s: a string that is exactly one ${{ expr }} keeps the
// expression's type (fromJSON arrays for a matrix row); anything else is
// interpolated into a string.
func (sc *scope) value(s string) (any, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "${{") {
		node, n, err := parseExpr(t[3:])
		if err != nil {
			return nil, err
		}
		if 3+n == len(t) {
			return sc.eval(node)
		}
	}
	return sc.interpolate(s)
}

// condition evaluates an if: (with or without ${{ }}); like the runner, an
// expression that calls no status function means success() && (expr).
func (sc *scope) condition(cond string) (bool, error) {
	t := strings.TrimSpace(cond)
	if t == "" {
		return sc.status("success"), nil
	}
	if strings.HasPrefix(t, "${{") && strings.HasSuffix(t, "}}") {
		t = strings.TrimSpace(t[3 : len(t)-2])
	}
	node, _, err := parseExpr(t + "}}")
	if err != nil {
		return false, err
	}
	if !callsStatus(node) && !sc.status("success") {
		return false, nil
	}
	v, err := sc.eval(node)
	if err != nil {
		return false, fmt.Errorf("if: %s: %w", cond, err)
	}
	return truthy(v), nil
}

func callsStatus(n actionlint.ExprNode) bool {
	switch n := n.(type) {
	case *actionlint.FuncCallNode:
		if statusFuncs[strings.ToLower(n.Callee)] {
			return true
		}
		for _, a := range n.Args {
			if callsStatus(a) {
				return true
			}
		}
	case *actionlint.NotOpNode:
		return callsStatus(n.Operand)
	case *actionlint.CompareOpNode:
		return callsStatus(n.Left) || callsStatus(n.Right)
	case *actionlint.LogicalOpNode:
		return callsStatus(n.Left) || callsStatus(n.Right)
	}
	return false
}

func (sc *scope) eval(n actionlint.ExprNode) (any, error) {
	switch n := n.(type) {
	case *actionlint.NullNode:
		return nil, nil
	case *actionlint.BoolNode:
		return n.Value, nil
	case *actionlint.IntNode:
		return float64(n.Value), nil
	case *actionlint.FloatNode:
		return n.Value, nil
	case *actionlint.StringNode:
		return n.Value, nil
	case *actionlint.VariableNode:
		v, ok := lookup(sc.contexts, n.Name)
		if !ok {
			return nil, fmt.Errorf("%w: context %q is not available here", ErrExpr, n.Name)
		}
		return v, nil
	case *actionlint.ObjectDerefNode:
		recv, err := sc.eval(n.Receiver)
		if err != nil {
			return nil, err
		}
		if n.Property == "*" {
			return nil, fmt.Errorf("%w: object filters (.*) are not supported", ErrExpr)
		}
		if m, ok := recv.(map[string]any); ok {
			v, _ := lookup(m, n.Property)
			return v, nil
		}
		return nil, nil // null for anything else, as on GitHub
	case *actionlint.IndexAccessNode:
		recv, err := sc.eval(n.Operand)
		if err != nil {
			return nil, err
		}
		idx, err := sc.eval(n.Index)
		if err != nil {
			return nil, err
		}
		switch r := recv.(type) {
		case map[string]any:
			v, _ := lookup(r, toString(idx))
			return v, nil
		case []any:
			if f, ok := idx.(float64); ok && f >= 0 && int(f) < len(r) && f == math.Trunc(f) {
				return r[int(f)], nil
			}
		}
		return nil, nil
	case *actionlint.ArrayDerefNode:
		return nil, fmt.Errorf("%w: array filters (.*) are not supported", ErrExpr)
	case *actionlint.NotOpNode:
		v, err := sc.eval(n.Operand)
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case *actionlint.LogicalOpNode:
		l, err := sc.eval(n.Left)
		if err != nil {
			return nil, err
		}
		if (n.Kind == actionlint.LogicalOpNodeKindAnd) != truthy(l) {
			return l, nil // && stops at a falsy left, || at a truthy one
		}
		return sc.eval(n.Right)
	case *actionlint.CompareOpNode:
		l, err := sc.eval(n.Left)
		if err != nil {
			return nil, err
		}
		r, err := sc.eval(n.Right)
		if err != nil {
			return nil, err
		}
		return compare(n.Kind, l, r), nil
	case *actionlint.FuncCallNode:
		return sc.call(n)
	}
	return nil, fmt.Errorf("%w: unsupported node %T", ErrExpr, n)
}

func (sc *scope) call(n *actionlint.FuncCallNode) (any, error) {
	name := strings.ToLower(n.Callee)
	if statusFuncs[name] {
		return sc.status(name), nil
	}
	args := make([]any, len(n.Args))
	for i, a := range n.Args {
		v, err := sc.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	argc := func(min, max int) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return fmt.Errorf("%w: %s takes %d..%d arguments, got %d", ErrExpr, n.Callee, min, max, len(args))
		}
		return nil
	}
	switch name {
	case "fromjson":
		if err := argc(1, 1); err != nil {
			return nil, err
		}
		var v any
		if err := json.Unmarshal([]byte(toString(args[0])), &v); err != nil {
			return nil, fmt.Errorf("%w: fromJSON(%q): %v", ErrExpr, toString(args[0]), err)
		}
		return v, nil
	case "tojson":
		if err := argc(1, 1); err != nil {
			return nil, err
		}
		b, _ := json.MarshalIndent(args[0], "", "  ")
		return string(b), nil
	case "contains":
		if err := argc(2, 2); err != nil {
			return nil, err
		}
		if arr, ok := args[0].([]any); ok {
			for _, e := range arr {
				if compare(actionlint.CompareOpNodeKindEq, e, args[1]) {
					return true, nil
				}
			}
			return false, nil
		}
		return strings.Contains(strings.ToLower(toString(args[0])), strings.ToLower(toString(args[1]))), nil
	case "startswith", "endswith":
		if err := argc(2, 2); err != nil {
			return nil, err
		}
		s, p := strings.ToLower(toString(args[0])), strings.ToLower(toString(args[1]))
		if name == "startswith" {
			return strings.HasPrefix(s, p), nil
		}
		return strings.HasSuffix(s, p), nil
	case "format":
		if err := argc(1, -1); err != nil {
			return nil, err
		}
		return format(toString(args[0]), args[1:])
	case "join":
		if err := argc(1, 2); err != nil {
			return nil, err
		}
		sep := ","
		if len(args) == 2 {
			sep = toString(args[1])
		}
		arr, ok := args[0].([]any)
		if !ok {
			return toString(args[0]), nil
		}
		parts := make([]string, len(arr))
		for i, e := range arr {
			parts[i] = toString(e)
		}
		return strings.Join(parts, sep), nil
	case "hashfiles":
		if err := argc(1, -1); err != nil {
			return nil, err
		}
		pats := make([]string, len(args))
		for i, a := range args {
			pats[i] = toString(a)
		}
		return hashFiles(sc.workspace, pats)
	}
	return nil, fmt.Errorf("%w: function %s is not supported", ErrExpr, n.Callee)
}

// lookup is a case-insensitive property access, as GitHub's.
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return v
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func toNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return float64(i)
		}
	}
	return math.NaN()
}

// compare follows GitHub's rules: strings compare case-insensitively, other
// mixed types are coerced to numbers (NaN compares false), arrays and
// objects are equal only to themselves (never, here).
func compare(kind actionlint.CompareOpNodeKind, l, r any) bool {
	var c int
	ls, lok := l.(string)
	rs, rok := r.(string)
	switch {
	case lok && rok:
		c = strings.Compare(strings.ToUpper(ls), strings.ToUpper(rs))
	case isComposite(l) || isComposite(r):
		return kind == actionlint.CompareOpNodeKindNotEq
	default:
		a, b := toNumber(l), toNumber(r)
		if math.IsNaN(a) || math.IsNaN(b) {
			return kind == actionlint.CompareOpNodeKindNotEq
		}
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	}
	switch kind {
	case actionlint.CompareOpNodeKindEq:
		return c == 0
	case actionlint.CompareOpNodeKindNotEq:
		return c != 0
	case actionlint.CompareOpNodeKindLess:
		return c < 0
	case actionlint.CompareOpNodeKindLessEq:
		return c <= 0
	case actionlint.CompareOpNodeKindGreater:
		return c > 0
	case actionlint.CompareOpNodeKindGreaterEq:
		return c >= 0
	}
	return false
}

func isComposite(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

// format is GitHub's format(): {N} is argument N, {{ and }} are braces.
func format(f string, args []any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("%w: format(%q): unclosed {", ErrExpr, f)
			}
			n, err := strconv.Atoi(f[i+1 : i+end])
			if err != nil || n < 0 || n >= len(args) {
				return "", fmt.Errorf("%w: format(%q): bad index %q for %d arguments", ErrExpr, f, f[i+1:i+end], len(args))
			}
			b.WriteString(toString(args[n]))
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// hashFiles is GitHub's: the SHA-256 of the SHA-256 of every file under the
// workspace matching a pattern (** spans directories, !pattern excludes),
// in path order; "" when none matches.
func hashFiles(workspace string, patterns []string) (string, error) {
	var include, exclude []*regexp.Regexp
	for _, p := range patterns {
		for _, line := range strings.Split(p, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			neg := strings.HasPrefix(line, "!")
			re, err := globRegexp(strings.TrimPrefix(line, "!"))
			if err != nil {
				return "", err
			}
			if neg {
				exclude = append(exclude, re)
			} else {
				include = append(include, re)
			}
		}
	}
	var files []string
	err := filepath.WalkDir(workspace, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(workspace, path)
		if matchAny(include, rel) && !matchAny(exclude, rel) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashFiles: %w", err)
	}
	if len(files) == 0 {
		return "", nil
	}
	sort.Strings(files)
	total := sha256.New()
	for _, f := range files {
		h := sha256.New()
		fh, err := os.Open(f)
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("hashFiles: %w", err)
		}
		total.Write(h.Sum(nil))
	}
	return hex.EncodeToString(total.Sum(nil)), nil
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// globRegexp: ** matches across directories (and "dir/**" the directory's
// whole tree), * and ? within one path element.
func globRegexp(glob string) (*regexp.Regexp, error) {
	glob = strings.TrimPrefix(glob, "./")
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("%w: hashFiles pattern %q: %v", ErrExpr, glob, err)
	}
	return re, nil
}
