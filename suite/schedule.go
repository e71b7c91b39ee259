package suite

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/onsi/ginkgo/v2"

	"github.com/perfconform/perfconform/result"
)

// This file schedules the checks. Two schedules give the same verdicts
// (TestSideBySideMatchesSerial, conform's equivalence test in VMs):
//
//   - serial (Config.Serial): one loader after another, every requirement
//     on loads of its own, a hotplug check changing the CPUs for its loader
//     alone. This is the suite as it ran before loaders ran side by side.
//   - side by side (the default): the loaders' sequences run concurrently,
//     at most Config.Parallel at once; within a loader, the requirements
//     that only read one load of a fixture share it (loadGroups); the
//     hotplug requirements run last, in a phase of their own, where one
//     change of a CPU is judged for every loader whose reader is open
//     (cpuGroup).

// loadGroup is a set of requirements that only read what a load of its
// fixtures shows (sizes, which keys hold live rings, what the reader
// delivers and how it attributes it), so one load of each fixture serves
// them all, and one write per CPU (fire's memo). Requirements whose verdict
// would depend on what another requirement did to a session stay on loads
// of their own (docs/SPEC.md, "Shared loads").
type loadGroup struct {
	fixtures []string
	ids      []string
}

var loadGroups = []loadGroup{
	{fixtures: []string{"perf_auto_kv"},
		ids: []string{"SIZE-AUTO", "RING-CREATE", "RING-DELIVER", "RING-KEY", "RING-OFFLINE", "RING-ATTRIBUTE"}},
	{fixtures: []string{"perf_explicit_1", "perf_explicit_2", "perf_explicit_4", "perf_explicit_32", "perf_explicit_128"},
		ids: []string{"SIZE-EXPLICIT-SMALL", "SIZE-EXPLICIT-LARGE", "SIZE-EXPLICIT-REPORT", "RING-EXPLICIT-SMALL"}},
}

// hotplugIDs are the requirements that change the machine's online CPUs:
// side by side, they run in a phase of their own.
var hotplugIDs = []string{"RING-HOTPLUG-OFFLINE", "RING-HOTPLUG-ONLINE"}

func isHotplug(id string) bool { return slices.Contains(hotplugIDs, id) }

// step is what one loader runs in one go: requirements in order, sharing
// the loads of fixtures share (none: every check loads its own).
type step struct {
	reqs  []Requirement
	share []string
}

