// perfconform bench driver: libbpf 1.1's perf_buffer reading a perf event
// array that the Go harness created, filled by the harness's producers.
//
//   perfbench-libbpf PINNED_MAP PAGES [drain] [copy]
//
// copy: the sample callback copies each sample out of the ring into a buffer,
// as a program that keeps a sample beyond the callback must (and as the Go
// readers' ReadInto always does); without it the callback only counts, which
// is libbpf's zero-copy best case.
//
// Protocol (one line each way, stdout flushed per line):
//   -> "ready"                       once perf_buffer__new has opened every ring
//   <- "target N"                    the harness's producers are done: N samples entered the rings
//   -> "drained"                     all N delivered
//   <- "sentinels M"                 M sentinel samples follow (they flush pending lost records)
//   -> {"samples":..,"lost":..,"bytes":..,"end_ns":..,"cpu_ns":..}
// In drain mode the driver reads nothing until told to, so the harness can fill
// the rings first and time the reader alone (like BenchmarkReadInto):
//   <- "drain N"                     the rings hold N samples: read them
//   -> "batch ELAPSED_NS CPU_NS LOST" the time and CPU time that took
//   <- EOF                           exit
// end_ns is CLOCK_MONOTONIC when the N-th sample was delivered (0 when the
// reader had already delivered all N before it learned N).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t samples, lost, bytes_seen, end_ns;
static uint64_t target = UINT64_MAX;
static int copy_out;
static unsigned char copy_buf[1 << 16];

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx; (void)cpu;
	if (copy_out && size <= sizeof(copy_buf)) {
		memcpy(copy_buf, data, size);
		__asm__ volatile("" : : "r"(copy_buf) : "memory"); // keep the copy
	}
	bytes_seen += size;
	if (++samples == target)
		end_ns = mono_ns();
}

static void on_lost(void *ctx, int cpu, __u64 cnt)
{
	(void)ctx; (void)cpu;
	lost += cnt;
}

static char line[256];
static size_t line_len;

// read_command returns 1 and fills line when a complete line is on stdin.
static int read_command(int timeout_ms)
{
	struct pollfd p = {.fd = 0, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	ssize_t n = read(0, line + line_len, sizeof(line) - 1 - line_len);
	if (n <= 0) {
		fprintf(stderr, "perfbench-libbpf: stdin closed\n");
		exit(3);
	}
	line_len += (size_t)n;
	line[line_len] = 0;
	char *nl = strchr(line, '\n');
	if (!nl)
		return 0;
	*nl = 0;
	line_len = 0;
	return 1;
}

// cpu_ns is the process's CPU time (user + system): what getrusage(RUSAGE_SELF)
// sums, read exactly (getrusage's utime/stime split is scaled from tick
// samples and lags over short intervals).
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int drain_mode = 0;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "drain") == 0)
			drain_mode = 1;
		else if (strcmp(argv[i], "copy") == 0)
			copy_out = 1;
		else
			argc = 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: perfbench-libbpf PINNED_MAP PAGES [drain] [copy]\n");
		return 2;
	}
	int fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "perfbench-libbpf: bpf_obj_get %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	size_t pages = strtoul(argv[2], NULL, 10);
	struct perf_buffer *pb = perf_buffer__new(fd, pages, on_sample, on_lost, NULL, NULL);
	if (!pb) {
		fprintf(stderr, "perfbench-libbpf: perf_buffer__new(%s, %zu pages): %s\n", argv[1], pages, strerror(errno));
		return 1;
	}
	uint64_t cpu0 = cpu_ns();
	printf("ready\n");
	fflush(stdout);

	while (drain_mode) {
		unsigned long long v;
		struct pollfd p = {.fd = 0, .events = POLLIN};
		poll(&p, 1, -1);
		if (!read_command(0))
			continue;
		if (sscanf(line, "drain %llu", &v) != 1) {
			fprintf(stderr, "perfbench-libbpf: unknown command: %s\n", line);
			return 2;
		}
		uint64_t goal = samples + v, lost0 = lost;
		uint64_t c0 = cpu_ns();
		uint64_t t0 = mono_ns();
		while (samples < goal) {
			int k = perf_buffer__poll(pb, 1000);
			if (k < 0 && k != -EINTR) {
				fprintf(stderr, "perfbench-libbpf: perf_buffer__poll: %s\n", strerror(-k));
				return 1;
			}
		}
		uint64_t t1 = mono_ns();
		uint64_t c1 = cpu_ns();
		printf("batch %llu %llu %llu\n", (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0),
		       (unsigned long long)(lost - lost0));
		fflush(stdout);
	}

	uint64_t want = UINT64_MAX; // samples + sentinels to deliver before reporting
	int drained = 0;
	for (;;) {
		int n = perf_buffer__poll(pb, 50);
		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "perfbench-libbpf: perf_buffer__poll: %s\n", strerror(-n));
			return 1;
		}
		if (samples >= want)
			break;
		if (!drained && samples >= target) {
			drained = 1;
			printf("drained\n");
			fflush(stdout);
		}
		if (read_command(0)) {
			unsigned long long v;
			if (sscanf(line, "target %llu", &v) == 1) {
				target = v;
				if (samples == target)
					end_ns = mono_ns();
				if (samples >= target) {
					drained = 1;
					printf("drained\n");
					fflush(stdout);
				}
			} else if (sscanf(line, "sentinels %llu", &v) == 1) {
				want = target + v;
				if (samples >= want)
					break;
			} else {
				fprintf(stderr, "perfbench-libbpf: unknown command: %s\n", line);
				return 2;
			}
		}
	}
	printf("{\"samples\":%llu,\"lost\":%llu,\"bytes\":%llu,\"end_ns\":%llu,\"cpu_ns\":%llu}\n",
	       (unsigned long long)samples, (unsigned long long)lost, (unsigned long long)bytes_seen,
	       (unsigned long long)end_ns, (unsigned long long)(cpu_ns() - cpu0));
	fflush(stdout);
	perf_buffer__free(pb);
	return 0;
}
