package suite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/onsi/ginkgo/v2"

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
		ginkgo.Skip("CPU hotplug is exercised only inside perfconform's VMs (suite.Config.Hotplug): taking this machine's CPUs offline would disturb it")
	}
}

// onlineFile is the hotplug control of cpu, "" when the CPU has none (CPU 0
// on most x86 kernels, CPUs that are not present).
func (c *check) onlineFile(cpu int) string {
	root := c.env.cfg.SysfsRoot
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
func (c *check) setOnline(cpu int, online bool) error {
	path := c.onlineFile(cpu)
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
	deadline := time.Now().Add(c.env.cfg.Timeout)
	for {
		now, err := topology.ReadOnline(c.env.cfg.SysfsRoot)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHotplug, err)
		}
		if now.Contains(cpu) == online {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: CPU %d: online mask still %s %v after writing %s to %s", ErrHotplug, cpu, now, c.env.cfg.Timeout, val, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hotplugged changes cpu's state for the rest of the check and restores it
// afterwards, before the check's sessions close (cleanups run in reverse).
func (c *check) hotplugged(cpu int, online bool) {
	if err := c.setOnline(cpu, online); err != nil {
		c.errorf("%v", err)
	}
	ginkgo.DeferCleanup(func() {
		if err := c.setOnline(cpu, !online); err != nil {
			ginkgo.Fail(fmt.Sprintf("restoring CPU %d: %v", cpu, err))
		}
	})
}

// checkHotplugOffline: a CPU taken offline while the reader runs must not
// break it: no reader error, and the other CPUs keep delivering.
func checkHotplugOffline(c *check) {
	c.requireHotplug()
	cpus := c.ringCPUs(0)
	victim := -1
	for _, cpu := range slices.Backward(cpus) {
		if cpu != 0 && c.onlineFile(cpu) != "" {
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
	if err := c.setOnline(cpu, true); err != nil {
		c.errorf("%v", err)
	}
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
		if cpu < want && c.env.topo.Possible.Contains(cpu) && c.onlineFile(cpu) != "" {
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
