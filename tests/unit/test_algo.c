// SPDX-License-Identifier: GPL-2.0
/*
 * test_algo.c - host unit tests of the one-word algorithm core
 * (include/rl_algo.h) on a fake clock.  Edge cases first: 1/h and
 * 100 Gbit/s, burst 0 and 1, a year idle, time going backwards, the wrap
 * of the scaled clock, an oversize packet into debt, the penalty box,
 * rule-version tags (fresh/drained), algorithm switches, rl_word_idle and
 * rl_word_credit, rl_limit_check.  Then a differential test: at least 10M
 * random decisions per algorithm against the reference model
 * (tests/rl_ref_algo.h, rl's original two-word code), where every mismatch
 * must be one that rl_algo.h documents and is checked against its
 * documented bound.  Last, two threads hammering one word with the
 * datapath's compare-and-swap loop.  Set RL_SEED to replay a run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rl_algo.h"
#include "rl_ref_algo.h"
#include "testlib.h"

#define NS        1000000000ULL
#define MS        1000000ULL
#define HOUR_NS   (3600ULL * NS)
#define DAY_NS    (24ULL * HOUR_NS)
#define YEAR_NS   (365ULL * DAY_NS)
#define GBIT100   12500000000ULL        /* 100 Gbit/s in bytes per second */

/* Decisions per algorithm in the differential test: DIFF_TRACES x DIFF_STEPS. */
#define DIFF_TRACES 2000
#define DIFF_STEPS  5000

typedef unsigned __int128 u128;

static const char *algo_name[] = { "token-bucket", "leaky-bucket",
				   "fixed-window", "sliding-window",
				   "sliding-log" };

static struct rl_rule mkrule(__u32 algo, __u64 rate, __u64 period,
			     __u64 burst, int bytes)
{
	struct rl_rule r;

	memset(&r, 0, sizeof(r));
	r.limit.rate = rate;
	r.limit.period_ns = period;
	r.limit.burst = burst;
	r.limit.algo = algo;
	r.flags = bytes ? RL_RF_BYTES : 0;
	r.ver = 1u << 16 | 1;
	r.tag = rl_rule_tag(r.ver);
	rl_lconst_compile(&r.limit, bytes, &r.k);
	return r;
}

static void set_ver(struct rl_rule *r, __u32 ver)
{
	r->ver = ver;
	r->tag = rl_rule_tag(ver);
}

/*
 * rl_word_decide as the datapath uses it, storing *out.  It also checks the
 * contract: a BLOCK writes nothing, a DROP without a penalty box writes
 * only a word of another version re-initialised, a PASS always writes.
 */
static __u64 contract_breaches;

static __u32 dec(const struct rl_rule *r, __u64 *w, __u64 cost, __u64 now)
{
	__u64 out;
	__u32 v = rl_word_decide(r, *w, cost, now, &out);

	if (v == RL_W_BLOCK && out != *w)
		contract_breaches++;
	if (v == RL_W_DROP && !r->block_ns && out != *w &&
	    (rl_word_tag(*w) == r->tag || out != rl_word_current(r, *w, now)))
		contract_breaches++;
	if (v == RL_W_PASS && out == *w)
		contract_breaches++;
	*w = out;
	return v;
}

static int adm(const struct rl_rule *r, __u64 *w, __u64 cost, __u64 now)
{
	return dec(r, w, cost, now) == RL_W_PASS;
}

/* Admissions of `n` packets of `cost` spaced `gap` ns apart from t0. */
static __u64 run_spaced(const struct rl_rule *r, __u64 *w, __u64 t0,
			__u64 gap, __u64 n, __u64 cost)
{
	__u64 i, ok = 0;

	for (i = 0; i < n; i++)
		ok += adm(r, w, cost, t0 + i * gap);
	return ok;
}

static __u64 slog_spaced(const struct rl_limit *l, struct rl_slog_ring *s,
			 __u64 t0, __u64 gap, __u64 n)
{
	__u64 i, ok = 0;

	for (i = 0; i < n; i++)
		ok += rl_slog_admit(l, s, t0 + i * gap);
	return ok;
}

static void slog_fresh(const struct rl_limit *l, struct rl_slog_ring *s,
		       __u64 now)
{
	memset(s, 0, sizeof(*s));
	rl_slog_init(l, s, now, 1);
}