// sideBySideSteps orders reqs (the run's requirements, hotplug ones left
// out) into steps: in the order of Requirements, a load group's members
// join the step of the first of them.
func sideBySideSteps(reqs []Requirement) []step {
	var steps []step
	done := map[string]bool{}
	for _, r := range reqs {
		if done[r.ID] || isHotplug(r.ID) {
			continue
		}
		st := step{reqs: []Requirement{r}}
		done[r.ID] = true
		for _, g := range loadGroups {
			if !slices.Contains(g.ids, r.ID) {
				continue
			}
			st.share = g.fixtures
			for _, other := range reqs {
				if !done[other.ID] && slices.Contains(g.ids, other.ID) {
					st.reqs = append(st.reqs, other)
					done[other.ID] = true
				}
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// runStep runs a step's checks against one loader, one after another, and
// returns their results once the step's shared sessions are closed (how a
// shared session closed counts for every check that read it).
func (e *environment) runStep(ctx context.Context, lr *loaderRun, st step) []result.Result {
	var share *sharedLoads
	if len(st.share) > 0 {
		share = &sharedLoads{ctx: ctx, fixtures: st.share, entries: map[string]*sharedLoad{}}
	}
	var cs []*check
	for _, req := range st.reqs {
		c := e.newCheck(lr, req)
		c.share = share
		c.execute(ctx, checks[req.ID])
		cs = append(cs, c)
	}
	if share != nil {
		share.close()
	}
	out := make([]result.Result, len(cs))
	for i, c := range cs {
		out[i] = c.result()
	}
	return out
}

// runTogether runs one hotplug requirement against several loaders at
// once: their checks share each CPU change (cpuGroup), and the CPUs are put
// back once every check has ended and closed its sessions.
func (e *environment) runTogether(ctx context.Context, lrs []*loaderRun, req Requirement) []result.Result {
	g := newCPUGroup(len(lrs))
	cs := make([]*check, len(lrs))
	var wg sync.WaitGroup
	for i, lr := range lrs {
		c := e.newCheck(lr, req)
		c.group = g
		cs[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.execute(ctx, checks[req.ID])
			g.leave()
		}()
	}
	wg.Wait()
	restoreErr := g.restore(e)
	out := make([]result.Result, len(cs))
	for i, c := range cs {
		out[i] = c.result()
		if restoreErr != nil {
			// The machine could not be put back: the environment failed,
			// whatever the check found.
			found := string(out[i].Status)
			if out[i].Detail != "" {
				found += ": " + out[i].Detail
			}
			out[i].Status = result.Error
			out[i].Detail = fmt.Sprintf("%v (the check itself found %s)", restoreErr, found)
		}
	}
	return out
}

// registerSerial adds one Ginkgo container per loader with one spec per
// requirement, labelled with the requirement ID and level: the serial
// schedule.
func (e *environment) registerSerial(rec *recorder, lrs []*loaderRun, reqs []Requirement) {
	for _, lr := range lrs {
		// No label is derived from the loader's name: Ginkgo refuses labels
		// with characters such as &|!,()/ and would abort the whole run.
		ginkgo.Describe(lr.nl.Name, ginkgo.Ordered, func() {
			for _, req := range reqs {
				ginkgo.It(req.ID+": "+req.Title, ginkgo.Label(req.ID, string(req.Level)), func(sctx ginkgo.SpecContext) {
					ctx, cancel := e.specContext(sctx)
					defer cancel()
					if isHotplug(req.ID) {
						for _, r := range e.runTogether(ctx, []*loaderRun{lr}, req) {
							rec.add(r)
						}
						return
					}
					for _, r := range e.runStep(ctx, lr, step{reqs: []Requirement{req}}) {
						rec.add(r)
					}
				})
			}
		})
	}
}

// registerSideBySide adds the side-by-side schedule: one spec running
// every loader's sequence of steps concurrently (at most parallel loaders
// at once), then one spec per hotplug requirement judging every loader on
// shared CPU changes (in groups of parallel).
func (e *environment) registerSideBySide(rec *recorder, lrs []*loaderRun, reqs []Requirement, parallel int) {
	steps := sideBySideSteps(reqs)
	ginkgo.Describe("loaders side by side", ginkgo.Ordered, func() {
		if len(steps) > 0 {
			var labels []string
			for _, st := range steps {
				for _, r := range st.reqs {
					labels = append(labels, r.ID)
				}
			}
			ginkgo.It(fmt.Sprintf("%d loaders, %d requirements", len(lrs), len(labels)), ginkgo.Label(labels...), func(sctx ginkgo.SpecContext) {
				ctx, cancel := e.specContext(sctx)
				defer cancel()
				sem := make(chan struct{}, parallel)
				var wg sync.WaitGroup
				for _, lr := range lrs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						sem <- struct{}{}
						defer func() { <-sem }()
						for _, st := range steps {
							for _, r := range e.runStep(ctx, lr, st) {
								rec.add(r)
							}
						}
					}()
				}
				wg.Wait()
			})
		}
		for _, req := range reqs {
			if !isHotplug(req.ID) {
				continue
			}
			ginkgo.It(req.ID+": "+req.Title, ginkgo.Label(req.ID, string(req.Level)), func(sctx ginkgo.SpecContext) {
				ctx, cancel := e.specContext(sctx)
				defer cancel()
				for batch := range slices.Chunk(lrs, parallel) {
					for _, r := range e.runTogether(ctx, batch, req) {
						rec.add(r)
					}
				}
			})
		}
	})
}

// specContext is a spec's context that the run's context (Run's ctx) also
// ends: either interrupts the checks.
func (e *environment) specContext(sctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(sctx)
	stop := context.AfterFunc(e.runCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// sharedLoads are the loads one step's checks share: per fixture, the
// outcome of its one load (a session, the loader's refusal, or why the load
// says nothing), handed to every check of the step that asks for it.
type sharedLoads struct {
	// ctx is the step's: a shared session outlives the check that opened it.
	ctx      context.Context
	fixtures []string
	entries  map[string]*sharedLoad
}

type sharedLoad struct {
	fixture string
	done    bool
	l       *loaded
	lerr    *LoadError
	errMsg  string
	users   []*check // checks that read the session: its close counts for each
}

// entry is the shared load of fixture, nil when the step does not share it.
func (s *sharedLoads) entry(fixture string) *sharedLoad {
	if !slices.Contains(s.fixtures, fixture) {
		return nil
	}
	e := s.entries[fixture]
	if e == nil {
		e = &sharedLoad{fixture: fixture}
		s.entries[fixture] = e
	}
	return e
}

// get is load for a shared fixture: the first check loads it, every check
// gets the same outcome.
func (e *sharedLoad) get(c *check) (*loaded, *LoadError) {
	if !e.done {
		e.l, e.lerr, e.errMsg = c.loadNew(c.share.ctx, e.fixture, "", "")
		e.done = true
		if e.l != nil && e.lerr == nil {
			e.l.shared = true
		}
	}
	if e.errMsg != "" {
		c.errorf("%s", e.errMsg)
	}
	c.skipUnsupported(e.lerr)
	if e.lerr != nil {
		return &loaded{fixture: e.l.fixture, pinDir: e.l.pinDir}, e.lerr
	}
	e.users = append(e.users, c)
	c.track(e.l)
	return e.l, nil
}

// close closes the step's shared sessions. One that did not close cleanly
// makes every check that read it an ERROR (check.sessionClosed's rule).
func (s *sharedLoads) close() {
	for _, f := range s.fixtures {
		e := s.entries[f]
		if e == nil || e.l == nil || e.lerr != nil || e.l.sess == nil || e.l.closed {
			continue
		}
		err := e.l.sess.Close()
		e.l.closed = true
		if err == nil || AsLoadError(err) != nil || s.ctx.Err() != nil {
			continue
		}
		for _, c := range e.users {
			if c.p.closeErr == nil {
				c.p.closeErr = err
			}
		}
	}
}
