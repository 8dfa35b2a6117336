// SPDX-License-Identifier: GPL-2.0
/*
 * test_algo.c - host unit tests of the pure algorithm core (rl_algo.h) with
 * a fake clock, against simple reference models that share none of its
 * arithmetic:
 *
 *  - token bucket / GCRA: the (sigma, rho) arrival-curve definition.  A
 *    greedy full bucket admits a packet iff, with it, every suffix of the
 *    admitted sequence satisfies  sum(cost) <= burst + rate * span / period.
 *    Checked in 128-bit integers over the whole admitted history.
 *  - fixed window: a count per window index.
 *  - sliding log: the number of admissions in (now - period, now].
 *  - sliding-window counter: the same estimate in long double.
 *
 * Edge cases first: 1/h, 100 Gbit/s, burst 0 and 1, a year idle, time going
 * backwards, algorithm switches, and two threads on one key.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl_algo.h"
#include "testlib.h"

#define NS        1000000000ULL
#define HOUR_NS   (3600ULL * NS)
#define YEAR_NS   (365ULL * 24 * HOUR_NS)

static struct rl_limit mk(__u32 algo, __u64 rate, __u64 period, __u64 burst)
{
	struct rl_limit l = { .rate = rate, .period_ns = period, .burst = burst,
			      .algo = algo };
	return l;
}

/* ---- reference models ---------------------------------------------- */

struct ref {
	int n, cap;
	__u64 *t, *c;
};

static void ref_init(struct ref *r, int cap)
{
	r->n = 0;
	r->cap = cap;
	r->t = calloc(cap, sizeof(*r->t));
	r->c = calloc(cap, sizeof(*r->c));
}

static void ref_free(struct ref *r)
{
	free(r->t);
	free(r->c);
}

/* Arrival-curve reference for a full token bucket. */
static int ref_bucket(struct ref *r, const struct rl_limit *l, __u64 cost,
		      __u64 now)
{
	unsigned __int128 sum = cost, allow;
	__u64 burst = l->burst ? l->burst : 1;
	int i;

	if ((unsigned __int128)cost > burst)
		return 0;
	for (i = r->n - 1; i >= 0; i--) {
		sum += r->c[i];
		allow = (unsigned __int128)burst * l->period_ns +
			(unsigned __int128)l->rate * (now - r->t[i]);
		if (sum * l->period_ns > allow)
			return 0;
	}
	if (r->n < r->cap) {
		r->t[r->n] = now;
		r->c[r->n++] = cost;
	}
	return 1;
}

static int ref_fixed(struct ref *r, const struct rl_limit *l, __u64 cost,
		     __u64 now)
{
	__u64 sum = cost, w = now / l->period_ns;
	int i;

	for (i = 0; i < r->n; i++)
		if (r->t[i] / l->period_ns == w)
			sum += r->c[i];
	if (sum > l->rate)
		return 0;
	r->t[r->n] = now;
	r->c[r->n++] = cost;
	return 1;
}

static int ref_slog(struct ref *r, const struct rl_limit *l, __u64 now)
{
	__u64 in = 0;
	int i;

	for (i = 0; i < r->n; i++)
		if (r->t[i] + l->period_ns > now)
			in++;
	if (in >= l->rate)
		return 0;
	r->t[r->n] = now;
	r->c[r->n++] = 1;
	return 1;
}

static int ref_sliding(struct ref *r, const struct rl_limit *l, __u64 cost,
		       __u64 now, long double *margin)
{
	__u64 w = now / l->period_ns;
	long double prev = 0, cur = 0, frac, est;
	int i;

	for (i = 0; i < r->n; i++) {
		if (r->t[i] / l->period_ns == w)
			cur += r->c[i];
		else if (r->t[i] / l->period_ns + 1 == w)
			prev += r->c[i];
	}
	frac = (long double)(now - w * l->period_ns) / l->period_ns;
	est = prev * (1.0L - frac) + cur + cost;
	*margin = est - (long double)l->rate;
	if (est > (long double)l->rate)
		return 0;
	r->t[r->n] = now;
	r->c[r->n++] = cost;
	return 1;
}

/* ---- helpers -------------------------------------------------------- */

