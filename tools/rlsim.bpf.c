// SPDX-License-Identifier: GPL-2.0
/*
 * rlsim.bpf.c - runs include/rl_algo.h inside the kernel on a trace that
 * userspace supplies, so the BPF build of the algorithm core can be compared
 * verdict by verdict with the host build (tools/rlsim.c, tests/bpf/
 * test_algo_diff.c).  Run through BPF_PROG_TEST_RUN; the packet is ignored.
 * `now` comes from the trace, never from a clock.
 */
#include "rl_bpf.h"

#include "rl_algo.h"

struct rl_sim_rec {
	__u64 now_ns;
	__u64 cost;
	__u64 verdict;
};

/* The trace: record i is charged in order; verdict is written back. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct rl_sim_rec);
} rl_sim_trace SEC(".maps");

struct rl_limit sim_limit;
struct rl_words sim_state;
struct rl_slog sim_slog;
__u32 sim_n;

static long sim_step(__u32 i, void *ctx)
{
	struct rl_sim_rec *r = bpf_map_lookup_elem(&rl_sim_trace, &i);

	(void)ctx;
	if (!r)
		return 1;
	if (sim_limit.algo == RL_ALGO_SLIDING_LOG)
		r->verdict = rl_slog_admit(&sim_limit, &sim_slog, r->now_ns);
	else
		r->verdict = rl_algo_admit(&sim_limit, &sim_state, r->cost,
					   r->now_ns);
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
