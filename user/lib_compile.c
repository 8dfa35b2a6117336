// SPDX-License-Identifier: GPL-2.0
/*
 * lib_compile.c - a rule set to the datapath's match trie entries
 * (rl_match4/rl_match6, struct rl_match in rl_abi.h).  Declared in
 * rl_model.h; used by rlagent (agent_apply), the config check and the
 * tests.  The allow/block lists are not here: they have tries of their own
 * (rl_lst4/rl_lst6, lib_lists.c).
 *
 * One entry per distinct prefix among rule sources (a rule without a
 * source of a family it covers contributes 0.0.0.0/0 or ::/0).  The entry
 * for P holds a copy of every rule whose source contains P, most specific
 * first.
 * Because every containing prefix is itself an entry, the longest match
 * for an address carries everything that applies to it; see "Rule
 * compilation" in docs/ARCHITECTURE.md.
 *
 * The ancestors of P are found by masking P to each shorter length and
 * looking that up in a hash of the distinct prefixes: O(entries x 129),
 * not O(entries x rules), so 16k rules compile fast.
 */
#define _GNU_SOURCE  /* qsort_r */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "rl_model.h"
#include "rl_algo.h"

void rl_rule_to_abi(const struct rl_rule_spec *spec, struct rl_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->proto = spec->proto;
	r->action = spec->action;
	if (spec->syn_only)
		r->flags |= RL_RF_SYN;
	if (spec->bytes)
		r->flags |= RL_RF_BYTES;
	if (spec->per_rule)
		r->flags |= RL_RF_PER_RULE;
	/* A rule with no source at all covers both families; one with a
	 * source of one family only covers that family. */
	if (spec->has_src4 || !spec->has_src6)
		r->flags |= RL_RF_V4;
	if (spec->has_src6 || !spec->has_src4)
		r->flags |= RL_RF_V6;
	r->plen4 = spec->plen4;
	r->plen6 = spec->plen6;
	r->dport_lo = spec->dport_lo;
	r->dport_hi = spec->dport_hi;
	r->block_ns = spec->block_ns;
	if (spec->action == RL_ACT_MARK) {
		r->mark_flags = spec->mark_flags;
		r->dscp = spec->dscp;
		r->mark = spec->mark;
	}
	r->limit = spec->limit;
	r->limit.burst = rl_rule_burst(spec);
	r->limit._pad = 0;
	/* the datapath never divides: it needs the limit's constants */
	if (spec->cluster) {
		r->flags |= RL_RF_CLUSTER;
		rl_lconst_share(&r->limit, spec->bytes,
				spec->share_q ? spec->share_q : RL_SHARE_ONE,
				(__u64)spec->bank_ms * 1000000ULL, &r->k);
	} else {
		rl_lconst_compile(&r->limit, spec->bytes, &r->k);
	}
}

void rl_rule_compile(const struct rl_rule_spec *spec, uint32_t id, uint32_t ver,
		     struct rl_rule *r)
{
	rl_rule_to_abi(spec, r);
	r->id = id;
	r->ver = ver;
	r->tag = rl_rule_tag(ver);
}

/*
 * Per-source words of the old version are garbage under the new one when
 * the algorithm, period or unit changes, and for the GCRA algorithms when
 * any constant changes: the TAT is kept in units of the rate's own scale
 * (rl_algo.h), and cap/aux bound how far ahead a live one may be.  A
 * window count stays meaningful under a new rate.
 */
bool rl_rule_state_changed(const struct rl_rule_spec *a, const struct rl_rule_spec *b)
{
	struct rl_rule_spec sa = *a, sb = *b;
	struct rl_rule ra, rb;

	if (a->limit.algo != b->limit.algo || a->limit.period_ns != b->limit.period_ns ||
	    a->bytes != b->bytes)
		return true;
	if (!rl_algo_is_gcra(a->limit.algo))
		return false;
	/* a cluster share moves only `unit`, which the TAT does not depend
	 * on (rl_lconst_share): compared at the same share */
	sa.share_q = sb.share_q = 0;
	rl_rule_to_abi(&sa, &ra);
	rl_rule_to_abi(&sb, &rb);
	return memcmp(&ra.k, &rb.k, sizeof(ra.k)) != 0;
}