static void fresh(const struct rl_limit *l, struct rl_words *s, __u64 now)
{
	memset(s, 0, sizeof(*s));
	rl_algo_init(l, s, now, 1);
}

/* Admissions of `n` packets spaced `gap` ns apart from `t0`. */
static __u64 run_spaced(const struct rl_limit *l, struct rl_words *s,
			__u64 t0, __u64 gap, __u64 n, __u64 cost)
{
	__u64 i, ok = 0;

	for (i = 0; i < n; i++)
		ok += rl_algo_admit(l, s, cost, t0 + i * gap);
	return ok;
}

/* ---- edge cases ----------------------------------------------------- */

static void test_one_per_hour(void)
{
	int failed = 0;
	__u32 algos[] = { RL_ALGO_TOKEN_BUCKET, RL_ALGO_LEAKY_BUCKET };
	unsigned i;

	for (i = 0; i < 2; i++) {
		struct rl_limit l = mk(algos[i], 1, HOUR_NS, 1);
		struct rl_words s;
		__u64 t0 = 5 * NS;

		CHECK(rl_limit_check(&l, 0) == NULL, "1/h refused: %s",
		      rl_limit_check(&l, 0));
		fresh(&l, &s, t0);
		CHECK(rl_algo_admit(&l, &s, 1, t0) == 1, "first packet");
		CHECK(rl_algo_admit(&l, &s, 1, t0 + 1) == 0, "second at +1ns");
		CHECK(rl_algo_admit(&l, &s, 1, t0 + HOUR_NS - 1) == 0,
		      "at +1h-1ns");
		CHECK(rl_algo_admit(&l, &s, 1, t0 + HOUR_NS) == 1, "at +1h");
		CHECK(rl_algo_admit(&l, &s, 1, t0 + HOUR_NS + 1) == 0,
		      "at +1h+1ns");
	}
	report("edge/rate-1-per-hour", failed);
}

static void test_100gbit(void)
{
	int failed = 0;
	__u32 algos[] = { RL_ALGO_TOKEN_BUCKET, RL_ALGO_LEAKY_BUCKET };
	unsigned i;

	for (i = 0; i < 2; i++) {
		/* 100 Gbit/s = 12.5e9 bytes/s, burst 1 MB */
		struct rl_limit l = mk(algos[i], 12500000000ULL, NS, 1000000);
		struct rl_words s;
		__u64 t0 = 7 * NS, ok, offered, bytes_ok, allowed;

		CHECK(rl_limit_check(&l, 1) == NULL, "100gbit refused: %s",
		      rl_limit_check(&l, 1));
		fresh(&l, &s, t0);
		/* exactly at rate: 1500 B every 120 ns, 1 s: all admitted */
		offered = NS / 120;
		ok = run_spaced(&l, &s, t0, 120, offered, 1500);
		CHECK(ok == offered, "at rate: %llu of %llu", (unsigned long long)ok,
		      (unsigned long long)offered);
		/* twice the rate for 1 s: burst + rate*t bytes, to the byte */
		fresh(&l, &s, t0);
		ok = run_spaced(&l, &s, t0, 60, 2 * offered, 1500);
		bytes_ok = ok * 1500;
		allowed = 1000000 + 12500000000ULL * (2 * offered - 1) * 60 / NS;
		CHECK(bytes_ok <= allowed && bytes_ok + 1500 > allowed,
		      "2x rate: admitted %llu bytes, allowed %llu",
		      (unsigned long long)bytes_ok, (unsigned long long)allowed);
	}
	report("edge/rate-100gbit", failed);
}

