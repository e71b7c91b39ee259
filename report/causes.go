package report

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/result"
)

// Root causes. One loader bug usually fails several requirements at once
// (cilium/ebpf refusing a gapped possible list fails every check that loads
// an object), and on many places; listing one finding per requirement and
// version buries the cause. A Cause is the FAILs of one loader (every
// version of it) that share the stage and the error text once CPU numbers,
// sizes, CPU lists, scratch paths and map names are taken out: one finding
// listing the requirements it takes down.
//
// What "the same text" means is causeSignature's: the detail's first line,
// the stage ("load stage", "reader stage") cut off as the stage, wrappers
// that only name a file or map dropped, the "; "-separated clauses (one per
// CPU in the oracle's messages) made a set. A cause whose clause set is
// inside another's of the same loader and stage (sparse-high's "CPU 5: …
// -ENOENT; CPU 7: … -ENOENT" inside sparse's "CPU 2: … -EOPNOTSUPP; CPU 3: …
// -ENOENT") is the same cause seen on a machine where fewer CPUs hit it.
//
// Causes returns them for a set of results; the reports list them under
// "Root causes" and `conform doctor` matches their Classes against a machine.
type Cause struct {
	// ID is the cause's anchor and number in the report ("C3").
	ID   string
	Base string // the loader's name without version, "cilium-ebpf"
	// Loaders are the loader names (with version) it was seen with, in
	// release order.
	Loaders      []string
	Stage        string
	Requirements []string // strictest level first, then by name
	Level        result.Level
	Results      []result.Result
	// Rep is the representative result: the newest version's first result
	// that carries a CPU or errno, else its first.
	Rep result.Result
	// Bites describes where the cause bites, from the masks of the places
	// it failed and those where the same loaders passed the same
	// requirements: topology classes ("sparse online"), "every topology"
	// or, when no class tells them apart, the topologies.
	Bites string
	// Classes are the classes of Bites; nil when it bites everywhere or no
	// class tells (then Everywhere says which).
	Classes    []string
	Everywhere bool
	Where      string
	Upstream   []UpstreamRef
	// Impact is what the cause means for the loader's users: the line of
	// its strictest requirement (Options.Impacts).
	Impact string
	// Known: every result is a failure a baseline accepts.
	Known  bool
	Reason string

	key     string
	clauses []string
}

// Causes returns the root causes of r's FAILs that no baseline of opts
// covers, in report order (C1, C2, …), as report.md lists them.
func Causes(r *Results, opts Options) []*Cause {
	return buildModel(r, opts).Causes
}

// Versions is the cause's versions in release order, e.g. "v0.16.0–v0.22.0
// (4 versions)", or the one loader name.
func (c *Cause) Versions() string { return versionSpan(c.Loaders) }

// versionSpan names loader versions compactly: one name, or the first and
// last version with the count.
func versionSpan(loaders []string) string {
	switch len(loaders) {
	case 0:
		return ""
	case 1:
		return loaders[0]
	}
	first, last := result.ParseLoaderName(loaders[0]), result.ParseLoaderName(loaders[len(loaders)-1])
	return fmt.Sprintf("%s@%s…%s (%d versions)", first.Base, first.Version, last.Version, len(loaders))
}

// Evidence is the representative's place, CPU and errno and its detail on
// one line, scratch paths cut.
func (c *Cause) Evidence() string {
	ev := c.Rep.Loader + " on " + placeText(c.Rep)
	if e := cpuErrno(c.Rep); e != "" {
		ev += ": " + e
	}
	if d := shorten(c.Rep.Detail, summaryRunes); d != "" {
		ev += ": " + d
	}
	return ev
}

// Detail is the representative's detail, shortened for the cause list.
func (c *Cause) Detail() string { return shorten(c.Rep.Detail, detailRunes) }

