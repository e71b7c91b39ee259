package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/vmtest/kernel"
)

var (
	kernelCacheDir string
	kernelsForce   bool
)

var kernelsCmd = &cobra.Command{
	Use:   "kernels",
	Short: "Manage the kernels VMs boot (debian-5.10, debian-6.1, debian-6.12, their -arm64 builds, host, or an image path)",
}

var kernelsFetchCmd = &cobra.Command{
	Use:   "fetch [NAME...]",
	Short: "Download catalog kernels into the cache (default: all fetchable ones); damaged cached images are fetched again",
	RunE: func(cmd *cobra.Command, args []string) error {
		cache, err := kernelCache(cmd)
		if err != nil {
			return err
		}
		if len(args) == 0 {
			for _, e := range kernel.Catalog() {
				args = append(args, e.Name)
			}
		}
		cache.Force = kernelsForce
		ks, err := cache.Fetch(cmd.Context(), args...)
		if err != nil {
			return err
		}
		for _, k := range ks {
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s %s\t%s\n", k.Name, k.Release, k.Package, k.Version, k.Path)
		}
		return nil
	},
}

var kernelsListCmd = &cobra.Command{
	Use:   "list",
	Short: "Show the kernel catalog and what is in the cache",
	Args:  cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cache, err := kernelCache(cmd)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "cache: %s\n", cache.Dir)
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tRELEASE\tPACKAGE\tPATH")
		for _, e := range kernel.Catalog() {
			k, err := cache.Cached(e.Name)
			if errors.Is(err, kernel.ErrDamaged) {
				fmt.Fprintf(tw, "%s\tdamaged\t-\t-\t%v\n", e.Name, err)
				continue
			}
			if err != nil {
				fmt.Fprintf(tw, "%s\tnot fetched\t-\t-\t(conform kernels fetch %s)\n", e.Name, e.Name)
				continue
			}
			fmt.Fprintf(tw, "%s\tcached\t%s\t%s %s\t%s\n", k.Name, k.Release, k.Package, k.Version, k.Path)
		}
		if k, err := kernel.HostKernel(); err != nil {
			fmt.Fprintf(tw, "%s\tunavailable\t-\t-\t%v\n", kernel.Host, err)
		} else {
			fmt.Fprintf(tw, "%s\tavailable\t%s\t-\t%s\n", kernel.Host, k.Release, k.Path)
		}
		return tw.Flush()
	},
}

// kernelCache is the cache the --cache-dir flag names, or the default one.
func kernelCache(cmd *cobra.Command) (*kernel.Cache, error) {
	dir := kernelCacheDir
	if dir == "" {
		d, err := kernel.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return &kernel.Cache{Dir: dir, Progress: func(msg string) { fmt.Fprintln(os.Stderr, msg) }}, nil
}

func init() {
	kernelsCmd.PersistentFlags().StringVar(&kernelCacheDir, "cache-dir", "",
		"kernel cache directory (default $XDG_CACHE_HOME/perfconform or ~/.cache/perfconform)")
	kernelsFetchCmd.Flags().BoolVar(&kernelsForce, "force", false, "download again even when cached")
	kernelsCmd.AddCommand(kernelsFetchCmd, kernelsListCmd)
	rootCmd.AddCommand(kernelsCmd)
}
