/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_rulematch.h - does a rule's protocol/port/SYN condition take a
 * packet?  One pure function, so that the datapath (bpf/rl_core.h) and
 * `rlctl explain` (user/agent_explain.c) pick a match entry's candidate
 * the same way: the first one this says yes to.
 */
#ifndef RL_RULEMATCH_H
#define RL_RULEMATCH_H

#include "rl_abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define RL_PROTO_TCP 6             /* IPPROTO_TCP */

/*
 * family 4 or 6; proto the final L4 protocol; has_ports: dport is valid
 * (TCP/UDP with its L4 header); syn: a TCP SYN without ACK.
 */
static __always_inline int rl_rule_takes(const struct rl_rule *r, __u8 family,
					 __u8 proto, __u8 has_ports, __u16 dport,
					 __u8 syn)
{
	__u8 fam = r->flags & (RL_RF_V4 | RL_RF_V6);
	int any_port;

	/* neither family flag: the rule is in this family's trie, so it applies */
	if (fam && !(fam & (family == 4 ? RL_RF_V4 : RL_RF_V6)))
		return 0;
	if (r->proto && r->proto != proto)
		return 0;
	/* 0..65535 is "any"; 0..0 (a zeroed rule) is read the same way */
	any_port = r->dport_lo == 0 &&
		   (r->dport_hi == 0 || r->dport_hi == 0xffff);
	if (!any_port && (!has_ports || dport < r->dport_lo ||
			  dport > r->dport_hi))
		return 0;
	if ((r->flags & RL_RF_SYN) && (proto != RL_PROTO_TCP || !syn ||
				       !has_ports))
		return 0;
	return 1;
}

#endif /* RL_RULEMATCH_H */
