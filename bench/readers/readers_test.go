package readers_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/perfconform/perfconform/bench/libbpfdrv"
	"github.com/perfconform/perfconform/bench/readers"
)

// TestAccounting runs every reader briefly in every mode and checks the
// harness's bookkeeping, not speed: each sample the producers got into a
// ring is delivered, each one the kernel dropped is reported lost, and the
// slow rate-limited producer loses nothing.
// minRingTime is the shortest ring time (ring size ÷ sample size ÷ rate)
// for which TestAccounting holds a rate-limited reader to losing nothing.
const minRingTime = 250 * time.Millisecond

func TestAccounting(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: BPF programs and perf_event_open")
	}
	cfg := readers.Config{
		Readers: []string{readers.Reference, readers.ReferenceFunc, readers.ReferenceWatermark, readers.Cilium},
		Sizes:   []int{8, 4096},
		Samples: 4096, Rounds: 1, Rate: 1000, RateDuration: 200 * time.Millisecond,
		Pages: 16,
	}
	if _, err := exec.LookPath("cc"); err == nil {
		drv, err := libbpfdrv.Build(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg.LibbpfDriver = drv
		cfg.Readers = append(cfg.Readers, readers.Libbpf, readers.LibbpfCopy)
	}
	res, err := readers.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(cfg.Sizes) * (2*len(cfg.Readers) + len(cfg.Readers) - 1); len(res) != want {
		t.Fatalf("%d results, want %d", len(res), want)
	}
	for _, r := range res {
		if !r.LossAccounted() {
			t.Errorf("%s %dB %s: reported %d lost, the kernel dropped %d", r.Reader, r.Size, r.Mode, r.Lost, r.Attempted-r.Accepted)
		}
		if r.Delivered != r.Accepted {
			t.Errorf("%s %dB %s: delivered %d of %d accepted samples", r.Reader, r.Size, r.Mode, r.Delivered, r.Accepted)
		}
		// Below saturation a reader keeps up unless the machine stops it
		// for longer than its ring lasts: asserted where the ring holds at
		// least minRingTime of samples at the rate (8 B: seconds), only
		// logged where it holds milliseconds (4 KiB in 16 pages: 16 ms, less
		// than one scheduling delay on a loaded shared machine). Loss is
		// accounted either way (above).
		if r.Mode == readers.RateLimited && r.Lost != 0 {
			lasts := time.Duration(cfg.Pages*os.Getpagesize()/(r.Size+16)) * time.Second / time.Duration(cfg.Rate)
			if lasts >= minRingTime {
				t.Errorf("%s %dB at %d/s per CPU: lost %d (the ring holds %v of samples)", r.Reader, r.Size, cfg.Rate, r.Lost, lasts)
			} else {
				t.Logf("%s %dB at %d/s per CPU: lost %d; the ring holds only %v of samples, so this is the machine's scheduling, not judged", r.Reader, r.Size, cfg.Rate, r.Lost, lasts)
			}
		}
		if r.AllocsPerSample > 0.01 {
			t.Errorf("%s %dB %s: %d allocations in %d reads", r.Reader, r.Size, r.Mode, r.Allocs, r.AllocSamples)
		}
	}
}
