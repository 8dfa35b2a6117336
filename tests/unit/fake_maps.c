// SPDX-License-Identifier: GPL-2.0
/*
 * fake_maps.c - an in-memory stand-in for the kernel's maps, and for what
 * rlagent.c and agent_bpf.c give the agent's state and command code, with
 * fault injection.  Linked into tests/unit/test_crash.c in place of
 * libbpf, so the real user/agent_*.c run against maps that keep what is
 * written to them and that fail, or "crash", at a chosen write.
 *
 * A map is a file descriptor number from fake_map_new(): ARRAY maps are
 * dense (a missing index reads as zeros, as in the kernel), the others
 * (HASH, LPM_TRIE) are hash tables of key bytes walked in insertion order.
 * Every bpf_map_update_elem, bpf_map_delete_elem, element of a batch
 * update or delete, per-CPU zeroing, TC attach and rl_conf write counts as
 * one write; fake_fault() picks the one
 * that fails (errno EIO; FAKE_FAIL_FROM: it and every later one) or that
 * crashes (FAKE_CRASH: longjmp to fake_crash_jmp without doing it, the
 * maps kept as they are, like a kill -9 between two syscalls).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "agent.h"
#include "fake_maps.h"

int agent_log_level = LOG_LVL_WARN;
bool agent_log_syslog;
jmp_buf fake_crash_jmp;

struct fent {
	uint8_t *k, *v;
	bool live;
};

struct fmap {
	uint32_t type, ksz, vsz, max;
	uint8_t *dense;               /* ARRAY: max * vsz                    */
	uint32_t *dirty, n_dirty, cap_dirty; /* ARRAY: indices written       */
	struct fent *e;               /* others: entries in insertion order  */
	uint32_t n, cap, live;
	int32_t *tab;                 /* open addressing: index into e, or -1 */
	uint32_t tab_sz;
};

#define FAKE_FD0   1000
#define FAKE_MAPS  32
static struct fmap maps[FAKE_MAPS];
static int n_maps;

static enum fake_mode mode;
static long fault_at;                /* write number (from 1) */
static long crash_also;              /* and a crash at this one, 0: none */
static long writes, map_writes;

void fake_fault(enum fake_mode m, long n)
{
	mode = m;
	fault_at = n;
	crash_also = 0;
	writes = map_writes = 0;
}

void fake_crash_also(long n)
{
	crash_also = n;
}

long fake_writes(void)
{
	return writes;
}

long fake_map_writes(void)
{
	return map_writes;
}

/* 0: do the write; -1: it fails (errno set); does not return on a crash */
static int write_gate(void)
{
	writes++;
	if (crash_also && writes == crash_also) {
		crash_also = 0;
		mode = FAKE_NONE;
		longjmp(fake_crash_jmp, 1);
	}
	if (mode == FAKE_NONE || writes < fault_at)
		return 0;
	if (mode == FAKE_CRASH) {
		mode = FAKE_NONE;
		longjmp(fake_crash_jmp, 1);
	}
	if (mode == FAKE_FAIL_ONCE && writes != fault_at)
		return 0;
	errno = EIO;
	return -1;
}

static struct fmap *get(int fd)
{
	if (fd < FAKE_FD0 || fd >= FAKE_FD0 + n_maps) {
		fprintf(stderr, "fake_maps: fd %d is no map\n", fd);
		abort();
	}
	return &maps[fd - FAKE_FD0];
}

int fake_map_new(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max)
{
	struct fmap *m;

	if (n_maps >= FAKE_MAPS)
		abort();
	m = &maps[n_maps];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->ksz = ksz;
	m->vsz = vsz;
	m->max = max;
	if (type == BPF_MAP_TYPE_ARRAY) {
		m->dense = calloc(max, vsz);
		if (!m->dense)
			abort();
	}
	return FAKE_FD0 + n_maps++;
}

void fake_maps_reset(void)
{
	int i;
	uint32_t j;

	for (i = 0; i < n_maps; i++) {
		struct fmap *m = &maps[i];

		if (m->dense) {
			/* only what was written: the journal is 8.6 MiB */
			for (j = 0; j < m->n_dirty; j++)
				memset(m->dense + (size_t)m->dirty[j] * m->vsz, 0, m->vsz);
			m->n_dirty = 0;
			continue;
		}
		for (j = 0; j < m->n; j++) {
			free(m->e[j].k);
			free(m->e[j].v);
		}
		free(m->e);
		free(m->tab);
		m->e = NULL;
		m->tab = NULL;
		m->n = m->cap = m->live = m->tab_sz = 0;
	}
	fake_fault(FAKE_NONE, 0);
}

