// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_other.bpf.c - a tiny XDP program that is not rl: it counts every
 * packet it sees in xo_count[0] and passes it on.  The integration test
 * tests/integration/test_xdp_share.sh loads it with xdp-loader (libxdp,
 * like xdp-filter would be) beside rl on one interface, to show that both
 * run and that taking one away leaves the other running.
 */
#include "rl_bpf.h"
#include <xdp/xdp_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} xo_count SEC(".maps");

/* libxdp's run config: after rl (priority 10 by default); passes go on */
struct {
	__uint(priority, 20);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(xdp_other);

SEC("xdp")
int xdp_other(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&xo_count, &zero);

	(void)ctx;
	if (n)
		(*n)++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
