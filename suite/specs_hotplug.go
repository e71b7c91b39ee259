package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/reference/topology"
)

// ErrHotplug is wrapped when the suite cannot take a CPU offline or bring it
// online (an ERROR: the environment, not the loader).
var ErrHotplug = errors.New("CPU hotplug failed")

// The hotplug checks change the machine's online CPUs while a loader's reader
// runs, through cpuN/online under the sysfs root, and put them back when the
// check ends. They run only where Config.Hotplug allows it (inside the VMs).

// requireHotplug SKIPs the check unless the suite may hotplug CPUs here.
func (c *check) requireHotplug() {
	if !c.env.cfg.Hotplug {
		c.skip("CPU hotplug is exercised only inside perfconform's VMs (suite.Config.Hotplug): taking this machine's CPUs offline would disturb it")
	}
}

// onlineFile is the hotplug control of cpu, "" when the CPU has none (CPU 0
// on most x86 kernels, CPUs that are not present).
func (e *environment) onlineFile(cpu int) string {
	root := e.cfg.SysfsRoot
	if root == "" {
		root = topology.DefaultSysfsRoot
	}
	path := filepath.Join(root, fmt.Sprintf("cpu%d", cpu), "online")
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

// setOnline brings cpu online or takes it offline and waits until the
// online mask says so.
func (e *environment) setOnline(cpu int, online bool) error {
	path := e.onlineFile(cpu)
	if path == "" {
		return fmt.Errorf("%w: CPU %d has no online control", ErrHotplug, cpu)
	}
	val := "0"
	if online {
		val = "1"
	}
	if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
		return fmt.Errorf("%w: write %s to %s: %w", ErrHotplug, val, path, err)
	}
	deadline := time.Now().Add(e.cfg.Timeout)
	for {
		now, err := topology.ReadOnline(e.cfg.SysfsRoot)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHotplug, err)
		}
		if now.Contains(cpu) == online {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: CPU %d: online mask still %s %v after writing %s to %s", ErrHotplug, cpu, now, e.cfg.Timeout, val, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hotplugged changes cpu's state for the rest of the check. The checks of
// the loaders in the check's cpuGroup (side by side: every loader whose
// reader is open; serially: this loader alone) make the change once, when
// each of them has reached it, and the CPUs are put back once every check
// of the group has ended and closed its sessions (runTogether).
func (c *check) hotplugged(cpu int, online bool) {
	if c.group == nil {
		c.errorf("internal: a hotplug check outside a CPU group")
	}
	stage := c.toggles
	c.toggles++
	if err := c.group.at(c.ctx, stage, cpu, online, func() error { return c.env.setOnline(cpu, online) }); err != nil {
		c.errorf("%v", err)
	}
}

// cpuGroup is the CPU changes that the hotplug checks of several loaders
// share. Every check goes through the same changes in the same order
// (stages); a change is made when every check still in the group has
// reached it, by the last to arrive, and all of them go on from there. A
// check that ends early leaves the group and is waited for no more.
type cpuGroup struct {
	mu       sync.Mutex
	cond     *sync.Cond
	members  int
	arrived  map[int]int
	started  map[int]bool
	finished map[int]bool
	errs     map[int]error
	// before is each changed CPU's state before the group's first change of
	// it, in the order they were first changed: what restore puts back.
	before []cpuState
}

type cpuState struct {
	cpu    int
	online bool
}

func newCPUGroup(members int) *cpuGroup {
	g := &cpuGroup{members: members, arrived: map[int]int{}, started: map[int]bool{}, finished: map[int]bool{}, errs: map[int]error{}}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// at waits until every member still in the group has reached stage, then
// sets cpu online or offline once (change) and returns its error to each.
// It gives up when ctx ends.
func (g *cpuGroup) at(ctx context.Context, stage, cpu int, online bool, change func() error) error {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.arrived[stage]++
	for g.arrived[stage] < g.members && !g.started[stage] {
		if ctx.Err() != nil {
			g.arrived[stage]--
			return fmt.Errorf("%w: interrupted while waiting for the other loaders' checks to reach CPU %d's change: %w", ErrHotplug, cpu, ctx.Err())
		}
		g.cond.Wait()
	}
	if !g.started[stage] {
		g.started[stage] = true
		if !slices.ContainsFunc(g.before, func(s cpuState) bool { return s.cpu == cpu }) {
			g.before = append(g.before, cpuState{cpu: cpu, online: !online})
		}
		g.mu.Unlock()
		err := change()
		g.mu.Lock()
		g.errs[stage], g.finished[stage] = err, true
		g.cond.Broadcast()
	}
	for !g.finished[stage] {
		g.cond.Wait()
	}
	return g.errs[stage]
}

// leave takes an ended check out of the group.
func (g *cpuGroup) leave() {
	g.mu.Lock()
	g.members--
	g.cond.Broadcast()
	g.mu.Unlock()
}

// restore puts every CPU the group changed back as it was, last changed
// first, once every check has ended.
func (g *cpuGroup) restore(e *environment) error {
	g.mu.Lock()
	before := slices.Clone(g.before)
	g.mu.Unlock()
	for _, s := range slices.Backward(before) {
		if err := e.setOnline(s.cpu, s.online); err != nil {
			return fmt.Errorf("restoring CPU %d: %w", s.cpu, err)
		}
	}
	return nil
}

// checkHotplugOffline: a CPU taken offline while the reader runs must not
// break it: no reader error, and the other CPUs keep delivering.
func checkHotplugOffline(c *check) {
	c.requireHotplug()
	cpus := c.ringCPUs(0)
	victim := -1
	for _, cpu := range slices.Backward(cpus) {
		if cpu != 0 && c.env.onlineFile(cpu) != "" {
			victim = cpu
			break
		}
	}
	if victim < 0 || len(cpus) < 2 {
		c.passf("vacuous here: no ring CPU besides CPU 0 can be taken offline (ring CPUs %s)", topology.CPUSetOf(cpus...))
		return
	}
	l := c.mustLoad("perf_auto_kv")
	before := c.requireDelivery(l, "events", 0)
	c.hotplugged(victim, false)
	c.drain(l, c.grace())
	if msg := c.readerFailure(l); msg != "" {
		cpu, errno := evidenceIn(msg)
		if cpu == nil {
			cpu = &victim
		}
		c.failf(cpu, errno, "after CPU %d went offline the reader failed: %s", victim, msg)
	}
	rest := slices.DeleteFunc(slices.Clone(cpus), func(cpu int) bool { return cpu == victim })
	m, info := c.kernelMap(l, "events")
	var bad []string
	var first *int
	for _, o := range c.fire(l, "events", m, rest) {
		if !o.ok() {
			bad = append(bad, o.String())
			if first == nil {
				first = &o.cpu
			}
		}
	}
	if msg := c.readerFailure(l); msg != "" {
		c.failf(&victim, "", "after CPU %d went offline the reader failed: %s", victim, msg)
	}
	if len(bad) > 0 {
		c.failf(first, "", "after CPU %d went offline (map max_entries %d): %s", victim, info.MaxEntries, strings.Join(bad, "; "))
	}
	c.passf("before: %s; CPU %d taken offline while the reader ran: no reader error, CPUs %s still delivered; %s",
		before, victim, topology.CPUSetOf(rest...), c.comeback(l, m, victim))
}

// comebackWait bounds comeback's writes: five of the 100ms polls of the one
// reader known to file a new ring for a returning CPU (the reference's
// FollowCPUs, reference.HotplugPollInterval). Every other reader pays all of
// it for a note that is not judged, so it is not a grace (1s under TCG).
const comebackWait = 500 * time.Millisecond

// comeback brings cpu back online and says what became of its output, for
// the record (not judged: a CPU that comes back is RING-HOTPLUG-ONLINE's
// kind of event): a ring filed before the CPU went offline does not work
// again unless the reader files a new one. It writes there for up to
// comebackWait (or a grace, where that is shorter).
func (c *check) comeback(l *loaded, m *ebpf.Map, cpu int) string {
	c.hotplugged(cpu, true)
	trig := c.newTrigger("events", m)
	defer trig.Close()
	var o cpuOutcome
	wait := min(c.grace(), comebackWait)
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		if o = c.fireWith(l, "events", trig, []int{cpu})[0]; o.errno == 0 || time.Now().After(deadline) {
			break
		}
	}
	if o.errno != 0 {
		return fmt.Sprintf("not judged: CPU %d back online, bpf_perf_event_output there still returned -%s %v later (the ring filed before it went offline is dead)",
			cpu, errnoName(o.errno), wait)
	}
	return fmt.Sprintf("not judged: CPU %d back online: %s", cpu, o)
}

// checkHotplugOnline: a CPU that comes online after the reader was opened
// gets a ring, and its output reaches the user. The suite keeps writing on
// the new CPU until the kernel finds a ring at its key or onlineWait ends.
func checkHotplugOnline(c *check) {
	c.requireHotplug()
	want := int(c.want())
	newcomer := -1
	for _, cpu := range c.env.topo.Present.Difference(c.env.topo.Online).CPUs() {
		if cpu < want && c.env.topo.Possible.Contains(cpu) && c.env.onlineFile(cpu) != "" {
			newcomer = cpu
			break
		}
	}
	if newcomer < 0 {
		c.passf("vacuous here: no present CPU is offline to be brought online (present %s, online %s)", c.env.topo.Present, c.env.topo.Online)
		return
	}
	l := c.mustLoad("perf_auto_kv")
	m, _ := c.kernelMap(l, "events")
	trig := c.newTrigger("events", m)
	defer trig.Close()
	c.hotplugged(newcomer, true)
	since := time.Now()
	deadline := since.Add(c.onlineWait())
	for {
		o := c.fireWith(l, "events", trig, []int{newcomer})[0]
		switch {
		case o.ok():
			c.passf("CPU %d came online after the reader was opened; its sample was delivered %v later", newcomer, time.Since(since).Round(time.Millisecond))
			return
		case o.errno == 0:
			c.failf(&newcomer, "", "CPU %d came online after the reader was opened: %s", newcomer, o)
		case time.Now().After(deadline):
			if msg := c.readerFailure(l); msg != "" {
				c.failf(&newcomer, "", "CPU %d came online after the reader was opened and the reader failed: %s", newcomer, msg)
			}
			c.failf(&newcomer, errnoName(o.errno), "CPU %d came online after the reader was opened; %v later: %s: the reader did not add a ring for it",
				newcomer, c.onlineWait(), o)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// onlineWait is how long a reader has to file a ring for a CPU that came
// online: a quarter of the per-sample timeout, at least 2s (5s in TCG VMs).
// The reference needs one poll interval (100ms); every loader we know never
// does it, and waiting the whole timeout for each of them would only cost.
func (c *check) onlineWait() time.Duration { return max(c.env.cfg.Timeout/4, 2*time.Second) }
