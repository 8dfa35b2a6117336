// SPDX-License-Identifier: GPL-2.0
/*
 * lib_lists.c - the bulk allow/block lists in userspace, without a kernel:
 * the order the agent keeps them in, reading an import file (FireHOL
 * .netset/.ipset style), the merged values of the list tries
 * (rl_lst4/rl_lst6) and their guard bitmaps (rl_lbm4/rl_lbm6,
 * include/rl_lists.h).  Used by the agent (agent_state.c, agent_cmd.c)
 * and tests/unit/test_lists.c, which checks the tries and bitmaps against
 * a plain longest-prefix model.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rl_model.h"

/* Address first, then length: a prefix sorts after everything containing it. */
int rl_lpfx_cmp(const struct rl_prefix *a, const struct rl_prefix *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
	if (c)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static int lentry_cmp(const void *x, const void *y)
{
	return rl_lpfx_cmp(&((const struct rl_list_entry *)x)->pfx,
			   &((const struct rl_list_entry *)y)->pfx);
}

/* Sorts l and drops repeated prefixes, keeping the latest expiry (0 = never
 * is the latest); returns the new count. */
int rl_list_sort(struct rl_list_entry *l, int n)
{
	int i, k = 0;

	if (n <= 0)
		return 0;
	qsort(l, (size_t)n, sizeof(*l), lentry_cmp);
	for (i = 1; i < n; i++) {
		if (!rl_lpfx_cmp(&l[k].pfx, &l[i].pfx)) {
			if (!l[i].expires_ns || (l[k].expires_ns && l[i].expires_ns > l[k].expires_ns))
				l[k].expires_ns = l[i].expires_ns;
			continue;
		}
		l[++k] = l[i];
	}
	return k + 1;
}

/* Index of p in the sorted list l, or -(insertion point) - 1. */
int rl_list_search(const struct rl_list_entry *l, int n, const struct rl_prefix *p)
{
	int lo = 0, hi = n - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = rl_lpfx_cmp(&l[mid].pfx, p);

		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

/*
 * One prefix or address per line; '#' starts a comment, blank lines and
 * surrounding blanks are ignored (FireHOL's .netset/.ipset files).  The
 * whole input or nothing: the first bad line fails it, its number in
 * err->line.  Lines longer than RL_LIST_LINE_MAX are refused, never cut.
 * Each entry's expires_ns holds its line number, for the caller's own
 * checks; the caller sets the real expiry.
 */
#define RL_LIST_LINE_MAX 256
int rl_list_read(FILE *f, const char *name, int max, struct rl_list_entry **out, int *n_out,
		 struct rl_err *err)
{
	struct rl_list_entry *l = NULL, *nl;
	char line[RL_LIST_LINE_MAX + 2];
	int n = 0, cap = 0, lineno = 0;
	struct rl_err e;

	*out = NULL;
	*n_out = 0;
	for (;;) {
		size_t len = 0;
		bool nul = false;
		char *s = line, *end, *hash;
		int ch;

		/* by hand, not fgets: a NUL byte must be seen, not end the line */
		while ((ch = getc_unlocked(f)) != EOF && ch != '\n') {
			if (!ch)
				nul = true;
			if (len <= RL_LIST_LINE_MAX)
				line[len] = (char)ch;
			len++;
		}
		if (ch == EOF && !len)
			break;
		lineno++;
		if (len > RL_LIST_LINE_MAX) {
			rl_errf(err, "%s: line %d: longer than %d characters", name, lineno,
				RL_LIST_LINE_MAX);
			goto fail;
		}
		line[len] = 0;
		if (nul) {
			rl_errf(err, "%s: line %d: contains a NUL byte (not a text file?)", name, lineno);
			goto fail;
		}
		hash = strchr(s, '#');
		if (hash)
			*hash = 0;
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		end = s + strlen(s);
		while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
				   end[-1] == '\n'))
			*--end = 0;
		if (!*s)
			continue;
		if (strpbrk(s, " \t")) {
			rl_errf(err, "%s: line %d: '%.64s' is more than one word: one prefix or address a line",
				name, lineno, s);
			goto fail;
		}
		if (n >= max) {
			rl_errf(err, "%s: line %d: more than %d entries", name, lineno, max);
			goto fail;
		}
		if (n >= cap) {
			cap = cap ? cap * 2 : 1024;
			nl = realloc(l, (size_t)cap * sizeof(*l));
			if (!nl) {
				rl_errf(err, "%s: out of memory at line %d", name, lineno);
				goto fail;
			}
			l = nl;
		}
		memset(&e, 0, sizeof(e));
		memset(&l[n], 0, sizeof(l[n]));
		if (rl_parse_prefix(s, &l[n].pfx, &e)) {
			rl_errf(err, "%s: line %d: %s", name, lineno, e.msg);
			goto fail;
		}
		l[n].expires_ns = (uint64_t)lineno;
		n++;
	}
	if (ferror(f)) {
		rl_errf(err, "%s: read error after line %d", name, lineno);
		lineno++;
		goto fail;
	}
	*out = l;
	*n_out = n;
	return 0;
fail:
	err->line = lineno;
	free(l);
	return -EINVAL;
}