/*
 * This node's share of a rule of rate_ps, in 1/RL_SHARE_ONE: its demand
 * plus an equal part of the headroom while the cluster asks for less than
 * the limit, and its demand's part of the limit when it asks for more
 * (every offered packet then has the same chance, as behind one bucket).
 * A node with no demand keeps a 1/32 part, so new traffic is seen and
 * served at once.  Every node computes its own share from the sums it got,
 * so shares add up to the limit up to the reports that moved in between.
 */
uint32_t rl_cluster_share(double rate_ps, double mine, double all, uint32_t nodes)
{
	double h, q;

	if (nodes < 1)
		nodes = 1;
	if (all < mine)
		all = mine;
	h = rate_ps / (32.0 * nodes);
	if ((rate_ps - all) / nodes > h)
		h = (rate_ps - all) / nodes;
	q = (mine + h) / (all + nodes * h) * RL_SHARE_ONE;
	if (!(q >= RL_SHARE_MIN))
		return RL_SHARE_MIN;
	return q > RL_SHARE_ONE ? RL_SHARE_ONE : (uint32_t)q;
}

uint32_t rl_rule_next_ver(const struct rl_rule_spec *old, const struct rl_rule_spec *now,
			  uint32_t ver)
{
	if (!rl_rule_state_changed(old, now))
		return ver;
	return (ver & 0xffff0000u) | ((ver + 1) & 0xffffu);
}

/* A distinct prefix and what sits exactly on it. */
struct node {
	struct rl_prefix pfx;
	int first_rule;           /* head of a list through rule_next[], -1 */
};

struct ctx {
	struct node *nodes;
	int n, cap;
	int *slots;               /* hash: node index + 1, 0 empty */
	size_t nslots;
	int *rule_next[2];        /* per family: next rule on the same node */
};

static uint64_t pfx_hash(const struct rl_prefix *p)
{
	uint64_t h = 1469598103934665603ULL ^ ((uint64_t)p->family << 8 | p->len);
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 1099511628211ULL;
	return h;
}

int rl_prefix_cmp(const struct rl_prefix *a, const struct rl_prefix *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
}

static int node_cmp(const void *x, const void *y, void *arg)
{
	const struct node *nodes = arg;

	return rl_prefix_cmp(&nodes[*(const int *)x].pfx, &nodes[*(const int *)y].pfx);
}

