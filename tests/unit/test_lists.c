// SPDX-License-Identifier: GPL-2.0
/*
 * test_lists.c - the bulk lists' userspace half (lib_lists.c) against a
 * plain model.  Random allow/block sets (nested, overlapping, some
 * expired) in a small universe: for random sources, "guard bit, then the
 * longest list-trie entry" must give what a scan of every list entry
 * gives (any live allow covering it: allow; else any live block: block,
 * with the latest expiry); no listed source may find its bit clear; and
 * an IPv4 bit must be set only where a list prefix meets that /24.
 * Then the import reader: comments, blanks, line numbers of bad lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_model.h"
#include "testlib.h"

static void mkpfx(struct rl_prefix *p, int family, int len)
{
	int bits = family == 4 ? 32 : 128, i;

	memset(p, 0, sizeof(*p));
	p->family = family;
	p->len = len;
	p->addr[0] = family == 4 ? 10 : 0x20;
	p->addr[1] = rnd() % 4;
	for (i = 2; i < bits / 8; i++)
		p->addr[i] = rnd() % 3;
	if (rnd() % 8 == 0)
		p->addr[0] = rnd();
	for (i = len; i < bits; i++)
		p->addr[i / 8] &= ~(0x80 >> (i % 8));
}

static int rand_len(int family)
{
	static const int l4[] = { 0, 8, 12, 16, 20, 23, 24, 24, 25, 30, 32, 32 };
	static const int l6[] = { 0, 8, 16, 24, 32, 47, 48, 56, 64, 64, 127, 128 };

	return family == 4 ? l4[rnd() % 12] : l6[rnd() % 12];
}

static uint64_t hi64(const uint8_t *a)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | a[i];
	return v;
}

static int bit(const uint64_t *bm, uint32_t b)
{
	return (bm[b / 64] >> (b % 64)) & 1;
}

/* What the datapath does: guard bit(s), then the longest entry. */
static const struct rl_lentry *datapath(const struct rl_lset *s, const uint64_t *bm4,
					const uint64_t *bm6, const struct rl_prefix *src)
{
	if (src->family == 4) {
		uint32_t a = (uint32_t)src->addr[0] << 24 | (uint32_t)src->addr[1] << 16 |
			     (uint32_t)src->addr[2] << 8 | src->addr[3];

		if (!bit(bm4, rl_lbm4_bit(a)))
			return NULL;
	} else {
		uint64_t hi = hi64(src->addr);

		if (!bit(bm6, rl_lbm6_short_bit(hi)) &&
		    !bit(bm6 + RL_LBM6_SHORT, rl_lbm6_hash_bit(hi)))
			return NULL;
	}
	return rl_lset_lookup(s, src);
}

static void test_model(int family, int round)
{
	struct rl_list_entry allow[24], block[24];
	uint64_t *bm4 = malloc(RL_LBM4_ELEMS * 8ull), *bm6 = malloc(RL_LBM6_ELEMS * 8ull);
	uint64_t now = 1000;
	struct rl_lset s;
	int na = rnd() % 8, nb = 1 + rnd() % 24, i, k, failed = 0;
	char name[64];

	snprintf(name, sizeof(name), "lists_vs_model_v%d_%d", family, round);
	for (i = 0; i < na; i++) {
		mkpfx(&allow[i].pfx, rnd() % 4 ? family : 10 - family, rand_len(family));
		if (allow[i].pfx.family != family)
			mkpfx(&allow[i].pfx, allow[i].pfx.family, rand_len(allow[i].pfx.family));
		allow[i].expires_ns = rnd() % 4 ? 0 : rnd() % 2000;
	}
	for (i = 0; i < nb; i++) {
		mkpfx(&block[i].pfx, family, rand_len(family));
		block[i].expires_ns = rnd() % 3 ? 0 : rnd() % 2000;
	}
	na = rl_list_sort(allow, na);
	nb = rl_list_sort(block, nb);
	CHECK(!rl_lists_build(allow, na, block, nb, now, &s), "build failed");
	rl_lbm_build(&s, bm4, bm6);

	for (k = 0; k < 4000 && !failed; k++) {
		struct rl_prefix src;
		const struct rl_lentry *e;
		bool want_allow = false, want_block = false;
		uint64_t until = 0;

		/* inside a list prefix half of the time, random otherwise */
		mkpfx(&src, family, family == 4 ? 32 : 128);
		if (k % 2 && nb) {
			const struct rl_prefix *p = &block[rnd() % nb].pfx;
			int b;

			for (b = 0; b < p->len; b++) {
				src.addr[b / 8] &= ~(0x80 >> (b % 8));
				src.addr[b / 8] |= p->addr[b / 8] & (0x80 >> (b % 8));
			}
		}
		for (i = 0; i < na; i++)
			if ((!allow[i].expires_ns || allow[i].expires_ns > now) &&
			    rl_prefix_contains(&allow[i].pfx, &src))
				want_allow = true;
		for (i = 0; i < nb; i++)
			if ((!block[i].expires_ns || block[i].expires_ns > now) &&
			    rl_prefix_contains(&block[i].pfx, &src)) {
				uint64_t u = block[i].expires_ns ? block[i].expires_ns : ~0ULL;

				want_block = true;
				if (u > until)
					until = u;
			}
		e = datapath(&s, bm4, bm6, &src);
		if (want_allow) {
			CHECK(e && (e->v.flags & RL_LF_ALLOW), "source %d: allowlisted, datapath says %s",
			      k, e ? "listed without allow" : "not listed");
		} else if (want_block) {
			CHECK(e && (e->v.flags & RL_LF_BLOCK) && !(e->v.flags & RL_LF_ALLOW) &&
			      e->v.block_until_ns == until,
			      "source %d: blocked until %llu, datapath flags %u until %llu", k,
			      (unsigned long long)until, e ? e->v.flags : 0,
			      e ? (unsigned long long)e->v.block_until_ns : 0ull);
		} else {
			CHECK(!e, "source %d: on no list, datapath found flags %u", k, e->v.flags);
		}
		if (failed)
			break;
	}
	/* IPv4 exactness: a set bit's /24 meets a live list prefix */
	if (family == 4) {
		uint32_t b;

		for (b = 0; b < (1u << RL_LBM_BITS) && !failed; b++) {
			struct rl_prefix q = { .family = 4, .len = 24 };

			if (!bit(bm4, b))
				continue;
			q.addr[0] = b >> 16;
			q.addr[1] = b >> 8;
			q.addr[2] = b;
			for (i = 0; i < s.n; i++)
				if (s.e[i].pfx.family == 4 &&
				    (rl_prefix_contains(&s.e[i].pfx, &q) ||
				     rl_prefix_contains(&q, &s.e[i].pfx)))
					break;
			CHECK(i < s.n, "bit of %u.%u.%u.0/24 set, but no list prefix meets it",
			      q.addr[0], q.addr[1], q.addr[2]);
		}
	}
	rl_lset_free(&s);
	free(bm4);
	free(bm6);
	report(name, failed);
}