/* A value in [lo, hi], every power of two about equally likely. */
static __u64 pick(__u64 lo, __u64 hi)
{
	__u64 span = hi - lo, v = span == RL_U64_MAX ? rnd() : rnd() % (span + 1);

	return lo + (v >> (rnd() % (64 - __builtin_clzll(span | 1))));
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- edge cases ----------------------------------------------------- */

static void test_one_per_hour(void)
{
	int failed = 0;
	__u32 a;

	for (a = RL_ALGO_TOKEN_BUCKET; a <= RL_ALGO_LEAKY_BUCKET; a++) {
		struct rl_rule r = mkrule(a, 1, HOUR_NS, 1, 0);
		struct rl_rule r10 = mkrule(a, 10, HOUR_NS, 0, 0);
		struct rl_rule rd = mkrule(a, 1, DAY_NS, 3, 0);
		__u64 w = 0, t0 = 5 * NS;

		CHECK(!rl_limit_check(&r.limit, 0), "%s 1/h refused: %s",
		      algo_name[a], rl_limit_check(&r.limit, 0));
		CHECK(!rl_limit_check(&r10.limit, 0), "%s 10/h refused: %s",
		      algo_name[a], rl_limit_check(&r10.limit, 0));
		CHECK(!rl_limit_check(&rd.limit, 0), "%s 1/day burst 3 refused: %s",
		      algo_name[a], rl_limit_check(&rd.limit, 0));
		CHECK(adm(&r, &w, 1, t0), "%s: first packet", algo_name[a]);
		CHECK(!adm(&r, &w, 1, t0 + 1), "%s: second at +1ns", algo_name[a]);
		CHECK(!adm(&r, &w, 1, t0 + HOUR_NS - 1), "%s: at +1h-1ns",
		      algo_name[a]);
		CHECK(adm(&r, &w, 1, t0 + HOUR_NS), "%s: at +1h", algo_name[a]);
		CHECK(!adm(&r, &w, 1, t0 + HOUR_NS + 1), "%s: at +1h+1ns",
		      algo_name[a]);
		w = 0;
		CHECK(run_spaced(&rd, &w, t0, 0, 10, 1) == 3, "%s: 1/day burst 3",
		      algo_name[a]);
		CHECK(!adm(&rd, &w, 1, t0 + DAY_NS - 1) &&
		      adm(&rd, &w, 1, t0 + DAY_NS), "%s: 1/day refill",
		      algo_name[a]);
	}
	{
		struct rl_rule fw = mkrule(RL_ALGO_FIXED_WINDOW, 1, HOUR_NS, 0, 0);
		struct rl_rule sw = mkrule(RL_ALGO_SLIDING_WINDOW, 1, HOUR_NS, 0, 0);
		struct rl_limit sl = { .rate = 1, .period_ns = HOUR_NS,
				       .algo = RL_ALGO_SLIDING_LOG };
		struct rl_slog_ring s;
		__u64 w = 0, t0 = 5 * NS;

		CHECK(adm(&fw, &w, 1, t0) && !adm(&fw, &w, 1, HOUR_NS - 1) &&
		      adm(&fw, &w, 1, HOUR_NS), "fixed window 1/h");
		w = 0;
		CHECK(adm(&sw, &w, 1, t0), "sliding window 1/h: first");
		CHECK(!adm(&sw, &w, 1, HOUR_NS + HOUR_NS / 2),
		      "sliding window 1/h: half the previous window still counts");
		CHECK(adm(&sw, &w, 1, 2 * HOUR_NS + t0),
		      "sliding window 1/h: two windows on");
		slog_fresh(&sl, &s, t0);
		CHECK(rl_slog_admit(&sl, &s, t0) && !rl_slog_admit(&sl, &s, t0 + HOUR_NS - 1) &&
		      rl_slog_admit(&sl, &s, t0 + HOUR_NS), "sliding log 1/h");
	}
	report("edge/rate-1-per-hour", failed);
}

static void test_100gbit(void)
{
	int failed = 0;
	__u32 a;

	for (a = RL_ALGO_TOKEN_BUCKET; a <= RL_ALGO_LEAKY_BUCKET; a++) {
		/* 100 Gbit/s = 12.5 bytes/ns = 25/2: exact, burst 1 MB */
		struct rl_rule r = mkrule(a, GBIT100, NS, 1000000, 1);
		struct rl_lconst k;
		__u64 w = 0, t0 = 7 * NS, ok, n = NS / 10 / 120, allowed;

		CHECK(!rl_limit_check(&r.limit, 1), "100gbit refused: %s",
		      rl_limit_check(&r.limit, 1));
		CHECK(rl_lconst_compile(&r.limit, 1, &k) == 0 && k.rate_r == 25 &&
		      k.unit == 2, "100gbit constants %llu/%llu",
		      (unsigned long long)k.rate_r, (unsigned long long)k.unit);
		/* exactly at rate: 1500 B every 120 ns for 0.1 s: all pass */
		ok = run_spaced(&r, &w, t0, 120, n, 1500);
		CHECK(ok == n, "at rate: %llu of %llu", (unsigned long long)ok,
		      (unsigned long long)n);
		/* twice the rate: burst + rate*t bytes, to within one packet */
		w = 0;
		ok = run_spaced(&r, &w, t0, 60, 2 * n, 1500) * 1500;
		allowed = 1000000 + GBIT100 * ((2 * n - 1) * 60) / NS;
		CHECK(ok <= allowed && ok + 1500 > allowed,
		      "2x rate: admitted %llu bytes, allowed %llu",
		      (unsigned long long)ok, (unsigned long long)allowed);
	}
	report("edge/rate-100gbit", failed);
}

static void test_burst_zero_one(void)
{
	int failed = 0;
	__u32 a, b;

	for (a = RL_ALGO_TOKEN_BUCKET; a <= RL_ALGO_LEAKY_BUCKET; a++) {
		for (b = 0; b <= 1; b++) {
			/* 1000/s: T = 1 ms; burst 0 and 1 both mean spacing T */
			struct rl_rule r = mkrule(a, 1000, NS, b, 0);
			__u64 w = 0, t0 = NS;

			CHECK(adm(&r, &w, 1, t0), "first");
			CHECK(!adm(&r, &w, 1, t0), "same instant (burst %u)", b);
			CHECK(!adm(&r, &w, 1, t0 + MS - 1), "T-1 (burst %u)", b);
			CHECK(adm(&r, &w, 1, t0 + MS), "T (burst %u)", b);
			CHECK(run_spaced(&r, &w, t0 + 2 * MS, MS, 1000, 1) == 1000,
			      "strictly spaced stream all admitted (burst %u)", b);
			CHECK(rl_word_credit(&r, 0, t0) == 1, "credit of a new key");
		}
	}
	report("edge/burst-0-and-1", failed);
}

static void test_year_idle(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < RL_ALGO_SLIDING_LOG; a++) {
		struct rl_rule r = mkrule(a, 100, NS, 10, 0);
		__u64 w = 0, t0 = 3 * NS + 12345, t1 = t0 + YEAR_NS, ok;

		run_spaced(&r, &w, t0, 1, 1000, 1);
		if (a == RL_ALGO_SLIDING_WINDOW) {
			/* a year is 16 * 1971000 windows of 1 s: the 4-bit
			 * index reads it as the same window, documented to
			 * fail closed until the index moves on */
			CHECK(!adm(&r, &w, 1, t1), "sliding window: a year idle "
			      "is an aliased index: denied");
			t1 += 2 * NS;
		}
		/* a year later: one burst (or window) at one instant */
		ok = run_spaced(&r, &w, t1, 0, 1000, 1);
		CHECK(ok == (rl_algo_is_gcra(a) ? 10 : 100),
		      "%s: %llu admitted after a year idle", algo_name[a],
		      (unsigned long long)ok);
		CHECK(rl_word_idle(&r, w, t1 + YEAR_NS + 5 * NS),
		      "%s: idle after another year", algo_name[a]);
	}
	for (a = RL_ALGO_FIXED_WINDOW; a <= RL_ALGO_SLIDING_WINDOW; a++) {
		/* idle 9 windows past a multiple of 16 (and of 2^24 - 7):
		 * not a clock behind ours, a new window */
		struct rl_rule r = mkrule(a, 100, NS, 0, 0);
		__u64 w = 0, t0 = 3 * NS, ok;

		run_spaced(&r, &w, t0, 1, 1000, 1);
		ok = run_spaced(&r, &w, t0 + 9 * NS, 0, 1000, 1);
		CHECK(ok == 100, "%s: %llu admitted after 9 windows idle",
		      algo_name[a], (unsigned long long)ok);
		w = 0;
		run_spaced(&r, &w, t0, 1, 1000, 1);
		ok = run_spaced(&r, &w, t0 + ((1ULL << 24) - 7) * NS, 0, 1000, 1);
		CHECK(ok == 100, "%s: %llu admitted after 2^24-7 windows idle",
		      algo_name[a], (unsigned long long)ok);
	}
	{
		/* a year idle reads as idle at 100gbit and at 1/h */
		struct rl_rule g = mkrule(RL_ALGO_TOKEN_BUCKET, GBIT100, NS, 1000000, 1);
		struct rl_rule h = mkrule(RL_ALGO_LEAKY_BUCKET, 1, HOUR_NS, 5, 0);
		__u64 w = 0, t0 = 11 * NS + 7;

		CHECK(run_spaced(&g, &w, t0, 0, 1000, 1500) == 666, "100gbit burst");
		CHECK(!rl_word_idle(&g, w, t0) && rl_word_credit(&g, w, t0) == 1000,
		      "100gbit: not idle, %llu left",
		      (unsigned long long)rl_word_credit(&g, w, t0));
		CHECK(rl_word_idle(&g, w, t0 + YEAR_NS) &&
		      rl_word_credit(&g, w, t0 + YEAR_NS) == 1000000,
		      "100gbit: a year idle reads as idle");
		CHECK(run_spaced(&g, &w, t0 + YEAR_NS, 0, 1000, 1500) == 666,
		      "100gbit: one burst after a year");
		w = 0;
		CHECK(run_spaced(&h, &w, t0, 0, 10, 1) == 5, "1/h burst");
		CHECK(rl_word_idle(&h, w, t0 + YEAR_NS) &&
		      rl_word_credit(&h, w, t0 + YEAR_NS) == 5,
		      "1/h: a year idle reads as idle");
		CHECK(run_spaced(&h, &w, t0 + YEAR_NS, 0, 10, 1) == 5,
		      "1/h: one burst after a year");
	}
	{
		struct rl_limit sl = { .rate = 10, .period_ns = NS,
				       .algo = RL_ALGO_SLIDING_LOG };
		struct rl_slog_ring s;

		slog_fresh(&sl, &s, NS);
		CHECK(slog_spaced(&sl, &s, NS, 1, 100) == 10 &&
		      slog_spaced(&sl, &s, NS + YEAR_NS, 0, 100) == 10,
		      "sliding log: one window after a year");
	}
	report("edge/year-idle", failed);
}

static void test_time_backwards(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < RL_ALGO_SLIDING_LOG; a++) {
		struct rl_rule r = mkrule(a, 100, NS, 10, 0);
		__u64 w = 0, t0 = 100 * NS, ok;

		ok = run_spaced(&r, &w, t0, 0, 1000, 1);
		/* the clock steps back as far as CPUs may differ, then
		 * crawls up to t0: no new credit */
		ok += run_spaced(&r, &w, t0 - RL_SKEW_NS, RL_SKEW_NS / 1000, 1000, 1);
		CHECK(ok == (rl_algo_is_gcra(a) ? 10 : 100),
		      "%s admitted %llu across a backward step", algo_name[a],
		      (unsigned long long)ok);
		/* and when real time resumes, the limit resumes */
		ok = run_spaced(&r, &w, t0 + 2 * NS, 0, 1000, 1);
		CHECK(ok > 0 && ok <= 100, "%s: %llu after time resumed",
		      algo_name[a], (unsigned long long)ok);
	}
	{
		struct rl_limit l = { .rate = 10, .period_ns = NS,
				      .algo = RL_ALGO_SLIDING_LOG };
		struct rl_slog_ring s;
		__u64 t0 = 100 * NS, ok;

		slog_fresh(&l, &s, t0);
		ok = slog_spaced(&l, &s, t0, 0, 100);
		ok += slog_spaced(&l, &s, t0 - 50 * NS, 1, 100);
		CHECK(ok == 10, "sliding log admitted %llu across a backward step",
		      (unsigned long long)ok);
	}
	report("edge/time-backwards", failed);
}

