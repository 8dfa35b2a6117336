/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_events.h - sampled drop events: the record the datapath puts in the
 * ring buffer rl_events and the agent reads (user/agent_events.c), and
 * the bounds that keep a flood from overwhelming the agent.  Included by
 * bpf/rl_events.h and userspace.
 *
 * Three kinds: the first over-limit packet of a source (per rule) in each
 * second, every penalty-box start, and 1 in RL_EV_SAMPLE blocklist hits.
 * Each CPU reports at most RL_EV_BUDGET events a second; what it could
 * not report (budget spent, ring full) is counted in RL_G_EV_LOST.
 */
#ifndef RL_EVENTS_H
#define RL_EVENTS_H

#include "rl_types.h"

#define RL_EV_RING_BYTES  (1u << 20)  /* rl_events: ~26,000 records      */
#define RL_EV_SEEN_SLOTS  4096        /* per-CPU "last second" table      */
#define RL_EV_BUDGET      1000        /* events per CPU per second        */
#define RL_EV_SAMPLE      64          /* one blocklist hit in 64          */
#define RL_EV_SEC_SHIFT   30          /* a "second" is 2^30 ns (1.07 s)   */
#define RL_EV_NO_RULE     0xffffffffu

enum rl_ev_kind {
	RL_EV_OVER_LIMIT = 1,      /* first over-limit packet of the second */
	RL_EV_PENALTY,             /* a penalty box (block-for) started     */
	RL_EV_BLOCKLIST,           /* a blocklisted source, sampled         */
	__RL_EV_MAX,
};

struct rl_event {
	__u64 time_ns;             /* CLOCK_MONOTONIC, to a clock tick      */
	__u32 rule;                /* rule id, RL_EV_NO_RULE for blocklist  */
	__u32 ver;                 /* the rule's ver: a reused slot differs */
	__u8  kind;                /* enum rl_ev_kind                       */
	__u8  verdict;             /* enum rl_verdict as counted            */
	__u8  family;              /* 4 or 6                                */
	__u8  proto;               /* IPPROTO_*                             */
	__u16 dport;               /* host order, 0 without ports           */
	__u8  hook;                /* 0 XDP, 1 TC                           */
	__u8  _pad;
	__u8  src[16];             /* IPv4 in the first 4, network order    */
};
_Static_assert(sizeof(struct rl_event) == 40, "rl_event ABI");

/* Per CPU: this second's event count and the blocklist sampling counter. */
struct rl_evbudget {
	__u32 sec;
	__u32 used;
	__u32 bl_hits;
	__u32 _pad;
};

#endif /* RL_EVENTS_H */
