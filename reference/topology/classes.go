package topology

// Topology classes: the kinds of machine on which loaders' perf array sizing
// and ring opening go wrong, each a property of the masks alone (never of a
// topology's name), so the reports can say where a failure bites
// ("sparse online") and `conform doctor` can say which of them this machine
// is.

// Class is one property of a machine's CPU masks.
type Class string

const (
	// ClassGappedPossible: the possible list has a gap ("0-1,4-5"): the
	// possible count is below highest possible id + 1.
	ClassGappedPossible Class = "gapped possible"
	// ClassPossibleOverPresent: possible CPUs with no hardware behind them
	// (hotplug slots).
	ClassPossibleOverPresent Class = "possible > present"
	// ClassPossibleOverOnline: some possible CPU is offline.
	ClassPossibleOverOnline Class = "possible > online"
	// ClassPresentOffline: a present possible CPU is offline (it can be
	// brought online while a reader runs).
	ClassPresentOffline Class = "present offline"
	// ClassSparseOnline: the online list has a gap below its highest id
	// ("0,2-3"): position in the online list is not the CPU id.
	ClassSparseOnline Class = "sparse online"
	// ClassSeveralOnline: two or more CPUs online.
	ClassSeveralOnline Class = "2+ online CPUs"
	// ClassOneOnline: exactly one CPU online.
	ClassOneOnline Class = "1 online CPU"
	// ClassAffinityBelowOnline: the process may run on fewer CPUs than are
	// online (sched_getaffinity, a cgroup cpuset, Kubernetes' static CPU
	// manager): counting the CPUs it may use undersizes arrays.
	ClassAffinityBelowOnline Class = "affinity < online"
)

// Classes lists every class in the order reports print them: the rarest and
// most telling first.
var Classes = []Class{
	ClassGappedPossible, ClassSparseOnline, ClassAffinityBelowOnline, ClassPossibleOverPresent,
	ClassPresentOffline, ClassPossibleOverOnline, ClassSeveralOnline, ClassOneOnline,
}

// ClassesOf returns the classes of t, in the order of Classes. affinity is
// the set of CPUs the process may run on; an empty set means unknown (the
// affinity class is then never claimed).
func ClassesOf(t Topology, affinity CPUSet) []Class {
	has := map[Class]bool{
		ClassGappedPossible:      !t.Possible.Empty() && t.Possible.Len() != t.Possible.Highest()+1,
		ClassPossibleOverPresent: !t.Possible.Difference(t.Present).Empty(),
		ClassPossibleOverOnline:  !t.Possible.Difference(t.Online).Empty(),
		ClassPresentOffline:      !t.Present.Difference(t.Present.Difference(t.Possible)).Difference(t.Online).Empty(),
		ClassSparseOnline:        !t.Online.Empty() && t.Online.Len() != t.Online.Highest()+1,
		ClassSeveralOnline:       t.Online.Len() >= 2,
		ClassOneOnline:           t.Online.Len() == 1,
		ClassAffinityBelowOnline: !affinity.Empty() && !t.Online.Difference(affinity).Empty(),
	}
	var out []Class
	for _, c := range Classes {
		if has[c] {
			out = append(out, c)
		}
	}
	return out
}

// ClassesOfLists is ClassesOf for masks given as CPU-list strings (as
// results carry them: result.Masks, whose Affinity is set only where the
// loader ran restricted, as on the cpuset VM topology); affinity "" is
// unknown. Masks that do not parse give no classes.
func ClassesOfLists(possible, present, online, affinity string) []Class {
	var t Topology
	var err error
	if t.Possible, err = ParseCPUList(possible); err != nil {
		return nil
	}
	if t.Present, err = ParseCPUList(present); err != nil {
		return nil
	}
	if t.Online, err = ParseCPUList(online); err != nil {
		return nil
	}
	var aff CPUSet
	if affinity != "" {
		if aff, err = ParseCPUList(affinity); err != nil {
			return nil
		}
	}
	return ClassesOf(t, aff)
}