/*
 * The scaled clock: now_ns * rate_r wraps 2^64 (and the payload 2^56).
 * Crossing the 2^64 wrap changes nothing; a key idle for t with
 * t*rate_r mod 2^56 inside the aux window below 2^56 reads as in debt
 * (deny, never admit), and never for t < 2^55/rate_r.
 */
static void test_clock_wrap(void)
{
	int failed = 0, i;

	{
		/* 100gbit: rate_r 25, now * 25 wraps 2^64 at ~23 years */
		struct rl_rule r = mkrule(RL_ALGO_TOKEN_BUCKET, GBIT100, NS, 100000, 1);
		__u64 wa = 0, wb = 0, ta = RL_U64_MAX / 25 - 20000, tb = 5 * NS;
		int same = 1;

		for (i = 0; i < 4000; i++) {
			__u64 cost = 64 + rnd() % 1451, dt = i * 30;

			same &= adm(&r, &wa, cost, ta + dt) == adm(&r, &wb, cost, tb + dt);
		}
		CHECK(same, "verdicts across the 2^64 wrap of now*rate_r differ");
	}
	{
		/* 1/s: rate_r 1, unit 1e9; a TAT at 11 s read 2^56 ns later */
		struct rl_rule r = mkrule(RL_ALGO_LEAKY_BUCKET, 1, NS, 1, 0);
		struct ref_words ref = { 0, 0 };
		__u64 w = 0, t0 = 10 * NS, tat = t0 + NS, t;

		ref_algo_init(&r.limit, &ref, t0, 1);
		CHECK(adm(&r, &w, 1, t0) && ref_algo_admit(&r.limit, &ref, 1, t0),
		      "first");
		t = tat + (1ULL << 56) - r.k.aux / 2;
		CHECK(dec(&r, &w, 1, t) == RL_W_DROP,
		      "idle 2^56 - aux/2 scaled units: must read as debt (deny)");
		CHECK(ref_algo_admit(&r.limit, &ref, 1, t),
		      "(the reference admits it: the documented fail-closed case)");
		CHECK(dec(&r, &w, 1, t + r.k.aux / 2 - 1) == RL_W_DROP,
		      "still inside the aux window");
		CHECK(adm(&r, &w, 1, t + r.k.aux / 2 + 1),
		      "beyond the aux window: idle again");
	}
	for (i = 0; i < 20000; i++) {
		/* any idle t < 2^55/rate_r reads as idle */
		__u64 rate_r = pick(1, RL_RATE_R_MAX);
		struct rl_rule r = mkrule(RL_ALGO_TOKEN_BUCKET, rate_r, NS, 1 + rnd() % 100, 0);
		__u64 w = 0, t0 = rnd() % YEAR_NS, cap_ns, t;

		if (rl_limit_check(&r.limit, 0) || r.k.rate_r != rate_r)
			continue;
		run_spaced(&r, &w, t0, 0, r.limit.burst, 1);
		cap_ns = r.k.cap / r.k.rate_r + 1;
		t = t0 + cap_ns + pick(0, (1ULL << 55) / r.k.rate_r - cap_ns);
		if (!rl_word_idle(&r, w, t) ||
		    rl_word_credit(&r, w, t) != r.limit.burst) {
			CHECK(0, "rate %llu/s burst %llu: idle %llu ns misread",
			      (unsigned long long)rate_r,
			      (unsigned long long)r.limit.burst,
			      (unsigned long long)(t - t0));
			break;
		}
	}
	report("edge/scaled-clock-wrap", failed);
}

/* A full bucket admits one packet bigger than the burst, into debt. */
static void test_oversize(void)
{
	int failed = 0;
	/* 1 Mbit/s = 125000 B/s, burst 1514: a 9000 B jumbo frame */
	struct rl_rule r = mkrule(RL_ALGO_TOKEN_BUCKET, 125000, NS, 1514, 1);
	struct ref_words ref;
	__u64 w = 0, t0 = 3 * NS, i, ok = 0, last = 0, first = 0;
	/* 64 B passes once the debt is back to 1514 - 64: 7550 B later */
	__u64 back = (9000 - 1450) * NS / 125000;

	ref_algo_init(&r.limit, &ref, t0, 1);
	CHECK(!ref_gcra_admit(&r.limit, &ref, 9000, t0),
	      "(the reference refuses a packet over the burst)");
	CHECK(adm(&r, &w, 9000, t0), "jumbo frame on a full bucket refused");
	CHECK(!adm(&r, &w, 64, t0 + 1), "64 B right after the jumbo");
	CHECK(!adm(&r, &w, 64, t0 + back - 1), "64 B at debt-1ns");
	CHECK(adm(&r, &w, 64, t0 + back), "64 B once the debt is paid");
	CHECK(!adm(&r, &w, 9000, t0 + 70 * MS),
	      "jumbo on a bucket that is not full");
	/* a stream of jumbos at 10x: max(burst, 9000) + rate*t bytes */
	w = 0;
	for (i = 0; i < 10000; i++) {
		__u64 t = t0 + i * (9000 * NS / 125000 / 10);

		if (adm(&r, &w, 9000, t)) {
			if (!ok)
				first = t;
			last = t;
			ok++;
		}
	}
	CHECK(ok * 9000 * NS <= 9000 * NS + 125000 * (last - first),
	      "jumbo stream: %llu admitted over %llu ns",
	      (unsigned long long)ok, (unsigned long long)(last - first));
	CHECK(ok * 9000 * NS * 10 >= 125000 * (last - first) * 9,
	      "jumbo stream: only %llu admitted", (unsigned long long)ok);
	{
		/* 1/h: the word holds at most 2^53 scaled units of debt
		 * (2502 packets); a costlier GSO burst is refused, never
		 * under-charged */
		struct rl_rule h = mkrule(RL_ALGO_TOKEN_BUCKET, 1, HOUR_NS, 1, 0);

		w = 0;
		CHECK(!adm(&h, &w, 65535, t0), "1/h: 65535 segments admitted");
		CHECK(adm(&h, &w, 2000, t0), "1/h: 2000 segments refused");
		CHECK(!adm(&h, &w, 1, t0 + 1999 * HOUR_NS), "1/h: debt not kept");
		CHECK(adm(&h, &w, 1, t0 + 2000 * HOUR_NS), "1/h: debt not paid");
	}
	report("edge/oversize-into-debt", failed);
}