// LevelText is the cause's requirements by level: "MUST: RING-KEY,
// RING-DELIVER; SHOULD: COMPAT-RELOAD".
func (c *Cause) LevelText() string {
	level := map[string]result.Level{}
	for _, r := range c.Results {
		if l, ok := level[r.Requirement]; !ok || levelRank(r.Level) < levelRank(l) {
			level[r.Requirement] = r.Level
		}
	}
	var parts []string
	for _, l := range levels {
		var ids []string
		for _, id := range c.Requirements {
			if level[id] == l {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			parts = append(parts, string(l)+": "+strings.Join(ids, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// Count says how many results the cause stands for.
func (c *Cause) Count() string {
	if len(c.Results) == 1 {
		return "1 result"
	}
	return fmt.Sprintf("%d results", len(c.Results))
}

// UpstreamText is the cause's upstream status on one line, or "not
// checked" when upstream.json says nothing about it.
func (c *Cause) UpstreamText() string {
	if len(c.Upstream) == 0 {
		return "upstream status not recorded"
	}
	var parts []string
	for _, u := range c.Upstream {
		parts = append(parts, u.Text())
	}
	return strings.Join(parts, "; ")
}

var (
	// stageMarker is the suite's "… failed at the load stage: …",
	// "no reader: reader stage: …".
	stageMarker = regexp.MustCompile(`(\w+) stage:? `)
	// maskSuffix is the masks the suite appends to a detail.
	maskSuffix = regexp.MustCompile(`\s*\[possible [^\]]*\]\s*$`)
	// anyPath is a scratch or sysfs-free absolute path under /tmp or bpffs.
	anyPath = regexp.MustCompile(`(?:/tmp|/sys/fs/bpf)(?:/[^\s/'"():;,\]` + "`" + `]+)+/?`)
	// mapName is a map named after "map", quoted or not.
	mapName = regexp.MustCompile("\\bmap ([`'\"]?)[A-Za-z_]\\w*")
	// numbers are CPU ids, CPU lists, sizes and error numbers.
	numbers = regexp.MustCompile(`\d+(?:[-,]\d+)*`)
	// wrapper is a ": "-separated segment that only names a file or a map.
	wrapper = regexp.MustCompile(`^(?:…|(?:file|load|map|use pinned map|perf reader for map) …(?: \(max_entries N\))?)$`)
)

// causeSignature is the stage and the normalized clauses of a FAIL's
// detail (see Cause).
func causeSignature(detail string) (stage string, clauses []string) {
	line := ""
	for _, l := range strings.Split(detail, "\n") {
		if strings.TrimSpace(l) != "" {
			line = l
			break
		}
	}
	line = maskSuffix.ReplaceAllString(strings.Join(strings.Fields(line), " "), "")
	if m := stageMarker.FindStringSubmatchIndex(line); m != nil {
		stage = line[m[2]:m[3]]
		line = line[m[1]:]
	}
	line = anyPath.ReplaceAllString(line, "…")
	line = mapName.ReplaceAllString(line, "map $1…")
	line = numbers.ReplaceAllString(line, "N")
	for _, clause := range strings.Split(line, "; ") {
		var keep []string
		for _, seg := range strings.Split(clause, ": ") {
			if !wrapper.MatchString(strings.TrimSpace(seg)) {
				keep = append(keep, seg)
			}
		}
		if c := strings.TrimSpace(strings.Join(keep, ": ")); c != "" && !slices.Contains(clauses, c) {
			clauses = append(clauses, c)
		}
	}
	slices.Sort(clauses)
	return stage, clauses
}

// rootCauses groups FAIL findings into causes, numbers them C1, C2, … in
// report order (MUST first, then by how many requirements they take down,
// then loader) and works out where each bites. all is every result (the
// places where the cause's loaders passed the same requirements tell its
// classes apart); classify gives the classes of a result's masks (nil: no
// classes, topologies are named instead).
func rootCauses(fs []finding, all []result.Result, classify Classifier, up *Upstream, impacts map[string]string) []*Cause {
	byKey := map[string]*Cause{}
	var causes []*Cause
	for _, f := range fs {
		r := f.Result
		if r.Status != result.Fail {
			continue
		}
		base := result.ParseLoaderName(r.Loader).Base
		stage, clauses := causeSignature(r.Detail)
		key := base + "\x00" + stage + "\x00" + strings.Join(clauses, "\x00") + "\x00" + f.Reason
		c := byKey[key]
		if c == nil {
			c = &Cause{Base: base, Stage: stage, key: key, clauses: clauses, Reason: f.Reason, Known: f.Reason != ""}
			byKey[key] = c
			causes = append(causes, c)
		}
		c.Results = append(c.Results, r)
	}
	causes = mergeSubsetCauses(causes)
	causes = splitByWhere(causes, all, classify)
	for _, c := range causes {
		c.finish(all, classify)
		c.Upstream = up.Match(c)
		c.Impact = impact(result.Result{Requirement: c.Requirements[0], Level: c.Level, Status: result.Fail, Loader: c.Base}, impacts)
		if c.Stage == "load" && len(c.Requirements) > 2 {
			// One requirement's impact line would describe a symptom the
			// refusal only stands in for.
			c.Impact = fmt.Sprintf("where this bites the loader refuses the objects, so the tool does not run there (%d requirements fail with the load).",
				len(c.Requirements))
		}
	}
	slices.SortStableFunc(causes, func(a, b *Cause) int {
		if a.Known != b.Known {
			if a.Known {
				return 1
			}
			return -1
		}
		if d := levelRank(a.Level) - levelRank(b.Level); d != 0 {
			return d
		}
		if d := len(b.Requirements) - len(a.Requirements); d != 0 {
			return d
		}
		return cmpStrings(loaderOrder(a.Base), loaderOrder(b.Base), a.Requirements[0], b.Requirements[0], a.key, b.key)
	})
	for i, c := range causes {
		c.ID = fmt.Sprintf("C%d", i+1)
	}
	return causes
}

// splitByWhere splits a cause whose requirements fail in different places:
// the same words can come from two bugs (aya's reader fails storing CPU 4's
// ring with E2BIG where it counted a gapped possible list, and CPU 1's where
// an explicit size of 1 leaves no slot: RING-CREATE fails on the first kind
// of machine, RING-EXPLICIT-SMALL on every machine with two CPUs). Each
// requirement's failures are placed against its own passes by the same
// loaders (bites); requirements that bite alike stay one cause.
func splitByWhere(causes []*Cause, all []result.Result, classify Classifier) []*Cause {
	var out []*Cause
	for _, c := range causes {
		loaders := map[string]bool{}
		byReq := map[string][]result.Result{}
		var reqs []string
		for _, r := range c.Results {
			loaders[r.Loader] = true
			if byReq[r.Requirement] == nil {
				reqs = append(reqs, r.Requirement)
			}
			byReq[r.Requirement] = append(byReq[r.Requirement], r)
		}
		groups := map[string]*Cause{}
		var order []string
		for _, req := range reqs {
			var passed []result.Result
			for _, r := range all {
				if r.Requirement == req && r.Status == result.Pass && loaders[r.Loader] {
					passed = append(passed, r)
				}
			}
			where, _, _ := bites(byReq[req], passed, classify)
			g := groups[where]
			if g == nil {
				g = &Cause{Base: c.Base, Stage: c.Stage, key: c.key, clauses: c.clauses, Reason: c.Reason, Known: c.Known}
				groups[where] = g
				order = append(order, where)
			}
			g.Results = append(g.Results, byReq[req]...)
		}
		if len(order) == 1 {
			out = append(out, c)
			continue
		}
		for _, where := range order {
			g := groups[where]
			g.key += "\x00" + where
			out = append(out, g)
		}
	}
	return out
}

// mergeSubsetCauses folds a cause into another of the same loader, stage
// and baseline reason whose clauses include its own and which fails at
// least one of the same requirements.
func mergeSubsetCauses(causes []*Cause) []*Cause {
	bySize := slices.Clone(causes)
	slices.SortStableFunc(bySize, func(a, b *Cause) int { return len(b.clauses) - len(a.clauses) })
	merged := map[*Cause]bool{}
	for i, small := range bySize {
		for _, big := range bySize[:i] {
			if merged[big] || big.Base != small.Base || big.Stage != small.Stage || big.Reason != small.Reason ||
				len(big.clauses) <= len(small.clauses) || !subset(small.clauses, big.clauses) || !shareRequirement(big, small) {
				continue
			}
			big.Results = append(big.Results, small.Results...)
			merged[small] = true
			break
		}
	}
	var out []*Cause
	for _, c := range causes {
		if !merged[c] {
			out = append(out, c)
		}
	}
	return out
}

func subset(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
}

func shareRequirement(a, b *Cause) bool {
	for _, x := range a.Results {
		for _, y := range b.Results {
			if x.Requirement == y.Requirement {
				return true
			}
		}
	}
	return false
}

func (c *Cause) finish(all []result.Result, classify Classifier) {
	sortResults(c.Results)
	c.Level = c.Results[0].Level
	for _, r := range c.Results {
		addUnique(&c.Loaders, r.Loader)
		addUnique(&c.Requirements, r.Requirement)
		if levelRank(r.Level) < levelRank(c.Level) {
			c.Level = r.Level
		}
	}
	slices.SortFunc(c.Loaders, compareLoaders)
	level := map[string]result.Level{}
	for _, r := range c.Results {
		level[r.Requirement] = r.Level
	}
	slices.SortFunc(c.Requirements, func(a, b string) int {
		if d := levelRank(level[a]) - levelRank(level[b]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	// The representative: the newest version's result of the strictest
	// requirement, one with a CPU or errno if there is one.
	newest := c.Loaders[len(c.Loaders)-1]
	c.Rep = result.Result{}
	rank := func(r result.Result) int {
		n := slices.Index(c.Requirements, r.Requirement) * 2
		if r.CPU == nil && r.Errno == "" {
			n++
		}
		return n
	}
	for _, r := range c.Results {
		if r.Loader == newest && (c.Rep.Requirement == "" || rank(r) < rank(c.Rep)) {
			c.Rep = r
		}
	}
	var places []place
	for _, r := range c.Results {
		places = append(places, placeOf(r))
	}
	c.Where = whereText(places, c.Loaders, scopeOf(all))
	// Where the same loaders ran the same requirements without failing
	// them: what the classes must tell apart.
	var passed []result.Result
	for _, r := range all {
		if r.Status != result.Fail && slices.Contains(c.Loaders, r.Loader) && slices.Contains(c.Requirements, r.Requirement) {
			passed = append(passed, r)
		}
	}
	c.Bites, c.Classes, c.Everywhere = bites(c.Results, passed, classify)
}

// Classifier returns the topology classes of a place's masks, most telling
// first (cmd/conform passes topology.ClassesOfLists through ClassifyWith).
type Classifier func(result.Masks) []string

// bites says where failures happen as opposed to passes: the classes every
// failing place has and no passing place has; "every topology" when
// nothing passed; else the failing topologies.
func bites(failed, passed []result.Result, classify Classifier) (text string, classes []string, everywhere bool) {
	passedPlaces := map[place]bool{}
	for _, r := range passed {
		if r.Status == result.Pass {
			passedPlaces[placeOf(r)] = true
		}
	}
	if len(passedPlaces) == 0 {
		return "every topology", nil, true
	}
	if classify != nil {
		var common []string
		for i, r := range failed {
			cs := classesOf(r, classify)
			if i == 0 {
				common = slices.Clone(cs)
				continue
			}
			common = slices.DeleteFunc(common, func(c string) bool { return !slices.Contains(cs, c) })
		}
		// The classes every failing place has, and as few passing places
		// as possible: ideally none, but a check that passes vacuously
		// where the loader's bug cannot show (one CPU, say) must not hide
		// the class, so a class also counts while most results with it
		// fail.
		passes := map[string]int{}
		for _, r := range passed {
			if r.Status == result.Pass {
				for _, c := range classesOf(r, classify) {
					passes[c]++
				}
			}
		}
		best := -1
		var chosen []string
		for _, c := range common {
			n := passes[c]
			switch {
			case n >= len(failed):
				continue
			case best < 0 || n < best:
				best, chosen = n, []string{c}
			case n == best:
				chosen = append(chosen, c)
			}
		}
		if len(chosen) > 0 {
			return strings.Join(chosen, " + "), chosen, false
		}
	}
	var topos []string
	for _, r := range failed {
		addUnique(&topos, r.Topology)
	}
	slices.Sort(topos)
	return "on " + strings.Join(topos, ", "), nil, false
}

func classesOf(r result.Result, classify Classifier) []string {
	if r.Masks == nil {
		return nil
	}
	return classify(*r.Masks)
}

// compareLoaders orders loader names by base (the reference first) and
// then by version in release order.
func compareLoaders(a, b string) int {
	na, nb := result.ParseLoaderName(a), result.ParseLoaderName(b)
	if c := strings.Compare(loaderOrder(na.Base), loaderOrder(nb.Base)); c != 0 {
		return c
	}
	return compareVersions(na.Version, nb.Version)
}

// loaderOrder sorts the reference, the model every loader is judged
// against, before the others.
func loaderOrder(base string) string {
	if base == "reference" {
		return "\x00"
	}
	return base
}
