/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rlsim_kern.h - run a trace through the BPF build of rl_algo.h
 * (tools/rlsim.bpf.c) with BPF_PROG_TEST_RUN, and the same trace through
 * the host build (rlsim_host_run), so that the two can be compared.
 * Included by tools/rlsim.c and tests/bpf/test_algo_diff.c; the kernel
 * run needs root (CAP_BPF).
 */
#ifndef RLSIM_KERN_H
#define RLSIM_KERN_H

#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rl_algo.h"
#include "rlsim.skel.h"

struct rl_sim_rec {
	__u64 now_ns;
	__u64 cost;
	__u64 verdict;             /* RL_W_PASS, RL_W_DROP or RL_W_BLOCK */
};

#define RLSIM_BATCH 65536

/*
 * A rule as the agent compiles it: the limit's constants and a nonzero tag
 * (generation 1, epoch 0).  Returns rl_lconst_compile's "rounded" flag.
 */
static inline int rlsim_rule(struct rl_rule *r, const struct rl_limit *l,
			     int bytes, __u64 block_ns)
{
	memset(r, 0, sizeof(*r));
	r->limit = *l;
	r->flags = bytes ? RL_RF_BYTES : 0;
	r->ver = 1u << 16;
	r->tag = rl_rule_tag(r->ver);
	r->block_ns = block_ns;
	return rl_lconst_compile(l, bytes, &r->k);
}

/* The host build on the same trace, the same state. */
static inline void rlsim_host_run(const struct rl_rule *r, __u64 *word,
				  struct rl_slog_ring *ring,
				  struct rl_sim_rec *recs, __u64 n)
{
	__u64 i, out;

	for (i = 0; i < n; i++) {
		if (r->limit.algo == RL_ALGO_SLIDING_LOG) {
			recs[i].verdict = rl_slog_admit(&r->limit, ring, recs[i].now_ns) ?
					  RL_W_PASS : RL_W_DROP;
		} else {
			recs[i].verdict = rl_word_decide(r, *word, recs[i].cost,
							 recs[i].now_ns, &out);
			*word = out;
		}
	}
}

/*
 * Charge recs[0..n) in the kernel, starting from `*word`/`*ring`, and
 * write verdicts into recs[i].verdict; the state after the trace is
 * written back.  Returns 0 or -errno.
 */
static int rlsim_kernel_run(struct rlsim_bpf *skel, const struct rl_rule *r,
			    __u64 *word, struct rl_slog_ring *ring,
			    struct rl_sim_rec *recs, __u32 n)
{
	int map_fd = bpf_map__fd(skel->maps.rl_sim_trace);
	int prog_fd = bpf_program__fd(skel->progs.rl_sim);
	unsigned char pkt[64] = { 0 };
	__u32 done = 0, i, chunk;
	int err;

	skel->bss->sim_rule = *r;
	skel->bss->sim_word = *word;
	skel->bss->sim_ring = *ring;
	while (done < n) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt,
			    .data_size_in = sizeof(pkt), .repeat = 1);

		chunk = n - done < RLSIM_BATCH ? n - done : RLSIM_BATCH;
		for (i = 0; i < chunk; i++) {
			err = bpf_map_update_elem(map_fd, &i, &recs[done + i], 0);
			if (err)
				return -errno;
		}
		skel->bss->sim_n = chunk;
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		if (err)
			return -errno;
		for (i = 0; i < chunk; i++) {
			err = bpf_map_lookup_elem(map_fd, &i, &recs[done + i]);
			if (err)
				return -errno;
		}
		done += chunk;
	}
	*word = skel->bss->sim_word;
	*ring = skel->bss->sim_ring;
	return 0;
}

#endif /* RLSIM_KERN_H */