static void test_penalty_box(void)
{
	int failed = 0;
	struct rl_rule r = mkrule(RL_ALGO_TOKEN_BUCKET, 10, NS, 2, 0);
	__u64 w = 0, t0 = 50 * NS + 3, boxed, end;
	__u32 a;

	r.block_ns = 5 * NS;
	CHECK(adm(&r, &w, 1, t0) && adm(&r, &w, 1, t0), "burst of 2");
	CHECK(dec(&r, &w, 1, t0) == RL_W_DROP, "third: drop");
	CHECK(rl_word_tag(w) == (RL_TAG_BOXED | r.tag), "word boxed: tag %#x",
	      rl_word_tag(w));
	boxed = w;
	end = ((t0 + 5 * NS) >> RL_BOX_SHIFT) + 1;
	CHECK(dec(&r, &w, 1, t0 + 1) == RL_W_BLOCK && w == boxed, "blocked");
	CHECK(dec(&r, &w, 1, t0 + 5 * NS) == RL_W_BLOCK, "blocked at +block");
	CHECK(dec(&r, &w, 1, (end << RL_BOX_SHIFT) - 1) == RL_W_BLOCK,
	      "blocked until the box's 256 ns unit ends");
	CHECK(!rl_word_idle(&r, w, t0 + NS) && rl_word_credit(&r, w, t0 + NS) == 0,
	      "boxed: not idle, no credit");
	CHECK(rl_word_idle(&r, w, end << RL_BOX_SHIFT) &&
	      rl_word_credit(&r, w, end << RL_BOX_SHIFT) == 2,
	      "after the box: idle, full credit");
	/* afterwards: fresh, full credit, and boxed again when over */
	CHECK(run_spaced(&r, &w, end << RL_BOX_SHIFT, 0, 10, 1) == 2,
	      "a fresh burst after the box");
	CHECK(rl_word_tag(w) & RL_TAG_BOXED, "boxed again");
	/* a box of another rule version still blocks until it ends */
	set_ver(&r, 3u << 16 | 7);
	CHECK(dec(&r, &w, 1, (end << RL_BOX_SHIFT) + NS) == RL_W_BLOCK,
	      "a box outlives a rule change");
	/* a huge block saturates instead of wrapping into the past */
	r.block_ns = RL_U64_MAX;
	w = 0;
	run_spaced(&r, &w, t0, 0, 3, 1);
	CHECK(dec(&r, &w, 1, t0 + 100 * YEAR_NS) == RL_W_BLOCK,
	      "block for ever: not blocked after 100 years");
	/* windows box the same way */
	for (a = RL_ALGO_FIXED_WINDOW; a <= RL_ALGO_SLIDING_WINDOW; a++) {
		struct rl_rule f = mkrule(a, 3, NS, 0, 0);

		f.block_ns = NS;
		w = 0;
		CHECK(run_spaced(&f, &w, t0, 0, 3, 1) == 3 &&
		      dec(&f, &w, 1, t0) == RL_W_DROP &&
		      dec(&f, &w, 1, t0 + NS / 2) == RL_W_BLOCK &&
		      dec(&f, &w, 1, t0 + NS + 256) == RL_W_PASS,
		      "%s penalty box", algo_name[a]);
	}
	report("edge/penalty-box", failed);
}

/*
 * A word of another rule version: fresh (full credit) for a new
 * generation or an empty word, drained (no credit at that instant) for a
 * new epoch of the same rule.
 */
static void test_tags(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < RL_ALGO_SLIDING_LOG; a++) {
		struct rl_rule r = mkrule(a, 100, NS, 10, 0);
		__u64 w = 0, full = rl_algo_is_gcra(a) ? 10 : 100, t0 = 7 * NS;
		__u64 w_old;

		CHECK(r.tag && !(r.tag & RL_TAG_BOXED), "tag %#x", r.tag);
		CHECK(run_spaced(&r, &w, t0, 0, 1000, 1) == full, "%s: first burst",
		      algo_name[a]);
		w_old = w;
		/* new generation: fresh, a full burst although w is drained */
		set_ver(&r, 2u << 16 | 1);
		CHECK(run_spaced(&r, &w, t0, 0, 1000, 1) == full,
		      "%s: new generation is fresh", algo_name[a]);
		/* new epoch of the same generation: drained */
		w = w_old;
		set_ver(&r, 1u << 16 | 2);
		CHECK(rl_word_credit(&r, w, t0) == 0, "%s: drained credit %llu",
		      algo_name[a], (unsigned long long)rl_word_credit(&r, w, t0));
		CHECK(run_spaced(&r, &w, t0, 0, 1000, 1) == 0,
		      "%s: new epoch is drained", algo_name[a]);
		if (rl_algo_is_gcra(a))
			CHECK(adm(&r, &w, 1, t0 + NS / 100) && !adm(&r, &w, 1, t0 + NS / 100),
			      "%s: one emission interval later, one packet",
			      algo_name[a]);
		else
			CHECK(run_spaced(&r, &w, 2 * t0, 0, 1000, 1) == 100 ||
			      a == RL_ALGO_SLIDING_WINDOW,
			      "%s: next window", algo_name[a]);
		/* an empty word is fresh whatever the rule's tag */
		w = 0;
		CHECK(run_spaced(&r, &w, t0, 0, 1000, 1) == full,
		      "%s: zero word is fresh", algo_name[a]);
		CHECK(rl_word_tag(w) == r.tag, "%s: stored tag", algo_name[a]);
	}
	report("edge/tags-fresh-drained", failed);
}

/*
 * Switching algorithm (a new epoch: drained) never opens a second burst.
 * Bucket to bucket: admissions before plus after <= burst + rate*t.  A
 * window algorithm drained at a switch admits its `rate` at the start of
 * the next window: what a window algorithm allows anyway (2 * rate across
 * a window boundary), so with windows in the mix each switch into one may
 * add up to `rate`: burst + rate * (1 + such switches) + rate*t.
 */
static void test_switch(void)
{
	int failed = 0, trial;

	for (trial = 0; trial < 400 && !failed; trial++) {
		int mixed = trial & 1;
		__u64 rate = mixed ? 20 : 100, burst = 5 + rnd() % 10;
		__u64 t0 = NS + rnd() % NS, t = t0, gap = NS / rate / 10, admitted = 0;
		__u64 w = 0, extra = 0;
		__u32 epoch = 1, ring_tag;
		struct rl_rule r = mkrule(RL_ALGO_TOKEN_BUCKET, rate, NS, burst, 0);
		struct rl_slog_ring s;
		int i;

		slog_fresh(&r.limit, &s, t);
		ring_tag = r.tag;
		for (i = 0; i < 20000 && !failed; i++) {
			int ok;

			if (rnd() % 499 == 0) {
				__u32 algo = mixed ? rnd() % __RL_ALGO_MAX : rnd() % 2;

				r = mkrule(algo, rate, NS, burst, 0);
				set_ver(&r, 1u << 16 | (++epoch & 0xf));
				extra += rl_algo_is_gcra(algo) ? 0 : rate;
			}
			if (r.limit.algo == RL_ALGO_SLIDING_LOG) {
				/* the datapath's rl_slog.tag, as for words */
				if (ring_tag != r.tag) {
					rl_slog_init(&r.limit, &s, t, 0);
					ring_tag = r.tag;
				}
				ok = rl_slog_admit(&r.limit, &s, t);
			} else {
				ok = adm(&r, &w, 1, t);
			}
			admitted += ok;
			CHECK(!ok || (u128)admitted * NS <=
			      (u128)(burst + extra) * NS + (u128)rate * (t - t0),
			      "trial %d: %llu admitted by %llu ns (burst %llu rate %llu%s)",
			      trial, (unsigned long long)admitted,
			      (unsigned long long)(t - t0), (unsigned long long)burst,
			      (unsigned long long)rate, mixed ? ", windows too" : "");
			t += gap;
		}
		/* and never closes for good: a drained key refills */
		CHECK((u128)admitted * NS * 2 >= (u128)rate * (t - t0),
		      "trial %d: only %llu admitted in %llu ns", trial,
		      (unsigned long long)admitted, (unsigned long long)(t - t0));
	}
	report("switch/never-opens-a-second-burst", failed);
}

