/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_evemit.h - sampled drop events into the ring buffer rl_events
 * (include/rl_events.h), bounded per CPU.  Included by bpf/rl_core.h,
 * which calls rl_ev_limit() after a limit said drop and rl_ev_blocked()
 * for a blocklisted packet.  The deny path pays one inlined per-CPU load
 * and a compare when the source already reported this second.
 */
#ifndef RL_EVEMIT_H
#define RL_EVEMIT_H

#include "rl_bpf.h"
#include "rl_events.h"
#include "rl_state.h"

/*
 * One record, if this CPU's budget for the second allows and the ring has
 * room; otherwise counted in RL_G_EV_LOST.  A global function: the deny
 * path carries only the call, taken when an event is due.
 */
#define RL_EV_WHAT(kind, verdict, hook) ((kind) | (verdict) << 8 | (hook) << 16)

/* what: RL_EV_WHAT(kind, verdict, hook) (five arguments at most) */
__noinline int rl_ev_emit(__u32 what, const struct rl_rule *r, const struct rl_pkt *p,
			  __u64 now)
{
	__u32 zero = 0, sec = (__u32)(now >> RL_EV_SEC_SHIFT);
	struct rl_evbudget *b = bpf_map_lookup_elem(&rl_evbud, &zero);
	struct rl_event *e;

	if (!b || !p)
		return 0;
	if (b->sec != sec) {
		b->sec = sec;
		b->used = 0;
	}
	if (b->used >= RL_EV_BUDGET) {
		rl_gcount1(RL_G_EV_LOST, 0);
		return 0;
	}
	e = bpf_ringbuf_reserve(&rl_events, sizeof(*e), 0);
	if (!e) {
		rl_gcount1(RL_G_EV_LOST, 0);
		return 0;
	}
	b->used++;
	e->time_ns = now;
	e->rule = r ? r->id : RL_EV_NO_RULE;
	e->ver = r ? r->ver : 0;
	e->kind = (__u8)what;
	e->verdict = (__u8)(what >> 8);
	e->family = p->family;
	e->proto = p->proto;
	e->dport = p->has_ports ? p->dport : 0;
	e->hook = (__u8)(what >> 16);
	e->_pad = 0;
	if (p->family == 4) {
		__builtin_memset(e->src, 0, 16);
		__builtin_memcpy(e->src, &p->src4, 4);
	} else {
		__builtin_memcpy(e->src, p->src6, 16);
	}
	bpf_ringbuf_submit(e, 0);
	return 1;
}

/*
 * A limit said drop (`v` as counted): a penalty box starting is always
 * reported; a plain over-limit packet only if its {rule, source} has not
 * reported in this second on this CPU (a hashed per-CPU table: a
 * collision only reports a source again).
 */
static __always_inline void rl_ev_limit(const struct rl_rule *r, const struct rl_pkt *p,
					__u32 v, const struct rl_clock *clk, __u8 hook)
{
	__u64 *seen, mark;
	__u32 key, slot;

	if (r->block_ns) {
		rl_ev_emit(RL_EV_WHAT(RL_EV_PENALTY, v, hook), r, p, clk->coarse);
		return;
	}
	/* a fold of {source, rule}, no multiply (a collision only reports a
	 * source again): its low 12 bits pick the slot, all of it is the tag */
	key = p->family == 4 ? p->src4 : (__u32)(p->src6[0] ^ (p->src6[0] >> 32) ^ p->src6[1]);
	key ^= r->id;
	slot = (key ^ (key >> 12) ^ (key >> 24)) & (RL_EV_SEEN_SLOTS - 1);
	seen = bpf_map_lookup_elem(&rl_evseen, &slot);
	mark = (clk->coarse >> RL_EV_SEC_SHIFT) << 32 | key;
	if (!seen || *seen == mark)
		return;
	*seen = mark;
	rl_ev_emit(RL_EV_WHAT(RL_EV_OVER_LIMIT, v, hook), r, p, clk->coarse);
}

/* A blocklisted packet: one in RL_EV_SAMPLE per CPU is reported. */
static __always_inline void rl_ev_blocked(const struct rl_pkt *p, const struct rl_clock *clk,
					  __u8 hook)
{
	__u32 zero = 0;
	struct rl_evbudget *b = bpf_map_lookup_elem(&rl_evbud, &zero);

	if (!b || (b->bl_hits++ & (RL_EV_SAMPLE - 1)))
		return;
	rl_ev_emit(RL_EV_WHAT(RL_EV_BLOCKLIST, RL_V_DROP, hook), 0, p, clk->coarse);
}

#endif /* RL_EVEMIT_H */
