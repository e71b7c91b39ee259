// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * glibc 2.38 C23 entry points for a libbpf.a built against a newer glibc,
 * linked into the libbpf@1.5 adapter only, and only on a host whose static
 * libc lacks them (Makefile C23COMPAT=1; adapters/trixie.go decides).
 *
 * Debian trixie's libbpf.a (libbpf-dev 1:1.5.0-3) was compiled against glibc
 * 2.41 with _GNU_SOURCE, so glibc's headers redirected libbpf.o's sscanf,
 * fscanf and strtoull to __isoc23_sscanf, __isoc23_fscanf and
 * __isoc23_strtoull (glibc >= 2.38). Bookworm's glibc 2.36 has none of them.
 * Compiled against glibc 2.36, the same source calls __isoc99_sscanf,
 * __isoc99_fscanf and strtoull, and that is what these forward to: the
 * adapter then runs the libbpf.o that any libbpf 1.5 built on glibc < 2.38
 * runs.
 *
 * The C23 versions differ from those only in binary integers: scanf's %b
 * conversion, and a 0b/0B prefix accepted by %i and by strto* with base 0.
 * libbpf 1.5.0 relies on neither (checked in Debian's 1.5.0-3 source and in
 * the archive's own format strings; docs/ADAPTERS.md, "libbpf@1.5"): no
 * format has %b, and its base-0 conversions read kernel output that never
 * writes 0b (fdinfo map_flags "%#x", Kconfig values) or kprobe/uprobe offsets
 * in section names, which the adapter never attaches. The possible-CPU list
 * this suite tests is parsed with "%d%n-%d%n", the same in both.
 *
 * A libbpf.a that needs another __isoc23_ symbol fails to link with
 * "undefined reference", and TestLibbpfTrixieC23Symbols names it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 38)
#error "glibc >= 2.38 defines the __isoc23_ functions itself: build without C23COMPAT"
#endif

/* glibc 2.36 exports these; its headers only reach them through redirects. */
extern int __isoc99_vsscanf(const char *s, const char *format, va_list ap);
extern int __isoc99_vfscanf(FILE *stream, const char *format, va_list ap);

int __isoc23_sscanf(const char *s, const char *format, ...);
int __isoc23_fscanf(FILE *stream, const char *format, ...);
unsigned long long __isoc23_strtoull(const char *nptr, char **endptr, int base);

int __isoc23_sscanf(const char *s, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = __isoc99_vsscanf(s, format, ap);
	va_end(ap);
	return n;
}

int __isoc23_fscanf(FILE *stream, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = __isoc99_vfscanf(stream, format, ap);
	va_end(ap);
	return n;
}

unsigned long long __isoc23_strtoull(const char *nptr, char **endptr, int base)
{
	return strtoull(nptr, endptr, base);
}