static void test_idle_credit(void)
{
	int failed = 0;
	__u32 a;

	for (a = RL_ALGO_TOKEN_BUCKET; a <= RL_ALGO_LEAKY_BUCKET; a++) {
		struct rl_rule r = mkrule(a, 100, NS, 10, 0);
		__u64 w = 0, t0 = 9 * NS;

		CHECK(rl_word_idle(&r, 0, t0) && rl_word_credit(&r, 0, t0) == 10,
		      "%s: a new key", algo_name[a]);
		run_spaced(&r, &w, t0, 0, 3, 1);
		CHECK(!rl_word_idle(&r, w, t0) && rl_word_credit(&r, w, t0) == 7,
		      "%s: after 3: credit %llu", algo_name[a],
		      (unsigned long long)rl_word_credit(&r, w, t0));
		CHECK(rl_word_credit(&r, w, t0 + NS / 100) == 8, "%s: refill",
		      algo_name[a]);
		CHECK(!rl_word_idle(&r, w, t0 + 3 * NS / 100 - 1) &&
		      rl_word_idle(&r, w, t0 + 3 * NS / 100), "%s: idle when full",
		      algo_name[a]);
		run_spaced(&r, &w, t0, 0, 100, 1);
		CHECK(rl_word_credit(&r, w, t0) == 0, "%s: exhausted", algo_name[a]);
		set_ver(&r, 5u << 16);
		CHECK(rl_word_idle(&r, w, t0), "%s: other version is idle",
		      algo_name[a]);
	}
	{
		struct rl_rule f = mkrule(RL_ALGO_FIXED_WINDOW, 10, NS, 0, 0);
		struct rl_rule s = mkrule(RL_ALGO_SLIDING_WINDOW, 10, NS, 0, 0);
		__u64 w = 0, t0 = 9 * NS + 1;

		run_spaced(&f, &w, t0, 0, 3, 1);
		CHECK(!rl_word_idle(&f, w, t0) && rl_word_credit(&f, w, t0) == 7,
		      "fixed window: after 3");
		CHECK(rl_word_idle(&f, w, t0 + NS) && rl_word_credit(&f, w, t0 + NS) == 10,
		      "fixed window: next window");
		CHECK(!rl_word_idle(&f, w, t0 - NS / 2),
		      "fixed window: a clock behind ours does not see it idle");
		w = 0;
		run_spaced(&s, &w, t0, 0, 3, 1);
		CHECK(!rl_word_idle(&s, w, t0) && rl_word_credit(&s, w, t0) == 7,
		      "sliding window: after 3");
		CHECK(!rl_word_idle(&s, w, t0 + NS) && rl_word_idle(&s, w, t0 + 2 * NS),
		      "sliding window: idle two windows on");
		CHECK(!rl_word_idle(&s, w, t0 - NS / 2),
		      "sliding window: a clock behind ours does not see it idle");
	}
	report("edge/idle-and-credit", failed);
}

static void test_limit_check(void)
{
	int failed = 0;
	struct rl_limit l = { .period_ns = NS, .burst = 2000 };
	__u64 max;

	l.algo = RL_ALGO_SLIDING_WINDOW;
	l.rate = RL_SW_CNT_MASK - RL_MAX_COST;
	CHECK(!rl_limit_check(&l, 1), "sliding window 2^26-1-65535 refused");
	l.rate++;
	CHECK(rl_limit_check(&l, 1) && rl_limit_check(&l, 0),
	      "sliding window over 26 bits accepted");
	l.algo = RL_ALGO_FIXED_WINDOW;
	l.rate = RL_FW_CNT_MASK - RL_MAX_COST;
	CHECK(!rl_limit_check(&l, 1), "fixed window 2^32-1-65535 refused");
	l.rate++;
	CHECK(rl_limit_check(&l, 1), "fixed window over 32 bits accepted");
	/* 56-bit word: burst * unit <= 2^53 */
	l.algo = RL_ALGO_TOKEN_BUCKET;
	l.rate = 1;
	max = (1ULL << 53) / NS;
	l.burst = max;
	CHECK(!rl_limit_check(&l, 0), "1/s burst %llu refused: %s",
	      (unsigned long long)max, rl_limit_check(&l, 0));
	l.burst = max + 1;
	CHECK(rl_limit_check(&l, 0), "1/s burst %llu accepted",
	      (unsigned long long)(max + 1));
	l.period_ns = HOUR_NS;
	l.burst = 1000000000000ULL;
	CHECK(rl_limit_check(&l, 0), "burst 1e12 at 1/h accepted");
	l.period_ns = 28 * DAY_NS;
	l.burst = 1;
	CHECK(rl_limit_check(&l, 0), "1 per 4 weeks accepted");
	l.algo = RL_ALGO_SLIDING_LOG;
	l.period_ns = NS;
	l.rate = 33;
	CHECK(rl_limit_check(&l, 0), "sliding log 33/s accepted");
	l.rate = 32;
	CHECK(!rl_limit_check(&l, 0), "sliding log 32/s refused");
	CHECK(rl_limit_check(&l, 1), "sliding log of bytes accepted");
	l.algo = RL_ALGO_TOKEN_BUCKET;
	l.rate = 125000;
	l.burst = 1513;
	CHECK(rl_limit_check(&l, 1), "byte burst 1513 accepted");
	l.burst = 0;
	CHECK(rl_limit_check(&l, 1), "byte burst 0 accepted");
	l.burst = 1514;
	CHECK(!rl_limit_check(&l, 1), "byte burst 1514 refused");
	l.rate = 0;
	CHECK(rl_limit_check(&l, 0), "rate 0 accepted");
	l.rate = 1;
	l.period_ns = 0;
	CHECK(rl_limit_check(&l, 0), "period 0 accepted");
	l.period_ns = NS;
	l.algo = 9;
	CHECK(rl_limit_check(&l, 0), "algo 9 accepted");
	report("edge/limit-check", failed);
}

/*
 * A reduced rate_r above RL_RATE_R_MAX is rounded down: the word may deny
 * where the reference admits, never the opposite (the reference follows
 * the word's decision so that their histories stay the same), and the
 * long-run count is within 0.16%.
 */
static void test_rounded(void)
{
	int failed = 0, trace;
	__u64 diffs = 0;

	for (trace = 0; trace < 60 && !failed; trace++) {
		int bytes = trace & 1;
		__u64 period = trace % 3 ? NS : 60 * NS;
		__u64 rate = bytes ? pick(100000, GBIT100) : pick(8193, 10000000);
		__u64 burst = bytes ? 1514 + rnd() % 100000 : 1 + rnd() % 100;
		struct rl_rule r = mkrule(RL_ALGO_LEAKY_BUCKET, rate, period, burst, bytes);
		struct rl_lconst k;
		struct ref_words ref, ind;
		__u64 w = 0, t, gap, i, a_new = 0, a_ind = 0, cost;

		if (rl_limit_check(&r.limit, bytes) || ref_limit_check(&r.limit, bytes) ||
		    !rl_lconst_compile(&r.limit, bytes, &k))
			continue;
		/* rate_r/unit <= rate/period, and within 0.16% */
		CHECK(k.rate_r == RL_RATE_R_MAX &&
		      (u128)k.rate_r * period <= (u128)rate * k.unit &&
		      (u128)rate * k.unit * 10000 <= (u128)k.rate_r * period * 10016,
		      "rate %llu/%llu -> %llu/%llu", (unsigned long long)rate,
		      (unsigned long long)period, (unsigned long long)k.rate_r,
		      (unsigned long long)k.unit);
		t = rnd() % YEAR_NS;
		ref_algo_init(&r.limit, &ref, t, 1);
		ref_algo_init(&r.limit, &ind, t, 1);
		/* offered twice the rate for 2000 emission intervals of 750 B */
		gap = (__u64)((u128)period * (bytes ? 750 : 1) / rate / 2) + 1;
		for (i = 0; i < 200000; i++) {
			struct ref_words save = ref;
			int got, want;

			cost = bytes ? 1 + rnd() % 1499 : 1;
			t += rnd() % (2 * gap + 1);
			got = adm(&r, &w, cost, t);
			want = ref_algo_admit(&r.limit, &ref, cost, t);
			a_ind += ref_algo_admit(&r.limit, &ind, cost, t) ? cost : 0;
			a_new += got ? cost : 0;
			if (got && !want) {
				CHECK(0, "trace %d: rounded rate admits where the "
				      "reference denies", trace);
				break;
			}
			if (want && !got) {
				ref = save;
				diffs++;
			}
		}
		CHECK(a_new <= a_ind + burst &&
		      (u128)a_new * 10000 + (u128)burst * 10000 >= (u128)a_ind * 9984,
		      "trace %d rate %llu: admitted %llu, reference %llu", trace,
		      (unsigned long long)rate, (unsigned long long)a_new,
		      (unsigned long long)a_ind);
	}
	printf("    rounded rates: %llu decisions denied where the exact rate admits\n",
	       (unsigned long long)diffs);
	report("edge/rounded-rates", failed);
}