uint32_t fake_map_count(int fd)
{
	return get(fd)->live;
}

static uint32_t hash(const uint8_t *k, uint32_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *k++) * 16777619u;
	return h;
}

/* The table slot holding key k, or the empty slot it would go in. */
static uint32_t probe(const struct fmap *m, const void *k)
{
	uint32_t i = hash(k, m->ksz) & (m->tab_sz - 1);

	while (m->tab[i] >= 0 && memcmp(m->e[m->tab[i]].k, k, m->ksz))
		i = (i + 1) & (m->tab_sz - 1);
	return i;
}

static void grow(struct fmap *m)
{
	uint32_t j, sz = m->tab_sz ? m->tab_sz * 2 : 64;

	free(m->tab);
	m->tab = malloc(sz * sizeof(*m->tab));
	if (!m->tab)
		abort();
	memset(m->tab, 0xff, sz * sizeof(*m->tab));
	m->tab_sz = sz;
	for (j = 0; j < m->n; j++)
		m->tab[probe(m, m->e[j].k)] = (int32_t)j;
}

static struct fent *find(struct fmap *m, const void *k)
{
	int32_t i;

	if (!m->tab_sz)
		return NULL;
	i = m->tab[probe(m, k)];
	return i >= 0 ? &m->e[i] : NULL;
}

static int array_index(const struct fmap *m, const void *key, uint32_t *i)
{
	memcpy(i, key, sizeof(*i));
	if (*i >= m->max) {
		errno = *i == UINT32_MAX ? ENOENT : E2BIG;
		return -1;
	}
	return 0;
}

int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags)
{
	struct fmap *m = get(fd);
	struct fent *e;
	uint32_t i;

	(void)flags;
	if (write_gate())
		return -errno;
	map_writes++;
	if (m->dense) {
		if (array_index(m, key, &i))
			return -errno;
		if (m->n_dirty >= m->cap_dirty) {
			m->cap_dirty = m->cap_dirty ? m->cap_dirty * 2 : 64;
			m->dirty = realloc(m->dirty, m->cap_dirty * sizeof(*m->dirty));
			if (!m->dirty)
				abort();
		}
		m->dirty[m->n_dirty++] = i;
		memcpy(m->dense + (size_t)i * m->vsz, value, m->vsz);
		return 0;
	}
	e = find(m, key);
	if (!e || !e->live) {
		if (m->live >= m->max) {
			errno = m->type == BPF_MAP_TYPE_LPM_TRIE ? ENOSPC : E2BIG;
			return -errno;
		}
		if (!e) {
			if (m->n >= m->cap) {
				m->cap = m->cap ? m->cap * 2 : 64;
				m->e = realloc(m->e, m->cap * sizeof(*m->e));
				if (!m->e)
					abort();
			}
			if (2 * (m->n + 1) > m->tab_sz)
				grow(m);
			e = &m->e[m->n];
			e->k = malloc(m->ksz);
			e->v = malloc(m->vsz);
			if (!e->k || !e->v)
				abort();
			memcpy(e->k, key, m->ksz);
			m->tab[probe(m, key)] = (int32_t)m->n++;
		}
		e->live = true;
		m->live++;
	}
	memcpy(e->v, value, m->vsz);
	return 0;
}

int bpf_map_delete_elem(int fd, const void *key)
{
	struct fmap *m = get(fd);
	struct fent *e;

	if (write_gate())
		return -errno;
	map_writes++;
	if (m->dense) {
		errno = EINVAL;
		return -errno;
	}
	e = find(m, key);
	if (!e || !e->live) {
		errno = ENOENT;
		return -errno;
	}
	e->live = false;
	m->live--;
	return 0;
}

int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	struct fmap *m = get(fd);
	struct fent *e;
	uint32_t i;

	if (m->dense) {
		if (array_index(m, key, &i))
			return -errno;
		memcpy(value, m->dense + (size_t)i * m->vsz, m->vsz);
		return 0;
	}
	e = find(m, key);
	if (!e || !e->live) {
		errno = ENOENT;
		return -errno;
	}
	memcpy(value, e->v, m->vsz);
	return 0;
}