static void test_read(void)
{
	static const char good[] =
		"# FireHOL style\n\n  192.0.2.1  \n198.51.100.0/24 # a net\n\t2001:db8::/32\r\n"
		"192.0.2.1\n10.1.2.3/8\n";
	static const char bad[] = "192.0.2.1\n\n# c\n192.0.2.300\n10.0.0.1\n";
	struct rl_list_entry *l;
	struct rl_err err = {};
	char longline[400];
	int n, failed = 0;
	FILE *f;

	f = fmemopen((void *)good, sizeof(good) - 1, "r");
	CHECK(!rl_list_read(f, "good", 100, &l, &n, &err), "good file refused: %s", err.msg);
	fclose(f);
	CHECK(n == 5, "good file: %d entries, want 5", n);
	CHECK(n == 5 && l[0].expires_ns == 3 && l[4].expires_ns == 7, "line numbers %llu %llu",
	      (unsigned long long)l[0].expires_ns, (unsigned long long)l[4].expires_ns);
	n = rl_list_sort(l, n);
	CHECK(n == 4, "repeated 192.0.2.1 kept twice: %d", n);
	CHECK(l[0].pfx.family == 4 && l[0].pfx.len == 8 && l[0].pfx.addr[1] == 0,
	      "10.1.2.3/8 not masked to 10.0.0.0/8 first");
	free(l);

	f = fmemopen((void *)bad, sizeof(bad) - 1, "r");
	CHECK(rl_list_read(f, "bad", 100, &l, &n, &err) == -EINVAL && err.line == 4 &&
	      strstr(err.msg, "line 4") && strstr(err.msg, "192.0.2.300"),
	      "bad file: line %d, '%s'", err.line, err.msg);
	fclose(f);

	memset(longline, '1', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = 0;
	f = fmemopen(longline, strlen(longline), "r");
	CHECK(rl_list_read(f, "long", 100, &l, &n, &err) == -EINVAL && err.line == 1 &&
	      strstr(err.msg, "longer"), "long line: %d '%s'", err.line, err.msg);
	fclose(f);

	{
		static const char nul[] = "192.0.2.1\n192.0.2.2\0garbage\n";

		f = fmemopen((void *)nul, sizeof(nul) - 1, "r");
		CHECK(rl_list_read(f, "nul", 100, &l, &n, &err) == -EINVAL && err.line == 2 &&
		      strstr(err.msg, "NUL"), "NUL byte: line %d '%s'", err.line, err.msg);
		fclose(f);
	}
	{
		static const char noeol[] = "# no newline at the end\n2001:db8::1";

		int r;

		memset(&err, 0, sizeof(err));
		f = fmemopen((void *)noeol, sizeof(noeol) - 1, "r");
		r = rl_list_read(f, "noeol", 100, &l, &n, &err);
		CHECK(!r && n == 1 && l[0].pfx.family == 6,
		      "last line without a newline: %d entries, '%s'", n, err.msg);
		fclose(f);
		if (!r)
			free(l);
	}
	f = fmemopen((void *)good, sizeof(good) - 1, "r");
	CHECK(rl_list_read(f, "max", 2, &l, &n, &err) == -EINVAL && err.line == 5,
	      "max 2 entries: line %d '%s'", err.line, err.msg);
	fclose(f);
	report("list_file_read", failed);
}

int main(void)
{
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (r = 0; r < 40; r++) {
		test_model(4, r);
		test_model(6, r);
	}
	test_read();
	printf("test_lists: %d cases, %d failed\n", cases, failures);
	return failures ? 1 : 0;
}