/*
 * Sliding log: a change of ring size n restarts the ring drained (smaller)
 * or grows it (larger, still counting the old admissions).  After every
 * admission, the admissions in the last period are at most the current n;
 * the reference admitted 9 in a second under a limit of 8 after a rate
 * increase.
 */
static void test_slog_rate_change(void)
{
	int failed = 0, trial, ref_over = 0;

	{
		/* ring of 4 wrapped (head 2), then the rate goes to 8 */
		struct rl_limit l = { .rate = 4, .period_ns = NS,
				      .algo = RL_ALGO_SLIDING_LOG };
		static const __u64 at[] = { 0, 100, 200, 300, 1000, 1100, 1150,
					    1160, 1170, 1180, 1200, 1300, 1300,
					    1300, 1300 };
		struct rl_slog_ring s;
		struct ref_slog rs;
		__u64 t0 = 10 * NS, hn[16], hr[16], nn = 0, nr = 0, i, j, in;

		slog_fresh(&l, &s, t0);
		ref_slog_init(&l, &rs, t0, 1);
		for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			__u64 t = t0 + at[i] * MS;

			if (i == 6)
				l.rate = 8;
			if (rl_slog_admit(&l, &s, t))
				hn[nn++] = t;
			if (ref_slog_admit(&l, &rs, t))
				hr[nr++] = t;
		}
		for (i = 0; i < nn; i++) {
			for (in = 0, j = 0; j <= i; j++)
				in += hn[j] + NS > hn[i];
			CHECK(in <= 8, "%llu admissions within a second under 8",
			      (unsigned long long)in);
		}
		for (i = 0; i < nr; i++) {
			for (in = 0, j = 0; j <= i; j++)
				in += hr[j] + NS > hr[i];
			ref_over |= in > 8;
		}
	}
	for (trial = 0; trial < 3000 && !failed; trial++) {
		struct rl_limit l = { .rate = 1 + rnd() % 32, .period_ns = NS,
				      .algo = RL_ALGO_SLIDING_LOG };
		struct rl_slog_ring s;
		__u64 hist[4096], t = NS + rnd() % NS, n = 0;
		int i;

		slog_fresh(&l, &s, t);
		for (i = 0; i < 4096 && !failed; i++) {
			if (rnd() % 200 == 0)
				l.rate = 1 + rnd() % 32;
			t += rnd() % (NS / 40);
			if (rl_slog_admit(&l, &s, t)) {
				__u64 in = 1, j;

				for (j = n; j-- > 0 && hist[j] + NS > t;)
					in++;
				CHECK(in <= l.rate, "trial %d: %llu admissions within "
				      "a second under a limit of %llu", trial,
				      (unsigned long long)in,
				      (unsigned long long)l.rate);
				hist[n++] = t;
			}
		}
	}
	printf("    reference over-admits after a rate increase: %s\n",
	       ref_over ? "yes (the bug the word code fixes)" : "no");
	report("slog/rate-change-never-over-admits", failed);
}

/* ---- differential tests against the reference model -------------------- */

/*
 * The next `now`: 10% the same instant, 5% a small step back (if allowed),
 * 1% a long idle (a second to a year), else a step around the mean gap.
 */
static __u64 next_time(__u64 t, __u64 gap, int back)
{
	__u64 r = rnd() % 1000, b;

	if (r < 100)
		return t;
	if (r < 150 && back) {
		b = 1 + rnd() % (gap * 4 < MS ? gap * 4 : MS);
		return t > b ? t - b : t;
	}
	if (r < 160)
		return t + pick(NS, YEAR_NS);
	return t + rnd() % (2 * gap + 1);
}

/* A random limit within both range checks, exact (not rounded) for GCRA. */
static struct rl_rule random_rule(__u32 algo, int *bytes)
{
	static const __u64 periods[] = { MS, NS, 60 * NS, HOUR_NS };
	static const __u64 pow10[] = { 1, 10, 100, 1000, 10000, 100000,
				       1000000, 10000000 };

	for (;;) {
		/* the sliding window's 4-bit index tells a clock behind ours
		 * from a new window only within 7 windows: no period shorter
		 * than the test's steps back (1 ms) */
		__u64 period = rnd() % 5 ? periods[rnd() % 4] :
			       pick(algo == RL_ALGO_SLIDING_WINDOW ? MS : 1000, 2 * HOUR_NS);
		__u64 rate, burst;
		struct rl_rule r;

		*bytes = algo != RL_ALGO_SLIDING_LOG && rnd() % 3 == 0;
		if (algo == RL_ALGO_SLIDING_LOG)
			rate = 1 + rnd() % RL_SLOG_MAX;
		else if (rnd() % 2)    /* round numbers: 1..999 x 10^e */
			rate = (1 + rnd() % 999) * pow10[rnd() % (*bytes ? 8 : 5)];
		else
			rate = *bytes ? pick(1000, GBIT100) : pick(1, 1000000);
		if (*bytes)
			burst = pick(1514, 16 << 20);
		else
			burst = rnd() % 4 ? pick(1, 5000) : rnd() % 2;
		r = mkrule(algo, rate, period, burst, *bytes);
		if (rl_limit_check(&r.limit, *bytes) ||
		    ref_limit_check(&r.limit, *bytes))
			continue;
		if (rl_algo_is_gcra(algo) && rl_lconst_compile(&r.limit, *bytes, &r.k))
			continue;
		return r;
	}
}

static __u64 random_cost(const struct rl_rule *r, int bytes)
{
	__u64 burst = rl_burst(&r->limit), max;

	if (bytes) {
		max = rl_algo_is_gcra(r->limit.algo) && burst < 1514 ? burst : 1514;
		return 64 + rnd() % (max - 63);
	}
	if (rnd() % 8)
		return 1;
	/* a GRO skb charged its segments */
	max = rl_algo_is_gcra(r->limit.algo) && burst < 64 ? burst : 64;
	return 1 + rnd() % max;
}

/* Mean gap for an offered load of 0.3x..4x the rate. */
static __u64 random_gap(const struct rl_rule *r, int bytes)
{
	__u64 per_mille = 300 + rnd() % 3700;
	u128 g = (u128)r->limit.period_ns * (bytes ? 790 : 2) * 1000 /
		 ((u128)r->limit.rate * per_mille);

	return g > 0 ? (g > HOUR_NS ? HOUR_NS : (__u64)g) : 1;
}

/*
 * How far the reference's bucket is from full at now, in the word's scaled
 * units (the reference's are period_ns per unit, the word's unit = period/g).
 */
static __u64 ref_ahead(const struct rl_rule *r, const struct ref_words *s,
		       __u64 now)
{
	__u64 g = r->limit.period_ns / r->k.unit;
	struct ref_words c = *s;

	if (r->limit.algo == RL_ALGO_TOKEN_BUCKET) {
		ref_tb_refill(&r->limit, &c, now);
		return (ref_cap(&r->limit) - c.w0) / g;
	}
	if (c.w0 < now)
		return 0;
	return (__u64)(((u128)(c.w0 - now) * r->limit.rate + c.w1) / g);
}

/*
 * Where the documented index aliasing puts a window stored d >= 2
 * windows before now's (the reference starts afresh there): 1 if the word
 * keeps counts it should have dropped.  An index kept modulo 2^bits that
 * lands on now's window or (sliding window) the one before it reads as that
 * window; one that lands a little later reads as a clock behind ours if
 * that window would start within RL_SKEW_NS of now.
 */
static int aliased(__u64 d, __u64 mask, int prev_too, __u64 period, __u64 now)
{
	__u64 fwd = d & mask, back = -d & mask, elapsed = now % period;

	if (!fwd || (prev_too && fwd == 1))
		return 1;
	return back <= mask >> 1 &&
	       (u128)back * period - elapsed <= RL_SKEW_NS;
}

struct diff_stat {
	__u64 decisions, admitted, sanctioned, rounding, alias, alias_admit, misread;
};

