/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_abi.h - the contract between the XDP and TC programs (bpf/) and userspace
 * (user/, tests/, tools/): map keys and values, enums that end in a count,
 * and the limits that size the maps.  Included by both targets, so it uses
 * only fixed-width types (rl_types.h) and no libc.
 *
 * Every struct here is read by the kernel with the layout the BPF compiler
 * chose and written by userspace with the layout gcc chose; the
 * _Static_asserts pin the sizes so the two can never silently disagree.
 */
#ifndef RL_ABI_H
#define RL_ABI_H

#include "rl_types.h"

#define RL_MAX_RULES      16384   /* rule slots: counters and per-rule state */
#define RL_MAX_CAND       16      /* rules that can cover one source prefix   */
#define RL_SLOG_MAX       32      /* sliding-log entries per key (limit bound) */
#define RL_MAX_PREFIXES   65536   /* entries in each LPM match trie           */
#define RL_NAME_LEN       32      /* rule name incl. NUL                      */

/* Algorithms, chosen per rule and switchable live. */
enum rl_algo {
	RL_ALGO_TOKEN_BUCKET = 0,
	RL_ALGO_LEAKY_BUCKET,      /* GCRA / virtual scheduling          */
	RL_ALGO_FIXED_WINDOW,
	RL_ALGO_SLIDING_WINDOW,    /* weighted previous window counter   */
	RL_ALGO_SLIDING_LOG,       /* exact, at most RL_SLOG_MAX per key */
	__RL_ALGO_MAX,
};

enum rl_action {
	RL_ACT_DROP = 0,
	RL_ACT_MONITOR,            /* count would-drop, pass */
	RL_ACT_MARK,               /* TC: label over-limit packets, pass    */
	__RL_ACT_MAX,
};

/* Per-rule verdict counters; index = rule_id * __RL_V_MAX + verdict. */
enum rl_verdict {
	RL_V_PASS = 0,             /* admitted by the limit                 */
	RL_V_DROP,                 /* over the limit, dropped               */
	RL_V_MONITOR,              /* over the limit, passed (monitor mode) */
	RL_V_BLOCK,                /* in the rule's penalty box (block-for) */
	RL_V_MARK,                 /* over the limit or boxed, labelled (TC) */
	__RL_V_MAX,
};

/* Global counters (PERCPU_ARRAY rl_gstats, indexed by this enum). */
enum rl_gstat {
	RL_G_PACKETS = 0,          /* every packet the program saw          */
	RL_G_NON_IP,               /* not IPv4/IPv6: passed untouched       */
	RL_G_PARSE_ERR,            /* truncated/malformed: cfg malformed    */
	RL_G_UNMATCHED,            /* IP, but no rule, allow or block entry */
	RL_G_ALLOW,                /* source on the allowlist               */
	RL_G_BLOCKLIST,            /* source on the blocklist: dropped      */
	RL_G_STATE_NEW,            /* per-source state entries created      */
	RL_G_MAP_FULL,             /* state insert failed: map full         */
	RL_G_FULL_PASS,            /* ... and on-full=fail-open passed it   */
	RL_G_FULL_DROP,            /* ... and on-full=fail-closed dropped it*/
	RL_G_FULL_AGG,             /* ... and on-full=aggregate used rl_agg */
	RL_G_LOCK_BUSY,            /* try-lock gave up: packet dropped      */
	RL_G_FRAGMENT,             /* non-first fragments (keyed w/o ports) */
	RL_G_TC_DEFER,             /* XDP passed it on to TC: a mark rule   */
	__RL_G_MAX,
};

/* What to do when a per-source state insert finds the map full. */
enum rl_on_full {
	RL_FULL_EVICT = 0,         /* LRU map: the least recently used goes */
	RL_FULL_FAIL_OPEN,         /* plain hash: pass the packet           */
	RL_FULL_FAIL_CLOSED,       /* plain hash: drop the packet           */
	RL_FULL_AGGREGATE,         /* plain hash: charge the rule aggregate */
	__RL_FULL_MAX,
};

/* What to do with a truncated or malformed IP packet. */
enum rl_malformed {
	RL_MALFORMED_DROP = 0,
	RL_MALFORMED_PASS,
	__RL_MALFORMED_MAX,
};