void rl_lset_free(struct rl_lset *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

static bool live(const struct rl_list_entry *e, uint64_t now)
{
	return !e->expires_ns || e->expires_ns > now;
}

/*
 * The list tries' content: one entry per live list prefix, its value the
 * flags of every live list prefix containing it (allow beats block in the
 * datapath) and the latest block expiry among them.  Both inputs sorted
 * (rl_list_sort); the output comes sorted the same way.  Linear after the
 * merge: in address-then-length order, prefixes nest like brackets, so a
 * stack holds exactly the entries containing the current one.
 */
int rl_lists_build(const struct rl_list_entry *allow, int na,
		   const struct rl_list_entry *block, int nb, uint64_t now,
		   struct rl_lset *out)
{
	struct rl_lentry *e;
	int *stack = NULL, sp = 0, i = 0, j = 0, n = 0;

	memset(out, 0, sizeof(*out));
	e = malloc(((size_t)na + (size_t)nb + 1) * sizeof(*e));
	stack = malloc(130 * sizeof(*stack));
	if (!e || !stack) {
		free(e);
		free(stack);
		return -ENOMEM;
	}
	while (i < na || j < nb) {
		const struct rl_list_entry *x;
		int c;

		if (i < na && !live(&allow[i], now)) {
			i++;
			continue;
		}
		if (j < nb && !live(&block[j], now)) {
			j++;
			continue;
		}
		c = i >= na ? 1 : j >= nb ? -1 : rl_lpfx_cmp(&allow[i].pfx, &block[j].pfx);
		memset(&e[n], 0, sizeof(e[n]));
		if (c <= 0) {
			x = &allow[i++];
			e[n].pfx = x->pfx;
			e[n].v.flags |= RL_LF_ALLOW;
		}
		if (c >= 0) {
			x = &block[j++];
			e[n].pfx = x->pfx;
			e[n].v.flags |= RL_LF_BLOCK;
			e[n].v.block_until_ns = x->expires_ns ? x->expires_ns : ~0ULL;
		}
		/* the enclosing entries: pop those that do not contain this one */
		while (sp && !rl_prefix_contains(&e[stack[sp - 1]].pfx, &e[n].pfx))
			sp--;
		if (sp) {
			const struct rl_lval *up = &e[stack[sp - 1]].v;

			e[n].v.flags |= up->flags;
			if (up->block_until_ns > e[n].v.block_until_ns)
				e[n].v.block_until_ns = up->block_until_ns;
		}
		if (sp < 130)
			stack[sp++] = n;
		n++;
	}
	free(stack);
	out->e = e;
	out->n = n;
	return 0;
}

static void set_range(uint64_t *bm, uint64_t first, uint64_t count)
{
	uint64_t b = first, end = first + count;

	while (b < end && b % 64)
		bm[b / 64] |= 1ULL << (b % 64), b++;
	while (b + 64 <= end)
		bm[b / 64] = ~0ULL, b += 64;
	while (b < end)
		bm[b / 64] |= 1ULL << (b % 64), b++;
}

static uint64_t hi64(const uint8_t *a)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | a[i];
	return v;
}

/*
 * The guard bitmaps of a list set (rl_lists.h): bm4 RL_LBM4_ELEMS and bm6
 * RL_LBM6_ELEMS elements, zeroed here.  A bit is set for every /24 (IPv4),
 * /16 (IPv6 shorter than /48) or hashed /48 (IPv6 /48 or longer) that a
 * list prefix intersects, so no listed source ever finds its bit clear.
 */
void rl_lbm_build(const struct rl_lset *s, uint64_t *bm4, uint64_t *bm6)
{
	int i;

	memset(bm4, 0, (size_t)RL_LBM4_ELEMS * sizeof(*bm4));
	memset(bm6, 0, (size_t)RL_LBM6_ELEMS * sizeof(*bm6));
	for (i = 0; i < s->n; i++) {
		const struct rl_prefix *p = &s->e[i].pfx;

		if (p->family == 4) {
			uint32_t a = (uint32_t)p->addr[0] << 24 | (uint32_t)p->addr[1] << 16 |
				     (uint32_t)p->addr[2] << 8 | p->addr[3];

			if (p->len >= RL_LBM_BITS)
				set_range(bm4, rl_lbm4_bit(a), 1);
			else
				set_range(bm4, rl_lbm4_bit(a), 1ULL << (RL_LBM_BITS - p->len));
		} else {
			uint64_t hi = hi64(p->addr);
			uint64_t *hb = bm6 + RL_LBM6_SHORT;

			if (p->len >= RL_LBM6_HASH_LEN)
				set_range(hb, rl_lbm6_hash_bit(hi), 1);
			else if (p->len >= 16)
				set_range(bm6, rl_lbm6_short_bit(hi), 1);
			else
				set_range(bm6, rl_lbm6_short_bit(hi), 1ULL << (16 - p->len));
		}
	}
}

/* The entry a source matches in s (longest prefix), or NULL: what the trie
 * lookup returns.  Binary search over a sorted set, per prefix length. */
const struct rl_lentry *rl_lset_lookup(const struct rl_lset *s, const struct rl_prefix *src)
{
	int len;

	for (len = src->len; len >= 0; len--) {
		struct rl_prefix q = *src;
		int lo = 0, hi = s->n - 1;

		q.len = (uint8_t)len;
		rl_prefix_mask(&q);
		while (lo <= hi) {
			int mid = lo + (hi - lo) / 2;
			int c = rl_lpfx_cmp(&s->e[mid].pfx, &q);

			if (!c)
				return &s->e[mid];
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	return NULL;
}
