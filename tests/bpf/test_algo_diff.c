// SPDX-License-Identifier: GPL-2.0
/*
 * test_algo_diff.c - differential test: the same traces through the host
 * build and the BPF build (tools/rlsim.bpf.c, run with BPF_PROG_TEST_RUN)
 * of include/rl_algo.h must give identical verdicts and an identical final
 * state word (or sliding-log ring).  Catches anything the BPF target
 * computes differently: 64-bit division and multiplication wrapping the
 * scaled clock, shifts, the verifier-friendly masks in the sliding log.
 * Traces include steps back, long idles, oversize packets, a penalty box
 * and rule-version changes (fresh and drained).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rlsim_kern.h"

#define NS       1000000000ULL
#define HOUR_NS  (3600ULL * NS)
#define YEAR_NS  (365ULL * 24 * HOUR_NS)

static __u64 rng = 0x2545f4914f6cdd1dULL;
static __u64 rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

struct lim_case {
	const char *name;
	__u64 rate, period, burst;
	int bytes;
	__u64 block_ns;
};

static const struct lim_case cases[] = {
	{ "100/s-burst-10", 100, NS, 10, 0, 0 },
	{ "100/s-burst-10-block-50ms", 100, NS, 10, 0, 50000000 },
	{ "1/h-burst-1", 1, HOUR_NS, 1, 0, 0 },
	{ "10/h-burst-0", 10, HOUR_NS, 0, 0, 0 },
	{ "6000/min", 6000, 60 * NS, 200, 0, 0 },
	{ "32/s", 32, NS, 32, 0, 0 },
	{ "999999937/s-rounded", 999999937, NS, 1000, 0, 0 },
	{ "100gbit-burst-1MB", 12500000000ULL, NS, 1000000, 1, 0 },
	{ "64kbps-burst-1514", 64000, NS, 1514, 1, 0 },
	{ "1mbit-burst-64k-block-1s", 125000, NS, 65536, 1, NS },
};

int main(void)
{
	struct rlsim_bpf *skel;
	int failed_cases = 0, passed = 0;
	unsigned c, a;

	if (geteuid() != 0) {
		printf("SKIP algo-diff: needs root for BPF_PROG_TEST_RUN\n");
		return 0;
	}
	skel = rlsim_bpf__open_and_load();
	if (!skel) {
		printf("FAIL algo-diff/load: rlsim.bpf.o did not load: %s\n",
		       strerror(errno));
		return 1;
	}
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (a = 0; a < __RL_ALGO_MAX; a++) {
			const struct lim_case *lc = &cases[c];
			struct rl_limit l = { .rate = lc->rate, .period_ns = lc->period,
					      .burst = lc->burst, .algo = a };
			struct rl_slog_ring hl, kl;
			struct rl_rule r;
			static struct rl_sim_rec host[20000], kern[20000];
			__u64 t = rnd() % YEAR_NS, gap, hw = 0, kw;
			unsigned i, n = 20000, mism = 0, admitted = 0;
			char name[96];
			int err;

			snprintf(name, sizeof(name), "algo-diff/%s/%s", lc->name,
				 a == 0 ? "token-bucket" : a == 1 ? "leaky-bucket" :
				 a == 2 ? "fixed-window" : a == 3 ? "sliding-window" :
				 "sliding-log");
			if (rl_limit_check(&l, lc->bytes))
				continue;   /* e.g. sliding log of bytes: refused */
			rlsim_rule(&r, &l, lc->bytes, lc->block_ns);
			memset(&hl, 0, sizeof(hl));
			rl_slog_init(&l, &hl, t, 1);
			kl = hl;
			/* offered ~3x the rate on average (cost ~750 B for bytes) */
			gap = lc->period * (lc->bytes ? 750 : 1) / lc->rate / 3 + 1;
			for (i = 0; i < n; i++) {
				switch (rnd() % 10) {
				case 0: break;                              /* same ns  */
				case 1: t -= t > 5000 ? rnd() % 5000 : 0; break; /* back */
				case 2: t += rnd() % (gap * 50 + 1); break;  /* idle     */
				default: t += rnd() % (gap * 2 + 1);
				}
				if (rnd() % 2000 == 0)
					t += rnd() % YEAR_NS;               /* long idle */
				host[i].now_ns = t;
				/* packets: sometimes a GRO skb's segments;
				 * bytes: sometimes a jumbo over the burst */
				if (lc->bytes)
					host[i].cost = rnd() % 50 ? 64 + rnd() % 1451 : 9000;
				else
					host[i].cost = rnd() % 8 || a == RL_ALGO_SLIDING_LOG ?
						       1 : 1 + rnd() % 64;
				host[i].verdict = 0;
				kern[i] = host[i];
			}
			/* the state of an older version of the rule: the
			 * first trace half runs on it, the second half on a
			 * new epoch (drained), as after an algorithm switch */
			rlsim_host_run(&r, &hw, &hl, host, n / 2);
			kw = 0;
			err = rlsim_kernel_run(skel, &r, &kw, &kl, kern, n / 2);
			if (!err) {
				r.ver++;
				r.tag = rl_rule_tag(r.ver);
				rlsim_host_run(&r, &hw, &hl, host + n / 2, n - n / 2);
				err = rlsim_kernel_run(skel, &r, &kw, &kl, kern + n / 2,
						       n - n / 2);
			}
			if (err) {
				printf("FAIL %s: kernel run: %s\n", name, strerror(-err));
				failed_cases++;
				continue;
			}
			for (i = 0; i < n; i++) {
				mism += host[i].verdict != kern[i].verdict;
				admitted += host[i].verdict == RL_W_PASS;
			}
			if (mism || hw != kw ||
			    (a == RL_ALGO_SLIDING_LOG && memcmp(&hl, &kl, sizeof(hl)))) {
				printf("FAIL %s: %u of %u verdicts differ between host and BPF "
				       "(state %s)\n", name, mism, n,
				       hw != kw || memcmp(&hl, &kl, sizeof(hl)) ?
				       "differs" : "same");
				failed_cases++;
			} else {
				printf("PASS %s (%u of %u admitted, identical)\n", name,
				       admitted, n);
				passed++;
			}
		}
	}
	rlsim_bpf__destroy(skel);
	printf("%d passed, %d failed\n", passed, failed_cases);
	return failed_cases ? 1 : 0;
}
