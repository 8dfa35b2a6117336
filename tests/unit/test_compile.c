// SPDX-License-Identifier: GPL-2.0
/*
 * test_compile.c - rl_compile (lib_compile.c) against a brute-force
 * reference.  Random rule sets over a small address universe (so
 * prefixes nest and collide), random packets: the datapath's answer
 * (longest matching entry, then its first matching candidate) must equal
 * the reference's, which looks at the rule list directly.  (The allow and
 * block lists have tries of their own: test_lists.c.)  Plus the
 * precedence cases spelled out, -E2BIG,
 * rl_rule_to_abi's flags, the constants and tag every compiled rule must
 * carry, and when a rule change starts a new state epoch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include "rl_model.h"
#include "rl_algo.h"
#include "testlib.h"

struct pkt {
	struct rl_prefix src;     /* len = 32 or 128 */
	uint8_t proto;
	uint16_t dport;
	bool syn;
};

/* Verdict: -1 unmatched, else rule id. */
enum { V_NONE = -1 };

static bool rule_matches(const struct rl_rule_spec *r, const struct pkt *p)
{
	if (r->proto && r->proto != p->proto)
		return false;
	if (p->dport < r->dport_lo || p->dport > r->dport_hi)
		return false;
	return !r->syn_only || p->syn;
}

static bool rule_covers(const struct rl_rule_spec *r, const struct rl_prefix *a, int *len)
{
	if (!r->has_src4 && !r->has_src6) {
		*len = 0;
		return true;
	}
	if (a->family == 4 && r->has_src4 && rl_prefix_contains(&r->src4, a)) {
		*len = r->src4.len;
		return true;
	}
	if (a->family == 6 && r->has_src6 && rl_prefix_contains(&r->src6, a)) {
		*len = r->src6.len;
		return true;
	}
	return false;
}

/* Straight from the rules: the most specific applicable rule wins. */
static int reference(const struct rl_rule_spec *rules, int n, const struct pkt *p)
{
	int i, best = -1, bl = 0, l;

	for (i = 0; i < n; i++) {
		const struct rl_rule_spec *r = &rules[i], *b;
		unsigned w, bw;

		if (!rule_covers(r, &p->src, &l) || !rule_matches(r, p))
			continue;
		if (best < 0) {
			best = i;
			bl = l;
			continue;
		}
		b = &rules[best];
		w = (unsigned)r->dport_hi - r->dport_lo;
		bw = (unsigned)b->dport_hi - b->dport_lo;
		if (l > bl || (l == bl && (!!r->proto > !!b->proto ||
		    (!!r->proto == !!b->proto && (w < bw || (w == bw && r->syn_only && !b->syn_only)))))) {
			best = i;
			bl = l;
		}
	}
	return best < 0 ? V_NONE : 100 + best;
}

/* What the XDP program does with the compiled entries. */
static int datapath(const struct rl_compiled *c, const struct pkt *p)
{
	const struct rl_compiled_entry *e = NULL;
	uint32_t i;
	int k;

	for (k = 0; k < c->n; k++)
		if (rl_prefix_contains(&c->e[k].pfx, &p->src) && (!e || c->e[k].pfx.len > e->pfx.len))
			e = &c->e[k];
	if (!e)
		return V_NONE;
	for (i = 0; i < e->m.n; i++) {
		const struct rl_rule *r = &e->m.rule[i];

		if (!(r->flags & (p->src.family == 4 ? RL_RF_V4 : RL_RF_V6)))
			continue;
		if ((r->proto && r->proto != p->proto) || p->dport < r->dport_lo ||
		    p->dport > r->dport_hi || ((r->flags & RL_RF_SYN) && !p->syn))
			continue;
		return (int)r->id;
	}
	return V_NONE;
}

/* Small universe: 10.{0,1}.{0..3}.x and 2001:db8:{0,1}::x, so prefixes nest. */
static void rand_addr(struct rl_prefix *p, int fam)
{
	memset(p, 0, sizeof(*p));
	p->family = (uint8_t)fam;
	if (fam == 4) {
		p->len = 32;
		p->addr[0] = 10;
		p->addr[1] = (uint8_t)(rnd() % 2);
		p->addr[2] = (uint8_t)(rnd() % 4);
		p->addr[3] = (uint8_t)(rnd() % 8 * 32 + rnd() % 4);
	} else {
		p->len = 128;
		p->addr[0] = 0x20;
		p->addr[1] = 0x01;
		p->addr[2] = 0x0d;
		p->addr[3] = 0xb8;
		p->addr[5] = (uint8_t)(rnd() % 2);
		p->addr[15] = (uint8_t)(rnd() % 4);
	}
}

