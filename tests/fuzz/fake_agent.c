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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
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

/* One write per entry, as the kernel's generic batch does: a planned
 * failure stops the batch there, *count saying how many went in. */
int bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count,
			 const struct bpf_map_batch_opts *opts)
{
	__u32 i;

	(void)fd;
	(void)keys;
	(void)values;
	(void)opts;
	for (i = 0; i < *count; i++)
		if (!write_ok()) {
			*count = i;
			return -errno;
		}
	return 0;
}

int bpf_map_delete_batch(int fd, const void *keys, __u32 *count,
			 const struct bpf_map_batch_opts *opts)
{
	return bpf_map_update_batch(fd, keys, NULL, count, opts);
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

/* Maps hold nothing: a batch lookup finds no entry. */
int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			 __u32 *count, const struct bpf_map_batch_opts *opts)
{
	(void)fd;
	(void)in_batch;
	(void)out_batch;
	(void)keys;
	(void)values;
	(void)opts;
	*count = 0;
	errno = ENOENT;
	return -ENOENT;
}