static void test_burst_zero_one(void)
{
	int failed = 0;
	__u32 algos[] = { RL_ALGO_TOKEN_BUCKET, RL_ALGO_LEAKY_BUCKET };
	unsigned i, b;

	for (i = 0; i < 2; i++) {
		for (b = 0; b <= 1; b++) {
			/* 1000/s: T = 1 ms; burst 0 and 1 both mean spacing T */
			struct rl_limit l = mk(algos[i], 1000, NS, b);
			struct rl_words s;
			__u64 t0 = NS, ms = NS / 1000;

			fresh(&l, &s, t0);
			CHECK(rl_algo_admit(&l, &s, 1, t0) == 1, "first");
			CHECK(rl_algo_admit(&l, &s, 1, t0) == 0, "same instant");
			CHECK(rl_algo_admit(&l, &s, 1, t0 + ms - 1) == 0,
			      "T-1 (burst %u)", b);
			CHECK(rl_algo_admit(&l, &s, 1, t0 + ms) == 1, "T");
			CHECK(run_spaced(&l, &s, t0 + 2 * ms, ms, 1000, 1) == 1000,
			      "strictly spaced stream all admitted");
		}
	}
	report("edge/burst-0-and-1", failed);
}

static void test_year_idle(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < RL_ALGO_SLIDING_LOG; a++) {
		struct rl_limit l = mk(a, 100, NS, 10);
		struct rl_words s;
		__u64 t0 = 3 * NS, t1 = t0 + YEAR_NS, ok;

		fresh(&l, &s, t0);
		run_spaced(&l, &s, t0, 1, 1000, 1);
		/* a year later (and at ~a year of uptime): one burst/window */
		ok = run_spaced(&l, &s, t1, 0, 1000, 1);
		CHECK(ok == (a <= RL_ALGO_LEAKY_BUCKET ? 10 : 100),
		      "algo %u: %llu admitted after a year idle", a,
		      (unsigned long long)ok);
		CHECK(rl_algo_idle(&l, &s, t1 + YEAR_NS), "idle after another year");
	}
	report("edge/year-idle", failed);
}

static void test_time_backwards(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < RL_ALGO_SLIDING_LOG; a++) {
		struct rl_limit l = mk(a, 100, NS, 10);
		struct rl_words s;
		__u64 t0 = 100 * NS, ok;

		fresh(&l, &s, t0);
		ok = run_spaced(&l, &s, t0, 0, 1000, 1);
		/* the clock steps back 50 s, then crawls: no new credit */
		ok += run_spaced(&l, &s, t0 - 50 * NS, 1000, 1000, 1);
		CHECK(ok == (a <= RL_ALGO_LEAKY_BUCKET ? 10 : 100),
		      "algo %u admitted %llu across a backward step", a,
		      (unsigned long long)ok);
		/* and when real time resumes, the limit resumes */
		ok = run_spaced(&l, &s, t0 + 2 * NS, 0, 1000, 1);
		CHECK(ok > 0 && ok <= 100, "algo %u: %llu after time resumed", a,
		      (unsigned long long)ok);
	}
	{
		struct rl_limit l = mk(RL_ALGO_SLIDING_LOG, 10, NS, 0);
		struct rl_slog sl;
		__u64 t0 = 100 * NS, ok = 0, i;

		memset(&sl, 0, sizeof(sl));
		rl_slog_init(&l, &sl, t0, 1);
		for (i = 0; i < 100; i++)
			ok += rl_slog_admit(&l, &sl, t0);
		for (i = 0; i < 100; i++)
			ok += rl_slog_admit(&l, &sl, t0 - 50 * NS + i);
		CHECK(ok == 10, "sliding log admitted %llu across a backward step",
		      (unsigned long long)ok);
	}
	report("edge/time-backwards", failed);
}

static void test_limit_check(void)
{
	int failed = 0;
	struct rl_limit l;

	l = mk(RL_ALGO_TOKEN_BUCKET, 0, NS, 1);
	CHECK(rl_limit_check(&l, 0) != NULL, "rate 0 accepted");
	l = mk(RL_ALGO_TOKEN_BUCKET, 1, HOUR_NS, 1000000000000ULL);
	CHECK(rl_limit_check(&l, 0) != NULL, "burst 1e12 at /h accepted");
	l = mk(RL_ALGO_SLIDING_LOG, 33, NS, 0);
	CHECK(rl_limit_check(&l, 0) != NULL, "sliding log 33/s accepted");
	l = mk(RL_ALGO_SLIDING_LOG, 32, NS, 0);
	CHECK(rl_limit_check(&l, 0) == NULL, "sliding log 32/s refused");
	l = mk(RL_ALGO_SLIDING_LOG, 10, NS, 0);
	CHECK(rl_limit_check(&l, 1) != NULL, "sliding log bytes accepted");
	l = mk(RL_ALGO_FIXED_WINDOW, 12500000000ULL, NS, 2000);
	CHECK(rl_limit_check(&l, 1) != NULL, "fixed window 100gbit accepted");
	l = mk(RL_ALGO_TOKEN_BUCKET, 1250000, NS, 100);
	CHECK(rl_limit_check(&l, 1) != NULL, "byte burst 100 accepted");
	l = mk(9, 1, NS, 1);
	CHECK(rl_limit_check(&l, 0) != NULL, "algo 9 accepted");
	l = mk(9, 1, NS, 1);
	{
		struct rl_words s = { 0, 0 };

		CHECK(rl_algo_admit(&l, &s, 1, NS) == 0, "algo 9 admitted");
	}
	report("edge/limit-check", failed);
}