int bpf_map_lookup_elem_flags(int fd, const void *key, void *value, __u64 flags)
{
	(void)flags;
	return bpf_map_lookup_elem(fd, key, value);
}

int bpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	struct fmap *m = get(fd);
	struct fent *e;
	uint32_t i = 0;

	if (m->dense) {
		if (key) {
			memcpy(&i, key, sizeof(i));
			i++;
		}
		if (i >= m->max) {
			errno = ENOENT;
			return -errno;
		}
		memcpy(next_key, &i, sizeof(i));
		return 0;
	}
	if (key) {
		e = find(m, key);
		i = e ? (uint32_t)(e - m->e) + 1 : 0;
	}
	for (; i < m->n; i++)
		if (m->e[i].live) {
			memcpy(next_key, m->e[i].k, m->ksz);
			return 0;
		}
	errno = ENOENT;
	return -errno;
}

/* Batches are written element by element, each one write of its own
 * (a fault may land inside a batch: *count says how many were done). */
int bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count,
			 const struct bpf_map_batch_opts *opts)
{
	struct fmap *m = get(fd);
	__u32 i;

	(void)opts;
	for (i = 0; i < *count; i++)
		if (bpf_map_update_elem(fd, (const uint8_t *)keys + (size_t)i * m->ksz,
					(const uint8_t *)values + (size_t)i * m->vsz, BPF_ANY)) {
			*count = i;
			return -errno;
		}
	return 0;
}

int bpf_map_delete_batch(int fd, const void *keys, __u32 *count,
			 const struct bpf_map_batch_opts *opts)
{
	struct fmap *m = get(fd);
	__u32 i;

	(void)opts;
	for (i = 0; i < *count; i++)
		if (bpf_map_delete_elem(fd, (const uint8_t *)keys + (size_t)i * m->ksz)) {
			*count = i;
			return -errno;
		}
	return 0;
}

/* HASH maps walk in insertion order, the batch token being the position;
 * LPM tries have no batch lookup (as in the kernel): EINVAL. */
int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			 __u32 *count, const struct bpf_map_batch_opts *opts)
{
	struct fmap *m = get(fd);
	uint32_t pos = 0, n = 0;

	(void)opts;
	if (m->type != BPF_MAP_TYPE_HASH) {
		errno = EINVAL;
		return -errno;
	}
	if (in_batch)
		memcpy(&pos, in_batch, sizeof(pos));
	for (; pos < m->n && n < *count; pos++) {
		if (!m->e[pos].live)
			continue;
		memcpy((uint8_t *)keys + (size_t)n * m->ksz, m->e[pos].k, m->ksz);
		memcpy((uint8_t *)values + (size_t)n * m->vsz, m->e[pos].v, m->vsz);
		n++;
	}
	*count = n;
	memcpy(out_batch, &pos, sizeof(pos));
	if (pos >= m->n) {
		errno = ENOENT;
		return -errno;
	}
	return 0;
}

/* Live entries of a keyed map, i-th in walk order: 0, or -ENOENT past the end. */
int fake_map_entry(int fd, uint32_t i, void *key, void *value)
{
	struct fmap *m = get(fd);
	uint32_t j;

	for (j = 0; j < m->n; j++)
		if (m->e[j].live && !i--) {
			memcpy(key, m->e[j].k, m->ksz);
			memcpy(value, m->e[j].v, m->vsz);
			return 0;
		}
	return -ENOENT;
}

void agent_log(int lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > agent_log_level)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "  agent: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

void agent_notify(const char *fmt, ...)
{
	(void)fmt;
}

int agent_bpf_tc(struct agent *a, bool on, struct rl_err *err)
{
	if (on && write_gate()) {
		agent_err(err, "attaching rl_tc_in: %s", strerror(errno));
		return -errno;
	}
	a->tc_on = on;
	return 0;
}

int agent_bpf_write_conf(struct agent *a)
{
	(void)a;
	return write_gate() ? -errno : 0;
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
	if (write_gate())
		return -errno;
	map_writes++;
	return 0;
}

int agent_map_info(int fd, uint32_t *max_entries, uint32_t *type)
{
	struct fmap *m = get(fd);

	*max_entries = m->max;
	*type = m->type;
	return 0;
}