static void diff_print(__u32 algo, const struct diff_stat *st, double secs)
{
	printf("    %s: %llu decisions, %llu admitted, %llu documented mismatches "
	       "(%llu weight rounding, %llu admits after an aliased index), "
	       "%llu index aliasings, %llu wrapped TATs, %.2f s\n",
	       algo_name[algo], (unsigned long long)st->decisions,
	       (unsigned long long)st->admitted, (unsigned long long)st->sanctioned,
	       (unsigned long long)st->rounding, (unsigned long long)st->alias_admit,
	       (unsigned long long)st->alias,
	       (unsigned long long)st->misread, secs);
}

/*
 * Token bucket vs the reference token bucket (time never going back: the
 * reference keeps credit computed at the latest time it saw, GCRA charges
 * from now), leaky bucket vs the reference GCRA (with steps back).  Exact,
 * except a long idle that wraps the 56-bit TAT into the aux window: a
 * deny, and only on a key that is in truth idle.
 */
static void test_diff_gcra(__u32 algo)
{
	struct diff_stat st = { 0 };
	struct timespec t0;
	int failed = 0, trace, i;
	char name[64];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (trace = 0; trace < DIFF_TRACES && !failed; trace++) {
		int bytes;
		struct rl_rule r = random_rule(algo, &bytes);
		__u64 t = rnd() % (2 * YEAR_NS), gap = random_gap(&r, bytes);
		__u64 last_pass = t, w = rl_word_init(&r, t, 1);
		struct ref_words ref;
		int back = algo == RL_ALGO_LEAKY_BUCKET, misread = 0;

		ref_algo_init(&r.limit, &ref, t, 1);
		for (i = 0; i < DIFF_STEPS; i++) {
			struct ref_words save = ref;
			__u64 cost = random_cost(&r, bytes), truth, seen;
			int got, want;

			t = next_time(t, gap, back);
			truth = ref_ahead(&r, &ref, t);
			seen = w ? rl_gcra_ahead(&r.k, w & RL_PAY_MASK, t) : 0;
			got = adm(&r, &w, cost, t);
			want = ref_algo_admit(&r.limit, &ref, cost, t);
			st.decisions++;
			st.admitted += got;
			if (seen == truth) {
				misread = 0;
			} else if (misread) {
				/* until it is over, the word holds more debt
				 * than the truth, never less */
				if (seen < truth) {
					CHECK(0, "trace %d step %d: misread towards admission "
					      "(%llu for %llu)", trace, i,
					      (unsigned long long)seen,
					      (unsigned long long)truth);
					break;
				}
			} else {
				/* begins only on an idle key, only after
				 * 2^55/rate_r ns (then lasts at most aux) */
				st.misread++;
				misread = 1;
				if (truth || t < last_pass + (1ULL << 55) / r.k.rate_r) {
					CHECK(0, "trace %d step %d: TAT misread (%llu for "
					      "%llu) %llu ns after the last admission; "
					      "rate %llu/%llu burst %llu: k %llu %llu %llu %llu",
					      trace, i, (unsigned long long)seen,
					      (unsigned long long)truth,
					      (unsigned long long)(t - last_pass),
					      (unsigned long long)r.limit.rate,
					      (unsigned long long)r.limit.period_ns,
					      (unsigned long long)r.limit.burst,
					      (unsigned long long)r.k.rate_r,
					      (unsigned long long)r.k.unit,
					      (unsigned long long)r.k.cap,
					      (unsigned long long)r.k.aux);
					break;
				}
			}
			if (got != want) {
				if (got || !misread) {
					CHECK(0, "trace %d step %d %s rate %llu/%llu burst %llu "
					      "cost %llu at %llu: got %d want %d", trace, i,
					      bytes ? "bytes" : "packets",
					      (unsigned long long)r.limit.rate,
					      (unsigned long long)r.limit.period_ns,
					      (unsigned long long)r.limit.burst,
					      (unsigned long long)cost,
					      (unsigned long long)t, got, want);
					break;
				}
				st.sanctioned++;
				ref = save;     /* the reference follows the deny */
			}
			if (got)
				last_pass = t;
		}
	}
	diff_print(algo, &st, secs_since(&t0));
	snprintf(name, sizeof(name), "diff/%s-vs-reference", algo_name[algo]);
	report(name, failed);
}

/*
 * Fixed window and sliding window vs the reference.  Fixed window: exact
 * but for index aliasing.  Sliding window: the weight rounds up, so the
 * word may deny where the reference admits when the exact estimate is
 * within prev * (1 + period/2^47) / 65536 of the limit, never the
 * opposite; and index aliasing (4-bit index).  Either way the reference
 * then follows the deny.
 */
static void test_diff_windows(__u32 algo)
{
	struct diff_stat st = { 0 };
	struct timespec t0;
	int failed = 0, trace, i, sw = algo == RL_ALGO_SLIDING_WINDOW;
	__u64 mask = sw ? RL_SW_IDX_MASK : RL_FW_IDX_MASK;
	char name[64];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (trace = 0; trace < DIFF_TRACES && !failed; trace++) {
		int bytes;
		struct rl_rule r = random_rule(algo, &bytes);
		__u64 t = rnd() % (2 * YEAR_NS), gap = random_gap(&r, bytes);
		__u64 P = r.limit.period_ns, wfull = t / P, stale_until = 0;
		__u64 w = rl_word_init(&r, t, 1);
		struct ref_words ref;
		int stale = 0;

		ref_algo_init(&r.limit, &ref, t, 1);
		for (i = 0; i < DIFF_STEPS; i++) {
			struct ref_words save = ref, c;
			__u64 cost = random_cost(&r, bytes), idx, prev, cur, start, el;
			__u64 w0 = w, widx, ahead;
			int got, want, ok = 0;

			t = next_time(t, gap, 1);
			idx = t / P;
			widx = (w & RL_PAY_MASK) >> (sw ? 2 * RL_SW_CNT_BITS : 32) & mask;
			if (idx >= wfull + 2 && aliased(idx - wfull, mask, sw, P, t)) {
				/* the word keeps its old counts until the
				 * window it appears to hold (a sliding
				 * window: and the next) is over */
				ahead = (widx - idx) & mask;
				wfull = ahead <= mask >> 1 ? idx + ahead :
					idx - ((idx - widx) & mask);
				stale_until = wfull + sw;
				stale = 1;
				st.alias++;
			}
			got = adm(&r, &w, cost, t);
			want = ref_algo_admit(&r.limit, &ref, cost, t);
			st.decisions++;
			st.admitted += got;
			/* the reference moves to now's window even when it
			 * denies, the word is not written: after a step back
			 * the two would count a packet against different
			 * windows, so the reference's deny is not kept either
			 * (for forward time the two are the same) */
			if (!want)
				ref = save;
			if (w != w0) {
				/* the full index of the window the word now
				 * holds: now's, or a later one a clock ahead
				 * of ours wrote (or the aliased one it kept) */
				widx = (w & RL_PAY_MASK) >> (sw ? 2 * RL_SW_CNT_BITS : 32) & mask;
				ahead = (widx - idx) & mask;
				wfull = ahead <= mask >> 1 ? idx + ahead :
					idx - ((idx - widx) & mask);
				if (wfull > stale_until)
					stale = 0;
			}
			if (got == want)
				continue;
			/* an aliased index: the word counts against the
			 * window it appears to hold; a step back may then
			 * read that window as old and drop those counts
			 * (the only way the word admits where the reference
			 * does not: at most one window's counts) */
			if (stale && idx <= stale_until) {
				st.alias_admit += got;
				ok = 1;
			}
			if (!got && sw && !ok) {
				/* the reference's view: prev, cur, elapsed */
				c = ref;
				prev = c.w1 >> 32;
				cur = (c.w1 & 0xffffffffULL) - cost;
				start = c.w0 * P;
				el = t < start ? 0 : t - start > P ? P : t - start;
				/* exact estimate + prev * (1 + P/2^47) / 65536
				 * > rate: the weight's documented rounding */
				u128 slack = (u128)prev * P +
					     (u128)(prev * ((long double)P * P / (1ULL << 47))) + 1;

				if (((u128)prev * (P - el) + (u128)(cur + cost) * P) * 65536 +
				    slack > (u128)r.limit.rate * P * 65536) {
					st.rounding++;
					ok = 1;
				}
			}
			if (!ok) {
				CHECK(0, "trace %d step %d %s rate %llu/%llu cost %llu at "
				      "%llu (window %llu, stored %llu, word %llu %#llx): got %d want %d",
				      trace, i, bytes ? "bytes" : "packets",
				      (unsigned long long)r.limit.rate,
				      (unsigned long long)P, (unsigned long long)cost,
				      (unsigned long long)t, (unsigned long long)idx,
				      (unsigned long long)save.w0, (unsigned long long)wfull, (unsigned long long)w0, got, want);
				break;
			}
			st.sanctioned++;
			ref = save;
		}
	}
	diff_print(algo, &st, secs_since(&t0));
	snprintf(name, sizeof(name), "diff/%s-vs-reference", algo_name[algo]);
	report(name, failed);
}

