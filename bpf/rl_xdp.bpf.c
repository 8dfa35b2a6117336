// SPDX-License-Identifier: GPL-2.0
/*
 * rl_xdp.bpf.c - the XDP ingress program rl_xdp and, through bpf/rl_tc.h,
 * the TC ingress program rl_tc_in.  Both live in this one object so that
 * they share every map (bpf/rl_maps.h) through one skeleton and one set of
 * pins.  Each parses (rl_parse.h) and hands the rest to the decision core
 * (rl_core.h): XDP decides drop and monitor rules, TC decides and labels
 * mark rules.  Built into build/rl_xdp.bpf.o and loaded through
 * build/rl_xdp.skel.h by user/lib_loader.c, which sizes the state tables
 * and sets the load-time constants (rl_maps.h) first.
 */
#include "rl_bpf.h"

#include "rl_abi.h"
#include "rl_maps.h"
#include "rl_core.h"

SEC("xdp")
int rl_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct rl_res res = {};
	struct rl_conf *conf;
	struct rl_pkt pkt;
	__u32 zero = 0;
	int pr;

	conf = bpf_map_lookup_elem(&rl_conf, &zero);
	if (!conf)
		return XDP_PASS;
	pkt.len = data_end - data;
	pkt.segs = 0;
	rl_gcount1(RL_G_PACKETS, pkt.len);
	pr = rl_parse(data, data_end, &pkt, 0);
	if (pr == RL_PARSE_NON_IP) {
		rl_gcount1(RL_G_NON_IP, pkt.len);
		return XDP_PASS;
	}
	if (pr != RL_PARSE_OK) {
		rl_gcount1(RL_G_PARSE_ERR, pkt.len);
		return conf->malformed == RL_MALFORMED_PASS ? XDP_PASS : XDP_DROP;
	}
	rl_decide(conf, RL_HOOK_XDP, &pkt, &res);
	return res.drop ? XDP_DROP : XDP_PASS;
}

#include "rl_tc.h"

char LICENSE[] SEC("license") = "GPL";