static void rand_prefix(struct rl_prefix *p, int fam)
{
	static const int l4[] = { 0, 8, 15, 16, 24, 27, 30, 32 };
	static const int l6[] = { 0, 32, 47, 48, 126, 128 };
	struct rl_err e;
	char buf[64];

	rand_addr(p, fam);
	p->len = (uint8_t)(fam == 4 ? l4[rnd() % 8] : l6[rnd() % 6]);
	/* re-parse to mask the host bits the way the config would */
	rl_format_prefix(p, buf, sizeof(buf));
	rl_parse_prefix(buf, p, &e);
}

static void rand_rule(struct rl_rule_spec *r, int i)
{
	static const uint8_t protos[] = { 0, IPPROTO_TCP, IPPROTO_UDP };
	static const uint16_t ranges[][2] = { { 0, 65535 }, { 22, 22 }, { 20, 30 }, { 1, 1024 }, { 80, 80 } };
	int k;

	rl_rule_defaults(r, NULL);
	snprintf(r->name, sizeof(r->name), "r%d", i);
	k = (int)(rnd() % 4);
	if (k == 1 || k == 3) {
		r->has_src4 = true;
		rand_prefix(&r->src4, 4);
	}
	if (k == 2 || k == 3) {
		r->has_src6 = true;
		rand_prefix(&r->src6, 6);
	}
	r->proto = protos[rnd() % 3];
	if (r->proto) {
		k = (int)(rnd() % 5);
		r->dport_lo = ranges[k][0];
		r->dport_hi = ranges[k][1];
	}
	r->syn_only = r->proto == IPPROTO_TCP && rnd() % 3 == 0;
	r->limit.rate = 10;
	r->limit.period_ns = 1000000000ULL;
}

static void test_random(void)
{
	int failed = 0, iter, mismatches = 0, checked = 0;

	for (iter = 0; iter < 2000 && mismatches < 5; iter++) {
		struct rl_rule_spec rules[12];
		uint32_t ids[12], vers[12];
		struct rl_compiled c = {};
		struct rl_err e = {};
		int n = 1 + (int)(rnd() % 12), i, q;

		for (i = 0; i < n; i++) {
			rand_rule(&rules[i], i);
			ids[i] = 100 + (uint32_t)i;
			vers[i] = 1u << 16;
		}
		if (rl_compile(rules, ids, vers, n, &c, &e)) {
			printf("    iter %d: compile failed: %s\n", iter, e.msg);
			mismatches++;
			continue;
		}
		for (q = 0; q < 64; q++) {
			struct pkt p;
			int want, got;

			rand_addr(&p.src, rnd() % 2 ? 4 : 6);
			p.proto = (uint8_t)(rnd() % 3 == 0 ? IPPROTO_ICMP : rnd() % 2 ? IPPROTO_TCP : IPPROTO_UDP);
			p.dport = p.proto == IPPROTO_ICMP ? 0 : (uint16_t)(rnd() % 2 ? 22 : rnd() % 100);
			p.syn = p.proto == IPPROTO_TCP && rnd() % 2;
			want = reference(rules, n, &p);
			got = datapath(&c, &p);
			checked++;
			if (want != got && mismatches++ < 5) {
				char a[64];

				rl_format_prefix(&p.src, a, sizeof(a));
				printf("    iter %d: %s proto %u dport %u syn %d: reference %d, compiled %d\n",
				       iter, a, p.proto, p.dport, p.syn, want, got);
			}
		}
		for (i = 0; i < c.n; i++)
			CHECK(c.e[i].m.n <= RL_MAX_CAND, "entry with %u candidates", c.e[i].m.n);
		rl_compiled_free(&c);
	}
	CHECK(!mismatches, "%d of %d lookups disagree", mismatches, checked);
	report("compile/random-vs-reference", failed);
}

