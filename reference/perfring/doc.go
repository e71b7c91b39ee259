// Package perfring reads the per-CPU perf rings behind a
// BPF_MAP_TYPE_PERF_EVENT_ARRAY map. It is the reference reader that other
// loaders' readers are compared with: correct first, then fast.
//
// For every CPU it is given, [New] opens a PERF_COUNT_SW_BPF_OUTPUT software
// event bound to that CPU, maps its ring (one metadata page plus
// [Options.Pages] data pages), stores the event's fd in the map at key = CPU
// id, and registers the fd with a single epoll instance. BPF programs write
// into the ring with bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, ...).
//
// # Why rings are keyed by CPU id
//
// With BPF_F_CURRENT_CPU the kernel looks up the map at index
// smp_processor_id() and refuses (-EOPNOTSUPP) an event that is bound to any
// other CPU; an empty slot gives -ENOENT. The key must therefore be the CPU id,
// not the CPU's position in some list of CPUs. The two differ as soon as the
// online CPUs are not 0..n-1 (hotplug slots, isolated or offlined CPUs): a
// reader that stores the ring for online CPU 4 at key 2 (its position, as
// cilium/ebpf v0.22.0 does, see cilium/ebpf issue 2100) silently loses every
// event from CPU 4 and breaks CPU 2. For the same reason the map must have at
// least highest-CPU-id + 1 entries; New refuses a CPU that does not fit.
//
// # Memory-ordering contract
//
// The ring is shared with the kernel through the metadata page
// (struct perf_event_mmap_page). The kernel writes records, then publishes
// data_head; the reader consumes records, then publishes data_tail. The
// reader loads data_head with an atomic load (acquire: no record byte is read
// before the head that covers it) and stores data_tail with an atomic store
// (release: every byte of a consumed record has been copied out before the
// kernel may overwrite it). Go's sync/atomic operations are sequentially
// consistent, which is at least as strong as the acquire/release pair the
// kernel documents in include/uapi/linux/perf_event.h. ReadInto copies records
// out of the ring into [Record.RawSample] before data_tail moves, so its
// records never alias ring memory. ReadFunc hands its callback records that
// point into the ring and moves data_tail only after the callback has
// returned for the last record of a batch.
//
// # Reading
//
// [Reader.ReadInto] returns one record at a time and allocates nothing in
// steady state: it reuses the capacity of Record.RawSample. Rings that epoll
// reports as readable are drained round-robin, one record per ring per turn,
// each up to the data_head seen when it became readable, so one busy CPU cannot
// starve the others. data_tail is published as soon as the record that
// reaches that head has been copied out: one store per batch, and no space is
// held back while the caller is not reading.
//
// [Reader.ReadFunc] is the batch, zero-copy form for throughput: one call
// takes the lock once, gives every ready ring one batch (round-robin, as
// above) and calls a function for each record with RawSample pointing into
// the ring (or, for a sample that wraps the ring's end, into a reused
// buffer), valid only during that call; data_tail is published once per
// ring batch. This is what libbpf's perf_buffer__poll does.
//
// Lost samples are reported as a Record with LostSamples > 0 and an empty
// RawSample. The kernel writes that record only when it next has room for a
// sample, so the loss becomes visible together with the next sample.
package perfring
