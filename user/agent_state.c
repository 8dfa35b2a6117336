// SPDX-License-Identifier: GPL-2.0
/*
 * agent_state.c - rlagent's in-memory model (rules, allowlist, blocklist)
 * and the code that makes the pinned maps equal to a model.
 *
 * Every change (CLI command, reload, expiry) builds a complete new model,
 * and agent_apply() validates and compiles it before touching any map, so
 * a refused change leaves the running rules exactly as they were.  The
 * write order is what keeps packets safe while an apply is half done:
 * fresh slots are zeroed and catalog/list entries written first, then new
 * and changed match entries (each an RCU swap of a whole value), and only
 * then are stale match entries, catalog slots and list entries removed.
 * Catalog and list writes go through the journal (agent_journal.c), so a
 * crash leaves the old set or the new one.  The pinned maps are the
 * source of truth: agent_adopt() finishes a committed apply, rebuilds the
 * model from rl_catalog and rl_lists and reads the tries back, so a
 * restarted agent diffs against what is really there.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "agent.h"
#include "rl_algo.h"

/* rl_name_index finds a rule by the name its element starts with */
_Static_assert(offsetof(struct agent_rule, spec) == 0, "agent_rule starts with its spec");

uint64_t agent_now_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: expiry times are compared
	 * with it by the datapath. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void agent_err(struct rl_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	rl_utf8_sanitize(err->msg);
	err->line = err->col = 0;
}

void agent_model_init(struct agent_model *m)
{
	memset(m, 0, sizeof(*m));
}

void agent_model_free(struct agent_model *m)
{
	free(m->rules);
	free(m->allow);
	free(m->block);
	agent_model_init(m);
}

