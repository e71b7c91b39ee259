package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Verdict records which accelerator this host can use and why.
type Verdict struct {
	Accel       string    `json:"accel"`
	Reason      string    `json:"reason"`
	HostKernel  string    `json:"host_kernel"`
	QEMUVersion string    `json:"qemu_version"`
	Probed      time.Time `json:"probed"`
}

// Prober boots a guest under KVM and returns nil only when it powered off
// cleanly with the expected output. Any error means KVM is not usable.
type Prober func(ctx context.Context) error

// ProbeTimeout bounds the KVM probe boot. A working KVM boots a tiny guest in
// about a second; a broken one either reports "KVM internal error" or spins
// without output until killed.
const ProbeTimeout = 20 * time.Second

// AutoAccel resolves AccelAuto: KVM only where it really works. The verdict
// of a probe boot is cached in cacheFile keyed by the host kernel release and
// the QEMU version, so the probe runs once per host; without a usable
// /dev/kvm there is no probe at all.
func AutoAccel(ctx context.Context, binary, cacheFile string, probe Prober) (Verdict, error) {
	version, err := Version(ctx, binary)
	if err != nil {
		return Verdict{}, err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return Verdict{}, fmt.Errorf("uname: %w", err)
	}
	host := unix.ByteSliceToString(uts.Release[:])
	v := Verdict{HostKernel: host, QEMUVersion: version, Probed: time.Now().UTC()}

	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		v.Accel, v.Reason = AccelTCG, fmt.Sprintf("/dev/kvm unusable: %v", err)
		return v, nil
	}
	f.Close()

	if cached, err := readVerdict(cacheFile); err == nil && cached.HostKernel == host && cached.QEMUVersion == version {
		return cached, nil
	}

	probeCtx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	if err := probe(probeCtx); err != nil {
		if ctx.Err() != nil {
			return Verdict{}, fmt.Errorf("kvm probe: %w", ctx.Err()) // the caller gave up: no verdict
		}
		v.Accel, v.Reason = AccelTCG, "kvm probe boot failed: "+oneLine(err.Error(), 300)
	} else {
		v.Accel, v.Reason = AccelKVM, "kvm probe boot powered off cleanly"
	}
	if err := writeVerdict(cacheFile, v); err != nil {
		return v, err
	}
	return v, nil
}

func readVerdict(file string) (Verdict, error) {
	var v Verdict
	b, err := os.ReadFile(file)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%s: %w", file, err)
	}
	if v.Accel != AccelKVM && v.Accel != AccelTCG {
		return v, fmt.Errorf("%s: bad accel %q", file, v.Accel)
	}
	return v, nil
}

func writeVerdict(file string, v Verdict) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("accel cache: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("accel cache: %w", err)
	}
	return os.Rename(tmp, file)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
