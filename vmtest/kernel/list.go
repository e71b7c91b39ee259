package kernel

import "errors"

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