static bool pfx_eq(const struct rl_prefix *a, const struct rl_prefix *b)
{
	return a->family == b->family && a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

static int find(const struct ctx *c, const struct rl_prefix *p)
{
	size_t i = pfx_hash(p) & (c->nslots - 1);

	while (c->slots[i]) {
		if (pfx_eq(&c->nodes[c->slots[i] - 1].pfx, p))
			return c->slots[i] - 1;
		i = (i + 1) & (c->nslots - 1);
	}
	return -1;
}

/* Returns the node for p, adding it; capacity was reserved up front. */
static struct node *get(struct ctx *c, const struct rl_prefix *p)
{
	size_t i = pfx_hash(p) & (c->nslots - 1);
	struct node *nd;

	while (c->slots[i]) {
		if (pfx_eq(&c->nodes[c->slots[i] - 1].pfx, p))
			return &c->nodes[c->slots[i] - 1];
		i = (i + 1) & (c->nslots - 1);
	}
	nd = &c->nodes[c->n];
	memset(nd, 0, sizeof(*nd));
	nd->pfx = *p;
	nd->first_rule = -1;
	c->slots[i] = ++c->n;
	return nd;
}

static void mask_to(struct rl_prefix *p, int len)
{
	int i;

	p->len = (uint8_t)len;
	for (i = 0; i < 16; i++) {
		int keep = len - i * 8;

		if (keep <= 0)
			p->addr[i] = 0;
		else if (keep < 8)
			p->addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* The source a rule contributes in a family, or false if it covers none. */
static bool rule_src(const struct rl_rule_spec *s, int fam, struct rl_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)fam;
	if (fam == 4 && s->has_src4) {
		*p = s->src4;
		return true;
	}
	if (fam == 6 && s->has_src6) {
		*p = s->src6;
		return true;
	}
	/* neither source given: any address of both families */
	return !s->has_src4 && !s->has_src6;
}

struct sort_arg {
	const struct rl_rule_spec *rules;
	int fam;
};

/* Most specific first: longer source, a protocol, narrower ports, SYN-only,
 * then file order.  The datapath takes the first candidate that matches. */
static int cand_cmp(const void *x, const void *y, void *arg)
{
	const struct sort_arg *sa = arg;
	int i = *(const int *)x, j = *(const int *)y;
	const struct rl_rule_spec *a = &sa->rules[i], *b = &sa->rules[j];
	struct rl_prefix pa, pb;
	unsigned wa = (unsigned)a->dport_hi - a->dport_lo;
	unsigned wb = (unsigned)b->dport_hi - b->dport_lo;

	rule_src(a, sa->fam, &pa);
	rule_src(b, sa->fam, &pb);
	if (pa.len != pb.len)
		return pa.len > pb.len ? -1 : 1;
	if (!a->proto != !b->proto)
		return a->proto ? -1 : 1;
	if (wa != wb)
		return wa < wb ? -1 : 1;
	if (a->syn_only != b->syn_only)
		return a->syn_only ? -1 : 1;
	return i < j ? -1 : i > j;
}

void rl_compiled_free(struct rl_compiled *c)
{
	if (!c)
		return;
	free(c->e);
	c->e = NULL;
	c->n = 0;
}

int rl_compile(const struct rl_rule_spec *rules, const uint32_t *ids,
	       const uint32_t *vers, int n_rules, struct rl_compiled *out,
	       struct rl_err *err)
{
	struct ctx c = {};
	struct rl_compiled res = {};
	int *cand = NULL, *order = NULL;
	bool has_len[2][129] = {};
	int i, fam, ret = 0;
	size_t want;

	if (n_rules < 0 || (n_rules && (!rules || !ids || !vers))) {
		rl_errf(err, "rl_compile: bad arguments");
		return -EINVAL;
	}
	/* at most two prefixes per rule */
	c.cap = 2 * n_rules;
	for (c.nslots = 16; c.nslots < (size_t)c.cap * 2; c.nslots <<= 1)
		;
	c.nodes = calloc((size_t)c.cap + 1, sizeof(*c.nodes));
	c.slots = calloc(c.nslots, sizeof(*c.slots));
	c.rule_next[0] = calloc((size_t)n_rules + 1, sizeof(int));
	c.rule_next[1] = calloc((size_t)n_rules + 1, sizeof(int));
	cand = calloc((size_t)n_rules + 1, sizeof(*cand));
	if (!c.nodes || !c.slots || !c.rule_next[0] || !c.rule_next[1] || !cand) {
		rl_errf(err, "out of memory compiling %d rules", n_rules);
		ret = -ENOMEM;
		goto cleanup;
	}

	/* Rules are pushed in reverse so each node's list is in file order. */
	for (i = n_rules - 1; i >= 0; i--) {
		for (fam = 4; fam <= 6; fam += 2) {
			struct rl_prefix p;
			struct node *nd;

			if (!rule_src(&rules[i], fam, &p))
				continue;
			nd = get(&c, &p);
			c.rule_next[fam == 6][i] = nd->first_rule;
			nd->first_rule = i;
		}
	}
	want = (size_t)c.n;
	res.e = calloc(want ? want : 1, sizeof(*res.e));
	order = calloc(want ? want : 1, sizeof(*order));
	if (!res.e || !order) {
		rl_errf(err, "out of memory for %zu match entries", want);
		ret = -ENOMEM;
		goto cleanup;
	}
	/* entries come out sorted (rl_prefix_cmp), and an ancestor is looked
	 * up only at lengths some prefix has: one or two for most rule sets */
	for (i = 0; i < c.n; i++) {
		order[i] = i;
		has_len[c.nodes[i].pfx.family == 6][c.nodes[i].pfx.len] = true;
	}
	qsort_r(order, want, sizeof(*order), node_cmp, c.nodes);
	for (i = 0; i < c.n; i++) {
		const struct node *nd = &c.nodes[order[i]];
		struct rl_compiled_entry *e = &res.e[res.n++];
		int l, k, nc = 0;
		struct sort_arg sa = { rules, nd->pfx.family };

		e->pfx = nd->pfx;
		for (l = 0; l <= nd->pfx.len; l++) {
			struct rl_prefix q = nd->pfx;
			const struct node *an;
			int idx, r;

			if (!has_len[nd->pfx.family == 6][l])
				continue;
			mask_to(&q, l);
			idx = find(&c, &q);
			if (idx < 0)
				continue;
			an = &c.nodes[idx];
			for (r = an->first_rule; r >= 0; r = c.rule_next[nd->pfx.family == 6][r])
				cand[nc++] = r;
		}
		qsort_r(cand, (size_t)nc, sizeof(*cand), cand_cmp, &sa);
		if (nc > RL_MAX_CAND) {
			char pb[64], names[256];
			size_t off = 0;

			rl_format_prefix(&nd->pfx, pb, sizeof(pb));
			names[0] = 0;
			for (k = 0; k < nc && off < sizeof(names) - 40; k++)
				off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
							k ? ", " : "", rules[cand[k]].name);
			if (k < nc)
				snprintf(names + off, sizeof(names) - off, ", ...");
			rl_errf(err, "source prefix %s is covered by %d rules (%s); at most %d rules may cover one prefix: merge rules or give them narrower or disjoint sources",
				pb, nc, names, RL_MAX_CAND);
			ret = -E2BIG;
			goto cleanup;
		}
		for (k = 0; k < nc; k++) {
			struct rl_rule *rr = &e->m.rule[k];

			rl_rule_compile(&rules[cand[k]], ids[cand[k]], vers[cand[k]], rr);
		}
		e->m.n = (uint32_t)nc;
	}
	*out = res;
	memset(&res, 0, sizeof(res));
cleanup:
	rl_compiled_free(&res);
	free(order);
	free(cand);
	free(c.rule_next[0]);
	free(c.rule_next[1]);
	free(c.slots);
	free(c.nodes);
	return ret;
}

/*
 * Two rules clash when they tie on every specificity key — the same source
 * in some family (or both any), protocol, SYN-only — and their port ranges
 * are identical or partly overlap: only their order would decide.  Nested
 * or disjoint ranges are fine (the narrower wins).  The config loader and
 * the agent refuse clashing rules, so a dump always loads back.
 */
static bool src_same(const struct rl_rule_spec *a, const struct rl_rule_spec *b, int fam,
		     struct rl_prefix *out)
{
	bool any_a = !a->has_src4 && !a->has_src6, any_b = !b->has_src4 && !b->has_src6;
	bool ha = fam == 4 ? a->has_src4 : a->has_src6, hb = fam == 4 ? b->has_src4 : b->has_src6;
	const struct rl_prefix *pa = fam == 4 ? &a->src4 : &a->src6;
	const struct rl_prefix *pb = fam == 4 ? &b->src4 : &b->src6;

	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)fam;
	if (any_a && any_b)
		return true;
	if (!ha || !hb)
		return false;
	*out = *pa;
	return pa->len == pb->len && !memcmp(pa->addr, pb->addr, 16);
}