/* ---- differential tests against the references ----------------------- */

static __u64 next_time(__u64 t, __u64 mean_gap)
{
	switch (rnd() % 8) {
	case 0:
		return t;                      /* same instant          */
	case 1:
		return t + rnd() % (mean_gap * 20 + 1); /* idle gap      */
	default:
		return t + rnd() % (mean_gap * 2 + 1);
	}
}

static void test_bucket_vs_reference(void)
{
	int failed = 0, trace;

	for (trace = 0; trace < 300 && !failed; trace++) {
		__u32 algo = trace & 1 ? RL_ALGO_LEAKY_BUCKET : RL_ALGO_TOKEN_BUCKET;
		__u64 periods[] = { NS, 60 * NS, HOUR_NS };
		__u64 period = periods[rnd() % 3];
		__u64 rate = 1 + rnd() % 5000, burst = rnd() % 50;
		int bytes = rnd() % 3 == 0;
		struct rl_limit l;
		struct rl_words s;
		struct ref r;
		__u64 t = rnd() % (YEAR_NS), gap;
		int i;

		if (bytes) {
			rate *= 1000;
			burst = 1514 + rnd() % 20000;
		}
		l = mk(algo, rate, period, burst);
		if (rl_limit_check(&l, bytes))
			continue;
		gap = period / rate / (1 + rnd() % 4) + 1;
		fresh(&l, &s, t);
		ref_init(&r, 4000);
		for (i = 0; i < 4000; i++) {
			__u64 cost = bytes ? 64 + rnd() % 1451 : 1;
			int got, want;

			t = next_time(t, bytes ? gap * 700 : gap);
			want = ref_bucket(&r, &l, cost, t);
			got = rl_algo_admit(&l, &s, cost, t);
			if (got != want) {
				CHECK(0, "trace %d algo %u rate %llu/%llu burst %llu "
				      "pkt %d cost %llu: got %d want %d", trace, algo,
				      (unsigned long long)rate,
				      (unsigned long long)period,
				      (unsigned long long)burst, i,
				      (unsigned long long)cost, got, want);
				break;
			}
		}
		ref_free(&r);
	}
	report("diff/token-bucket-and-gcra-vs-arrival-curve", failed);
}

static void test_tb_equals_gcra(void)
{
	int failed = 0, trace;

	for (trace = 0; trace < 200 && !failed; trace++) {
		__u64 rate = 1 + rnd() % 100000, burst = rnd() % 100;
		struct rl_limit tb = mk(RL_ALGO_TOKEN_BUCKET, rate, NS, burst);
		struct rl_limit gc = mk(RL_ALGO_LEAKY_BUCKET, rate, NS, burst);
		struct rl_words a, b;
		__u64 t = NS, gap = NS / rate + 1;
		int i;

		fresh(&tb, &a, t);
		fresh(&gc, &b, t);
		for (i = 0; i < 20000; i++) {
			int x, y;

			t = next_time(t, gap / 2 + 1);
			x = rl_algo_admit(&tb, &a, 1, t);
			y = rl_algo_admit(&gc, &b, 1, t);
			if (x != y) {
				CHECK(0, "trace %d pkt %d: tb %d gcra %d", trace, i, x, y);
				break;
			}
		}
	}
	report("diff/token-bucket-equals-gcra", failed);
}