/* rl_rule.flags */
#define RL_RF_SYN        (1u << 0)  /* match TCP SYN without ACK only     */
#define RL_RF_BYTES      (1u << 1)  /* limit counts bytes, not packets    */
#define RL_RF_PER_RULE   (1u << 2)  /* one shared bucket for the rule     */
#define RL_RF_V4         (1u << 3)  /* rule applies to IPv4 sources       */
#define RL_RF_V6         (1u << 4)  /* rule applies to IPv6 sources       */

/* rl_rule.mark_flags: what RL_ACT_MARK does to an over-limit packet */
#define RL_MK_MARK       (1u << 0)  /* skb->mark = rl_rule.mark           */
#define RL_MK_DSCP       (1u << 1)  /* DSCP = rl_rule.dscp (0..63)        */
#define RL_MK_ECN        (1u << 2)  /* ECT(0)/ECT(1) -> CE; Not-ECT kept  */

/*
 * A limit: at most `rate` units (packets, or bytes with RL_RF_BYTES) per
 * `period_ns`, with `burst` units of credit.  The pure algorithm core in
 * rl_algo.h takes only this and a state; all arithmetic is integer.
 */
struct rl_limit {
	__u64 rate;                /* units per period, >= 1                */
	__u64 period_ns;           /* 1e9 (/s), 60e9 (/min), 3.6e12 (/h)    */
	__u64 burst;               /* units of credit; see rl_algo.h        */
	__u32 algo;                /* enum rl_algo                          */
	__u32 _pad;
};
_Static_assert(sizeof(struct rl_limit) == 32, "rl_limit ABI");

/*
 * One compiled rule as the datapath sees it.  Rules are never read from a
 * separate table: a copy sits in every match entry (struct rl_match) whose
 * prefix the rule covers, so one LPM lookup yields a consistent rule set.
 */
struct rl_rule {
	__u32 id;                  /* slot < RL_MAX_RULES: counters, state  */
	__u32 ver;                 /* (gen << 16) | epoch; see ARCHITECTURE */
	__u8  proto;               /* IPPROTO_*, 0 = any                    */
	__u8  action;              /* enum rl_action                        */
	__u8  flags;               /* RL_RF_*                               */
	__u8  plen4;               /* source key mask, IPv4 /0../32         */
	__u8  plen6;               /* source key mask, IPv6 /0../128        */
	__u8  mark_flags;          /* RL_MK_*, RL_ACT_MARK only             */
	__u8  dscp;                /* with RL_MK_DSCP                       */
	__u8  _pad;
	__u16 dport_lo;            /* inclusive; 0..65535 = any             */
	__u16 dport_hi;
	__u32 mark;                /* skb->mark, with RL_MK_MARK            */
	__u64 block_ns;            /* block-for duration, 0 = none          */
	struct rl_limit limit;
};
_Static_assert(sizeof(struct rl_rule) == 64, "rl_rule ABI");

/* rl_match.flags */
#define RL_MF_ALLOW      (1u << 0)  /* a covering prefix is allowlisted   */
#define RL_MF_BLOCK      (1u << 1)  /* a covering prefix is blocklisted   */

/*
 * Value of the match tries rl_match4/rl_match6.  The entry for prefix P
 * holds everything that applies to a source whose longest covering entry
 * is P: allow/block state and every rule whose source prefix contains P,
 * most specific first.  Userspace replaces whole values; the kernel swaps
 * LPM nodes under RCU, so a packet sees an old or a new entry, never a mix.
 */
struct rl_match {
	__u32 n;                   /* rules in use, <= RL_MAX_CAND          */
	__u32 flags;               /* RL_MF_*                               */
	__u64 block_until_ns;      /* RL_MF_BLOCK expiry, ~0ULL = forever   */
	struct rl_rule rule[RL_MAX_CAND];
};
_Static_assert(sizeof(struct rl_match) == 16 + 64 * RL_MAX_CAND, "rl_match ABI");

struct rl_lpm4 {
	__u32 prefixlen;
	__u32 addr;                /* network byte order */
};
_Static_assert(sizeof(struct rl_lpm4) == 8, "rl_lpm4 ABI");

