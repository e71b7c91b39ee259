package qemu_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/qemu"
)

func TestSMP(t *testing.T) {
	for _, tc := range []struct {
		smp  qemu.SMP
		want string
		err  bool
	}{
		{qemu.SMP{CPUs: 1}, "1", false},
		{qemu.SMP{CPUs: 2, MaxCPUs: 8}, "2,maxcpus=8", false},
		{qemu.SMP{CPUs: 32, Sockets: 1, Cores: 16, Threads: 2}, "32,sockets=1,cores=16,threads=2", false},
		{qemu.SMP{CPUs: 0}, "", true},
		{qemu.SMP{CPUs: 4, MaxCPUs: 2}, "", true},
		{qemu.SMP{CPUs: 32, Sockets: 1, Cores: 8, Threads: 2}, "", true},
	} {
		err := tc.smp.Validate()
		if tc.err {
			if !errors.Is(err, qemu.ErrBadConfig) {
				t.Errorf("%+v: error %v, want ErrBadConfig", tc.smp, err)
			}
			continue
		}
		if err != nil || tc.smp.String() != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.smp, tc.smp.String(), err, tc.want)
		}
	}
}

func TestMachineArgs(t *testing.T) {
	m := qemu.Machine{
		Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 4}, Kernel: "/k/vmlinuz", Initrd: "/vm/initrd",
		Append: []string{"maxcpus=2", "--", "guest"}, ConsoleLog: "/vm/console.log",
	}
	args, err := m.Args()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-nodefaults", "-no-reboot", "-display", "none", "-accel", "tcg",
		"-smp", "4", "-m", "320", "-kernel", "/k/vmlinuz", "-initrd", "/vm/initrd",
		"-append", "console=ttyS0 panic=-1 maxcpus=2 -- guest",
		"-chardev", "file,id=console,path=/vm/console.log", "-serial", "chardev:console",
		"-chardev", "stdio,id=events,signal=off", "-serial", "chardev:events",
	}
	if !slices.Equal(args, want) {
		t.Errorf("args\n%q\nwant\n%q", args, want)
	}

	disks := m
	disks.Disks = []string{"/cache/bcc.img", "/cache/other.img"}
	args, err = disks.Args()
	if err != nil {
		t.Fatal(err)
	}
	wantDisks := append(slices.Clone(want), "-drive", "file=/cache/bcc.img,if=virtio,format=raw,readonly=on",
		"-drive", "file=/cache/other.img,if=virtio,format=raw,readonly=on")
	if !slices.Equal(args, wantDisks) {
		t.Errorf("args with disks\n%q\nwant\n%q", args, wantDisks)
	}

	kvm := m
	kvm.Accel = qemu.AccelKVM
	kvm.MemoryMiB = 1024
	args, err = kvm.Args()
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(args, " "); !strings.Contains(s, "-accel kvm -cpu host") || !strings.Contains(s, "-m 1024") {
		t.Errorf("kvm args %q", s)
	}

	for name, bad := range map[string]qemu.Machine{
		"no kernel":  {Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, ConsoleLog: "/c"},
		"no console": {Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k"},
		"auto accel": {Accel: qemu.AccelAuto, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/c"},
		"comma path": {Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/a,b"},
		"bad smp":    {Accel: qemu.AccelTCG, Kernel: "/k", ConsoleLog: "/c"},
		"comma disk": {Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/c", Disks: []string{"/a,b.img"}},
		"empty disk": {Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/c", Disks: []string{""}},
	} {
		if _, err := bad.Args(); !errors.Is(err, qemu.ErrBadConfig) {
			t.Errorf("%s: error %v, want ErrBadConfig", name, err)
		}
	}
}

func TestMachineArgsPerArch(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    qemu.Machine
		want []string // substrings of the joined command line
		not  []string
	}{
		{"amd64 is the zero arch", qemu.Machine{SMP: qemu.SMP{CPUs: 2}},
			[]string{"-accel tcg -smp 2", "console=ttyS0 panic=-1", "-chardev stdio,id=events,signal=off -serial chardev:events"},
			[]string{"-M ", "virtio"}},
		{"arm64 virt, GICv2 up to 8 CPUs", qemu.Machine{Arch: arch.Arm64, SMP: qemu.SMP{CPUs: 8}},
			[]string{"-accel tcg -M virt -cpu max,pauth=off -smp 8", "console=ttyAMA0 panic=-1",
				"-serial chardev:console -chardev stdio,id=events,signal=off -device virtio-serial-pci,id=vser -device virtconsole,chardev=events,bus=vser.0"},
			[]string{"gic-version", "-serial chardev:events"}},
		{"arm64 over 8 CPUs needs GICv3", qemu.Machine{Arch: arch.Arm64, SMP: qemu.SMP{CPUs: 32, Sockets: 1, Cores: 16, Threads: 2}},
			[]string{"-M virt,gic-version=3 -cpu max,pauth=off"}, nil},
		{"arm64 kvm", qemu.Machine{Arch: arch.Arm64, Accel: qemu.AccelKVM, SMP: qemu.SMP{CPUs: 1}},
			[]string{"-accel kvm -M virt -cpu host"}, nil},
	} {
		m := tc.m
		if m.Accel == "" {
			m.Accel = qemu.AccelTCG
		}
		m.Kernel, m.ConsoleLog = "/k", "/c"
		args, err := m.Args()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		s := strings.Join(args, " ")
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%s: %q lacks %q", tc.name, s, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(s, n) {
				t.Errorf("%s: %q has %q", tc.name, s, n)
			}
		}
	}
	if got := qemu.BinaryFor(arch.Arm64); got != "qemu-system-aarch64" {
		t.Errorf("arm64 binary %q", got)
	}
	bad := qemu.Machine{Arch: arch.Arch{Name: "riscv64"}, Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/c"}
	if _, err := bad.Args(); !errors.Is(err, qemu.ErrBadConfig) {
		t.Errorf("unknown arch: %v, want ErrBadConfig", err)
	}
	m := qemu.Machine{Arch: arch.Arm64, Binary: "qemu-system-does-not-exist", Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/dev/null"}
	if _, err := qemu.Start(context.Background(), m); !errors.Is(err, qemu.ErrNoQEMU) {
		t.Errorf("missing binary: %v, want ErrNoQEMU", err)
	}
	if _, err := qemu.Version(context.Background(), "qemu-system-aarch64-missing"); err == nil || !strings.Contains(err.Error(), "qemu-system-") {
		t.Errorf("missing binary: %v", err)
	}
}

func TestBootTimeout(t *testing.T) {
	one := qemu.BootTimeout(qemu.AccelTCG, qemu.SMP{CPUs: 1}, 1)
	wide := qemu.BootTimeout(qemu.AccelTCG, qemu.SMP{CPUs: 32}, 1)
	kvm := qemu.BootTimeout(qemu.AccelKVM, qemu.SMP{CPUs: 1}, 1)
	scaled := qemu.BootTimeout(qemu.AccelTCG, qemu.SMP{CPUs: 1}, 3)
	if !(kvm < one && one < wide) || scaled != 3*one {
		t.Errorf("kvm %v tcg/1 %v tcg/32 %v tcg/1x3 %v", kvm, one, wide, scaled)
	}
	// Measured: ~20 s for -smp 32 under TCG; the budget must exceed it.
	if wide < 40*time.Second {
		t.Errorf("tcg/32 budget %v is below twice the measured boot", wide)
	}
}

// fakeQEMU writes a script standing in for QEMU that forks a child and then
// sleeps, recording both pids, so the test can check the whole group dies.
func fakeQEMU(t *testing.T) (bin, pidFile string) {
	t.Helper()
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "pids")
	bin = filepath.Join(dir, "qemu-fake")
	script := "#!/bin/sh\nsleep 300 &\necho $$ $! > " + pidFile + "\necho '{\"kind\":\"log\"}'\nsleep 300\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, pidFile
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(file)
		if f := strings.Fields(string(b)); len(f) == 2 {
			var pids []int
			for _, s := range f {
				p, err := strconv.Atoi(s)
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, p)
			}
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("fake qemu did not start")
	return nil
}

func alive(pid int) bool {
	// A zombie still answers kill 0; look at its state.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

func TestCancelKillsProcessGroup(t *testing.T) {
	bin, pidFile := fakeQEMU(t)
	ctx, cancel := context.WithCancel(context.Background())
	m := qemu.Machine{Binary: bin, Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/dev/null"}
	vm, err := qemu.Start(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	pids := readPids(t, pidFile)
	buf := make([]byte, 16)
	if n, _ := io.ReadAtLeast(vm.Events(), buf, 8); !strings.HasPrefix(string(buf[:n]), `{"kind"`) {
		t.Errorf("events stream starts %q", buf[:n])
	}
	cancel()
	done := make(chan error, 1)
	go func() { _, _ = io.Copy(io.Discard, vm.Events()); done <- vm.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Wait after cancel returned no error")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	time.Sleep(100 * time.Millisecond)
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d survived the cancel", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestStartErrors(t *testing.T) {
	m := qemu.Machine{Binary: "qemu-system-does-not-exist", Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: "/k", ConsoleLog: "/dev/null"}
	if _, err := qemu.Start(context.Background(), m); !errors.Is(err, qemu.ErrNoQEMU) {
		t.Errorf("error %v, want ErrNoQEMU", err)
	}
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		t.Skip(err)
	}
	// A real QEMU refusing a missing kernel: the error carries its stderr.
	m = qemu.Machine{Accel: qemu.AccelTCG, SMP: qemu.SMP{CPUs: 1}, Kernel: filepath.Join(t.TempDir(), "missing"), ConsoleLog: filepath.Join(t.TempDir(), "c.log")}
	vm, err := qemu.Start(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, vm.Events())
	err = vm.Wait()
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %v, want QEMU's complaint about the kernel", err)
	}
}

func TestAutoAccelCachesVerdict(t *testing.T) {
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		t.Skip(err)
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		// Without /dev/kvm the verdict is TCG with no probe at all.
		v, err := qemu.AutoAccel(context.Background(), "", filepath.Join(t.TempDir(), "a.json"),
			func(context.Context) error { t.Fatal("probed without /dev/kvm"); return nil })
		if err != nil || v.Accel != qemu.AccelTCG {
			t.Fatalf("%+v, %v", v, err)
		}
		return
	}
	f.Close()
	for _, tc := range []struct {
		probeErr error
		want     string
	}{{nil, qemu.AccelKVM}, {errors.New("KVM internal error"), qemu.AccelTCG}} {
		cache := filepath.Join(t.TempDir(), "accel.json")
		calls := 0
		probe := func(context.Context) error { calls++; return tc.probeErr }
		for range 2 {
			v, err := qemu.AutoAccel(context.Background(), "", cache, probe)
			if err != nil {
				t.Fatal(err)
			}
			if v.Accel != tc.want || v.QEMUVersion == "" || v.HostKernel == "" {
				t.Errorf("verdict %+v, want %s", v, tc.want)
			}
		}
		if calls != 1 {
			t.Errorf("probe ran %d times, want once (cached)", calls)
		}
	}
}