static void test_windows_vs_reference(void)
{
	int failed = 0, trace, close_calls = 0;

	for (trace = 0; trace < 300 && !failed; trace++) {
		__u64 rate = 1 + rnd() % 32, period = NS * (1 + rnd() % 3);
		struct rl_limit fw = mk(RL_ALGO_FIXED_WINDOW, rate, period, 0);
		struct rl_limit sw = mk(RL_ALGO_SLIDING_WINDOW, rate, period, 0);
		struct rl_limit sl = mk(RL_ALGO_SLIDING_LOG, rate, period, 0);
		struct rl_words a, b;
		struct rl_slog c;
		struct ref ra, rb, rc;
		__u64 t = rnd() % YEAR_NS, gap = period / rate / 2 + 1;
		int i;

		fresh(&fw, &a, t);
		fresh(&sw, &b, t);
		memset(&c, 0, sizeof(c));
		rl_slog_init(&sl, &c, t, 1);
		ref_init(&ra, 3000);
		ref_init(&rb, 3000);
		ref_init(&rc, 3000);
		for (i = 0; i < 3000; i++) {
			long double margin;
			int got, want;

			t = next_time(t, gap);
			want = ref_fixed(&ra, &fw, 1, t);
			got = rl_algo_admit(&fw, &a, 1, t);
			if (got != want) {
				CHECK(0, "fixed window trace %d pkt %d: got %d want %d",
				      trace, i, got, want);
				break;
			}
			want = ref_slog(&rc, &sl, t);
			got = rl_slog_admit(&sl, &c, t);
			if (got != want) {
				CHECK(0, "sliding log trace %d pkt %d: got %d want %d",
				      trace, i, got, want);
				break;
			}
			want = ref_sliding(&rb, &sw, 1, t, &margin);
			got = rl_algo_admit(&sw, &b, 1, t);
			if (got != want) {
				/* 16-bit weight: may differ only within 2^-16 * prev */
				if (margin < -(long double)rate / 65536.0L - 1e-9L ||
				    margin > (long double)rate / 65536.0L + 1e-9L) {
					CHECK(0, "sliding window trace %d pkt %d: got %d "
					      "want %d margin %Lg", trace, i, got, want,
					      margin);
					break;
				}
				close_calls++;
				/* follow the implementation's decision */
				if (got) {
					rb.t[rb.n] = t;
					rb.c[rb.n++] = 1;
				} else {
					rb.n--;
				}
			}
		}
		ref_free(&ra);
		ref_free(&rb);
		ref_free(&rc);
	}
	printf("    sliding-window: %d decisions within the 2^-16 weight rounding\n",
	       close_calls);
	report("diff/windows-vs-reference", failed);
}

/* Switching algorithms re-initialises drained: one burst in total, ever. */
static void test_switch_never_over_admits(void)
{
	int failed = 0, trial;

	for (trial = 0; trial < 200 && !failed; trial++) {
		__u64 rate = 100, burst = 10, t0 = NS, t, admitted = 0;
		__u32 algo = RL_ALGO_TOKEN_BUCKET, next;
		struct rl_limit l = mk(algo, rate, NS, burst);
		struct rl_words s;
		__u64 gap = NS / rate / 10;    /* offered 10x */
		int i;

		fresh(&l, &s, t0);
		t = t0;
		for (i = 0; i < 20000; i++) {
			if (rnd() % 997 == 0) {
				next = rnd() % 2 ? RL_ALGO_LEAKY_BUCKET :
						   RL_ALGO_TOKEN_BUCKET;
				l.algo = next;
				rl_algo_init(&l, &s, t, 0);
			}
			admitted += rl_algo_admit(&l, &s, 1, t);
			t += gap;
		}
		CHECK(admitted * NS <= burst * NS + rate * (t - gap - t0),
		      "trial %d admitted %llu > %llu + %llu*t", trial,
		      (unsigned long long)admitted, (unsigned long long)burst,
		      (unsigned long long)rate);
	}
	report("switch/drained-init-never-over-admits", failed);
}

/* ---- two threads on one key ----------------------------------------- */

struct shared_key {
	atomic_uint lock;
	struct rl_limit l;
	struct rl_words s;
	atomic_ullong clock;        /* fake time, advanced by both threads */
	__u64 admitted[2];
	__u64 iters;
};

