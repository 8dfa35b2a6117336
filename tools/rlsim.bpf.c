// SPDX-License-Identifier: GPL-2.0
/*
 * rlsim.bpf.c - runs include/rl_algo.h inside the kernel on a trace that
 * userspace supplies, so the BPF build of the algorithm core can be compared
 * verdict by verdict with the host build (tools/rlsim.c, tests/bpf/
 * test_algo_diff.c).  Run through BPF_PROG_TEST_RUN; the packet is ignored.
 * `now` comes from the trace, never from a clock.  The state is what the
 * datapath keeps per key: one 64-bit word (rl_word_decide), or a sliding-log
 * ring (rl_slog_admit), for one rule that userspace sets with its constants
 * (rl_lconst_compile) and a nonzero tag.
 */
#include "rl_bpf.h"

#include "rl_algo.h"

struct rl_sim_rec {
	__u64 now_ns;
	__u64 cost;
	__u64 verdict;             /* RL_W_PASS, RL_W_DROP or RL_W_BLOCK */
};

/* The trace: record i is charged in order; verdict is written back. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct rl_sim_rec);
} rl_sim_trace SEC(".maps");

struct rl_rule sim_rule;
__u64 sim_word;
struct rl_slog_ring sim_ring;
__u32 sim_n;

static long sim_step(__u32 i, void *ctx)
{
	struct rl_sim_rec *r = bpf_map_lookup_elem(&rl_sim_trace, &i);
	__u64 out;

	(void)ctx;
	if (!r)
		return 1;
	if (sim_rule.limit.algo == RL_ALGO_SLIDING_LOG) {
		r->verdict = rl_slog_admit(&sim_rule.limit, &sim_ring, r->now_ns) ?
			     RL_W_PASS : RL_W_DROP;
	} else {
		r->verdict = rl_word_decide(&sim_rule, sim_word, r->cost,
					    r->now_ns, &out);
		sim_word = out;
	}
	return 0;
}

SEC("xdp")
int rl_sim(struct xdp_md *ctx)
{
	(void)ctx;
	bpf_loop(sim_n, sim_step, NULL, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
