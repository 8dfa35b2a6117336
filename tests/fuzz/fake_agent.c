// SPDX-License-Identifier: GPL-2.0
/*
 * fake_agent.c - what rlagent.c and agent_bpf.c give the agent's command
 * code, without a kernel: logging that formats and discards, and maps
 * that accept every write and hold nothing (lookups find nothing, so
 * counters read 0 and a rule slot has no previous occupant).  Linked into
 * tests/fuzz/fuzz_request instead of libbpf, rlagent.c and agent_bpf.c.
 *
 * fake_fail_write(n) makes the n-th map write from then on fail (E2BIG),
 * so that the fuzzer reaches agent_apply's rollback; fake_writes() counts
 * the writes that went through.
 *
 * fake_calloc and fake_free stand in for calloc and free in agent_state.c
 * (the Makefile renames its references with objcopy): a model's allow
 * and block lists, RL_MAX_LIST entries (128 KB) each, are ASan "large"
 * chunks, each one an mmap, 32 page faults and a munmap, and a model is
 * copied for every change.  Lists of that size come from a pool instead:
 * zeroed on the way out like calloc's, poisoned (ASan) while free, a
 * poisoned gap after each, reused oldest-freed first; a free of a list
 * not handed out, or twice, is a finding.  fake_pool_used() counts the
 * lists out, so that the fuzzer checks none leaks (LeakSanitizer does
 * not see the pool).  When it is empty, calloc.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "agent.h"
#include "fake_agent.h"

int agent_log_level = LOG_LVL_DEBUG;
bool agent_log_syslog;

static long writes_left;       /* 0: no failure planned */
static long writes;            /* since fake_writes_reset */

void fake_fail_write(long n)
{
	writes_left = n;
}

void fake_writes_reset(void)
{
	writes = 0;
}

long fake_writes(void)
{
	return writes;
}

/* false if this write is the one planned to fail */
static bool write_ok(void)
{
	if (writes_left > 0 && --writes_left == 0) {
		errno = E2BIG;
		return false;
	}
	writes++;
	return true;
}

/* Every message is formatted (the sanitizers see its arguments), then dropped. */
void agent_log(int lvl, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	(void)lvl;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

void agent_notify(const char *fmt, ...)
{
	char buf[RL_ERR_LEN + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

int agent_bpf_tc(struct agent *a, bool on, struct rl_err *err)
{
	if (on && !write_ok()) {
		agent_err(err, "attaching rl_tc_in: %s", strerror(errno));
		return -errno;
	}
	a->tc_on = on;
	return 0;
}

int agent_bpf_write_conf(struct agent *a)
{
	(void)a;
	return write_ok() ? 0 : -errno;
}

int agent_pcpu_sum(struct agent *a, int fd, uint32_t key, struct rl_ctr *out)
{
	(void)a;
	(void)fd;
	(void)key;
	memset(out, 0, sizeof(*out));
	return 0;
}

int agent_pcpu_zero(struct agent *a, int fd, uint32_t key)
{
	(void)a;
	(void)fd;
	(void)key;
	return write_ok() ? 0 : -errno;
}

int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags)
{
	(void)fd;
	(void)key;
	(void)value;
	(void)flags;
	return write_ok() ? 0 : -errno;
}

int bpf_map_delete_elem(int fd, const void *key)
{
	(void)fd;
	(void)key;
	return write_ok() ? 0 : -errno;
}

int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	(void)fd;
	(void)key;
	(void)value;
	errno = ENOENT;
	return -ENOENT;
}

int bpf_map_lookup_elem_flags(int fd, const void *key, void *value, __u64 flags)
{
	(void)flags;
	return bpf_map_lookup_elem(fd, key, value);
}

int bpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	(void)fd;
	(void)key;
	(void)next_key;
	errno = ENOENT;
	return -ENOENT;
}

#define POOL_N    64
#define POOL_SIZE ((size_t)RL_MAX_LIST * sizeof(struct rl_list_entry))
#define POOL_GAP  4096

static char pool[POOL_N][POOL_SIZE + POOL_GAP] __attribute__((aligned(4096)));
static bool pool_out[POOL_N];
static int pool_ring[POOL_N];     /* free slots, oldest-freed first */
static int pool_head, pool_n = -1, pool_used;

static void pool_init(void)
{
	int i;

	for (i = 0; i < POOL_N; i++) {
		pool_ring[i] = i;
		ASAN_POISON_MEMORY_REGION(pool[i], sizeof(pool[i]));
	}
	pool_n = POOL_N;
}

int fake_pool_used(void)
{
	return pool_used;
}

void *fake_calloc(size_t n, size_t size)
{
	int i;

	if (pool_n < 0)
		pool_init();
	if (!n || size != sizeof(struct rl_list_entry) || n != RL_MAX_LIST || !pool_n)
		return calloc(n, size);
	i = pool_ring[pool_head];
	pool_head = (pool_head + 1) % POOL_N;
	pool_n--;
	pool_out[i] = true;
	pool_used++;
	ASAN_UNPOISON_MEMORY_REGION(pool[i], POOL_SIZE);
	memset(pool[i], 0, POOL_SIZE);
	return pool[i];
}

void fake_free(void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)pool;
	int i;

	if ((uintptr_t)p < (uintptr_t)pool || off >= sizeof(pool)) {
		free(p);
		return;
	}
	i = (int)(off / sizeof(pool[0]));
	if (p != pool[i] || !pool_out[i]) {
		fprintf(stderr, "FUZZ FINDING: free of a model list %p not handed out (pool slot %d)\n",
			p, i);
		abort();
	}
	pool_out[i] = false;
	pool_used--;
	ASAN_POISON_MEMORY_REGION(pool[i], POOL_SIZE);
	pool_ring[(pool_head + pool_n) % POOL_N] = i;
	pool_n++;
}