struct rl_lpm6 {
	__u32 prefixlen;
	__u8  addr[16];
};
_Static_assert(sizeof(struct rl_lpm6) == 20, "rl_lpm6 ABI");

/* Per-source state keys: the source masked to the rule's plen. */
struct rl_key4 {
	__u32 rule;                /* rl_rule.id */
	__u32 addr;                /* network byte order, masked */
};
_Static_assert(sizeof(struct rl_key4) == 8, "rl_key4 ABI");

struct rl_key6 {
	__u32 rule;
	__u8  addr[16];
};
_Static_assert(sizeof(struct rl_key6) == 20, "rl_key6 ABI");

/*
 * The algorithm words of one key (token bucket, GCRA, fixed and sliding
 * window); their meaning per algorithm is documented in rl_algo.h.
 */
struct rl_words {
	__u64 w0;
	__u64 w1;
};

/*
 * Value of rl_st4, rl_st6 and rl_agg.  `lock` is a bounded try-lock taken
 * with cmpxchg: bpf_spin_lock is refused in LRU hash maps (EOPNOTSUPP), and
 * LRU eviction is the default full-map policy.
 */
struct rl_state {
	__u32 lock;                /* 0 free, 1 held                        */
	__u32 ver;                 /* rl_rule.ver this state belongs to     */
	struct rl_words s;
	__u64 block_until_ns;      /* penalty box; 0 = not blocked          */
	__u64 _pad;
};
_Static_assert(sizeof(struct rl_state) == 40, "rl_state ABI");

/* Sliding-log state: a ring of the last `rate` admission times. */
struct rl_slog {
	__u32 lock;
	__u32 ver;
	__u32 head;                /* index of the oldest entry             */
	__u32 count;               /* entries in use, <= RL_SLOG_MAX        */
	__u64 block_until_ns;
	__u64 ts[RL_SLOG_MAX];     /* admission times, ns                   */
};
_Static_assert(sizeof(struct rl_slog) == 24 + 8 * RL_SLOG_MAX, "rl_slog ABI");

/* Counter value of rl_stats and rl_gstats (per CPU; summed on read). */
struct rl_ctr {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct rl_ctr) == 16, "rl_ctr ABI");

/* Value of the single-entry ARRAY rl_conf: runtime settings. */
struct rl_conf {
	__u32 on_full;             /* enum rl_on_full                       */
	__u32 malformed;           /* enum rl_malformed                     */
	__u32 coarse_clock;        /* 1: bpf_ktime_get_coarse_ns            */
	__u32 _pad;
};
_Static_assert(sizeof(struct rl_conf) == 16, "rl_conf ABI");

/*
 * Rule catalog (ARRAY rl_catalog, indexed by rule id): the rule as the user
 * wrote it, so a restarted agent can rebuild its model from pinned maps
 * alone.  Userspace-only; the datapath never reads it.
 */
struct rl_catalog {
	__u32 in_use;
	__u32 prio;                /* insertion order, for stable listing   */
	char  name[RL_NAME_LEN];
	__u8  src4[4];             /* valid if src4_len != 0xff             */
	__u8  src6[16];            /* valid if src6_len != 0xff             */
	__u8  src4_len;            /* 0xff: rule has no IPv4 source         */
	__u8  src6_len;            /* 0xff: rule has no IPv6 source         */
	__u8  _pad[6];
	struct rl_rule rule;       /* id, ver, match, limit, action         */
};
_Static_assert(sizeof(struct rl_catalog) == 72 + 64, "rl_catalog ABI");

/* Allow/block list entries (HASH rl_lists), userspace-only like the catalog. */
enum rl_list_kind {
	RL_LIST_ALLOW = 1,
	RL_LIST_BLOCK = 2,
};

struct rl_list_key {
	__u32 kind;                /* enum rl_list_kind                     */
	__u32 prefixlen;
	__u8  family;              /* 4 or 6                                */
	__u8  _pad[3];
	__u8  addr[16];
};
_Static_assert(sizeof(struct rl_list_key) == 28, "rl_list_key ABI");

struct rl_list_val {
	__u64 expires_ns;          /* CLOCK_MONOTONIC ns (bpf_ktime_get_ns), 0 = never */
};

#endif /* RL_ABI_H */
