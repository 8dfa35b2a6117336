// SPDX-License-Identifier: GPL-2.0
/*
 * test_smp.c - exactness across CPUs.  Two threads pinned to CPU 0 and
 * CPU 1 run BPF_PROG_TEST_RUN with a large repeat count on the same key at
 * the same time.  Whatever the interleaving, the admitted count (rl_stats
 * PASS) must stay within the algorithm's bound over the wall time t that
 * encloses both runs:
 *
 *   token bucket, GCRA      burst + rate * t / period
 *   fixed/sliding window    rate * (t / period + 2)   (windows touched)
 *   sliding log             rate * (t / period + 1)
 *
 * and must be positive.  "Two CPUs both see one token left" would show up
 * as admissions above the bound.  Every packet must be accounted as a
 * verdict or a lock give-up, and with the one-word lock-free state
 * RL_G_LOCK_BUSY must stay 0 (the key is created before the race).  The
 * admitted fraction of the bound is printed.  Needs two CPUs; prints SKIP
 * with one.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#include "rl_testlib.h"

#define REPEAT 1500000u

static struct rl_loader *L;
static pthread_barrier_t start_line;

struct worker {
	int cpu;
	struct built pkt;
	int ret;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	w->ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(&start_line);
	if (w->ret) {
		w->ret = -w->ret;
		return NULL;
	}
	w->ret = run_pkt(L->prog_fd, w->pkt.buf, w->pkt.len, REPEAT);
	return NULL;
}

struct smp_case {
	const char *name;
	__u32 algo;
	__u64 rate, period_ns, burst;
	int per_rule;              /* the two threads use different sources */
};

static void run_case(__u32 id, const struct smp_case *c)
{
	struct rl_rule r = mkrule(id, 0, c->rate, c->period_ns, c->burst, c->algo);
	struct worker w[2] = { { .cpu = 0 }, { .cpu = 1 } };
	struct pkt_spec s = { .family = 4, .proto = IPPROTO_UDP, .dport = 7 };
	pthread_t th[2];
	__u64 t0, t1, pass, drop, busy0, busy, total;
	double t, bound;
	char pfx[32];
	int i;

	t_begin();
	if (c->per_rule)
		r.flags = RL_RF_PER_RULE;
	snprintf(pfx, sizeof(pfx), "10.20.%u.0", id);
	CHECK(!set_match(L, pfx, 24, &r, 1), "set_match: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		char src[32];

		snprintf(src, sizeof(src), "10.20.%u.%d", id, c->per_rule ? i + 1 : 1);
		s.src = src;
		build_pkt(&s, &w[i].pkt);
	}
	busy0 = gstat(L, RL_G_LOCK_BUSY);
	pthread_barrier_init(&start_line, NULL, 3);
	/* t0 before the barrier: no packet can run before it */
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, work, &w[i]);
	t0 = mono_ns();
	/* one packet per source first: the key exists before the race, so
	 * no insert can be contended (RL_G_LOCK_BUSY must stay 0) */
	for (i = 0; i < 2; i++)
		run_pkt(L->prog_fd, w[i].pkt.buf, w[i].pkt.len, 1);
	pthread_barrier_wait(&start_line);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	t1 = mono_ns();
	pthread_barrier_destroy(&start_line);

	for (i = 0; i < 2; i++)
		CHECK(w[i].ret == XDP_PASS || w[i].ret == XDP_DROP,
		      "thread on CPU %d: %d (%s)", i, w[i].ret,
		      w[i].ret < 0 ? strerror(-w[i].ret) : "action");
	pass = rstat(L, id, RL_V_PASS);
	drop = rstat(L, id, RL_V_DROP);
	busy = gstat(L, RL_G_LOCK_BUSY) - busy0;
	total = pass + drop + busy;
	t = (double)(t1 - t0);
	switch (c->algo) {
	case RL_ALGO_FIXED_WINDOW:
	case RL_ALGO_SLIDING_WINDOW:
		bound = c->rate * (t / c->period_ns + 2);
		break;
	case RL_ALGO_SLIDING_LOG:
		bound = c->rate * (t / c->period_ns + 1);
		break;
	default:
		bound = c->burst + c->rate * t / c->period_ns;
		break;
	}
	printf("    %-28s t=%.3fs packets=%llu admitted=%llu bound=%.1f (%.1f%% of bound) "
	       "dropped=%llu lock_busy=%llu\n", c->name, t / 1e9,
	       (unsigned long long)total, (unsigned long long)pass, bound,
	       100.0 * pass / bound, (unsigned long long)drop, (unsigned long long)busy);
	CHECK(total == 2ULL * REPEAT + 2, "accounted %llu of %llu packets",
	      (unsigned long long)total, 2ULL * REPEAT + 2);
	/* lock-free: a compare-and-swap that keeps losing would mean more
	 * than two CPUs' worth of interference */
	CHECK(busy == 0, "lock_busy %llu: CAS retries ran out or an insert was contended",
	      (unsigned long long)busy);
	CHECK(pass > 0, "nothing admitted");
	/* +1: the bound's fractional token may be the one admitted */
	CHECK(pass <= bound + 1, "admitted %llu > bound %.1f over %.3f s",
	      (unsigned long long)pass, bound, t / 1e9);
	t_end(c->name);
}

/*
 * Two CPUs meet the same new keys at once: both walk one list of fresh
 * sources in the same order, so their inserts collide.  Each key must end
 * with exactly one slot (a second slot would be a second burst), each
 * source must be admitted exactly once under 1/h burst 1 whatever the
 * interleaving, and a CPU that meets the other's claim finds the key
 * instead of dropping the packet as contended.
 */
