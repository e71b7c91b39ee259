// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The perfconform adapter for libbpf (docs/ADAPTERS.md, protocol version 1).
 *
 * load: bpf_object__open_file + bpf_object__load with default options (libbpf
 * sizes perf event arrays itself), bpf_map__pin for every map under the pin
 * directory, perf_buffer__new on every perf event array, then JSON lines for
 * every sample and lost count until stdin closes or SIGTERM arrives.
 *
 * Built statically (libbpf.a, libelf.a, libz.a) so it runs in a VM initramfs.
 * JSON and base64 are written by hand to keep it dependency-free.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define PROTOCOL_VERSION 1
#define MAX_PERF_MAPS 64

static volatile sig_atomic_t stop_requested;
/* The last few lines libbpf logged, "; "-joined, for error lines. */
static char last_libbpf_msg[2048];

/* --- output ------------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			fputs("libbpf adapter: out of memory\n", stderr);
			exit(1);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_put(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* buf_json_string appends s as a JSON string literal. */
static void buf_json_string(struct buf *b, const char *s)
{
	buf_str(b, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"': buf_str(b, "\\\""); break;
		case '\\': buf_str(b, "\\\\"); break;
		case '\n': buf_str(b, "\\n"); break;
		case '\t': buf_str(b, "\\t"); break;
		default:
			if (*c < 0x20)
				buf_fmt(b, "\\u%04x", *c);
			else
				buf_put(b, (const char *)c, 1);
		}
	}
	buf_str(b, "\"");
}

static void buf_base64(struct buf *b, const unsigned char *data, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = data[i] << 16;
		if (i + 1 < n)
			v |= data[i + 1] << 8;
		if (i + 2 < n)
			v |= data[i + 2];
		q[0] = tbl[(v >> 18) & 63];
		q[1] = tbl[(v >> 12) & 63];
		q[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tbl[v & 63] : '=';
		buf_put(b, q, 4);
	}
}

/* emit writes one complete line and flushes: stdout is a pipe. */
static void emit(struct buf *b)
{
	buf_str(b, "\n");
	fwrite(b->p, 1, b->len, stdout);
	fflush(stdout);
	b->len = 0;
}

static int fail(const char *stage, const char *fmt, ...)
{
	char msg[4096];
	struct buf b = {0};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (last_libbpf_msg[0]) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, " (libbpf: %s)", last_libbpf_msg);
	}
	buf_str(&b, "{\"event\":\"error\",\"stage\":\"");
	buf_str(&b, stage);
	buf_str(&b, "\",\"message\":");
	buf_json_string(&b, msg);
	buf_str(&b, "}");
	emit(&b);
	free(b.p);
	return 1;
}

/* --- libbpf callbacks -------------------------------------------------- */

/*
 * Keep libbpf's warnings on stderr and collect them (since the last reset)
 * for error lines: the final one is often just "failed to load object", the
 * earlier ones say why (e.g. "Failed to get CPU range ...").
 */
static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char cur[512];
	size_t n = strlen(last_libbpf_msg);
	va_list copy;

	if (level == LIBBPF_DEBUG)
		return 0;
	va_copy(copy, ap);
	vsnprintf(cur, sizeof(cur), fmt, copy);
	va_end(copy);
	for (char *c = cur; *c; c++)
		if (*c == '\n')
			*c = ' ';
	while (n > 0 && last_libbpf_msg[n - 1] == ' ')
		last_libbpf_msg[--n] = '\0';
	snprintf(last_libbpf_msg + n, sizeof(last_libbpf_msg) - n, "%s%s", n ? "; " : "", cur);
	return vfprintf(stderr, fmt, ap);
}

static struct buf line;

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	buf_str(&line, "{\"event\":\"sample\",\"map\":");
	buf_json_string(&line, ctx);
	buf_fmt(&line, ",\"cpu\":%d,\"data\":\"", cpu);
	buf_base64(&line, data, size);
	buf_str(&line, "\"}");
	emit(&line);
}

static void on_lost(void *ctx, int cpu, __u64 cnt)
{
	buf_str(&line, "{\"event\":\"lost\",\"map\":");
	buf_json_string(&line, ctx);
	buf_fmt(&line, ",\"cpu\":%d,\"lost\":%llu}", cpu, (unsigned long long)cnt);
	emit(&line);
}

static void on_term(int sig) { (void)sig; stop_requested = 1; }

/* --- commands ---------------------------------------------------------- */

/*
 * The loader is named after the libbpf linked in ("libbpf@1.4", as the
 * registry in adapters/ names it); the version adds the Debian package it
 * came from, which the build passes as LIBBPF_PACKAGE_VERSION, since libbpf
 * itself only knows major.minor.
 */
