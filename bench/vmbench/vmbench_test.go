package vmbench

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/bench/vmboot"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
)

func TestFigureOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	res := func(loader string, s result.Status, ms int) result.Result {
		return result.Result{Loader: loader, Status: s, Duration: time.Duration(ms) * time.Millisecond}
	}
	ref := Payload{Loaders: []string{"reference"}}
	tests := []struct {
		name    string
		payload Payload
		vm      vmtest.VMResult
		want    Figure
	}{
		{"suite VM, two loaders' results summed per loader in first-seen order", Payload{Loaders: []string{"libbpf", "reference"}},
			vmtest.VMResult{Kernel: kernel.Kernel{Name: "debian-6.1"}, Topology: "smp4",
				Started: at(0), Booted: at(2600), Done: at(4500), Ended: at(4520),
				Results: []result.Result{res("libbpf", result.Pass, 300), res("reference", result.Fail, 100),
					res("libbpf", result.Error, 200), res("reference", result.Skip, 0)}},
			Figure{Kernel: "debian-6.1", Topology: "smp4", Payload: "suite", Loaders: []string{"libbpf", "reference"},
				Boot: 2600 * time.Millisecond, Run: 1900 * time.Millisecond, PowerOff: 20 * time.Millisecond,
				Total: 4520 * time.Millisecond, AfterBoot: 1920 * time.Millisecond,
				Specs:   []LoaderTime{{"libbpf", 500 * time.Millisecond}, {"reference", 100 * time.Millisecond}},
				Results: 4, Failed: 2}},
		{"bare VM", Payload{},
			vmtest.VMResult{Kernel: kernel.Kernel{Name: "debian-6.1"}, Topology: "smp4",
				Started: at(0), Booted: at(2400), Done: at(2410), Ended: at(2430)},
			Figure{Kernel: "debian-6.1", Topology: "smp4", Payload: "bare", Boot: 2400 * time.Millisecond,
				Run: 10 * time.Millisecond, PowerOff: 20 * time.Millisecond, Total: 2430 * time.Millisecond, AfterBoot: 30 * time.Millisecond}},
		{"died after booting: no done, the error's first line", ref,
			vmtest.VMResult{Kernel: kernel.Kernel{Name: "debian-6.1"}, Topology: "smp4",
				Started: at(0), Booted: at(3000), Ended: at(9000), Err: errors.New("no done event\nconsole tail: ...")},
			Figure{Kernel: "debian-6.1", Topology: "smp4", Payload: "suite", Loaders: []string{"reference"},
				Boot: 3 * time.Second, Total: 9 * time.Second, AfterBoot: 6 * time.Second, Err: "no done event"}},
		{"never booted: no boot, no after-boot", ref,
			vmtest.VMResult{Kernel: kernel.Kernel{Name: "debian-6.1"}, Topology: "smp4",
				Started: at(0), Ended: at(60000), Err: errors.New("timed out")},
			Figure{Kernel: "debian-6.1", Topology: "smp4", Payload: "suite", Loaders: []string{"reference"},
				Total: time.Minute, Err: "timed out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := figureOf(tt.payload, tt.vm); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("figureOf =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestPerLoaderGoals shows the per-loader summary meeting and missing issue
// 14's goals: the median after-boot time over the rounds against 1 s, the
// median total ÷ bare against 1.35x, with their ranges.
func TestPerLoaderGoals(t *testing.T) {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	suite := func(loader string, round int, boot, total float64) Figure {
		return Figure{Kernel: "debian-6.1", Topology: "smp4", Payload: "suite", Loaders: []string{loader}, Round: round,
			Boot: s(boot), Total: s(total), AfterBoot: s(total - boot), Results: 21,
			Specs: []LoaderTime{{loader, s(total - boot - 0.1)}}}
	}
	bare := func(round int, total float64) Figure {
		return Figure{Kernel: "debian-6.1", Topology: "smp4", Payload: "bare", Round: round, Boot: s(total - 0.03), Total: s(total), AfterBoot: s(0.03)}
	}
	r := &Results{PerVM: []Figure{
		suite("fast", 1, 2.5, 3.2), suite("slow", 1, 2.5, 5.0), bare(1, 2.6),
		suite("fast", 2, 2.5, 3.4), suite("slow", 2, 2.5, 4.4), bare(2, 2.6),
		suite("fast", 3, 2.5, 3.3), suite("slow", 3, 2.5, 4.9), bare(3, 2.6),
	}}
	var b bytes.Buffer
	r.WriteTables(&b)
	out := b.String()
	for _, want := range []string{
		"debian-6.1 smp4 fast: after boot 0.80s [0.70s–0.90s, 3 rounds], met; total ÷ bare 1.27x [1.23x–1.31x, 3 rounds], met",
		"debian-6.1 smp4 slow: after boot 2.40s [1.90s–2.50s, 3 rounds], MISSED; total ÷ bare 1.88x [1.69x–1.92x, 3 rounds], MISSED",
		"suite: fast", "fast 0.60s", // payload column; specs column (round 1)
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Count(out, "\ndebian-6.1  smp4"); got != 9 {
		t.Errorf("want 9 table rows (every VM), got %d:\n%s", got, out)
	}
}

func TestConfigRefused(t *testing.T) {
	ok := Config{Parts: []string{PerVM}, Kernels: []string{"debian-6.1"}, GuestBinary: "/conform", CacheDir: t.TempDir(),
		Alone: []Payload{{Loaders: []string{"reference"}}}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"unknown part", func(c *Config) { c.Parts = []string{"pervm", "boots"} }, `unknown part "boots"`},
		{"no guest", func(c *Config) { c.GuestBinary = "" }, "no guest binary"},
		{"pervm without payload", func(c *Config) { c.Alone = nil }, "part pervm: no suite payload"},
		{"matrix without payload", func(c *Config) { c.Parts = []string{Matrix} }, "part matrix: no suite payload"},
		{"zero CPUs", func(c *Config) { c.SMP = []int{4, 0} }, "-smp 0"},
		{"negative rounds", func(c *Config) { c.Rounds = -1 }, "rounds -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			_, err := Run(t.Context(), c)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want ErrConfig containing %q", err, tt.want)
			}
		})
	}
	c := ok
	if err := c.defaults(); err != nil {
		t.Fatalf("a valid config was refused: %v", err)
	}
	if c.Rounds != 1 || c.Reps != DefaultReps || c.Parallel != DefaultParallel || !reflect.DeepEqual(c.SMP, DefaultSMP) {
		t.Errorf("defaults: rounds %d reps %d -j %d smp %v", c.Rounds, c.Reps, c.Parallel, c.SMP)
	}
}