#define RACE_SRCS 2000

struct racer {
	int cpu;
	struct built *pkts;
	int ret;
};

static void *race(void *arg)
{
	struct racer *w = arg;
	cpu_set_t set;
	int i, r;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	w->ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(&start_line);
	if (w->ret)
		return NULL;
	for (i = 0; i < RACE_SRCS; i++) {
		r = run_pkt(L->prog_fd, w->pkts[i].buf, w->pkts[i].len, 1);
		if (r != XDP_PASS && r != XDP_DROP) {
			w->ret = r;
			return NULL;
		}
	}
	return NULL;
}

static void run_insert_race(__u32 id)
{
	struct rl_rule r = mkrule(id, 0, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	static struct built pkts[RACE_SRCS];
	struct racer w[2] = { { .cpu = 0, .pkts = pkts }, { .cpu = 1, .pkts = pkts } };
	struct pkt_spec s = { .family = 4, .proto = IPPROTO_UDP, .dport = 7 };
	__u64 busy0 = gstat(L, RL_G_LOCK_BUSY), new0 = gstat(L, RL_G_STATE_NEW);
	__u64 evict0 = gstat(L, RL_G_EVICT);
	__u64 pass, drop, busy, created, evicted;
	pthread_t th[2];
	char src[32];
	int i;

	t_begin();
	CHECK(!set_match(L, "10.30.0.0", 16, &r, 1), "set_match: %s", strerror(errno));
	for (i = 0; i < RACE_SRCS; i++) {
		snprintf(src, sizeof(src), "10.30.%d.%d", i >> 8, i & 0xff);
		s.src = src;
		build_pkt(&s, &pkts[i]);
	}
	pthread_barrier_init(&start_line, NULL, 3);
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, race, &w[i]);
	pthread_barrier_wait(&start_line);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_line);
	for (i = 0; i < 2; i++)
		CHECK(!w[i].ret, "racer on CPU %d: %d", i, w[i].ret);
	pass = rstat(L, id, RL_V_PASS);
	drop = rstat(L, id, RL_V_DROP);
	busy = gstat(L, RL_G_LOCK_BUSY) - busy0;
	created = gstat(L, RL_G_STATE_NEW) - new0;
	evicted = gstat(L, RL_G_EVICT) - evict0;
	printf("    insert race: %d sources x 2 CPUs, admitted %llu, dropped %llu, contended %llu, "
	       "slots created %llu, slots of the rule %u, evicted %llu\n", RACE_SRCS,
	       (unsigned long long)pass, (unsigned long long)drop, (unsigned long long)busy,
	       (unsigned long long)created, st4_count(L, id), (unsigned long long)evicted);
	/* a key whose two buckets are both full evicts a live slot: not a race */
	CHECK(evicted == 0, "%llu live slots evicted: the table is too small for the test",
	      (unsigned long long)evicted);
	CHECK(pass + drop + busy == 2 * RACE_SRCS, "accounted %llu of %d",
	      (unsigned long long)(pass + drop + busy), 2 * RACE_SRCS);
	CHECK(created == RACE_SRCS && st4_count(L, id) == RACE_SRCS,
	      "%llu slots created, %u in the table, for %d keys: a key got two slots",
	      (unsigned long long)created, st4_count(L, id), RACE_SRCS);
	CHECK(pass == RACE_SRCS, "admitted %llu, want exactly one per source (%d)",
	      (unsigned long long)pass, RACE_SRCS);
	/* a CPU interrupted between its claim and its publish (a host's
	 * preemption of the vCPU) outlasts the other's bounded rescans, which
	 * then drops the packet as contended: fail closed, and rare (1 packet
	 * in one of ~35 runs here); a systematic race drops hundreds */
	CHECK(busy <= RACE_SRCS / 1000, "%llu packets dropped as contended inserts (at most %d)",
	      (unsigned long long)busy, RACE_SRCS / 1000);
	t_end("smp_insert_race_one_slot_per_key");
}

int main(void)
{
	static const struct smp_case cases[] = {
		{ "smp_token_bucket",        RL_ALGO_TOKEN_BUCKET,   1000, NS_PER_SEC, 50, 0 },
		{ "smp_leaky_bucket",        RL_ALGO_LEAKY_BUCKET,   1000, NS_PER_SEC, 50, 0 },
		{ "smp_fixed_window",        RL_ALGO_FIXED_WINDOW,   100, 100000000ULL, 0, 0 },
		{ "smp_sliding_window",      RL_ALGO_SLIDING_WINDOW, 100, 100000000ULL, 0, 0 },
		{ "smp_sliding_log",         RL_ALGO_SLIDING_LOG,    20, 20000000ULL, 0, 0 },
		{ "smp_per_rule_token_bucket", RL_ALGO_TOKEN_BUCKET, 1000, NS_PER_SEC, 50, 1 },
		{ "smp_per_rule_sliding_log", RL_ALGO_SLIDING_LOG,   20, 20000000ULL, 0, 1 },
	};
	unsigned i;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (ncpu < 2) {
		printf("SKIP smp: needs 2 online CPUs, this machine has %ld\n", ncpu);
		return 0;
	}
	/* 65536 entries: 131,072 slots, so that no key of the insert race
	 * finds both its buckets full (at 4096 one run in a few dozen did, and
	 * the eviction looked like a lost slot) */
	L = t_load(RL_FULL_EVICT, 65536);
	if (!L)
		return getuid() == 0 ? 1 : 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(200 + i, &cases[i]);
	run_insert_race(300);
	rl_loader_close(L);
	return t_summary("test_smp");
}
