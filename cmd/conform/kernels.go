package main

import (
	"fmt"
	"os"

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
		cache, err := kernelCache()
		if err != nil {
			return err
		}
		if len(args) == 0 {
			args = kernel.Fetchable()
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
		cache, err := kernelCache()
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "cache: %s\n", cache.Dir)
		return kernel.WriteList(cmd.OutOrStdout(), cache.List())
	},
}

// kernelCache is the cache the --cache-dir flag names, or the default one.
func kernelCache() (*kernel.Cache, error) {
	c, err := kernel.NewCache(kernelCacheDir)
	if c != nil {
		c.Progress = func(msg string) { fmt.Fprintln(os.Stderr, msg) }
	}
	return c, err
}

func init() {
	kernelsCmd.PersistentFlags().StringVar(&kernelCacheDir, "cache-dir", "",
		"kernel cache directory (default $XDG_CACHE_HOME/perfconform or ~/.cache/perfconform)")
	kernelsFetchCmd.Flags().BoolVar(&kernelsForce, "force", false, "download again even when cached")
	kernelsCmd.AddCommand(kernelsFetchCmd, kernelsListCmd)
	rootCmd.AddCommand(kernelsCmd)
}
