// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * perf_simple: the adapter tests' own object, so adapter tests do not depend
 * on fixtures/bpf. One BTF-defined perf event array, "events", that declares
 * its type and 4-byte key and value but no max_entries (the loader sizes
 * it; libbpf 1.1 refuses an array that leaves key/value sizes 0 too), and
 * one program that writes to it.
 * Rebuild with `go generate ./adapters/` (clang -target bpf).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int emit_sample(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();

	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &cpu, sizeof cpu);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