// TestBootMedians: the boot part's table is the median of each variant's
// repetitions per (kernel, -smp), and its ratio to the baseline's median.
func TestBootMedians(t *testing.T) {
	b := func(variant string, cpus int, total float64, err string) vmboot.Boot {
		return vmboot.Boot{Variant: variant, Kernel: "debian-6.1", CPUs: cpus, Total: time.Duration(total * float64(time.Second)), Err: err}
	}
	r := &Results{Reps: 3, Images: []vmboot.Image{{Name: "bare", Size: 3 << 20}}, Boots: []vmboot.Boot{
		b("baseline", 1, 2.0, ""), b("quiet", 1, 1.0, ""), b("microvm", 1, 20, "timed out after 20s\nmore"),
		b("baseline", 1, 9.0, ""), b("quiet", 1, 1.8, ""),
		b("baseline", 1, 2.2, ""), b("quiet", 1, 1.1, ""),
		b("baseline", 8, 4.0, ""),
	}}
	var out bytes.Buffer
	r.WriteTables(&out)
	for _, re := range []string{
		`image bare: 3.0 MiB`, `median of 3`,
		`baseline +debian-6.1 +1 +- +2.20s +1.00x`,
		`quiet +debian-6.1 +1 +- +1.10s +0.50x`,
		`microvm +debian-6.1 +1 +- +20.00s +- +timed out after 20s\n`,
		`baseline +debian-6.1 +8 +- +4.00s +1.00x`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output does not match %q:\n%s", re, out.String())
		}
	}
}
