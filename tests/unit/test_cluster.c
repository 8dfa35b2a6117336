// SPDX-License-Identifier: GPL-2.0
/*
 * test_cluster.c - the pieces of scope cluster rules that need no Redis:
 * a share compiled by rl_lconst_share (rl_algo.h) against the whole
 * limit's constants, a token bucket whose share changes every "sync"
 * under a flood (admits what the shares allow, never more, and a share
 * change starts no new epoch), rl_cluster_share's water-filling, and the
 * rule checks (scope cluster needs per rule and a GCRA algorithm).
 */
#include <stdio.h>
#include <string.h>

#include "rl_model.h"
#include "rl_algo.h"
#include "testlib.h"

static void spec_of(struct rl_rule_spec *s, uint64_t rate, uint64_t burst)
{
	struct rl_err e = {};

	rl_rule_defaults(s, NULL);
	strcpy(s->name, "web");
	rl_parse_rate("1/s", &s->limit, &s->bytes, &e);
	s->limit.rate = rate;
	s->limit.burst = burst;
	s->burst_set = true;
	s->per_rule = true;
	s->cluster = true;
}

static void share_constants(void)
{
	struct rl_limit l = { .rate = 3000, .period_ns = 1000000000ULL, .burst = 300,
			      .algo = RL_ALGO_TOKEN_BUCKET };
	struct rl_lconst full, k1, k3, kmin, kb;
	int failed = 0;

	rl_lconst_compile(&l, 0, &full);
	rl_lconst_share(&l, 0, RL_SHARE_ONE, 0, &k1);
	rl_lconst_share(&l, 0, RL_SHARE_ONE / 3, 0, &k3);
	rl_lconst_share(&l, 0, 1, 0, &kmin);
	rl_lconst_share(&l, 0, RL_SHARE_ONE / 3, 400000000ULL, &kb);
	CHECK(k1.rate_r == full.rate_r && k1.unit == full.unit && k1.cap == full.cap,
	      "whole share: rate_r %llu unit %llu cap %llu, limit's %llu %llu %llu",
	      (unsigned long long)k1.rate_r, (unsigned long long)k1.unit,
	      (unsigned long long)k1.cap, (unsigned long long)full.rate_r,
	      (unsigned long long)full.unit, (unsigned long long)full.cap);
	CHECK(k3.rate_r == full.rate_r && k3.cap == full.cap && k3.aux == k1.aux,
	      "a share keeps the scaled clock, cap and aux");
	/* 1/3 rounded down in 1/65536, unit rounded up: never more than a third */
	CHECK(k3.unit * 21845ULL >= full.unit * RL_SHARE_ONE && k3.unit >= 3 * full.unit - 1,
	      "1/3 share: unit %llu for a whole unit of %llu", (unsigned long long)k3.unit,
	      (unsigned long long)full.unit);
	CHECK(kmin.unit == full.unit * (RL_SHARE_ONE / RL_SHARE_MIN), "a share below 1/1024 is 1/1024");
	CHECK(kb.cap == 400000000ULL * full.rate_r && kb.aux >= kb.cap && kb.unit == k3.unit,
	      "a 400 ms bank: cap %llu", (unsigned long long)kb.cap);
	CHECK(!rl_share_check(&l, 0), "3000/s burst 300 can be shared");
	l.algo = RL_ALGO_SLIDING_WINDOW;
	CHECK(rl_share_check(&l, 0) != NULL, "a window cannot be shared");
	l.algo = RL_ALGO_TOKEN_BUCKET;
	l.rate = 1;
	l.period_ns = 3600000000000ULL;
	CHECK(rl_share_check(&l, 0) != NULL, "1/h cannot be shared down to 1/1024");
	report("cluster/share-constants", failed);
}

/*
 * A flood of one packet every 50 us on one host's bucket (per rule, 3000/s
 * burst 300 for the cluster), its share redrawn every 100 ms between 1/10
 * and 9/10: admissions up to each moment stay within what the shares
 * allowed plus the bank, and reach it within one packet's worth per change.
 */
