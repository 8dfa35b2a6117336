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

/* One record, if this CPU's budget for the second allows and the ring has
 * room; otherwise counted in RL_G_EV_LOST. */
static __always_inline void rl_ev_emit(__u8 kind, __u8 verdict, const struct rl_rule *r,
				       const struct rl_pkt *p, __u64 now, __u8 hook)
{
	__u32 zero = 0, sec = (__u32)(now >> RL_EV_SEC_SHIFT);
	struct rl_evbudget *b = bpf_map_lookup_elem(&rl_evbud, &zero);
	struct rl_event *e;

	if (!b)
		return;
	if (b->sec != sec) {
		b->sec = sec;
		b->used = 0;
	}
	if (b->used >= RL_EV_BUDGET) {
		rl_gcount1(RL_G_EV_LOST, 0);
		return;
	}
	e = bpf_ringbuf_reserve(&rl_events, sizeof(*e), 0);
	if (!e) {
		rl_gcount1(RL_G_EV_LOST, 0);
		return;
	}
	b->used++;
	e->time_ns = now;
	e->rule = r ? r->id : RL_EV_NO_RULE;
	e->ver = r ? r->ver : 0;
	e->kind = kind;
	e->verdict = verdict;
	e->family = p->family;
	e->proto = p->proto;
	e->dport = p->has_ports ? p->dport : 0;
	e->hook = hook;
	e->_pad = 0;
	if (p->family == 4) {
		__builtin_memset(e->src, 0, 16);
		__builtin_memcpy(e->src, &p->src4, 4);
	} else {
		__builtin_memcpy(e->src, p->src6, 16);
	}
	bpf_ringbuf_submit(e, 0);
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
	__u64 key, *seen, mark;
	__u32 slot, sec = (__u32)(clk->coarse >> RL_EV_SEC_SHIFT);

	if (r->block_ns) {
		rl_ev_emit(RL_EV_PENALTY, (__u8)v, r, p, clk->coarse, hook);
		return;
	}
	key = p->family == 4 ? p->src4 : p->src6[0] ^ (p->src6[1] * 0x9e3779b97f4a7c15ULL);
	key = (key ^ ((__u64)r->id << 40)) * 0x9e3779b97f4a7c15ULL;
	slot = (__u32)(key >> 52) & (RL_EV_SEEN_SLOTS - 1);
	seen = bpf_map_lookup_elem(&rl_evseen, &slot);
	mark = (__u64)sec << 32 | (__u32)key;
	if (!seen || *seen == mark)
		return;
	*seen = mark;
	rl_ev_emit(RL_EV_OVER_LIMIT, (__u8)v, r, p, clk->coarse, hook);
}

/* A blocklisted packet: one in RL_EV_SAMPLE per CPU is reported. */
static __always_inline void rl_ev_blocked(const struct rl_pkt *p, const struct rl_clock *clk,
					  __u8 hook)
{
	__u32 zero = 0;
	struct rl_evbudget *b = bpf_map_lookup_elem(&rl_evbud, &zero);

	if (!b || (b->bl_hits++ & (RL_EV_SAMPLE - 1)))
		return;
	rl_ev_emit(RL_EV_BLOCKLIST, RL_V_DROP, 0, p, clk->coarse, hook);
}

#endif /* RL_EVEMIT_H */
