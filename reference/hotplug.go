package reference

import (
	"context"
	"fmt"
	"time"

	"github.com/perfconform/perfconform/reference/perfring"
)

// HotplugPollInterval is how often FollowCPUs reads the online mask. Its
// cost is one read of /sys/devices/system/cpu/online per interval and reader
// (a few microseconds: about 0.01% of one CPU at 100ms); its price is that
// for up to one interval after a CPU comes online the kernel refuses BPF
// output there (-ENOENT: no ring at its key yet). Sysfs offers no change
// notification for the online mask; a uevent netlink socket would, but only
// in the initial network namespace, and polling works in containers too.
const HotplugPollInterval = 100 * time.Millisecond

// FollowCPUs keeps r, a reader on the named perf event array, in step with
// CPUs coming online until ctx is done: every interval it reads the online
// mask, and for each CPU online now that was not at the last look (and fits
// the array, see RingCPUs) it has r open a ring and file it at key = CPU id
// (perfring.Reader.AddCPU). A CPU that went offline and came back gets a new
// ring too: the kernel takes a CPU's perf events off it when it goes offline,
// for good. A CPU that goes offline and comes back within one interval is
// missed. onErr receives each failure; the reader keeps its other rings.
func (c *Collection) FollowCPUs(ctx context.Context, name string, r *perfring.Reader, interval time.Duration, onErr func(error)) {
	last := map[int]bool{}
	for _, cpu := range r.CPUs() {
		last[cpu] = true
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cpus, err := c.RingCPUs(name)
		if err != nil {
			onErr(err)
			continue
		}
		now := make(map[int]bool, len(cpus))
		for _, cpu := range cpus {
			now[cpu] = true
			if last[cpu] {
				continue
			}
			if err := r.AddCPU(cpu); err != nil {
				onErr(fmt.Errorf("perf reader for map %s: CPU %d came online: %w", name, cpu, err))
				now[cpu] = false // try again at the next look
			}
		}
		last = now
	}
}
