package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

var topologiesCmd = &cobra.Command{
	Use:   "topologies [NAME|SET...]",
	Short: "List the CPU topologies VMs boot with: QEMU and kernel settings, expected masks per kernel",
	Long: `List the CPU topologies VMs boot with. Sets: ` + strings.Join(topology.SetNames(), ", ") + `.
Each entry shows its QEMU -smp option, kernel arguments, guest actions and the masks
(possible/present/online) expected on each kernel series, or why it cannot be realized there.
Lines naming an architecture are for it alone, and an architecture with lines of its own
uses only those (QEMU's arm64 virt machine has no CPU hotplug slots); the other lines hold
on every architecture (amd64, arm64).`,
	RunE: func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			args = []string{"full"}
		}
		tops, err := topology.Resolve(args...)
		if err != nil {
			return err
		}
		for _, t := range tops {
			fmt.Fprint(cmd.OutOrStdout(), t.Describe())
		}
		return nil
	},
}

var verifyFlags struct {
	kernels  []string
	parallel int
	outDir   string
	force    bool
	keep     bool
	scale    float64
	cacheDir string
}

var topologiesVerifyCmd = &cobra.Command{
	Use:   "verify [NAME|SET...]",
	Short: "Boot each topology on each kernel and compare the masks the guest reads with the expectation",
	RunE: func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			args = []string{"quick"}
		}
		tops, err := topology.Resolve(args...)
		if err != nil {
			return err
		}
		cacheDir := verifyFlags.cacheDir
		if cacheDir == "" {
			if cacheDir, err = kernel.DefaultCacheDir(); err != nil {
				return err
			}
		}
		guestBin, err := conform.StaticGuest(cmd.Context(), cacheDir, func(s string) { fmt.Fprintln(os.Stderr, s) })
		if err != nil {
			return err
		}
		opts := []vmtest.Option{
			vmtest.WithCacheDir(cacheDir), vmtest.WithKeep(verifyFlags.keep), vmtest.WithTimeoutScale(verifyFlags.scale),
			vmtest.WithOutDir(verifyFlags.outDir), // "" is a new temp dir
			vmtest.WithProgress(func(p vmtest.Progress) { fmt.Fprintln(os.Stderr, p) }),
		}
		if verifyFlags.parallel > 0 {
			opts = append(opts, vmtest.WithParallel(verifyFlags.parallel))
		}
		res, err := vmtest.VerifyTopologies(cmd.Context(), guestBin, verifyFlags.kernels, tops, verifyFlags.force, opts...)
		if err != nil {
			return err
		}
		failed, err := vmtest.WriteVerifyTable(cmd.OutOrStdout(), res)
		if err != nil {
			return err
		}
		if failed > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("%d of %d VMs did not realize their topology", failed, len(res))}
		}
		return nil
	},
}

func init() {
	f := topologiesVerifyCmd.Flags()
	f.StringSliceVar(&verifyFlags.kernels, "kernel", []string{"debian-5.10", "debian-6.1", "debian-6.12"}, "kernels to boot (catalog names such as debian-6.12-arm64, or image paths)")
	f.IntVar(&verifyFlags.parallel, "parallel", 0, "VMs at once (default: host CPUs)")
	f.StringVar(&verifyFlags.outDir, "out", "", "directory for each VM's events, console log and vm.json (default: a new temp dir)")
	f.BoolVar(&verifyFlags.force, "force", false, "boot topologies declared not realizable on a kernel too, to measure them")
	f.BoolVar(&verifyFlags.keep, "keep", false, "keep each VM's temporary directory")
	f.Float64Var(&verifyFlags.scale, "timeout-scale", 1, "multiply every VM timeout")
	f.StringVar(&verifyFlags.cacheDir, "cache-dir", "", "cache of kernels, images and the accelerator verdict")
	topologiesCmd.AddCommand(topologiesVerifyCmd)
	rootCmd.AddCommand(topologiesCmd)
}