bool rl_rules_clash(const struct rl_rule_spec *a, const struct rl_rule_spec *b,
		    struct rl_prefix *src)
{
	bool meet = a->dport_lo <= b->dport_hi && b->dport_lo <= a->dport_hi;
	bool a_in_b = b->dport_lo <= a->dport_lo && a->dport_hi <= b->dport_hi;
	bool b_in_a = a->dport_lo <= b->dport_lo && b->dport_hi <= a->dport_hi;
	bool same_ports = a->dport_lo == b->dport_lo && a->dport_hi == b->dport_hi;
	struct rl_prefix tmp;

	if (!src)
		src = &tmp;
	if (a->proto != b->proto || a->syn_only != b->syn_only || !meet)
		return false;
	if (!same_ports && (a_in_b || b_in_a))
		return false;
	return src_same(a, b, 4, src) || src_same(a, b, 6, src);
}

/* ---- whole-set checks in linear time -------------------------------- */

_Static_assert(offsetof(struct rl_rule_spec, name) == 0, "rl_name_index: the name leads");

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < RL_NAME_LEN && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static const char *idx_name(const struct rl_name_index *x, int i)
{
	return x->base + (size_t)i * x->stride;
}

int rl_name_index_init(struct rl_name_index *x, const void *base, size_t stride, int n)
{
	size_t cap;

	memset(x, 0, sizeof(*x));
	for (cap = 16; cap < (size_t)(n > 0 ? n : 0) * 2; cap <<= 1)
		;
	x->slot = calloc(cap, sizeof(*x->slot));
	if (!x->slot)
		return -ENOMEM;
	x->base = base;
	x->stride = stride;
	x->mask = cap - 1;
	return 0;
}

/* The slot holding `name` (*found = its index), or the empty one ending its probe. */
static size_t name_probe(const struct rl_name_index *x, const char *name, int *found)
{
	size_t h = (size_t)name_hash(name) & x->mask;

	*found = -1;
	while (x->slot[h]) {
		int o = (int)x->slot[h] - 1;

		if (!strncmp(idx_name(x, o), name, RL_NAME_LEN)) {
			*found = o;
			break;
		}
		h = (h + 1) & x->mask;
	}
	return h;
}

