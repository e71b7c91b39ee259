package kernel

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
)

// State is what a cache holds for one kernel name (Cache.List).
type State string

const (
	Cached     State = "cached"      // in the cache and intact
	Damaged    State = "damaged"     // in the cache, but the image is truncated or altered (ErrDamaged)
	NotFetched State = "not fetched" // not in the cache (ErrNotFetched)
	// The host kernel is read from /boot, never cached:
	Available   State = "available"   // its image can be booted
	Unavailable State = "unavailable" // its image cannot be read (ErrHostKernel)
)

// Status is one kernel in Cache.List.
type Status struct {
	Name   string
	State  State
	Kernel Kernel // Cached, Available
	Err    error  // why not: Damaged, NotFetched, Unavailable
}

// NewCache is the cache in dir, or in DefaultCacheDir when dir is empty.
func NewCache(dir string) (*Cache, error) {
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	return &Cache{Dir: dir}, nil
}

// List says, for every catalog kernel in catalog order, whether c holds it
// intact, and last whether the host's kernel image (Host) can be used.
func (c *Cache) List() []Status {
	var out []Status
	for _, e := range catalog {
		k, err := c.Cached(e.Name)
		s := Status{Name: e.Name, State: Cached, Kernel: k, Err: err}
		switch {
		case errors.Is(err, ErrDamaged):
			s.State = Damaged
		case err != nil:
			s.State = NotFetched
		}
		out = append(out, s)
	}
	k, err := HostKernel()
	s := Status{Name: Host, State: Available, Kernel: k, Err: err}
	if err != nil {
		s.State = Unavailable
	}
	return append(out, s)
}

// WriteList writes list (Cache.List) as `conform kernels list` shows it: one
// row per kernel with its state, and what it is (release, package, image)
// when usable, how to fetch it when not fetched, or why not otherwise.
func WriteList(w io.Writer, list []Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tRELEASE\tPACKAGE\tPATH")
	for _, s := range list {
		switch k := s.Kernel; s.State {
		case Cached:
			fmt.Fprintf(tw, "%s\tcached\t%s\t%s %s\t%s\n", k.Name, k.Release, k.Package, k.Version, k.Path)
		case Available:
			fmt.Fprintf(tw, "%s\tavailable\t%s\t-\t%s\n", s.Name, k.Release, k.Path)
		case NotFetched:
			fmt.Fprintf(tw, "%s\tnot fetched\t-\t-\t(conform kernels fetch %s)\n", s.Name, s.Name)
		default: // damaged, unavailable: why
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%v\n", s.Name, s.State, s.Err)
		}
	}
	return tw.Flush()
}
