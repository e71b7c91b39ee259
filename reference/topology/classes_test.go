package topology

import (
	"slices"
	"testing"
)

func TestClassesOf(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		possible, present, online string
		affinity                  string
		want                      []Class
	}{
		{"1cpu", "0", "0", "0", "", []Class{ClassOneOnline}},
		{"4cpu", "0-3", "0-3", "0-3", "", []Class{ClassSeveralOnline}},
		{"hotplug-slots", "0-7", "0-1", "0-1", "", []Class{ClassPossibleOverPresent, ClassPossibleOverOnline, ClassSeveralOnline}},
		{"boot-maxcpus", "0-3", "0-3", "0-1", "", []Class{ClassPresentOffline, ClassPossibleOverOnline, ClassSeveralOnline}},
		{"sparse", "0-3", "0-3", "0,2-3", "", []Class{ClassSparseOnline, ClassPresentOffline, ClassPossibleOverOnline, ClassSeveralOnline}},
		{"gapped-possible", "0-1,4-5", "0-5", "0-1,4-5", "", []Class{ClassGappedPossible, ClassSparseOnline, ClassSeveralOnline}},
		{"gapped-1cpu", "0,2", "0", "0", "", []Class{ClassGappedPossible, ClassPossibleOverPresent, ClassPossibleOverOnline, ClassOneOnline}},
		{"cpuset", "0-3", "0-3", "0-3", "0-1", []Class{ClassAffinityBelowOnline, ClassSeveralOnline}},
		{"affinity is everything", "0-3", "0-3", "0-3", "0-3", []Class{ClassSeveralOnline}},
		// Affinity may hold CPUs that are not online (a cpuset written
		// before CPUs went offline): only online CPUs outside it count.
		{"affinity beyond online", "0-3", "0-3", "0,2-3", "0-3", []Class{ClassSparseOnline, ClassPresentOffline, ClassPossibleOverOnline, ClassSeveralOnline}},
		{"cpuset on sparse", "0-3", "0-3", "0,2-3", "0,2", []Class{ClassSparseOnline, ClassAffinityBelowOnline, ClassPresentOffline, ClassPossibleOverOnline, ClassSeveralOnline}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := Topology{MustParseCPUList(tc.possible), MustParseCPUList(tc.present), MustParseCPUList(tc.online)}
			var aff CPUSet
			if tc.affinity != "" {
				aff = MustParseCPUList(tc.affinity)
			}
			if got := ClassesOf(topo, aff); !slices.Equal(got, tc.want) {
				t.Errorf("ClassesOf = %q, want %q", got, tc.want)
			}
			if got := ClassesOfLists(tc.possible, tc.present, tc.online, tc.affinity); !slices.Equal(got, tc.want) {
				t.Errorf("ClassesOfLists = %q, want %q", got, tc.want)
			}
		})
	}
	if got := ClassesOfLists("0-3", "garbage", "0", ""); got != nil {
		t.Errorf("unparsable masks: %q, want none", got)
	}
	if got := ClassesOfLists("0-3", "0-3", "0-3", "garbage"); got != nil {
		t.Errorf("unparsable affinity: %q, want none", got)
	}
}