#ifndef LIBBPF_PACKAGE_VERSION
#define LIBBPF_PACKAGE_VERSION ""
#endif

static int cmd_info(void)
{
	const char *pkg = LIBBPF_PACKAGE_VERSION;

	printf("{\"loader\":\"libbpf@%u.%u\",\"version\":\"v%u.%u%s%s%s\",\"protocol\":%d,"
	       "\"capabilities\":[\"pinning\"]}\n",
	       libbpf_major_version(), libbpf_minor_version(),
	       libbpf_major_version(), libbpf_minor_version(),
	       *pkg ? " (Debian libbpf-dev " : "", pkg, *pkg ? ")" : "", PROTOCOL_VERSION);
	/* No "legacy-maps": libbpf 1.x refuses the legacy SEC("maps"). */
	return 0;
}

static int cmd_load(const char *object, const char *pin_dir, int pages)
{
	struct perf_buffer *pbs[MAX_PERF_MAPS];
	const char *names[MAX_PERF_MAPS];
	struct pollfd fds[MAX_PERF_MAPS + 1];
	struct bpf_object *obj;
	struct bpf_map *map;
	int n = 0, err, rc = 0;
	char path[4096];

	obj = bpf_object__open_file(object, NULL);
	if (!obj)
		return fail("load", "open %s: %s", object, strerror(errno));
	/* libbpf's pin-by-path: a compatible map already pinned there is reused,
	 * anything else is pinned by bpf_object__load (the COMPAT requirements). */
	bpf_object__for_each_map(map, obj) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return fail("load", "set pin path of map %s to %s: %s", bpf_map__name(map), path, strerror(-err));
	}
	err = bpf_object__load(obj);
	if (err)
		return fail("load", "load %s: %s", object, strerror(-err));

	bpf_object__for_each_map(map, obj) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		err = bpf_map__pin(map, path);
		if (err)
			return fail("load", "pin map %s at %s: %s", bpf_map__name(map), path, strerror(-err));
	}
	last_libbpf_msg[0] = '\0'; /* reader errors get only what follows */

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__type(map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
			continue;
		if (n == MAX_PERF_MAPS)
			return fail("reader", "more than %d perf event arrays", MAX_PERF_MAPS);
		names[n] = bpf_map__name(map);
		pbs[n] = perf_buffer__new(bpf_map__fd(map), pages, on_sample, on_lost,
					  (void *)names[n], NULL);
		if (!pbs[n])
			return fail("reader", "perf_buffer__new for map %s: %s", names[n], strerror(errno));
		fds[n + 1] = (struct pollfd){ .fd = perf_buffer__epoll_fd(pbs[n]), .events = POLLIN };
		n++;
	}

	buf_str(&line, "{\"event\":\"ready\",\"maps\":[");
	for (int i = 0; i < n; i++) {
		if (i)
			buf_str(&line, ",");
		buf_json_string(&line, names[i]);
	}
	buf_str(&line, "]}");
	emit(&line);

	fds[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	while (!stop_requested) {
		int ready = poll(fds, n + 1, 200);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0) {
			rc = fail("reader", "poll: %s", strerror(errno));
			break;
		}
		if (fds[0].revents) {
			char sink[256];
			ssize_t got = read(STDIN_FILENO, sink, sizeof(sink));
			if (got <= 0)
				break; /* stdin closed: the suite asks us to stop */
		}
		for (int i = 0; i < n; i++) {
			if (!fds[i + 1].revents)
				continue;
			err = perf_buffer__consume(pbs[i]);
			if (err < 0) {
				rc = fail("reader", "perf_buffer__consume for map %s: %s", names[i], strerror(-err));
				stop_requested = 1;
				break;
			}
		}
	}
	for (int i = 0; i < n; i++)
		perf_buffer__free(pbs[i]);
	bpf_object__close(obj); /* maps stay pinned */
	return rc;
}

static int usage(void)
{
	fputs("usage: libbpf info | load --object PATH --pin-dir DIR --pages N\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *object = NULL, *pin_dir = NULL;
	int pages = 8;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (strcmp(argv[1], "load"))
		return usage();
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--object"))
			object = argv[i + 1];
		else if (!strcmp(argv[i], "--pin-dir"))
			pin_dir = argv[i + 1];
		else if (!strcmp(argv[i], "--pages"))
			pages = atoi(argv[i + 1]);
		else
			return usage();
	}
	if (!object || !pin_dir || pages < 1)
		return usage();

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(print_fn);
	return cmd_load(object, pin_dir, pages);
}
