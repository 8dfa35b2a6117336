// SPDX-License-Identifier: GPL-2.0
/*
 * rlsim.c - the simulator: drives the algorithm core (include/rl_algo.h)
 * with a synthetic flood on a fake clock and reports admitted vs allowed,
 * optionally running the same trace through the BPF build in the kernel
 * (--kernel) and checking the verdicts are identical.
 *
 *   rlsim --algo token-bucket --rate 100 --period-ms 1000 --burst 10 \
 *         --offered 10 --seconds 10 [--cpus 2] [--jitter-ns 2000] [--kernel]
 *
 * --cpus N interleaves N streams whose `now` is read before the word is
 * updated and so arrives out of order by up to --jitter-ns, as on a real
 * multi-CPU box.  The state is the datapath's: one 64-bit word per key
 * (a sliding-log ring for sliding-log), for a rule compiled as the agent
 * does (rl_lconst_compile, a nonzero tag).  The allowed figure is the
 * exact reference: burst + rate * t for bucket algorithms, rate per window
 * touched for window algorithms.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlsim_kern.h"

static const char *algos[] = { "token-bucket", "leaky-bucket", "fixed-window",
			       "sliding-window", "sliding-log" };

static void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: rlsim [--algo NAME] [--rate N] [--period-ms MS] [--burst N]\n"
		"             [--offered X] [--seconds S] [--cpus N] [--jitter-ns NS]\n"
		"             [--kernel] [--seed N]\n"
		"  algorithms: token-bucket leaky-bucket fixed-window sliding-window sliding-log\n");
	exit(rc);
}

static __u64 rng = 88172645463325252ULL;
static __u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "algo", 1, 0, 'a' }, { "rate", 1, 0, 'r' },
		{ "period-ms", 1, 0, 'p' }, { "burst", 1, 0, 'b' },
		{ "offered", 1, 0, 'o' }, { "seconds", 1, 0, 's' },
		{ "cpus", 1, 0, 'c' }, { "jitter-ns", 1, 0, 'j' },
		{ "kernel", 0, 0, 'k' }, { "seed", 1, 0, 'S' },
		{ "help", 0, 0, 'h' }, { 0 }
	};
	struct rl_limit l = { .rate = 100, .period_ns = 1000000000ULL,
			      .burst = 10, .algo = RL_ALGO_TOKEN_BUCKET };
	double offered = 10, seconds = 10;
	unsigned cpus = 1, i;
	__u64 jitter = 0, n, gap, t0 = 1000000000ULL, last = 0, admitted = 0;
	__u64 allowed_x1000, word = 0;
	int kernel = 0, c, found;
	struct rl_sim_rec *recs;
	struct rl_slog_ring ring;
	struct rl_rule rule;
	const char *why;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			found = 0;
			for (i = 0; i < __RL_ALGO_MAX; i++)
				if (!strcmp(optarg, algos[i])) {
					l.algo = i;
					found = 1;
				}
			if (!found) {
				fprintf(stderr, "rlsim: unknown algorithm '%s'\n", optarg);
				usage(2);
			}
			break;
		case 'r': l.rate = strtoull(optarg, NULL, 0); break;
		case 'p': l.period_ns = strtoull(optarg, NULL, 0) * 1000000ULL; break;
		case 'b': l.burst = strtoull(optarg, NULL, 0); break;
		case 'o': offered = atof(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'c': cpus = strtoul(optarg, NULL, 0); break;
		case 'j': jitter = strtoull(optarg, NULL, 0); break;
		case 'k': kernel = 1; break;
		case 'S': rng = strtoull(optarg, NULL, 0) | 1; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	why = rl_limit_check(&l, 0);
	if (why) {
		fprintf(stderr, "rlsim: limit refused: %s\n", why);
		return 2;
	}
	if (offered <= 0 || seconds <= 0 || seconds > 3600 || !cpus || cpus > 64) {
		fprintf(stderr, "rlsim: need offered > 0, 0 < seconds <= 3600, 1 <= cpus <= 64\n");
		return 2;
	}
	n = (__u64)(offered * seconds * l.rate * 1e9 / l.period_ns);
	if (n < 1 || n > 50000000) {
		fprintf(stderr, "rlsim: %llu packets: keep offered*rate*seconds within 1..5e7\n",
			(unsigned long long)n);
		return 2;
	}
	gap = (__u64)(seconds * 1e9 / n);
	recs = calloc(n, sizeof(*recs));
	if (!recs) {
		fprintf(stderr, "rlsim: out of memory for %llu packets\n", (unsigned long long)n);
		return 1;
	}
	for (i = 0; i < n; i++) {
		/* arrival i on CPU i % cpus; its `now` was read up to jitter
		 * before it reached the lock */
		__u64 t = t0 + i * gap, j = cpus > 1 && jitter ? rnd() % jitter : 0;

		recs[i].now_ns = t > j ? t - j : t;
		recs[i].cost = 1;
	}
	if (rlsim_rule(&rule, &l, 0, 0))
		fprintf(stderr, "rlsim: rate rounded down to %llu/%llu per ns (within 0.16%%)\n",
			(unsigned long long)rule.k.rate_r, (unsigned long long)rule.k.unit);
	memset(&ring, 0, sizeof(ring));
	rl_slog_init(&l, &ring, t0, 1);
	if (kernel) {
		struct rlsim_bpf *skel = rlsim_bpf__open_and_load();
		__u64 kword = word;
		struct rl_slog_ring kring = ring;
		struct rl_sim_rec *k = malloc(n * sizeof(*k));
		__u64 diff = 0;
		int err;

		if (!skel || !k) {
			fprintf(stderr, "rlsim: cannot load the BPF simulator (needs root): %s\n",
				strerror(errno));
			return 1;
		}
		memcpy(k, recs, n * sizeof(*k));
		rlsim_host_run(&rule, &word, &ring, recs, n);
		err = rlsim_kernel_run(skel, &rule, &kword, &kring, k, n);
		if (err) {
			fprintf(stderr, "rlsim: kernel run failed: %s\n", strerror(-err));
			return 1;
		}
		for (i = 0; i < n; i++)
			diff += k[i].verdict != recs[i].verdict;
		printf("kernel: %llu of %llu verdicts differ from the host build, "
		       "final state %s\n", (unsigned long long)diff,
		       (unsigned long long)n,
		       kword == word && !memcmp(&kring, &ring, sizeof(ring)) ?
		       "identical" : "differs");
		diff += kword != word || memcmp(&kring, &ring, sizeof(ring));
		rlsim_bpf__destroy(skel);
		free(k);
		if (diff)
			return 1;
	} else {
		rlsim_host_run(&rule, &word, &ring, recs, n);
	}
	for (i = 0; i < n; i++) {
		if (recs[i].verdict != RL_W_PASS)
			continue;
		admitted++;
		last = t0 + i * gap;
	}
	if (l.algo <= RL_ALGO_LEAKY_BUCKET)
		allowed_x1000 = (l.burst ? l.burst : 1) * 1000 +
				l.rate * 1000 * (last - t0) / l.period_ns;
	else
		allowed_x1000 = l.rate * 1000 * ((t0 + n * gap) / l.period_ns -
						 t0 / l.period_ns + 1);
	printf("algo %s rate %llu/%llums burst %llu offered %.1fx cpus %u jitter %lluns\n",
	       algos[l.algo], (unsigned long long)l.rate,
	       (unsigned long long)(l.period_ns / 1000000), (unsigned long long)l.burst,
	       offered, cpus, (unsigned long long)jitter);
	printf("offered %llu admitted %llu allowed %.3f ratio %.5f over-admission %.3f\n",
	       (unsigned long long)n, (unsigned long long)admitted, allowed_x1000 / 1000.0,
	       admitted * 1000.0 / allowed_x1000,
	       admitted * 1000.0 > allowed_x1000 ? (admitted * 1000.0 - allowed_x1000) / 1000 : 0.0);
	free(recs);
	return 0;
}
