package suite

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/result"
)

// This file runs one check (one requirement against one loader) to its
// result. Ginkgo runs one spec at a time in a process, so the checks of
// loaders side by side cannot each be a spec: a check ends itself with
// checkStop (failf, errorf, skip) and keeps its own cleanups, and the
// runner turns what it recorded into a result the way a spec report was
// turned into one.

// checkStop ends a check: failf, errorf and skip record the outcome in the
// check's pending result and panic with it; the runner recovers it.
type checkStop struct{}

// checkGrace is how long a check whose deadline passed (or whose run was
// interrupted) may take to notice before its result is an ERROR without it
// (Ginkgo's default grace period).
const checkGrace = 30 * time.Second

// checkTimeout bounds one check (Ginkgo's NodeTimeout before).
func (e *environment) checkTimeout() time.Duration { return 10*e.cfg.Timeout + time.Minute }

// loaderRun is one loader in this run: what its checks share.
type loaderRun struct {
	nl     NamedLoader
	info   protocol.Info
	masks  *result.Masks
	shared *perLoader
}

// newCheck prepares the check of req against lr.
func (e *environment) newCheck(lr *loaderRun, req Requirement) *check {
	base := result.Result{
		Requirement: req.ID, Level: req.Level, Loader: lr.nl.Name,
		LoaderVersion: lr.info.Version, Masks: lr.masks,
	}
	p := &pending{res: base, base: base}
	return &check{env: e, loader: lr.nl.Loader, info: lr.info, req: req, p: p, shared: lr.shared}
}

// execute runs the check's body under a context bounded by checkTimeout,
// closes the sessions the check opened (while that context is live: how an
// adapter stops is part of the result, sessionClosed), then runs its
// cleanups. A body that does not return within checkGrace of its deadline
// is abandoned: the check is an ERROR saying so.
func (c *check) execute(parent context.Context, run func(*check)) {
	if cb := c.env.cfg.OnCheck; cb != nil {
		c.env.emitMu.Lock()
		cb(c.p.res.Loader, c.req.ID)
		c.env.emitMu.Unlock()
	}
	ctx, cancel := context.WithTimeout(parent, c.env.checkTimeout())
	defer cancel()
	c.ctx = ctx
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(checkStop); !ok {
						c.p.panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
					}
				}
			}()
			defer c.closeSessions()
			run(c)
			c.passWatch()
		}()
		c.runCleanups()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(checkGrace):
			c.abandoned = fmt.Sprintf("the check did not end within %v of its %s (%v)", checkGrace, ctx.Err(), c.env.checkTimeout())
		}
	}
	c.p.res.Duration = time.Since(start)
}

// passWatch holds a PASS to the rule failf holds a FAIL to: an adapter
// that died after ready (not a reader failure the loader reported: that is
// a verdict on the loader, as at close) left nothing a verdict can stand
// on. A check that passes right after its load waits out the crash window
// (AdapterCrashWindow) for that, or whether its session outlived the check
// would decide, in a race with the adapter's exit.
func (c *check) passWatch() {
	if err := c.adapterEnded(); err != nil && AsLoadError(err) == nil {
		c.p.ended = err
	}
}

// deferCleanup registers fn to run when the check ends, after its sessions are
// closed; cleanups run last registered first.
func (c *check) deferCleanup(fn func()) { c.cleanups = append(c.cleanups, fn) }

func (c *check) runCleanups() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(checkStop); !ok {
						c.p.panicked = fmt.Sprintf("in a cleanup: %v\n%s", r, debug.Stack())
					}
				}
			}()
			c.cleanups[i]()
		}()
	}
	c.cleanups = nil
}

// stop ends the check with a failure (an ERROR when isError: the
// environment, not the loader).
func (c *check) stop(isError bool, msg string) {
	c.p.failed = true
	c.p.isError = c.p.isError || isError
	c.p.msg = msg
	panic(checkStop{})
}

// skip ends the check as SKIP with the reason.
func (c *check) skip(msg string) {
	c.p.skipped = true
	c.p.msg = msg
	panic(checkStop{})
}

// result is the check's outcome. The base (requirement, loader, masks) and
// duration are always there; an abandoned check's body may still be
// running, so nothing it wrote is read.
func (c *check) result() result.Result {
	if c.abandoned != "" {
		res := c.p.base
		res.Duration = c.p.res.Duration
		res.Status = result.Error
		res.Detail = c.abandoned
		return res
	}
	p := c.p
	res := p.res
	msg := strings.TrimSpace(p.msg)
	switch {
	case p.panicked != "":
		res.Status = result.Error
		res.Detail = "panic in the check: " + p.panicked
	case p.skipped:
		res.Status = result.Skip
		res.Detail = msg
	case p.failed:
		res.Status = result.Fail
		if p.isError {
			res.Status = result.Error
		}
		res.Detail = msg
	default:
		res.Status = result.Pass
	}
	if p.ended != nil && res.Status == result.Pass {
		res.Status = result.Error
		res.Detail = fmt.Sprintf("the adapter ended during the check: %v (the check itself found PASS: %s)", p.ended, res.Detail)
	}
	if p.closeErr != nil {
		// The adapter broke the protocol when asked to stop: its verdict is
		// kept as evidence, but the result says nothing about the loader.
		found := string(res.Status)
		if res.Detail != "" {
			found += ": " + res.Detail
		}
		res.Status = result.Error
		res.Detail = fmt.Sprintf("the loader's session did not close cleanly: %v (the check itself found %s)", p.closeErr, found)
	}
	return res
}