static void mkrule(struct rl_rule_spec *r, const char *name, const char *words)
{
	char buf[256], *argv[32], *save = NULL, *t;
	struct rl_err e;
	int n = 0;

	rl_rule_defaults(r, NULL);
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(buf, sizeof(buf), "%s", words);
	for (t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	if (rl_parse_rule_words(n, argv, r, true, &e))
		printf("    mkrule %s: %s\n", name, e.msg);
}

static const struct rl_compiled_entry *entry(const struct rl_compiled *c, const char *pfx)
{
	struct rl_prefix p;
	struct rl_err e;
	int i;

	rl_parse_prefix(pfx, &p, &e);
	for (i = 0; i < c->n; i++)
		if (c->e[i].pfx.family == p.family && c->e[i].pfx.len == p.len &&
		    !memcmp(c->e[i].pfx.addr, p.addr, 16))
			return &c->e[i];
	return NULL;
}

static void test_precedence(void)
{
	struct rl_rule_spec r[4];
	uint32_t ids[4] = { 1, 2, 3, 4 }, vers[4] = { 0x10000, 0x20000, 0x30000, 0x40000 };
	struct rl_compiled c = {};
	struct rl_err e = {};
	const struct rl_compiled_entry *x;
	int failed = 0;

	mkrule(&r[0], "any", "rate 100/s");
	mkrule(&r[1], "net", "src 10.0.0.0/8 rate 50/s");
	mkrule(&r[2], "ssh", "src 10.0.0.0/8 proto tcp dport 22 tcp-flags syn rate 5/s");
	mkrule(&r[3], "v6", "src 2001:db8::/32 proto udp dport 53 rate 10mbit");
	CHECK(!rl_compile(r, ids, vers, 4, &c, &e), "compile: %s", e.msg);
	CHECK(c.n == 4, "%d entries (want 0/0, ::/0, 10/8, 2001:db8::/32)", c.n);
	x = entry(&c, "10.0.0.0/8");
	CHECK(x && x->m.flags == 0 && x->m.n == 3 && x->m.rule[0].id == 3 &&
	      x->m.rule[1].id == 2 && x->m.rule[2].id == 1 && x->m.rule[0].ver == 0x30000,
	      "10/8 candidates most specific first");
	x = entry(&c, "0.0.0.0/0");
	CHECK(x && x->m.flags == 0 && x->m.n == 1 && x->m.rule[0].id == 1, "0/0 has only 'any'");
	x = entry(&c, "2001:db8::/32");
	CHECK(x && x->m.n == 2 && x->m.rule[0].id == 4 && (x->m.rule[0].flags & RL_RF_BYTES) &&
	      (x->m.rule[0].flags & RL_RF_V6) && !(x->m.rule[0].flags & RL_RF_V4) &&
	      x->m.rule[0].limit.rate == 1250000 && x->m.rule[0].limit.burst == 1250000,
	      "v6 entry");
	x = entry(&c, "10.0.0.0/8");
	CHECK(x && (x->m.rule[0].flags & RL_RF_SYN) && x->m.rule[0].proto == IPPROTO_TCP &&
	      x->m.rule[0].dport_lo == 22 && (x->m.rule[2].flags & (RL_RF_V4 | RL_RF_V6)) ==
	      (RL_RF_V4 | RL_RF_V6), "rule copies");
	rl_compiled_free(&c);
	report("compile/precedence", failed);
}

static void test_order(void)
{
	struct rl_rule_spec r[5];
	uint32_t ids[5] = { 0, 1, 2, 3, 4 }, vers[5] = { 0 };
	struct rl_compiled c = {};
	struct rl_err e = {};
	const struct rl_compiled_entry *x;
	int failed = 0;

	mkrule(&r[0], "wide", "proto tcp dport 1-1024 rate 1/s");
	mkrule(&r[1], "anyp", "dport 22 rate 1/s");
	mkrule(&r[2], "narrow", "proto tcp dport 22 rate 1/s");
	mkrule(&r[3], "syn", "proto tcp dport 22 tcp-flags syn rate 1/s");
	mkrule(&r[4], "host", "src 192.0.2.1 rate 1/s");
	CHECK(!rl_compile(r, ids, vers, 5, &c, &e), "compile: %s", e.msg);
	x = entry(&c, "192.0.2.1/32");
	CHECK(x && x->m.n == 5 && x->m.rule[0].id == 4 && x->m.rule[1].id == 3 &&
	      x->m.rule[2].id == 2 && x->m.rule[3].id == 0 && x->m.rule[4].id == 1,
	      "order: %u %u %u %u %u", x ? x->m.rule[0].id : 99, x ? x->m.rule[1].id : 99,
	      x ? x->m.rule[2].id : 99, x ? x->m.rule[3].id : 99, x ? x->m.rule[4].id : 99);
	rl_compiled_free(&c);
	report("compile/specificity-order", failed);
}

static void test_e2big(void)
{
	struct rl_rule_spec r[RL_MAX_CAND + 1];
	uint32_t ids[RL_MAX_CAND + 1], vers[RL_MAX_CAND + 1] = { 0 };
	struct rl_compiled c = { .n = 42 };
	struct rl_err e = {};
	int i, failed = 0;
	char w[64];

	for (i = 0; i <= RL_MAX_CAND; i++) {
		snprintf(w, sizeof(w), "proto tcp dport %d rate 1/s", 1000 + i);
		mkrule(&r[i], i == 3 ? "third" : "r", w);
		snprintf(r[i].name, sizeof(r[i].name), "rule%d", i);
		ids[i] = (uint32_t)i;
	}
	CHECK(!rl_compile(r, ids, vers, RL_MAX_CAND, &c, &e), "16 refused: %s", e.msg);
	rl_compiled_free(&c);
	c.n = 42;
	CHECK(rl_compile(r, ids, vers, RL_MAX_CAND + 1, &c, &e) == -E2BIG,
	      "17 accepted");
	CHECK(strstr(e.msg, "0.0.0.0/0") && strstr(e.msg, "rule0") && strstr(e.msg, "17 rules") &&
	      strstr(e.msg, "16"), "message: %s", e.msg);
	CHECK(c.n == 42, "out changed on failure");
	/* an empty rule set compiles to nothing */
	c.n = 42;
	CHECK(!rl_compile(NULL, NULL, NULL, 0, &c, &e) && c.n == 0, "empty");
	rl_compiled_free(&c);
	report("compile/e2big", failed);
}

/* What rl_rules_check must find, the slow way: the first rule (in order)
 * whose name an earlier one has, else the first that clashes with an
 * earlier one, and the earliest such. */
static int check_reference(const struct rl_rule_spec *r, int n, int *first, int *second)
{
	int i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(r[i].name, r[j].name)) {
				*first = j;
				*second = i;
				return -EEXIST;
			}
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (rl_rules_clash(&r[j], &r[i], NULL)) {
				*first = j;
				*second = i;
				return -EINVAL;
			}
	return 0;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * rl_rules_check (names and clashes, grouped by source) against the
 * pairwise reference on random sets, its RL_MAX_CAND bound, and its
 * complexity: the agent runs it on every change, and a pairwise check of
 * 10,000 rules blocked the agent 1.5 s per `rule add`.
 */
static void test_rules_check(void)
{
	int failed = 0, iter, bad = 0, i, f, s, rf = -1, rs = -1, r, want, seen[3] = { 0 };
	const int big = RL_MAX_RULES;
	struct rl_rule_spec *many;
	double t0, dt;

	for (iter = 0; iter < 20000 && bad < 5; iter++) {
		struct rl_rule_spec rules[12];
		int n = 1 + (int)(rnd() % 12);

		for (i = 0; i < n; i++) {
			rand_rule(&rules[i], i);
			if (rnd() % 16 == 0)     /* now and then a name used twice */
				snprintf(rules[i].name, sizeof(rules[i].name), "r%d", (int)(rnd() % n));
		}
		want = check_reference(rules, n, &rf, &rs);
		seen[want == -EEXIST ? 1 : want == -EINVAL ? 2 : 0]++;
		r = rl_rules_check(rules, n, &f, &s);
		if (r != want || (r && (f != rf || s != rs))) {
			if (bad++ < 5)
				printf("    iter %d: %d rules: got %d (%d, %d), want %d (%d, %d)\n",
				       iter, n, r, f, s, want, rf, rs);
		}
	}
	CHECK(!bad, "%d sets judged differently from the pairwise check", bad);
	CHECK(seen[0] > 1000 && seen[1] > 1000 && seen[2] > 1000,
	      "random sets: %d valid, %d with a name twice, %d with a clash", seen[0], seen[1], seen[2]);

	many = calloc((size_t)big, sizeof(*many));
	if (!many) {
		printf("FAIL compile/rules-check: out of memory\n");
		failures++;
		return;
	}
	/* 16384 rules, each its own /32: valid, and quick */
	for (i = 0; i < big; i++) {
		rl_rule_defaults(&many[i], NULL);
		snprintf(many[i].name, sizeof(many[i].name), "rule-%d", i);
		many[i].has_src4 = true;
		many[i].src4.family = 4;
		many[i].src4.len = 32;
		many[i].src4.addr[0] = 10;
		many[i].src4.addr[1] = (uint8_t)(i >> 16);
		many[i].src4.addr[2] = (uint8_t)(i >> 8);
		many[i].src4.addr[3] = (uint8_t)i;
		many[i].proto = IPPROTO_UDP;
	}
	t0 = cpu_s();
	r = rl_rules_check(many, big, &f, &s);
	dt = cpu_s() - t0;
	CHECK(!r, "%d distinct rules refused: %d (%d, %d)", big, r, f, s);
	CHECK(dt < 0.5, "%d rules took %.3f s of CPU", big, dt);
	printf("    %d rules checked in %.4f s of CPU\n", big, dt);
	/* the last one a copy of the first under another name: a clash */
	many[big - 1].src4 = many[0].src4;
	CHECK(rl_rules_check(many, big, &f, &s) == -EINVAL && f == 0 && s == big - 1,
	      "clash: (%d, %d)", f, s);
	/* and a name used twice */
	snprintf(many[big - 1].name, sizeof(many[0].name), "rule-%d", 7);
	CHECK(rl_rules_check(many, big, &f, &s) == -EEXIST && f == 7 && s == big - 1,
	      "name: (%d, %d)", f, s);
	/* every rule without a source, on its own port: the 17th is one too
	 * many for a match entry, found without comparing all pairs */
	for (i = 0; i < big; i++) {
		many[i].has_src4 = false;
		many[i].dport_lo = many[i].dport_hi = (uint16_t)(1 + i % 60000);
		snprintf(many[i].name, sizeof(many[i].name), "any-%d", i);
	}
	t0 = cpu_s();
	r = rl_rules_check(many, big, &f, &s);
	dt = cpu_s() - t0;
	CHECK(r == -E2BIG && f == 0 && s == RL_MAX_CAND, "sourceless: %d (%d, %d)", r, f, s);
	CHECK(dt < 0.5, "sourceless rules took %.3f s of CPU", dt);
	free(many);
	report("compile/rules-check", failed);
}

static void test_sorted(void)
{
	struct rl_rule_spec rules[12];
	uint32_t ids[12], vers[12];
	int failed = 0, iter, i;

	for (iter = 0; iter < 500; iter++) {
		struct rl_compiled c = {};
		struct rl_err e = {};
		int n = 1 + (int)(rnd() % 12);

		for (i = 0; i < n; i++) {
			rand_rule(&rules[i], i);
			rules[i].proto = 0;
			rules[i].dport_lo = 0;
			rules[i].dport_hi = 65535;
			rules[i].syn_only = false;
			ids[i] = (uint32_t)i;
			vers[i] = 1u << 16;
		}
		if (rl_compile(rules, ids, vers, n, &c, &e))
			continue;
		for (i = 1; i < c.n; i++)
			CHECK(rl_prefix_cmp(&c.e[i - 1].pfx, &c.e[i].pfx) < 0, "iter %d: entry %d out of order",
			      iter, i);
		rl_compiled_free(&c);
		if (failed)
			break;
	}
	report("compile/entries-sorted", failed);
}

static void test_to_abi(void)
{
	struct rl_rule_spec s;
	struct rl_rule r;
	int failed = 0;

	mkrule(&s, "x", "src 10.0.0.0/8 proto tcp tcp-flags syn rate 1mbit per rule action monitor block-for 1m");
	rl_rule_to_abi(&s, &r);
	CHECK(r.flags == (RL_RF_SYN | RL_RF_BYTES | RL_RF_PER_RULE | RL_RF_V4), "flags %#x", r.flags);
	CHECK(r.action == RL_ACT_MONITOR && r.block_ns == 60000000000ULL && r.limit.rate == 125000 &&
	      r.limit.burst == 125000 && r.id == 0 && r.ver == 0, "fields");
	mkrule(&s, "y", "rate 1/s per source/24,64");
	rl_rule_to_abi(&s, &r);
	CHECK(r.flags == (RL_RF_V4 | RL_RF_V6) && r.plen4 == 24 && r.plen6 == 64 &&
	      r.dport_lo == 0 && r.dport_hi == 65535 && r.limit.burst == 1, "any-source rule");
	report("compile/rule-to-abi", failed);
}

/* Every rule in a match entry carries k and tag, identical to rl_rule_compile's. */
static void test_consts_and_tag(void)
{
	struct rl_rule_spec r[2];
	uint32_t ids[2] = { 7, 9 }, vers[2] = { 0x30002, 0x80000 };
	struct rl_compiled c = {};
	struct rl_err e = {};
	struct rl_rule want;
	struct rl_lconst k;
	int failed = 0, i, j, seen = 0;

	mkrule(&r[0], "tb", "src 10.0.0.0/8 rate 100/s burst 20");
	mkrule(&r[1], "fw", "rate 10mbit algo fixed-window");
	CHECK(!rl_compile(r, ids, vers, 2, &c, &e), "compile: %s", e.msg);
	for (i = 0; i < c.n; i++) {
		for (j = 0; j < (int)c.e[i].m.n; j++) {
			const struct rl_rule *x = &c.e[i].m.rule[j];
			int w = x->id == 7 ? 0 : 1;

			rl_rule_compile(&r[w], ids[w], vers[w], &want);
			CHECK(!memcmp(x, &want, sizeof(want)), "entry %d rule %d differs from rl_rule_compile", i, j);
			CHECK(x->tag == rl_rule_tag(vers[w]) && x->tag, "tag %#x", x->tag);
			rl_lconst_compile(&x->limit, r[w].bytes, &k);
			CHECK(!memcmp(&x->k, &k, sizeof(k)) && x->k.rate_r && x->k.unit, "k of rule %u", x->id);
			seen++;
		}
	}
	CHECK(seen == 4, "rules in entries: %d (want tb once, fw in 0/0, 10/8 and ::/0)", seen);
	/* 100/s burst 20: 1 per 10^7 ns, cap 20 packets */
	rl_rule_compile(&r[0], 7, 0x30002, &want);
	CHECK(want.k.rate_r == 1 && want.k.unit == 10000000 && want.k.cap == 20 * want.k.unit,
	      "tb k %llu/%llu cap %llu", (unsigned long long)want.k.rate_r,
	      (unsigned long long)want.k.unit, (unsigned long long)want.k.cap);
	CHECK(want.tag == ((((3 % 7) + 1) << 4) | 2), "tag %#x", want.tag);
	rl_compiled_free(&c);
	report("compile/consts-and-tag", failed);
}

/* Which changes start a new epoch (state drained) and which keep the words. */
static void test_epoch(void)
{
	static const struct { const char *from, *to; bool bump; } cases[] = {
		{ "rate 100/s", "rate 100/s", false },
		{ "rate 100/s", "rate 200/s", true },              /* GCRA rescaled   */
		{ "rate 100/s burst 10", "rate 100/s burst 20", true },
		{ "rate 100/s algo leaky-bucket", "rate 50/s algo leaky-bucket", true },
		{ "rate 100/s", "rate 100/s action monitor", false },
		{ "rate 100/s", "rate 100/s block-for 10s", false },
		{ "rate 100/s", "rate 6000/min", true },           /* period          */
		{ "rate 100/s", "rate 100/s algo leaky-bucket", true },
		{ "rate 10mbit", "rate 10/s", true },              /* bytes -> packets */
		{ "rate 100/s algo fixed-window", "rate 200/s algo fixed-window", false },
		{ "rate 100/s algo sliding-window", "rate 5/s algo sliding-window", false },
		{ "rate 100/s algo sliding-window", "rate 100/min algo sliding-window", true },
		{ "rate 10/s algo sliding-log", "rate 20/s algo sliding-log", false },
		{ "rate 100/s algo fixed-window", "rate 100/s algo sliding-window", true },
	};
	struct rl_rule_spec a, b;
	int failed = 0;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t v;

		mkrule(&a, "x", cases[i].from);
		mkrule(&b, "x", cases[i].to);
		v = rl_rule_next_ver(&a, &b, 0x50003);
		CHECK(rl_rule_state_changed(&a, &b) == cases[i].bump && v == (cases[i].bump ? 0x50004u : 0x50003u),
		      "'%s' -> '%s': ver %#x", cases[i].from, cases[i].to, v);
	}
	mkrule(&a, "x", "rate 100/s");
	mkrule(&b, "x", "rate 200/s");
	CHECK(rl_rule_next_ver(&a, &b, 0x5ffff) == 0x50000, "epoch wraps within its 16 bits");
	report("compile/epoch", failed);
}

int main(void)
{
	test_random();
	test_precedence();
	test_order();
	test_e2big();
	test_rules_check();
	test_sorted();
	test_to_abi();
	test_consts_and_tag();
	test_epoch();
	printf("%s: %d failed\n", __FILE__, failures);
	return failures ? 1 : 0;
}
