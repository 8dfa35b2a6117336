/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz_util.h - what the libFuzzer targets in tests/fuzz/ share: the
 * failure report (a finding is an abort, which libFuzzer saves as a
 * crash), the check that a message can go into JSON, and an anonymous
 * in-memory file for code that reads a path.  Included by
 * tests/fuzz/fuzz_*.c only.
 */
#ifndef RL_FUZZ_UTIL_H
#define RL_FUZZ_UTIL_H

#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "rl_model.h"

static inline void __attribute__((noreturn, format(printf, 1, 2))) fuzz_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FUZZ FINDING: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/*
 * The length of the valid UTF-8 sequence at s, 0 if there is none: the
 * rules of jansson (no overlong forms, surrogates or code points past
 * U+10FFFF), written again here so that the check does not trust
 * lib_parse.c's own.  Not instrumented for coverage: it runs over every
 * message and would only slow the search.
 */
static inline size_t __attribute__((no_sanitize("coverage")))
fuzz_utf8_seq(const unsigned char *s)
{
	unsigned c = s[0], cp, need, k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0;
	cp = c & (0x7f >> need);
	for (k = 1; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;	/* a NUL ends up here too */
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

/* The message a refusal carries: there is one, it ends within the error
 * buffer, and it is valid UTF-8, so JSON can carry it. */
static inline void __attribute__((no_sanitize("coverage")))
fuzz_check_msg(const char *what, const char *msg)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t len = strnlen(msg, RL_ERR_LEN + 256), k;

	if (!len)
		fuzz_die("%s: refused without a message", what);
	if (len == RL_ERR_LEN + 256)
		fuzz_die("%s: message not terminated within %d bytes", what, RL_ERR_LEN + 256);
	while (*p) {
		k = fuzz_utf8_seq(p);
		if (!k)
			fuzz_die("%s: message is not valid UTF-8 at byte %zu: '%s'", what,
				 (size_t)(p - (const unsigned char *)msg), msg);
		p += k;
	}
}

/*
 * An in-memory file (memfd) that a path names: /proc/self/fd/N opens it
 * again as a regular file, as rl_config_load wants.  Nothing is left on
 * any file system, whatever way the process ends.
 */
struct fuzz_file {
	int fd;
	char path[64];
};

static inline void fuzz_file_open(struct fuzz_file *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	if (f->fd < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

static inline void fuzz_file_set(struct fuzz_file *f, const void *data, size_t len)
{
	const char *p = data;
	size_t off = 0;

	if (ftruncate(f->fd, 0))
		fuzz_die("ftruncate: %m");
	while (off < len) {
		ssize_t w = pwrite(f->fd, p + off, len - off, (off_t)off);

		if (w <= 0)
			fuzz_die("pwrite: %m");
		off += (size_t)w;
	}
}

#endif /* RL_FUZZ_UTIL_H */