int agent_list_reserve(struct agent_model *m, bool allow, int n)
{
	struct rl_list_entry **l = allow ? &m->allow : &m->block, *nl;
	int *cap = allow ? &m->cap_allow : &m->cap_block, c;

	if (n <= *cap && *l)
		return 0;
	c = *cap > 64 ? *cap : 64;
	while (c < n)
		c = c > RL_MAX_LIST ? n : c * 2;
	nl = realloc(*l, (size_t)c * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	*l = nl;
	*cap = c;
	return 0;
}

static int model_alloc_lists(struct agent_model *m, int na, int nb)
{
	int err = agent_list_reserve(m, true, na);

	return err ? err : agent_list_reserve(m, false, nb);
}

static int model_reserve(struct agent_model *m, int n)
{
	struct agent_rule *r;
	int cap;

	if (n <= m->cap_rules)
		return 0;
	cap = m->cap_rules ? m->cap_rules * 2 : 64;
	while (cap < n)
		cap *= 2;
	r = realloc(m->rules, (size_t)cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	m->rules = r;
	m->cap_rules = cap;
	return 0;
}

int agent_model_dup(const struct agent_model *src, struct agent_model *dst)
{
	int err;

	agent_model_init(dst);
	err = model_alloc_lists(dst, src->n_allow, src->n_block);
	if (!err)
		err = model_reserve(dst, src->n_rules);
	if (err) {
		agent_model_free(dst);
		return err;
	}
	if (src->n_rules)
		memcpy(dst->rules, src->rules, (size_t)src->n_rules * sizeof(*src->rules));
	dst->n_rules = src->n_rules;
	if (src->n_allow)
		memcpy(dst->allow, src->allow, (size_t)src->n_allow * sizeof(*src->allow));
	if (src->n_block)
		memcpy(dst->block, src->block, (size_t)src->n_block * sizeof(*src->block));
	dst->n_allow = src->n_allow;
	dst->n_block = src->n_block;
	return 0;
}

int agent_model_from_config(const struct rl_config *cfg, struct agent_model *m,
			    struct rl_err *err)
{
	int i, ret;

	agent_model_init(m);
	if (cfg->n_allow + cfg->n_block > RL_MAX_LIST) {
		agent_err(err, "config has %d allow + %d block entries; at most %d in all",
			  cfg->n_allow, cfg->n_block, RL_MAX_LIST);
		return -E2BIG;
	}
	ret = model_alloc_lists(m, cfg->n_allow, cfg->n_block);
	if (!ret)
		ret = model_reserve(m, cfg->n_rules);
	if (ret) {
		agent_err(err, "out of memory building the model");
		agent_model_free(m);
		return ret;
	}
	for (i = 0; i < cfg->n_rules; i++) {
		memset(&m->rules[i], 0, sizeof(m->rules[i]));
		m->rules[i].spec = cfg->rules[i];
		m->rules[i].id = AGENT_NO_SLOT;
	}
	m->n_rules = cfg->n_rules;
	if (cfg->n_allow)
		memcpy(m->allow, cfg->allow, (size_t)cfg->n_allow * sizeof(*m->allow));
	if (cfg->n_block)
		memcpy(m->block, cfg->block, (size_t)cfg->n_block * sizeof(*m->block));
	m->n_allow = rl_list_sort(m->allow, cfg->n_allow);
	m->n_block = rl_list_sort(m->block, cfg->n_block);
	return 0;
}

struct agent_rule *agent_model_find(struct agent_model *m, const char *name)
{
	int i;

	for (i = 0; i < m->n_rules; i++)
		if (!strncmp(m->rules[i].spec.name, name, RL_NAME_LEN))
			return &m->rules[i];
	return NULL;
}

int agent_model_add_rule(struct agent_model *m, const struct rl_rule_spec *spec)
{
	int err = model_reserve(m, m->n_rules + 1);

	if (err)
		return err;
	memset(&m->rules[m->n_rules], 0, sizeof(m->rules[0]));
	m->rules[m->n_rules].spec = *spec;
	m->rules[m->n_rules].id = AGENT_NO_SLOT;
	m->n_rules++;
	return 0;
}

void agent_model_del_rule(struct agent_model *m, const char *name)
{
	struct agent_rule *r = agent_model_find(m, name);
	int i;

	if (!r)
		return;
	i = (int)(r - m->rules);
	memmove(&m->rules[i], &m->rules[i + 1],
		(size_t)(m->n_rules - i - 1) * sizeof(*r));
	m->n_rules--;
}

int agent_list_find(const struct rl_list_entry *l, int n, const struct rl_prefix *p)
{
	int i = rl_list_search(l, n, p);

	return i >= 0 ? i : -1;
}

static int entry_cmp(const void *a, const void *b)
{
	return rl_prefix_cmp(&((const struct rl_compiled_entry *)a)->pfx,
			  &((const struct rl_compiled_entry *)b)->pfx);
}

/* Compares what the datapath reads: rules past n are never looked at. */
static bool match_equal(const struct rl_match *a, const struct rl_match *b)
{
	if (a->n != b->n || a->flags != b->flags || a->block_until_ns != b->block_until_ns)
		return false;
	if (a->n > RL_MAX_CAND)
		return false;
	return !memcmp(a->rule, b->rule, (size_t)a->n * sizeof(a->rule[0]));
}

static void catalog_from_rule(const struct agent_rule *r, struct rl_catalog *c)
{
	memset(c, 0, sizeof(*c));
	c->in_use = 1;
	c->prio = r->prio;
	memcpy(c->name, r->spec.name, RL_NAME_LEN);
	c->name[RL_NAME_LEN - 1] = 0;
	c->src4_len = 0xff;
	c->src6_len = 0xff;
	if (r->spec.has_src4) {
		memcpy(c->src4, r->spec.src4.addr, 4);
		c->src4_len = r->spec.src4.len;
	}
	if (r->spec.has_src6) {
		memcpy(c->src6, r->spec.src6.addr, 16);
		c->src6_len = r->spec.src6.len;
	}
	rl_rule_compile(&r->spec, r->id, r->ver, &c->rule);
}

static void rule_from_catalog(const struct rl_catalog *c, struct agent_rule *r)
{
	struct rl_rule_spec *s = &r->spec;

	memset(r, 0, sizeof(*r));
	memcpy(s->name, c->name, RL_NAME_LEN);
	s->name[RL_NAME_LEN - 1] = 0;
	if (c->src4_len != 0xff && c->src4_len <= 32) {
		s->has_src4 = true;
		s->src4.family = 4;
		s->src4.len = c->src4_len;
		memcpy(s->src4.addr, c->src4, 4);
	}
	if (c->src6_len != 0xff && c->src6_len <= 128) {
		s->has_src6 = true;
		s->src6.family = 6;
		s->src6.len = c->src6_len;
		memcpy(s->src6.addr, c->src6, 16);
	}
	s->proto = c->rule.proto;
	s->syn_only = c->rule.flags & RL_RF_SYN;
	s->dport_lo = c->rule.dport_lo;
	s->dport_hi = c->rule.dport_hi;
	s->limit = c->rule.limit;
	s->bytes = c->rule.flags & RL_RF_BYTES;
	s->per_rule = c->rule.flags & RL_RF_PER_RULE;
	s->plen4 = c->rule.plen4;
	s->plen6 = c->rule.plen6;
	s->action = c->rule.action;
	s->mark_flags = c->rule.mark_flags;
	s->dscp = c->rule.dscp;
	s->mark = c->rule.mark;
	s->block_ns = c->rule.block_ns;
	s->cluster = c->rule.flags & RL_RF_CLUSTER;
	if (s->cluster) {
		/* the share and bank the maps hold: those that give their
		 * unit and cap */
		struct rl_lconst full, k;
		__u64 q0, q;

		rl_lconst_compile(&s->limit, s->bytes, &full);
		if (full.rate_r && c->rule.k.cap > full.cap)
			s->bank_ms = (uint32_t)(c->rule.k.cap / full.rate_r / 1000000ULL);
		q0 = c->rule.k.unit ? full.unit * (__u64)RL_SHARE_ONE / c->rule.k.unit : 0;
		for (q = q0 ? q0 - 1 : 0; q <= q0 + 1 && !s->share_q; q++) {
			if (q < RL_SHARE_MIN || q > RL_SHARE_ONE)
				continue;
			rl_lconst_share(&s->limit, s->bytes, (__u32)q,
					(__u64)s->bank_ms * 1000000ULL, &k);
			if (k.unit == c->rule.k.unit)
				s->share_q = (__u32)q;
		}
		if (s->bank_ms > 60000)
			s->bank_ms = 0;
	}
	/* The catalog does not record whether burst was typed or defaulted:
	 * a burst equal to the default is taken as defaulted, so a later
	 * `rule change NAME rate ...` rescales it as it would have before. */
	s->burst_set = false;
	s->burst_set = rl_rule_burst(s) != s->limit.burst;
	r->id = c->rule.id;
	r->ver = c->rule.ver;
	r->prio = c->prio;
	rl_rule_compile(s, r->id, r->ver, &r->abi);
}

static int match_fd_key(struct agent *a, const struct rl_prefix *p, void *key)
{
	if (p->family == 4) {
		struct rl_lpm4 *k = key;

		memset(k, 0, sizeof(*k));
		k->prefixlen = p->len;
		memcpy(&k->addr, p->addr, 4);
		return a->maps.match4;
	}
	struct rl_lpm6 *k6 = key;

	memset(k6, 0, sizeof(*k6));
	k6->prefixlen = p->len;
	memcpy(k6->addr, p->addr, 16);
	return a->maps.match6;
}

static const char *pfx_str(const struct rl_prefix *p, char *buf, size_t len)
{
	if (rl_format_prefix(p, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

/* The slots below which both models' rules sit (at least 1): the length
 * of their slot_index arrays, instead of RL_MAX_RULES each apply. */
static int slot_span(const struct agent_model *x, const struct agent_model *y)
{
	uint32_t n = 1;
	int i;

	for (i = 0; i < x->n_rules; i++)
		if (x->rules[i].id < RL_MAX_RULES && x->rules[i].id >= n)
			n = x->rules[i].id + 1;
	for (i = 0; i < y->n_rules; i++)
		if (y->rules[i].id < RL_MAX_RULES && y->rules[i].id >= n)
			n = y->rules[i].id + 1;
	return (int)n;
}

/* Slots used by a model, and the index of the rule in each used slot
 * below n (slot_span). */
static int slot_index(const struct agent_model *m, int n, int32_t **out)
{
	int32_t *idx = malloc((size_t)n * sizeof(*idx));
	int i;

	if (!idx)
		return -ENOMEM;
	memset(idx, 0xff, (size_t)n * sizeof(*idx));   /* all -1 */
	for (i = 0; i < m->n_rules; i++)
		if (m->rules[i].id < (uint32_t)n)
			idx[m->rules[i].id] = i;
	*out = idx;
	return 0;
}

static int lst_key(struct agent *a, const struct rl_prefix *p, void *key)
{
	if (p->family == 4) {
		struct rl_lpm4 *k = key;

		memset(k, 0, sizeof(*k));
		k->prefixlen = p->len;
		memcpy(&k->addr, p->addr, 4);
		return a->maps.lst4;
	}
	struct rl_lpm6 *k6 = key;

	memset(k6, 0, sizeof(*k6));
	k6->prefixlen = p->len;
	memcpy(k6->addr, p->addr, 16);
	return a->maps.lst6;
}

#define BATCH 8192

/*
 * Writes n keys (ksz bytes each) with their values (vsz bytes), or with
 * vals NULL deletes them (a key already gone is fine), in batches: one
 * syscall per BATCH entries instead of one each.  On failure *bad is the
 * index of the entry that failed.
 */
static int batch_write(int fd, const void *keys, size_t ksz, const void *vals, size_t vsz,
		       int n, int *bad)
{
	int done = 0;

	while (done < n) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);
		__u32 cnt = (__u32)(n - done > BATCH ? BATCH : n - done);
		const char *k = (const char *)keys + (size_t)done * ksz;
		int r = vals ? bpf_map_update_batch(fd, k, (const char *)vals + (size_t)done * vsz,
						    &cnt, &o)
			     : bpf_map_delete_batch(fd, k, &cnt, &o);

		if (!r) {
			done += (int)cnt;
			continue;
		}
		if (!vals && errno == ENOENT) {
			done += (int)cnt + 1;	/* skip the missing one */
			continue;
		}
		*bad = done + (int)cnt;
		return -errno;
	}
	return 0;
}

/*
 * rl_lists, the agent's record of its lists, from `from` to `to`: with
 * !del, the entries that are new or whose expiry changed; with del, those
 * `to` lacks.  Both sorted: one merge.  With jl, each becomes a journal
 * record; with count, they are only counted; else they are written in
 * batches, outside the journal (a bulk change: docs/ARCHITECTURE.md).
 */
static int sync_lists_map(struct agent *a, const struct agent_model *from,
			  const struct agent_model *to, bool del, struct agent_jlog *jl,
			  long *count, struct rl_err *err)
{
	bool write = !jl && !count;
	/* a batch holds at most BATCH entries, and at most the longest list
	 * walked (+1: never 0) */
	size_t most = (size_t)(del ? (from->n_allow > from->n_block ? from->n_allow : from->n_block)
				   : (to->n_allow > to->n_block ? to->n_allow : to->n_block)),
	       cap = most < BATCH ? most + 1 : BATCH;
	struct rl_list_key *k = write ? malloc(cap * sizeof(*k)) : NULL;
	struct rl_list_val *v = write ? malloc(cap * sizeof(*v)) : NULL;
	const struct rl_list_entry **src = write ? malloc(cap * sizeof(*src)) : NULL;
	int i, j, f, n = 0, bad = 0, ret = 0;
	char pbuf[64];

	if (write && (!k || !v || !src)) {
		agent_err(err, "out of memory writing rl_lists");
		ret = -ENOMEM;
		goto out;
	}
	for (j = 0; j < 2; j++) {
		const struct rl_list_entry *tl = j ? to->block : to->allow;
		const struct rl_list_entry *fl = j ? from->block : from->allow;
		int tn = j ? to->n_block : to->n_allow, fn = j ? from->n_block : from->n_allow;
		const struct rl_list_entry *walk = del ? fl : tl, *other = del ? tl : fl;
		int wn = del ? fn : tn, on = del ? tn : fn;
		uint32_t kind = j ? RL_LIST_BLOCK : RL_LIST_ALLOW;

		for (i = 0, f = 0; i <= wn; i++) {
			if (i < wn) {
				int c = 1;
				bool found;

				while (f < on && (c = rl_lpfx_cmp(&other[f].pfx, &walk[i].pfx)) < 0)
					f++;
				found = f < on && !c;
				if (del ? found : found && other[f].expires_ns == walk[i].expires_ns)
					continue;
				if (count) {
					++*count;
					continue;
				}
				if (jl) {
					ret = agent_jlog_list(jl, del, kind, &walk[i].pfx,
							      del ? 0 : walk[i].expires_ns);
					if (ret)
						goto out;
					continue;
				}
				agent_list_key(kind, &walk[i].pfx, &k[n]);
				v[n].expires_ns = walk[i].expires_ns;
				src[n++] = &walk[i];
				if (n < BATCH)
					continue;
			}
			if (!n)
				continue;
			ret = batch_write(a->maps.lists, k, sizeof(*k), del ? NULL : v, sizeof(*v), n,
					  &bad);
			if (ret) {
				agent_err(err, "%s rl_lists entry %s: %s%s", del ? "deleting" : "writing",
					  pfx_str(&src[bad]->pfx, pbuf, sizeof(pbuf)), strerror(-ret),
					  ret == -E2BIG ? " (rl_lists is full)" : "");
				goto out;
			}
			n = 0;
		}
	}
out:
	free(k);
	free(v);
	free(src);
	return ret;
}

/*
 * The list tries from `from` to `to` (both sorted): with !del, writes the
 * entries that are new or changed; with del, deletes those `to` lacks.
 * Batched per family, BATCH entries a syscall.
 */
static int sync_list_tries(struct agent *a, const struct rl_lset *from,
			   const struct rl_lset *to, bool del, struct rl_err *err)
{
	const struct rl_lset *walk = del ? from : to, *other = del ? to : from;
	/* a batch holds at most BATCH entries, and at most walk's (+1: never 0) */
	size_t cap = (size_t)walk->n < BATCH ? (size_t)walk->n + 1 : BATCH;
	struct rl_lpm4 *k4 = malloc(cap * sizeof(*k4));
	struct rl_lpm6 *k6 = malloc(cap * sizeof(*k6));
	struct rl_lval *v4 = malloc(cap * sizeof(*v4)), *v6 = malloc(cap * sizeof(*v6));
	int *i4 = malloc(cap * sizeof(*i4)), *i6 = malloc(cap * sizeof(*i6));
	int i, j = 0, n4 = 0, n6 = 0, bad = 0, ret = 0, f;
	char pbuf[64];

	if (!k4 || !k6 || !v4 || !v6 || !i4 || !i6) {
		agent_err(err, "out of memory writing the list tries");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i <= walk->n; i++) {
		const struct rl_lentry *e = i < walk->n ? &walk->e[i] : NULL;
		bool found;
		int c = 1;

		if (e) {
			while (j < other->n && (c = rl_lpfx_cmp(&other->e[j].pfx, &e->pfx)) < 0)
				j++;
			found = j < other->n && !c;
			if (del ? found : found && !memcmp(&other->e[j].v, &e->v, sizeof(e->v)))
				continue;
			if (e->pfx.family == 4) {
				lst_key(a, &e->pfx, &k4[n4]);
				v4[n4] = e->v;
				i4[n4++] = i;
			} else {
				lst_key(a, &e->pfx, &k6[n6]);
				v6[n6] = e->v;
				i6[n6++] = i;
			}
		}
		/* flush a full batch, and both at the end */
		for (f = 4; f <= 6; f += 2) {
			int *n = f == 4 ? &n4 : &n6;

			if (!*n || (e && *n < BATCH))
				continue;
			ret = f == 4 ? batch_write(a->maps.lst4, k4, sizeof(*k4), del ? NULL : v4,
						   sizeof(*v4), n4, &bad)
				     : batch_write(a->maps.lst6, k6, sizeof(*k6), del ? NULL : v6,
						   sizeof(*v6), n6, &bad);
			if (ret) {
				const struct rl_lentry *x = &walk->e[f == 4 ? i4[bad] : i6[bad]];

				agent_err(err, "%s list trie entry %s: %s%s", del ? "deleting" : "writing",
					  pfx_str(&x->pfx, pbuf, sizeof(pbuf)), strerror(-ret),
					  ret == -ENOSPC || ret == -E2BIG ? " (list trie is full)" : "");
				goto out;
			}
			*n = 0;
		}
	}
out:
	free(k4);
	free(k6);
	free(v4);
	free(v6);
	free(i4);
	free(i6);
	return ret;
}

/* The guard bitmaps (rl_lists.h) for `s`, stored word by word where they
 * differ: a word is one 8-byte store, so a packet sees it old or new. */
static int sync_list_bitmaps(struct agent *a, const struct rl_lset *s, struct rl_err *err)
{
	uint64_t *bm4, *bm6;
	uint32_t f, i;

	/* not mapped: no kernel (tests/fuzz); the agent refuses to start
	 * without them (agent_bpf_open) */
	if (!a->maps.lbm[0] || !a->maps.lbm[1])
		return 0;
	if (a->maps.n_lbm[0] < RL_LBM4_ELEMS || a->maps.n_lbm[1] < RL_LBM6_ELEMS) {
		agent_err(err, "the list bitmaps rl_lbm4/rl_lbm6 are smaller than this build's");
		return -EINVAL;
	}
	bm4 = malloc((size_t)RL_LBM4_ELEMS * sizeof(*bm4));
	bm6 = malloc((size_t)RL_LBM6_ELEMS * sizeof(*bm6));
	if (!bm4 || !bm6) {
		free(bm4);
		free(bm6);
		agent_err(err, "out of memory for the list bitmaps");
		return -ENOMEM;
	}
	rl_lbm_build(s, bm4, bm6);
	for (f = 0; f < 2; f++) {
		uint64_t *want = f ? bm6 : bm4, *m = a->maps.lbm[f];
		uint32_t n = f ? RL_LBM6_ELEMS : RL_LBM4_ELEMS;

		for (i = 0; i < n; i++)
			if (__atomic_load_n(&m[i], __ATOMIC_RELAXED) != want[i])
				__atomic_store_n(&m[i], want[i], __ATOMIC_RELEASE);
	}
	free(bm4);
	free(bm6);
	return 0;
}

/*
 * List writes an apply puts in the journal: a change of at most this many
 * rl_lists entries (sets and deletes) is all-or-nothing like the rules; a
 * bigger one (an import, a flush, a reload that replaces a feed) is
 * written in batches outside the journal.  tests/unit/test_crash.c lowers
 * it to reach the bulk path with small lists.
 */
long agent_jlist_max = RL_JOURNAL_LIST_RECS;

/*
 * Make the maps go from (from, fc, fls) to (to, tc, tls).  The compiled
 * sets must be sorted.  Every write is idempotent, so calling this again
 * with the roles swapped after a failure restores `from` whatever the
 * failure left.  *committed: the maps may no longer hold `from` alone.
 */
static int sync_maps(struct agent *a, const struct agent_model *from,
		     const struct rl_compiled *fc, const struct rl_lset *fls,
		     const struct agent_model *to, const struct rl_compiled *tc,
		     const struct rl_lset *tls, bool zero_new, bool *committed,
		     struct rl_err *err)
{
	int32_t *fidx = NULL, *tidx = NULL;
	struct rl_catalog cat, old;
	struct agent_jlog jl = {};
	char pbuf[64];
	int i, j, ret, fd, early, span;
	long nlist = 0;
	bool bulk;
	union { struct rl_lpm4 k4; struct rl_lpm6 k6; } key;

	a->jfwd = zero_new;   /* a rollback runs with zero_new false */

	*committed = false;
	span = slot_span(from, to);
	ret = slot_index(from, span, &fidx);
	if (!ret)
		ret = slot_index(to, span, &tidx);
	if (ret) {
		agent_err(err, "out of memory");
		goto cleanup;
	}

	/* 1. fresh slots start from zero counters, before any match entry
	 *    can send a packet there (before the commit: no rule of the
	 *    running set uses a fresh slot, unless this apply reuses one it
	 *    frees).  Per-rule state is zeroed too, though only for
	 *    tidiness: a word or log of another tag is "no state" to the
	 *    datapath, and a new rule's tag is not its slot's last. */
	for (i = 0; i < to->n_rules; i++) {
		uint32_t id = to->rules[i].id;
		__u64 zs = 0;
		struct rl_slog zl = {};
		int v;

		if (!zero_new || (fidx[id] >= 0 &&
				  from->rules[fidx[id]].ver >> 16 == to->rules[i].ver >> 16))
			continue;
		for (v = 0; v < __RL_V_MAX; v++) {
			ret = agent_pcpu_zero(a, a->maps.stats, id * __RL_V_MAX + v);
			if (ret) {
				agent_err(err, "zeroing rl_stats for slot %u: %s", id, strerror(-ret));
				goto cleanup;
			}
		}
		if (bpf_map_update_elem(a->maps.agg, &id, &zs, BPF_ANY) ||
		    bpf_map_update_elem(a->maps.slagg, &id, &zl, BPF_ANY)) {
			ret = -errno;
			agent_err(err, "zeroing rl_agg/rl_slagg slot %u: %s", id, strerror(errno));
			goto cleanup;
		}
	}

	/* How many rl_lists writes: few go in the journal, many in batches
	 * outside it (each entry stands alone; a crash keeps part of them). */
	sync_lists_map(a, from, to, false, NULL, &nlist, err);
	sync_lists_map(a, from, to, true, NULL, &nlist, err);
	bulk = nlist > agent_jlist_max;

	/* 2. the journal: catalog entries of new and changed rules (an
	 *    entry is a function of spec, slot, ver and prio: equal ones are
	 *    skipped without building either) and, unless bulk, new and
	 *    changed list entries, done before the tries ... */
	for (i = 0; i < to->n_rules && !ret; i++) {
		const struct agent_rule *r = &to->rules[i], *o;

		if (fidx[r->id] >= 0) {
			o = &from->rules[fidx[r->id]];
			if (o->ver == r->ver && o->prio == r->prio &&
			    !memcmp(&o->spec, &r->spec, sizeof(r->spec)))
				continue;
		}
		catalog_from_rule(r, &cat);
		if (fidx[r->id] >= 0) {
			catalog_from_rule(&from->rules[fidx[r->id]], &old);
			if (!memcmp(&cat, &old, sizeof(cat)))
				continue;
		}
		ret = agent_jlog_cat(&jl, r->id, &cat);
	}
	if (!ret && !bulk)
		ret = sync_lists_map(a, from, to, false, &jl, NULL, err);
	early = jl.n;
	/* ... and, done after the tries, tombstones of catalog slots no rule
	 *    uses any more (free, but remembering the last ver, so a
	 *    restarted agent never hands out a gen still found in the state
	 *    maps) and list entries that went away */
	for (i = 0; i < from->n_rules && !ret; i++) {
		uint32_t id = from->rules[i].id;

		if (id >= (uint32_t)span || tidx[id] >= 0)
			continue;
		memset(&cat, 0, sizeof(cat));
		cat.rule.id = id;
		cat.rule.ver = from->rules[i].ver;
		ret = agent_jlog_cat(&jl, id, &cat);
	}
	if (!ret && !bulk)
		ret = sync_lists_map(a, from, to, true, &jl, NULL, err);
	if (ret) {
		agent_err(err, "%s building the apply journal",
			  ret == -ENOMEM ? "out of memory" : "too many changes");
		goto cleanup;
	}

	/* 3. the commit: one write of the journal's head */
	if (jl.n) {
		ret = agent_journal_commit(a, &jl, err);
		if (ret)
			goto cleanup;
		*committed = true;
	}

	/* 4. catalog and list entries of the new set; a bulk list change
	 *    writes its new entries to rl_lists in batches here */
	for (i = 0; i < early; i++) {
		ret = agent_journal_do(a, &jl.r[i], err);
		if (ret)
			goto cleanup;
	}
	if (bulk) {
		*committed = true;
		ret = sync_lists_map(a, from, to, false, NULL, NULL, err);
		if (ret)
			goto cleanup;
	}

	/* 4b. new and changed list trie entries, before their bitmap bits */
	if (fls->n || tls->n)
		*committed = true;
	ret = sync_list_tries(a, fls, tls, false, err);
	if (ret)
		goto cleanup;

	/* 5. new and changed match entries: each is one RCU swap. */
	for (i = 0, j = 0; i < tc->n; i++) {
		const struct rl_compiled_entry *te = &tc->e[i];
		int c = 1;

		while (j < fc->n && (c = entry_cmp(&fc->e[j], te)) < 0)
			j++;
		if (j < fc->n && c == 0 && match_equal(&fc->e[j].m, &te->m))
			continue;
		*committed = true;
		fd = match_fd_key(a, &te->pfx, &key);
		if (bpf_map_update_elem(fd, &key, &te->m, BPF_ANY)) {
			ret = -errno;
			agent_err(err, "writing match entry %s: %s%s",
				  pfx_str(&te->pfx, pbuf, sizeof(pbuf)), strerror(errno),
				  errno == ENOSPC || errno == E2BIG ? " (match trie is full)" : "");
			goto cleanup;
		}
	}

	/* 6. stale match entries. */
	for (i = 0, j = 0; i < fc->n; i++) {
		const struct rl_compiled_entry *fe = &fc->e[i];
		int c = 1;

		while (j < tc->n && (c = entry_cmp(&tc->e[j], fe)) < 0)
			j++;
		if (j < tc->n && c == 0)
			continue;
		*committed = true;
		fd = match_fd_key(a, &fe->pfx, &key);
		if (bpf_map_delete_elem(fd, &key) && errno != ENOENT) {
			ret = -errno;
			agent_err(err, "deleting match entry %s: %s",
				  pfx_str(&fe->pfx, pbuf, sizeof(pbuf)), strerror(errno));
			goto cleanup;
		}
	}

	/* 6b. the direct tables follow the tries, before any rule they may
	 *     still name loses its catalog slot */
	*committed = true;
	ret = agent_dir_sync(a, tc, err);
	if (ret)
		goto cleanup;

	/* 6c. the list bitmaps: set for the new entries (written above),
	 *     cleared for the old ones, whose trie entries go next */
	ret = sync_list_bitmaps(a, tls, err);
	if (!ret)
		ret = sync_list_tries(a, fls, tls, true, err);
	if (ret)
		goto cleanup;

	/* 7. tombstones and list deletions (in batches if bulk), then the
	 *    journal is done */
	for (i = early; i < jl.n; i++) {
		ret = agent_journal_do(a, &jl.r[i], err);
		if (ret)
			goto cleanup;
	}
	if (bulk) {
		ret = sync_lists_map(a, from, to, true, NULL, NULL, err);
		if (ret)
			goto cleanup;
	}
	if (jl.n)
		ret = agent_journal_done(a, err);
cleanup:
	agent_jlog_free(&jl);
	free(fidx);
	free(tidx);
	return ret;
}

/*
 * The generation for a new rule in `slot`: the next one whose tag differs
 * from the slot's last occupant's (the catalog keeps it, even as a
 * tombstone).  Tags hold the generation modulo 7 only, and per-source
 * words of the old rule that the sweep has not cleared yet must read as
 * another version's, never as the new rule's own.
 */
static uint32_t gen_for_slot(struct agent *a, uint32_t slot, uint32_t gen)
{
	struct rl_catalog c;
	uint32_t old;

	if (bpf_map_lookup_elem(a->maps.catalog, &slot, &c))
		return gen;
	old = c.rule.ver >> 16;
	if (old && rl_rule_tag(gen << 16) == rl_rule_tag(old << 16))
		gen = gen >= 0xffff ? 1 : gen + 1;
	return gen;
}

/*
 * Names used twice, rules that clash, too many rules on one source: the
 * whole-set checks, linear in the rules (rl_rules_check), so a change to
 * a set of 10,000 rules stays a matter of milliseconds.
 */
static int check_set(const struct rl_rule_spec *specs, int n, struct rl_err *err)
{
	const struct rl_rule_spec *a, *b;
	char pb[64];
	int i, j, ret = rl_rules_check(specs, n, &j, &i);

	if (!ret)
		return 0;
	if (ret == -ENOMEM) {
		agent_err(err, "out of memory checking %d rules", n);
		return ret;
	}
	a = &specs[j];
	b = &specs[i];
	if (ret == -EEXIST) {
		agent_err(err, "rule '%s' is defined twice", b->name);
	} else if (ret == -EINVAL) {
		agent_err(err, "rule '%s' overlaps rule '%s': same source, proto %s%s and ports %u-%u vs %u-%u; only their order would decide: change one (e.g. a narrower src or dport) or delete it",
			  b->name, a->name, rl_proto_name(b->proto),
			  b->syn_only ? " syn" : "", b->dport_lo, b->dport_hi,
			  a->dport_lo, a->dport_hi);
	} else {
		if (!b->has_src4 && !b->has_src6)
			snprintf(pb, sizeof(pb), "any (no src)");
		else
			rl_format_prefix(b->has_src4 && a->has_src4 &&
					 !memcmp(&a->src4, &b->src4, sizeof(a->src4)) ?
					 &b->src4 : &b->src6, pb, sizeof(pb));
		agent_err(err, "rule '%s' would be the %dth rule with source %s (the first is '%s'); at most %d rules may cover one prefix: merge rules or give them narrower or disjoint sources",
			  b->name, RL_MAX_CAND + 1, pb, a->name, RL_MAX_CAND);
	}
	return ret;
}

static bool model_has_mark(const struct agent_model *m)
{
	int i;

	for (i = 0; i < m->n_rules; i++)
		if (m->rules[i].spec.action == RL_ACT_MARK)
			return true;
	return false;
}

static uint64_t model_next_expiry(const struct agent_model *m);

/*
 * An apply failed and so did its rollback: the maps hold neither model
 * for sure.  Memory is made to say what the maps hold (agent_resync), so
 * that later applies diff against the truth, and err says so; "the
 * running rules are unchanged" is never claimed (a->unchanged).
 */
static void rollback_failed(struct agent *a, struct rl_err *err, const struct rl_err *rb)
{
	char what[RL_ERR_LEN], how[RL_ERR_LEN];
	struct rl_err e3 = {};

	a->unchanged = false;
	snprintf(what, sizeof(what), "%s", err->msg);
	snprintf(how, sizeof(how), "%s", rb->msg);
	log_err("rolling back a failed apply (%s) also failed: %s; re-reading the maps", what, how);
	snprintf(a->degraded_msg, sizeof(a->degraded_msg), "rolling back a failed apply failed: %.400s",
		 how);
	rl_utf8_sanitize(a->degraded_msg);
	a->degraded = true;
	if (a->resyncing) {
		agent_err(err, "%s; rolling back failed too (%s)", what, how);
		return;
	}
	if (agent_resync(a, &e3))
		agent_err(err, "%s; rolling back failed too (%s), and so did re-reading the maps (%s): the agent is degraded (`rlctl status`) and the running rules may differ from `rlctl rule list`",
			  what, how, e3.msg);
	else
		agent_err(err, "%s; rolling back failed too (%s): the running rules are now the %d the maps hold (`rlctl rule list`)",
			  what, how, a->model.n_rules);
}

int agent_resync(struct agent *a, struct rl_err *err)
{
	struct agent_model next;
	bool had_state;
	int ret;

	if (a->resyncing)
		return -EBUSY;
	a->resyncing = true;
	a->degraded = true;
	ret = agent_adopt(a, &had_state, err);
	if (!ret) {
		ret = agent_model_dup(&a->model, &next);
		if (ret)
			agent_err(err, "out of memory");
		else
			ret = agent_apply(a, &next, err);
		agent_model_free(&next);
	}
	if (ret) {
		snprintf(a->degraded_msg, sizeof(a->degraded_msg), "re-reading the maps failed: %.400s",
			 err->msg);
		rl_utf8_sanitize(a->degraded_msg);
	} else {
		a->degraded = false;
		a->degraded_msg[0] = 0;
		log_info("re-read the maps: %d rules, %d allow and %d block entries", a->model.n_rules,
			 a->model.n_allow, a->model.n_block);
	}
	a->resyncing = false;
	return ret;
}

int agent_apply(struct agent *a, struct agent_model *next, struct rl_err *err)
{
	struct rl_rule_spec *specs = NULL;
	uint32_t *ids = NULL, *vers = NULL;
	uint8_t *used = NULL;
	struct rl_compiled out = {};
	struct rl_lset lout = {};
	struct rl_name_index old_names = {};
	uint32_t gen = a->next_gen, prio = a->next_prio, slot = a->next_slot, fslot = 0;
	bool mark = model_has_mark(next), tc_was = a->tc_on, committed = false;
	int i, j, n4 = 0, n6 = 0, n_free = RL_MAX_RULES, ret;
	struct rl_err e2;

	a->unchanged = true;
	if (a->degraded && !a->resyncing) {
		/* `next` was made from a model the maps may not hold: re-read
		 * them and let the client decide again on what they hold */
		char why[RL_ERR_LEN];

		snprintf(why, sizeof(why), "%s", a->degraded_msg);
		memset(&e2, 0, sizeof(e2));
		ret = agent_resync(a, &e2);
		if (ret) {
			agent_err(err, "the agent is degraded (%s) and re-reading the maps failed: %s",
				  why, e2.msg);
			return ret;
		}
		a->unchanged = false;
		agent_err(err, "the agent was degraded (%s) and has re-read the maps: the running rules are the %d rules, %d allow and %d block entries they hold; check `rlctl rule list` and repeat the change",
			  why, a->model.n_rules, a->model.n_allow, a->model.n_block);
		return -EAGAIN;
	}
	if (next->n_rules > RL_MAX_RULES) {
		agent_err(err, "%d rules; at most %d", next->n_rules, RL_MAX_RULES);
		return -E2BIG;
	}
	if (next->n_allow + next->n_block > RL_MAX_LIST) {
		agent_err(err, "%d allow + %d block entries; at most %d in all",
			  next->n_allow, next->n_block, RL_MAX_LIST);
		return -E2BIG;
	}
	specs = calloc((size_t)next->n_rules + 1, sizeof(*specs));
	ids = calloc((size_t)next->n_rules + 1, sizeof(*ids));
	vers = calloc((size_t)next->n_rules + 1, sizeof(*vers));
	used = calloc(RL_MAX_RULES, 1);
	if (!specs || !ids || !vers || !used ||
	    rl_name_index_init(&old_names, a->model.rules, sizeof(*a->model.rules),
			       a->model.n_rules)) {
		agent_err(err, "out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < next->n_rules; i++) {
		struct rl_rule_spec *s = &next->rules[i].spec;

		if (!rl_name_valid(s->name)) {
			agent_err(err, "rule name '%.*s' is invalid: use 1-%d of [A-Za-z0-9._-]",
				  RL_NAME_LEN, s->name, RL_NAME_LEN - 1);
			ret = -EINVAL;
			goto cleanup;
		}
		if (s->cluster && !a->cl.cfg.enabled) {
			agent_err(err, "rule '%s': scope cluster needs a cluster: section in the config (cluster.redis names the Redis server the hosts share)",
				  s->name);
			ret = -EINVAL;
			goto cleanup;
		}
		memset(&e2, 0, sizeof(e2));
		ret = rl_rule_validate(s, &e2);
		if (ret) {
			agent_err(err, "rule '%s': %s", s->name, e2.msg);
			goto cleanup;
		}
		specs[i] = *s;
	}
	ret = check_set(specs, next->n_rules, err);
	if (ret)
		goto cleanup;
	for (i = 0; i < a->model.n_rules; i++)
		rl_name_index_add(&old_names, i);

	/* A slot freed by this very apply is not reused by it while another
	 * is free: old match entries still point there until step 6 of
	 * sync_maps().  Only a change that renames more rules than there are
	 * free slots takes freed ones (used 1): their rules' counters restart
	 * before the commit (sync_maps() step 1).  used 2: taken by `next`. */
	for (i = 0; i < a->model.n_rules; i++) {
		uint32_t id = a->model.rules[i].id;

		if (id < RL_MAX_RULES && !used[id]) {
			used[id] = 1;
			n_free--;
		}
	}
	for (i = 0; i < next->n_rules; i++) {
		struct agent_rule *r = &next->rules[i];
		int o = rl_name_index_find(&old_names, r->spec.name);
		struct agent_rule *old = o >= 0 ? &a->model.rules[o] : NULL;

		/* what a share's bucket may bank; set before the version,
		 * which depends on it */
		r->spec.bank_ms = r->spec.cluster ? agent_cluster_bank_ms(a) : 0;
		r->id = AGENT_NO_SLOT;
		if (!old)
			continue;
		r->id = old->id;
		r->prio = old->prio;
		/* a reload or rule change keeps the settled share */
		if (r->spec.cluster && !r->spec.share_q && old->spec.cluster)
			r->spec.share_q = old->spec.share_q;
		/* a new epoch: the datapath restarts the rule's per-source
		 * state drained (rl_word_current) */
		r->ver = rl_rule_next_ver(&old->spec, &r->spec, old->ver);
		used[r->id] = 2;
	}
	for (i = 0; i < next->n_rules; i++) {
		struct agent_rule *r = &next->rules[i];

		if (r->id == AGENT_NO_SLOT) {
			if (n_free > 0) {
				for (j = 0; j < RL_MAX_RULES && used[slot]; j++)
					slot = (slot + 1) % RL_MAX_RULES;
				r->id = slot;
				slot = (slot + 1) % RL_MAX_RULES;
				n_free--;
			} else {
				while (fslot < RL_MAX_RULES && used[fslot] != 1)
					fslot++;
				if (fslot >= RL_MAX_RULES) {
					agent_err(err, "no free rule slot (%d in use)", RL_MAX_RULES);
					ret = -E2BIG;
					goto cleanup;
				}
				r->id = fslot;
			}
			r->prio = prio++;
			gen = gen_for_slot(a, r->id, gen);
			r->ver = gen << 16;
			gen = gen >= 0xffff ? 1 : gen + 1;
			used[r->id] = 2;
		}
		if (r->spec.cluster && !r->spec.share_q)
			r->spec.share_q = agent_cluster_initial_share(a);
		/* the match entries are compiled from specs[]: with the share
		 * and bank just set, not those the rule came with */
		specs[i] = r->spec;
		rl_rule_compile(&r->spec, r->id, r->ver, &r->abi);
		ids[i] = r->id;
		vers[i] = r->ver;
	}

	memset(&e2, 0, sizeof(e2));
	/* the lists go to their own tries (rl_lst4/6), not the rule tries */
	ret = rl_compile(specs, ids, vers, next->n_rules, &out, &e2);
	if (ret) {
		agent_err(err, "compile: %s", e2.msg[0] ? e2.msg : strerror(-ret));
		goto cleanup;
	}
	for (i = 0; i < out.n; i++)
		out.e[i].pfx.family == 4 ? n4++ : n6++;
	if (n4 > RL_MAX_PREFIXES || n6 > RL_MAX_PREFIXES) {
		agent_err(err, "rules and lists need %d IPv4 and %d IPv6 match entries; the tries hold %d each",
			  n4, n6, RL_MAX_PREFIXES);
		ret = -E2BIG;
		goto cleanup;
	}
	/* rl_compile's entries come sorted: sync_maps() merges two sorted sets */

	/* XDP passes a mark rule's packets on to TC: TC must be there
	 * before the first match entry naming one, and stays until the
	 * last is gone */
	ret = rl_lists_build(next->allow, next->n_allow, next->block, next->n_block,
			     agent_now_ns(), &lout);
	if (ret) {
		agent_err(err, "out of memory building the list tries");
		goto cleanup;
	}
	if (mark && !a->tc_on) {
		ret = agent_bpf_tc(a, true, err);
		if (ret)
			goto cleanup;
	}
	ret = sync_maps(a, &a->model, &a->applied, &a->lapplied, next, &out, &lout, true,
			&committed, err);
	if (ret) {
		struct rl_err rb = {};
		bool c2;

		/* the slots and generations it handed out may be in the maps
		 * now (tombstones): never hand them out again */
		a->next_gen = gen;
		a->next_prio = prio;
		a->next_slot = slot;
		/* Put back what the failure may have half written. */
		if (committed &&
		    sync_maps(a, next, &out, &lout, &a->model, &a->applied, &a->lapplied, false,
			      &c2, &rb))
			rollback_failed(a, err, &rb);
		if (a->tc_on && !tc_was && a->unchanged)
			agent_bpf_tc(a, false, NULL);
		goto cleanup;
	}
	if (!mark && a->tc_on)
		agent_bpf_tc(a, false, NULL);

	rl_compiled_free(&a->applied);
	a->applied = out;
	memset(&out, 0, sizeof(out));
	rl_lset_free(&a->lapplied);
	a->lapplied = lout;
	memset(&lout, 0, sizeof(lout));
	agent_model_free(&a->model);
	a->model = *next;
	agent_model_init(next);
	a->next_expiry_ns = model_next_expiry(&a->model);
	a->next_gen = gen;
	a->next_prio = prio;
	a->next_slot = slot;
cleanup:
	rl_name_index_free(&old_names);
	rl_compiled_free(&out);
	rl_lset_free(&lout);
	free(specs);
	free(ids);
	free(vers);
	free(used);
	return ret;
}

static int prio_cmp(const void *x, const void *y)
{
	const struct agent_rule *a = x, *b = y;

	if (a->prio != b->prio)
		return a->prio < b->prio ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Reads an LPM trie back into compiled entries, so the first apply after
 * a start diffs against what the datapath really sees. */
static int read_trie(int fd, int family, struct rl_compiled *c)
{
	union { struct rl_lpm4 k4; struct rl_lpm6 k6; } key, next;
	size_t ksz = family == 4 ? sizeof(struct rl_lpm4) : sizeof(struct rl_lpm6);
	void *prev = NULL;
	int cap = c->n;

	for (;;) {
		struct rl_compiled_entry *e;

		if (bpf_map_get_next_key(fd, prev, &next)) {
			if (errno == ENOENT)
				return 0;
			return -errno;
		}
		memcpy(&key, &next, ksz);
		prev = &key;
		if (c->n >= cap) {
			cap = cap ? cap * 2 : 256;
			e = realloc(c->e, (size_t)cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			c->e = e;
		}
		e = &c->e[c->n];
		memset(e, 0, sizeof(*e));
		if (bpf_map_lookup_elem(fd, &key, &e->m))
			continue;
		e->pfx.family = family;
		if (family == 4) {
			e->pfx.len = key.k4.prefixlen;
			memcpy(e->pfx.addr, &key.k4.addr, 4);
		} else {
			e->pfx.len = key.k6.prefixlen;
			memcpy(e->pfx.addr, key.k6.addr, 16);
		}
		c->n++;
	}
}

static int lentry_cmp(const void *x, const void *y)
{
	return rl_lpfx_cmp(&((const struct rl_lentry *)x)->pfx,
			   &((const struct rl_lentry *)y)->pfx);
}

/*
 * Every {key, value} of a map to cb (which returns 0 or -errno), read in
 * batches of BATCH (a million list entries: two syscalls per entry would
 * take seconds), or key by key where the map has no batch lookup.
 */
static int map_read_all(int fd, size_t ksz, size_t vsz,
			int (*cb)(void *ctx, const void *k, const void *v), void *ctx)
{
	char *keys = malloc(BATCH * ksz), *vals = malloc(BATCH * vsz);
	char in[64], out[64], key[64], prev[64];
	bool first = true, have_prev = false;
	int ret = 0;
	__u32 i;

	if (!keys || !vals || ksz > sizeof(in)) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);
		__u32 cnt = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : in, out, keys, vals, &cnt, &o);
		int e = r ? errno : 0;

		if (r && e != ENOENT) {
			if (first && (e == EINVAL || e == EOPNOTSUPP || e == ENOTSUP))
				break;	/* no batch lookup: key by key below */
			ret = -e;
			goto out;
		}
		for (i = 0; i < cnt && !ret; i++)
			ret = cb(ctx, keys + i * ksz, vals + i * vsz);
		if (ret || r)
			goto out;
		memcpy(in, out, sizeof(in));
		first = false;
	}
	for (;;) {
		if (bpf_map_get_next_key(fd, have_prev ? prev : NULL, key)) {
			if (errno != ENOENT)
				ret = -errno;
			goto out;
		}
		memcpy(prev, key, ksz);
		have_prev = true;
		if (bpf_map_lookup_elem(fd, key, vals))
			continue;
		ret = cb(ctx, key, vals);
		if (ret)
			goto out;
	}
out:
	free(keys);
	free(vals);
	return ret;
}

/* One rl_lists entry into the model being adopted; junk is skipped. */
static int adopt_list_entry(void *ctx, const void *kp, const void *vp)
{
	struct agent_model *m = ctx;
	const struct rl_list_key *key = kp;
	const struct rl_list_val *v = vp;
	struct rl_list_entry *e;
	bool allow = key->kind == RL_LIST_ALLOW;

	if ((key->family != 4 && key->family != 6) ||
	    key->prefixlen > (key->family == 4 ? 32u : 128u) ||
	    (key->kind != RL_LIST_ALLOW && key->kind != RL_LIST_BLOCK) ||
	    m->n_allow + m->n_block >= RL_MAX_LIST)
		return 0;
	if (agent_list_reserve(m, allow, (allow ? m->n_allow : m->n_block) + 1))
		return -ENOMEM;
	e = allow ? &m->allow[m->n_allow++] : &m->block[m->n_block++];
	memset(e, 0, sizeof(*e));
	e->pfx.family = key->family;
	e->pfx.len = (uint8_t)key->prefixlen;
	memcpy(e->pfx.addr, key->addr, key->family == 4 ? 4 : 16);
	e->expires_ns = v->expires_ns;
	return 0;
}

struct ltrie_ctx {
	struct rl_lset *s;
	int family, cap;
};

static int ltrie_entry(void *ctx, const void *kp, const void *vp)
{
	struct ltrie_ctx *c = ctx;
	struct rl_lentry *e;

	if (c->s->n >= c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		e = realloc(c->s->e, (size_t)c->cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		c->s->e = e;
	}
	e = &c->s->e[c->s->n];
	memset(e, 0, sizeof(*e));
	memcpy(&e->v, vp, sizeof(e->v));
	e->pfx.family = (uint8_t)c->family;
	if (c->family == 4) {
		const struct rl_lpm4 *k = kp;

		if (k->prefixlen > 32)
			return 0;
		e->pfx.len = (uint8_t)k->prefixlen;
		memcpy(e->pfx.addr, &k->addr, 4);
	} else {
		const struct rl_lpm6 *k = kp;

		if (k->prefixlen > 128)
			return 0;
		e->pfx.len = (uint8_t)k->prefixlen;
		memcpy(e->pfx.addr, k->addr, 16);
	}
	c->s->n++;
	return 0;
}

/* A list trie back into s (appended), as read_trie does for the rules. */
static int read_ltrie(int fd, int family, struct rl_lset *s)
{
	struct ltrie_ctx c = { .s = s, .family = family, .cap = s->n };

	return map_read_all(fd, family == 4 ? sizeof(struct rl_lpm4) : sizeof(struct rl_lpm6),
			    sizeof(struct rl_lval), ltrie_entry, &c);
}

/*
 * A prefix on both lists: the agent never makes one (add, import and the
 * config refuse it), but a bulk change that moves entries from one list
 * to the other writes the new entries before it deletes the old ones, so
 * a crash between the two leaves both.  The allow entry is kept, as the
 * list tries already treat such a source (allow beats block), and the
 * block entry is deleted from rl_lists, so the next start finds one.
 */
static void adopt_on_both(struct agent *a, struct agent_model *m)
{
	int i = 0, j = 0, k = 0, n = 0;
	char pbuf[64];

	while (j < m->n_block) {
		int c = i < m->n_allow ? rl_lpfx_cmp(&m->allow[i].pfx, &m->block[j].pfx) : 1;

		if (c < 0) {
			i++;
			continue;
		}
		if (c == 0) {
			struct rl_list_key key;

			agent_list_key(RL_LIST_BLOCK, &m->block[j].pfx, &key);
			log_warn("%s is on the allowlist and the blocklist (an agent stopped in the middle of a bulk list change): kept on the allowlist, as the datapath treats it",
				 pfx_str(&m->block[j].pfx, pbuf, sizeof(pbuf)));
			if (bpf_map_delete_elem(a->maps.lists, &key) && errno != ENOENT)
				log_warn("deleting %s from rl_lists: %s; the next start decides again",
					 pbuf, strerror(errno));
			n++;
			i++;
			j++;
			continue;
		}
		m->block[k++] = m->block[j++];
	}
	m->n_block = k;
	if (n)
		log_warn("%d prefix%s on both lists kept on the allowlist only", n, n == 1 ? "" : "es");
}

int agent_adopt(struct agent *a, bool *had_state, struct rl_err *err)
{
	struct agent_model m;
	uint32_t id, max_gen = 0, max_prio = 0;
	int ret, redone;

	*had_state = false;
	ret = agent_journal_recover(a, &redone, err);
	if (ret)
		return ret;
	if (redone)
		log_warn("finished the apply an agent left half done: %d rl_catalog/rl_lists writes redone",
			 redone);
	agent_model_init(&m);
	ret = model_alloc_lists(&m, 0, 0);
	if (ret) {
		agent_err(err, "out of memory");
		return ret;
	}
	for (id = 0; id < RL_MAX_RULES; id++) {
		struct rl_catalog c;

		if (bpf_map_lookup_elem(a->maps.catalog, &id, &c)) {
			ret = -errno;
			agent_err(err, "reading rl_catalog slot %u: %s", id, strerror(errno));
			goto cleanup;
		}
		if ((c.rule.ver >> 16) > max_gen && (c.in_use || c.rule.id == id))
			max_gen = c.rule.ver >> 16;
		if (!c.in_use)
			continue;
		if (c.rule.id != id) {
			log_warn("rl_catalog slot %u names slot %u; ignoring it", id, c.rule.id);
			continue;
		}
		ret = model_reserve(&m, m.n_rules + 1);
		if (ret) {
			agent_err(err, "out of memory");
			goto cleanup;
		}
		rule_from_catalog(&c, &m.rules[m.n_rules++]);
		if (c.prio > max_prio)
			max_prio = c.prio;
	}
	qsort(m.rules, (size_t)m.n_rules, sizeof(m.rules[0]), prio_cmp);

	ret = map_read_all(a->maps.lists, sizeof(struct rl_list_key), sizeof(struct rl_list_val),
			   adopt_list_entry, &m);
	if (ret) {
		agent_err(err, "reading rl_lists: %s", strerror(-ret));
		goto cleanup;
	}

	m.n_allow = rl_list_sort(m.allow, m.n_allow);
	m.n_block = rl_list_sort(m.block, m.n_block);
	adopt_on_both(a, &m);

	rl_lset_free(&a->lapplied);
	ret = read_ltrie(a->maps.lst4, 4, &a->lapplied);
	if (!ret)
		ret = read_ltrie(a->maps.lst6, 6, &a->lapplied);
	if (ret) {
		agent_err(err, "reading the list tries back: %s", strerror(-ret));
		goto cleanup;
	}
	qsort(a->lapplied.e, (size_t)a->lapplied.n, sizeof(a->lapplied.e[0]), lentry_cmp);
	/* a crash mid-sync may have left bits unset: derive them again */
	ret = sync_list_bitmaps(a, &a->lapplied, err);
	if (ret)
		goto cleanup;

	rl_compiled_free(&a->applied);
	ret = read_trie(a->maps.match4, 4, &a->applied);
	if (!ret)
		ret = read_trie(a->maps.match6, 6, &a->applied);
	if (ret) {
		agent_err(err, "reading the match tries back: %s", strerror(-ret));
		goto cleanup;
	}
	qsort(a->applied.e, (size_t)a->applied.n, sizeof(a->applied.e[0]), entry_cmp);
	/* the tables may be from before a crash mid-sync: derive them again */
	ret = agent_dir_sync(a, &a->applied, err);
	if (ret)
		goto cleanup;

	*had_state = m.n_rules || m.n_allow || m.n_block;
	agent_model_free(&a->model);
	a->model = m;
	agent_model_init(&m);
	a->next_expiry_ns = model_next_expiry(&a->model);
	a->next_gen = max_gen >= 0xffff ? 1 : max_gen + 1;
	a->next_prio = max_prio + 1;
	a->next_slot = 0;
	ret = 0;
cleanup:
	agent_model_free(&m);
	return ret;
}

/* The whole-set checks of agent_apply() on an adopted model. */
static int model_check(const struct agent_model *m, struct rl_err *err)
{
	struct rl_rule_spec *specs = calloc((size_t)m->n_rules + 1, sizeof(*specs));
	int i, ret;

	if (!specs) {
		agent_err(err, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < m->n_rules; i++)
		specs[i] = m->rules[i].spec;
	ret = check_set(specs, m->n_rules, err);
	free(specs);
	return ret;
}

int agent_restore(struct agent *a, bool *had_state, struct rl_err *err)
{
	struct agent_model next;
	struct rl_err e2 = {};
	int ret;

	ret = agent_adopt(a, had_state, err);
	if (ret)
		return ret;
	/* An rlagent from before the journal, killed in the middle of a
	 * change, can leave a catalog that is no valid set (both `ssh` and
	 * `ssh-syn` after a rename): start from the config rather than not
	 * at all.  Rules it names keep their slots and state. */
	if (*had_state && (ret = model_check(&a->model, &e2)) && ret != -ENOMEM) {
		log_warn("the pinned rules are not a valid set (%s), as an rlagent from before the apply journal leaves them when killed in the middle of a change: applying %s instead",
			 e2.msg, a->config_path ? a->config_path : "the config's rules");
		*had_state = false;
	}
	/* A successful apply made what these pins hold (RL_J_APPLIED in the
	 * journal head; not a rollback to nothing after a failed first start):
	 * it is the running set even when it is empty -
	 * every rule deleted at run time must stay deleted after a restart,
	 * not come back from the config file. */
	if (!*had_state && a->japplied && !ret) {
		log_info("the pinned state holds no rules and no list entries, as a change "
			 "made it: keeping it empty (`rlctl config reload` applies %s)",
			 a->config_path ? a->config_path : "the config");
		*had_state = true;
	}
	a->adopted = *had_state;
	/* Re-applying the adopted model rewrites only what differs: it
	 * brings the tries to what the catalog says after a crash. */
	if (*had_state)
		ret = agent_model_dup(&a->model, &next);
	else
		ret = agent_model_from_config(&a->cfg, &next, err);
	if (ret == -ENOMEM)
		agent_err(err, "out of memory");
	if (!ret)
		ret = agent_apply(a, &next, err);
	agent_model_free(&next);
	return ret;
}

/* The model's earliest list expiry (0: none), computed once per model:
 * the poll loop asks every turn, and the lists may hold millions. */
static uint64_t model_next_expiry(const struct agent_model *m)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < m->n_allow; i++)
		if (m->allow[i].expires_ns && (!t || m->allow[i].expires_ns < t))
			t = m->allow[i].expires_ns;
	for (i = 0; i < m->n_block; i++)
		if (m->block[i].expires_ns && (!t || m->block[i].expires_ns < t))
			t = m->block[i].expires_ns;
	return t;
}

uint64_t agent_next_expiry(const struct agent *a)
{
	return a->next_expiry_ns;
}

static int drop_expired(struct rl_list_entry *l, int n, uint64_t now)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		if (!l[i].expires_ns || l[i].expires_ns > now)
			l[k++] = l[i];
	return k;
}

/* Removes expired allow/block entries and reapplies.  The datapath stops
 * honouring an expired block by itself; this keeps the lists tidy and
 * takes allow entries (which carry no time in the trie) out on time. */
int agent_expire(struct agent *a, uint64_t now_ns)
{
	struct agent_model next;
	struct rl_err err = {};
	int ret;

	ret = agent_model_dup(&a->model, &next);
	if (ret)
		return ret;
	next.n_allow = drop_expired(next.allow, next.n_allow, now_ns);
	next.n_block = drop_expired(next.block, next.n_block, now_ns);
	if (next.n_allow == a->model.n_allow && next.n_block == a->model.n_block) {
		agent_model_free(&next);
		return 0;
	}
	log_info("%d allow/block entr%s expired", a->model.n_allow + a->model.n_block -
		 next.n_allow - next.n_block,
		 a->model.n_allow + a->model.n_block - next.n_allow - next.n_block == 1 ? "y" : "ies");
	ret = agent_apply(a, &next, &err);
	if (ret)
		log_err("removing expired allow/block entries failed: %s", err.msg);
	agent_model_free(&next);
	return ret;
}
