// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_pass.bpf.c - passes every packet.  Attached by tools/lab.sh and the
 * integration tests to the receiving end of a veth when rl is not there:
 * a veth end delivers frames that the peer redirects with XDP (rlgen's
 * live frames) only while it runs NAPI, i.e. while it has an XDP program
 * on it.  Load with
 *   ip link set dev IF xdpdrv obj build/xdp_pass.bpf.o sec xdp
 */
#include "rl_bpf.h"

SEC("xdp")
int rl_xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