int rl_name_index_add(struct rl_name_index *x, int i)
{
	int o;
	size_t h = name_probe(x, idx_name(x, i), &o);

	if (o < 0)
		x->slot[h] = (uint32_t)i + 1;
	return o;
}

int rl_name_index_find(const struct rl_name_index *x, const char *name)
{
	int o;

	name_probe(x, name, &o);
	return o;
}

void rl_name_index_free(struct rl_name_index *x)
{
	free(x->slot);
	memset(x, 0, sizeof(*x));
}

/*
 * Rules can only clash when they have the same source in some family (or
 * both have none): rules are grouped by each exact source they name (a
 * rule with an IPv4 and an IPv6 source is in two groups; the rules without
 * a source form one), and a rule is compared only with the earlier members
 * of its groups.  A group holds at most RL_MAX_CAND rules, as a match
 * entry does (every member covers that exact prefix, so rl_compile would
 * refuse more), so each rule costs at most 2 x RL_MAX_CAND comparisons.
 */
struct src_group {
	struct rl_prefix pfx;     /* family 0: the rules without a source    */
	int head, tail, n;        /* members in rule order, via next[]       */
};

int rl_rules_check(const struct rl_rule_spec *rules, int n, int *first, int *second)
{
	struct rl_name_index names = {};
	struct src_group *g = NULL;
	uint32_t *slot = NULL;
	int *next[2] = { NULL, NULL };
	size_t cap, mask;
	int i, k, ng = 0, ret = 0;

	*first = *second = -1;
	for (cap = 16; cap < (size_t)(n > 0 ? n : 0) * 4; cap <<= 1)
		;
	mask = cap - 1;
	slot = calloc(cap, sizeof(*slot));
	g = calloc((size_t)n * 2 + 1, sizeof(*g));
	next[0] = calloc((size_t)n + 1, sizeof(int));
	next[1] = calloc((size_t)n + 1, sizeof(int));
	if (!slot || !g || !next[0] || !next[1] ||
	    rl_name_index_init(&names, rules, sizeof(*rules), n)) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		int j = rl_name_index_add(&names, i);

		if (j >= 0) {
			*first = j;
			*second = i;
			ret = -EEXIST;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		const struct rl_rule_spec *r = &rules[i];
		struct rl_prefix key[2];
		int nk = 0, best = -1, gi[2], m;

		memset(key, 0, sizeof(key));
		if (!r->has_src4 && !r->has_src6)
			nk = 1;          /* family 0: no source */
		if (r->has_src4)
			key[nk++] = r->src4;
		if (r->has_src6)
			key[nk++] = r->src6;
		for (k = 0; k < nk; k++) {
			size_t h = (size_t)pfx_hash(&key[k]) & mask;

			while (slot[h] && !pfx_eq(&g[slot[h] - 1].pfx, &key[k]))
				h = (h + 1) & mask;
			if (!slot[h]) {
				g[ng].pfx = key[k];
				g[ng].head = g[ng].tail = -1;
				slot[h] = (uint32_t)++ng;
			}
			gi[k] = (int)slot[h] - 1;
			if (g[gi[k]].n >= RL_MAX_CAND) {
				*first = g[gi[k]].head;
				*second = i;
				ret = -E2BIG;
				goto out;
			}
			/* next[0] links IPv4 and sourceless groups, next[1] IPv6 */
			for (m = g[gi[k]].head; m >= 0; m = next[key[k].family == 6][m])
				if (rl_rules_clash(&rules[m], r, NULL)) {
					if (best < 0 || m < best)
						best = m;
					break;
				}
		}
		if (best >= 0) {
			*first = best;
			*second = i;
			ret = -EINVAL;
			goto out;
		}
		for (k = 0; k < nk; k++) {
			struct src_group *sg = &g[gi[k]];
			int f = key[k].family == 6;

			next[f][i] = -1;
			if (sg->tail >= 0)
				next[f][sg->tail] = i;
			else
				sg->head = i;
			sg->tail = i;
			sg->n++;
		}
	}
out:
	rl_name_index_free(&names);
	free(next[0]);
	free(next[1]);
	free(g);
	free(slot);
	return ret;
}