static void share_changes_under_flood(void)
{
	struct rl_rule_spec s;
	struct rl_rule r;
	__u64 w = 0, now, out, admitted = 0, step = 50000, t_change = 0;
	double allowed = 0, q = 0.5, worst_over = -1e9, worst_under = 1e9;
	uint32_t ver = 1u << 16, v0;
	int failed = 0, i;

	spec_of(&s, 3000, 300);
	s.share_q = RL_SHARE_ONE / 2;
	s.bank_ms = 0;
	rl_rule_compile(&s, 0, ver, &r);
	v0 = ver;
	/* start drained: admissions are then at most the shares' rate */
	w = rl_word_init(&r, 1000000000ULL, 0);
	for (now = 1000000000ULL, i = 0; now < 11000000000ULL; now += step, i++) {
		if (now - 1000000000ULL >= t_change + 100000000ULL) {
			struct rl_rule_spec n = s;

			t_change += 100000000ULL;
			q = (double)(1 + rnd() % 9) / 10;
			n.share_q = (uint32_t)(q * RL_SHARE_ONE);
			ver = rl_rule_next_ver(&s, &n, ver);
			s = n;
			rl_rule_compile(&s, 0, ver, &r);
		}
		allowed += 3000.0 * ((double)s.share_q / RL_SHARE_ONE) * step / 1e9;
		if (rl_word_decide(&r, w, 1, now, &out) == RL_W_PASS) {
			admitted++;
			w = out;
		} else {
			w = out;
		}
		if ((double)admitted - allowed > worst_over)
			worst_over = (double)admitted - allowed;
		if ((double)admitted - allowed < worst_under)
			worst_under = (double)admitted - allowed;
	}
	CHECK(ver == v0, "a share change started a new epoch (ver %#x -> %#x)", v0, ver);
	/* a share that grows keeps its bucket's fullness as a fraction: the
	 * packet in flight may gain a fraction each time (100 changes here) */
	CHECK(worst_over <= 10.0, "admitted %.1f more than the shares allowed", worst_over);
	CHECK(worst_under >= -160.0, "admitted %.1f less than the shares allowed", -worst_under);
	printf("    %llu admitted, shares allowed %.1f (most over %+.1f, most under %+.1f)\n",
	       (unsigned long long)admitted, allowed, worst_over, worst_under);
	report("cluster/share-changes-under-flood", failed);
}

static void state_epochs(void)
{
	struct rl_rule_spec a, b;
	int failed = 0;

	spec_of(&a, 3000, 300);
	a.share_q = 1000;
	b = a;
	b.share_q = 40000;
	CHECK(!rl_rule_state_changed(&a, &b), "a share change must not start a new epoch");
	b.limit.rate = 2000;
	CHECK(rl_rule_state_changed(&a, &b), "a rate change of a cluster rule starts one");
	b = a;
	b.cluster = false;
	b.share_q = 0;
	CHECK(rl_rule_state_changed(&a, &b), "scope cluster -> local starts one");
	b = a;
	b.bank_ms = 400;
	CHECK(rl_rule_state_changed(&a, &b), "a new bank (sync changed) starts one");
	report("cluster/state-epochs", failed);
}

static void water_filling(void)
{
	int failed = 0;
	uint32_t a, b, c;

	/* overloaded: in proportion to demand (plus the small floor) */
	a = rl_cluster_share(3000, 14000, 20000, 3);
	b = rl_cluster_share(3000, 4000, 20000, 3);
	c = rl_cluster_share(3000, 2000, 20000, 3);
	CHECK(a + b + c <= RL_SHARE_ONE && a + b + c >= RL_SHARE_ONE - 3,
	      "shares add up to %u of %u", a + b + c, RL_SHARE_ONE);
	CHECK(a > 45000 && a < 46500 && c > 6400 && c < 7000, "70/20/10: %u %u %u", a, b, c);
	/* under the limit: demand plus an equal part of the headroom */
	a = rl_cluster_share(3000, 1000, 1300, 2);
	b = rl_cluster_share(3000, 300, 1300, 2);
	CHECK(a + b <= RL_SHARE_ONE && a + b >= RL_SHARE_ONE - 2, "under the limit: %u + %u", a, b);
	CHECK((double)a / RL_SHARE_ONE * 3000 >= 1000 + 849 && (double)b / RL_SHARE_ONE * 3000 >= 300 + 849,
	      "each gets its demand and half the headroom: %u %u", a, b);
	/* alone, idle, or nonsense input */
	CHECK(rl_cluster_share(3000, 0, 0, 1) == RL_SHARE_ONE, "a lone node gets it all");
	CHECK(rl_cluster_share(3000, 0, 0, 4) == RL_SHARE_ONE / 4, "idle nodes split it evenly");
	CHECK(rl_cluster_share(3000, 500, 100, 0) == RL_SHARE_ONE, "a sum below its own part is its own");
	CHECK(rl_cluster_share(0, 0, 0, 3) == RL_SHARE_MIN, "no rate: the smallest share");
	report("cluster/water-filling", failed);
}

