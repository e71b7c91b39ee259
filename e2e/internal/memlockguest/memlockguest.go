// Package memlockguest is the payload of the reference's locked-memory VM
// test (e2e/memlock_test.go; the guest init is ./init). As PID 1 it has the
// kernel's default RLIMIT_MEMLOCK, what a root loader started by an old init
// or systemd gets. It reports, as one result whose detail is a JSON Report:
// whether bpfsys says the kernel charges BPF memory to the limit; how many
// small perf arrays it could create without raising the limit (the negative
// control: on a charging kernel the default limit must bite; they stay open,
// so the limit is used up); whether the reference then loads and reads a
// fixture; and the limit before and after.
package memlockguest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	bpffixtures "github.com/perfconform/perfconform/fixtures/bpf"
	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/guest"
)

// Report is what the guest saw; the test decodes it from the result detail.
type Report struct {
	Charged bool `json:"charged"`
	// Before and After are the soft RLIMIT_MEMLOCK around the reference's load.
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
	// ControlMaps is how many perf arrays were created with the limit as it
	// was, up to ControlCap; ControlErr is the error that stopped them.
	ControlMaps int    `json:"control_maps"`
	ControlErr  string `json:"control_err,omitempty"`
	// LoadErr is the reference's load (or reader) error, empty on success.
	LoadErr string `json:"load_err,omitempty"`
	Rings   []int  `json:"rings,omitempty"`
}

// ControlCap bounds the negative control: 64 KiB of memlock holds at most 16
// single-page maps, so 64 maps means the limit does not apply.
const ControlCap = 64

// Payload is the guest payload.
func Payload(ctx context.Context, env guest.Env, emit func(event.Event)) error {
	var rep Report
	rep.Charged = bpfsys.MemlockCharged()
	rep.Before = memlockCur()
	// The control's maps stay open through the reference's load: the
	// user's locked memory is then used up, as when other BPF objects or
	// perf rings of root are alive, so only a raised limit lets it load.
	fds, controlErr := fillWithoutRaising()
	defer closeAll(fds)
	rep.ControlMaps, rep.ControlErr = len(fds), controlErr

	paths, err := bpffixtures.WriteAll(filepath.Join(os.TempDir(), "fixtures"))
	if err != nil {
		return err
	}
	rep.LoadErr, rep.Rings = loadReference(paths["perf_auto"])
	rep.After = memlockCur()

	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	emit(event.Result(result.Result{
		Requirement: "MEMLOCK-PROBE", Level: result.Info, Status: result.Pass,
		Loader: reference.Name, Detail: string(b),
	}))
	return nil
}

func memlockCur() uint64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &r); err != nil {
		return 0
	}
	return r.Cur
}

// fillWithoutRaising creates small perf arrays with the limit as it is until
// the kernel refuses one or ControlCap exist; the caller closes them.
func fillWithoutRaising() ([]int, string) {
	var fds []int
	for len(fds) < ControlCap {
		fd, err := bpfsys.CreateMap(bpfsys.MapCreate{Type: uint32(ebpf.PerfEventArray), KeySize: 4, ValueSize: 4, MaxEntries: 4, Name: "control"})
		if err != nil {
			return fds, err.Error()
		}
		fds = append(fds, fd)
	}
	return fds, ""
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func loadReference(path string) (string, []int) {
	coll, err := reference.Load(path)
	if err != nil {
		return err.Error(), nil
	}
	defer coll.Close()
	rd, err := coll.NewReader("events", perfring.Options{Pages: 8})
	if err != nil {
		return err.Error(), nil
	}
	defer rd.Close()
	if len(rd.CPUs()) == 0 {
		return errors.New("reader opened no rings").Error(), nil
	}
	return "", rd.CPUs()
}