static void *hammer(void *arg)
{
	struct shared_key *k = ((struct shared_key **)arg)[0];
	long me = (long)((struct shared_key **)arg)[1];
	__u64 i, ok = 0;

	for (i = 0; i < k->iters; i++) {
		unsigned zero = 0;
		__u64 now;

		while (!atomic_compare_exchange_weak(&k->lock, &zero, 1))
			zero = 0;
		/* the clock is read inside the section, as the datapath's
		 * `now` may be read before it: see test below */
		now = atomic_fetch_add(&k->clock, 997) + 997;
		ok += rl_algo_admit(&k->l, &k->s, 1, now);
		atomic_store(&k->lock, 0);
	}
	k->admitted[me] = ok;
	return NULL;
}

static void test_two_threads_one_key(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a < RL_ALGO_SLIDING_LOG; a++) {
		static struct shared_key k;
		void *args[2][2];
		pthread_t th[2];
		__u64 total, span, allowed;
		long i;

		memset(&k, 0, sizeof(k));
		k.l = mk(a, 1000, NS, 50);
		k.iters = 2000000;
		atomic_store(&k.clock, NS);
		fresh(&k.l, &k.s, NS);
		for (i = 0; i < 2; i++) {
			args[i][0] = &k;
			args[i][1] = (void *)i;
			pthread_create(&th[i], NULL, hammer, args[i]);
		}
		for (i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		total = k.admitted[0] + k.admitted[1];
		span = atomic_load(&k.clock) - NS;
		/* bucket: burst + rate*t; windows: rate per window touched */
		allowed = a <= RL_ALGO_LEAKY_BUCKET ? 50 + 1000 * span / NS :
			  1000 * (span / NS + 2);
		CHECK(total <= allowed && total > 0,
		      "algo %u: %llu admitted, %llu allowed over %llu ns", a,
		      (unsigned long long)total, (unsigned long long)allowed,
		      (unsigned long long)span);
		printf("    algo %u: admitted %llu (cpu0 %llu, cpu1 %llu) of %llu allowed\n",
		       a, (unsigned long long)total,
		       (unsigned long long)k.admitted[0],
		       (unsigned long long)k.admitted[1],
		       (unsigned long long)allowed);
	}
	report("smp/two-threads-one-key", failed);
}

/*
 * Two CPUs read the clock before taking the lock, so `now` can arrive out
 * of order by a few hundred ns.  Reordered timestamps must never create
 * credit: check against the arrival curve evaluated at the true times.
 */
static void test_reordered_now(void)
{
	int failed = 0;
	__u32 a;

	for (a = 0; a <= RL_ALGO_LEAKY_BUCKET; a++) {
		struct rl_limit l = mk(a, 1000, NS, 5);
		struct rl_words s;
		__u64 t = NS, ok = 0, i, first = 0, last = 0;

		fresh(&l, &s, t);
		for (i = 0; i < 200000; i++) {
			__u64 jitter = rnd() % 2000;
			__u64 now = t > jitter ? t - jitter : t;

			if (rl_algo_admit(&l, &s, 1, now)) {
				if (!ok)
					first = t;
				last = t;
				ok++;
			}
			t += 500;
		}
		CHECK(ok * NS <= 5 * NS + 1000 * (last - first + 2000),
		      "algo %u: %llu admitted with reordered clocks", a,
		      (unsigned long long)ok);
	}
	report("smp/reordered-now", failed);
}

int main(void)
{
	const char *seed = getenv("RL_SEED");

	if (seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	printf("seed 0x%llx (set RL_SEED to replay)\n",
	       (unsigned long long)rng_state);
	test_one_per_hour();
	test_100gbit();
	test_burst_zero_one();
	test_year_idle();
	test_time_backwards();
	test_limit_check();
	test_bucket_vs_reference();
	test_tb_equals_gcra();
	test_windows_vs_reference();
	test_switch_never_over_admits();
	test_two_threads_one_key();
	test_reordered_now();
	printf("%d passed, %d failed\n", cases - failures, failures);
	return failures ? 1 : 0;
}