static void rule_checks(void)
{
	struct rl_rule_spec s;
	struct rl_err e = {};
	int failed = 0;
	char *w1[] = { "rate", "10/s", "per", "rule", "scope", "cluster" };
	char *w2[] = { "rate", "10/s", "scope", "nowhere" };
	char *w3[] = { "scope", "local" };

	rl_rule_defaults(&s, NULL);
	strcpy(s.name, "x");
	CHECK(!rl_parse_rule_words(6, w1, &s, true, &e) && s.cluster, "scope cluster: %s", e.msg);
	CHECK(!rl_rule_validate(&s, &e), "per rule scope cluster validates: %s", e.msg);
	s.per_rule = false;
	CHECK(rl_rule_validate(&s, &e) && strstr(e.msg, "needs per rule"), "per source refused: %s", e.msg);
	s.per_rule = true;
	s.limit.algo = RL_ALGO_FIXED_WINDOW;
	CHECK(rl_rule_validate(&s, &e) && strstr(e.msg, "token-bucket"), "window refused: %s", e.msg);
	s.limit.algo = RL_ALGO_TOKEN_BUCKET;
	s.share_q = RL_SHARE_ONE + 1;
	CHECK(rl_rule_validate(&s, &e), "share over one refused");
	s.share_q = 100;
	CHECK(!rl_parse_rule_words(2, w3, &s, false, &e) && !s.cluster && !s.share_q,
	      "scope local clears the share");
	CHECK(rl_parse_rule_words(4, w2, &s, true, &e) && strstr(e.msg, "scope 'nowhere' is unknown"),
	      "bad scope word: %s", e.msg);
	report("cluster/rule-checks", failed);
}

static void redis_addresses(void)
{
	char host[256];
	struct rl_err e = {};
	int port = -1, failed = 0;

	CHECK(!rl_parse_redis_addr("127.0.0.1:6379", host, sizeof(host), &port, &e) &&
	      !strcmp(host, "127.0.0.1") && port == 6379, "v4: %s", e.msg);
	CHECK(!rl_parse_redis_addr("[::1]:7000", host, sizeof(host), &port, &e) &&
	      !strcmp(host, "::1") && port == 7000, "v6: %s", e.msg);
	CHECK(!rl_parse_redis_addr("unix:/run/redis.sock", host, sizeof(host), &port, &e) &&
	      !strcmp(host, "/run/redis.sock") && port == 0, "unix: %s", e.msg);
	CHECK(rl_parse_redis_addr("redis", host, sizeof(host), &port, &e), "no port");
	CHECK(rl_parse_redis_addr("a:0", host, sizeof(host), &port, &e), "port 0");
	CHECK(rl_parse_redis_addr("a:65536", host, sizeof(host), &port, &e), "port 65536");
	CHECK(rl_parse_redis_addr("::1:6379", host, sizeof(host), &port, &e), "v6 without brackets");
	CHECK(rl_parse_redis_addr("unix:relative", host, sizeof(host), &port, &e), "relative unix path");
	CHECK(rl_parse_redis_addr("a b:1", host, sizeof(host), &port, &e), "a space");
	CHECK(rl_parse_redis_addr(":6379", host, sizeof(host), &port, &e), "no host");
	report("cluster/redis-addresses", failed);
}

int main(void)
{
	share_constants();
	share_changes_under_flood();
	state_epochs();
	water_filling();
	rule_checks();
	redis_addresses();
	printf("cluster: %d of %d cases failed\n", failures, cases);
	return failures ? 1 : 0;
}