/* Sliding log vs the reference (a fixed rate per trace): exact. */
static void test_diff_slog(void)
{
	struct diff_stat st = { 0 };
	struct timespec t0;
	int failed = 0, trace, i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (trace = 0; trace < DIFF_TRACES && !failed; trace++) {
		int bytes;
		struct rl_rule r = random_rule(RL_ALGO_SLIDING_LOG, &bytes);
		__u64 t = rnd() % (2 * YEAR_NS), gap = random_gap(&r, 0);
		struct rl_slog_ring s;
		struct ref_slog rs;

		slog_fresh(&r.limit, &s, t);
		ref_slog_init(&r.limit, &rs, t, 1);
		for (i = 0; i < DIFF_STEPS; i++) {
			int got, want, full;

			t = next_time(t, gap, 1);
			full = rl_slog_full(&r.limit, &s, t);
			got = rl_slog_admit(&r.limit, &s, t);
			want = ref_slog_admit(&r.limit, &rs, t);
			st.decisions++;
			st.admitted += got;
			if (got != want || (full && got)) {
				CHECK(0, "trace %d step %d rate %llu/%llu at %llu: got %d "
				      "want %d (pre-check full %d)", trace, i,
				      (unsigned long long)r.limit.rate,
				      (unsigned long long)r.limit.period_ns,
				      (unsigned long long)t, got, want, full);
				break;
			}
		}
	}
	diff_print(RL_ALGO_SLIDING_LOG, &st, secs_since(&t0));
	report("diff/sliding-log-vs-reference", failed);
}

/* ---- two threads on one word ------------------------------------------ */

struct smp {
	_Atomic __u64 word;
	atomic_ullong clock;        /* fake time, advanced by every read */
	atomic_int stop;
	__u64 step;
	struct rl_rule r;
	pthread_spinlock_t lock;    /* the sliding log's bpf_spin_lock */
	struct rl_slog_ring ring;
	__u64 admitted[2], cas_retries[2], stale[2];
};

struct smp_arg {
	struct smp *s;
	int me;
};

/*
 * The datapath's pattern: read the clock, read the word, decide,
 * compare-and-swap, retry with the word seen.  The clock is a fake one
 * that every read advances, so the offered load is the same whatever the
 * scheduler does; it runs many times faster than real time, so a thread
 * preempted between reading it and its compare-and-swap could hold a
 * `now` older than RL_SKEW_NS, which the algorithms do not cover (XDP is
 * never preempted): such a decision is taken again with a fresh `now`.
 */
static void *smp_worker(void *arg)
{
	struct smp_arg *a = arg;
	struct smp *s = a->s;
	__u64 ok = 0, retries = 0, stale = 0;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		__u64 now = atomic_fetch_add(&s->clock, s->step) + s->step;

		if (s->r.limit.algo == RL_ALGO_SLIDING_LOG) {
			/* lock-free pre-check: a torn read errs towards deny */
			if (rl_slog_full(&s->r.limit, &s->ring, now))
				continue;
			pthread_spin_lock(&s->lock);
			ok += rl_slog_admit(&s->r.limit, &s->ring, now);
			pthread_spin_unlock(&s->lock);
			continue;
		}
		{
			__u64 w = atomic_load(&s->word), out;

			for (;;) {
				__u32 v = rl_word_decide(&s->r, w, 1, now, &out);

				if (atomic_load(&s->clock) - now > RL_SKEW_NS / 2) {
					now = atomic_fetch_add(&s->clock, s->step) + s->step;
					w = atomic_load(&s->word);
					stale++;
					continue;
				}
				if (out == w ||
				    atomic_compare_exchange_weak(&s->word, &w, out)) {
					ok += v == RL_W_PASS;
					break;
				}
				retries++;
			}
		}
	}
	s->admitted[a->me] = ok;
	s->cas_retries[a->me] = retries;
	s->stale[a->me] = stale;
	return NULL;
}

static void test_smp(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < __RL_ALGO_MAX; a++) {
		static struct smp s;
		struct smp_arg args[2];
		pthread_t th[2];
		__u64 rate = a == RL_ALGO_SLIDING_LOG ? 32 : 100, P = MS, burst = 50;
		__u64 start = 5 * NS + 12345, total, span, allowed;
		int i;

		memset(&s, 0, sizeof(s));
		s.r = mkrule(a, rate, P, burst, 0);
		s.step = P / rate / 10;    /* offered 10x the rate */
		atomic_store(&s.clock, start);
		pthread_spin_init(&s.lock, PTHREAD_PROCESS_PRIVATE);
		slog_fresh(&s.r.limit, &s.ring, start);
		for (i = 0; i < 2; i++) {
			args[i].s = &s;
			args[i].me = i;
			pthread_create(&th[i], NULL, smp_worker, &args[i]);
		}
		usleep(300000);
		atomic_store(&s.stop, 1);
		for (i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_spin_destroy(&s.lock);
		total = s.admitted[0] + s.admitted[1];
		span = atomic_load(&s.clock) - start;
		/* buckets: burst + rate*t; windows: rate per window touched */
		if (rl_algo_is_gcra(a))
			allowed = burst + rate * span / P;
		else
			allowed = rate * ((start + span) / P - start / P + 1);
		CHECK(total <= allowed, "%s: %llu admitted, %llu allowed over %llu ns",
		      algo_name[a], (unsigned long long)total,
		      (unsigned long long)allowed, (unsigned long long)span);
		CHECK(total * 4 >= allowed * 3, "%s: only %llu admitted of %llu",
		      algo_name[a], (unsigned long long)total,
		      (unsigned long long)allowed);
		printf("    %s: admitted %llu (%llu + %llu) of %llu allowed over %.2f fake s, "
		       "%llu CAS retries, %llu stale clock reads\n", algo_name[a],
		       (unsigned long long)total, (unsigned long long)s.admitted[0],
		       (unsigned long long)s.admitted[1], (unsigned long long)allowed,
		       span / 1e9,
		       (unsigned long long)(s.cas_retries[0] + s.cas_retries[1]),
		       (unsigned long long)(s.stale[0] + s.stale[1]));
	}
	report("smp/two-threads-one-word", failed);
}

static void test_contract(void)
{
	int failed = 0;

	CHECK(!contract_breaches, "%llu decisions wrote a word they must not "
	      "(or admitted without writing)", (unsigned long long)contract_breaches);
	report("edge/decide-out-contract", failed);
}

int main(void)
{
	const char *seed = getenv("RL_SEED");
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	printf("seed 0x%llx (set RL_SEED to replay)\n",
	       (unsigned long long)rng_state);
	test_one_per_hour();
	test_100gbit();
	test_burst_zero_one();
	test_year_idle();
	test_time_backwards();
	test_clock_wrap();
	test_oversize();
	test_penalty_box();
	test_tags();
	test_switch();
	test_idle_credit();
	test_limit_check();
	test_rounded();
	test_slog_rate_change();
	test_diff_gcra(RL_ALGO_TOKEN_BUCKET);
	test_diff_gcra(RL_ALGO_LEAKY_BUCKET);
	test_diff_windows(RL_ALGO_FIXED_WINDOW);
	test_diff_windows(RL_ALGO_SLIDING_WINDOW);
	test_diff_slog();
	test_smp();
	test_contract();
	printf("%d passed, %d failed (%.1f s)\n", cases - failures, failures,
	       secs_since(&t0));
	return failures ? 1 : 0;
}
