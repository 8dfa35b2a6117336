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
#ifndef __bpf__
#include <linux/bpf.h>             /* struct bpf_spin_lock */
#endif

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
	RL_G_MAP_FULL,             /* no free or idle slot for a new key    */
	RL_G_FULL_PASS,            /* ... and on-full=fail-open passed it   */
	RL_G_FULL_DROP,            /* ... and on-full=fail-closed dropped it*/
	RL_G_FULL_AGG,             /* ... and on-full=aggregate used rl_agg */
	RL_G_LOCK_BUSY,            /* compare-and-swap retries ran out, or a
				    * new key was being inserted by another
				    * CPU: dropped (monitor/mark: passed)   */
	RL_G_FRAGMENT,             /* non-first fragments (keyed w/o ports) */
	RL_G_TC_DEFER,             /* XDP passed it on to TC: a mark rule   */
	RL_G_EVICT,                /* on-full=evict replaced a live key     */
	RL_G_TC_UNPARSED,          /* deferred to TC, which could not parse
				    * it: passed unlabelled (terminal)      */
	RL_G_EV_LOST,              /* drop events not reported: per-CPU
				    * budget spent or ring buffer full      */
	__RL_G_MAX,
};

/* What to do when a per-source state insert finds the map full. */
enum rl_on_full {
	RL_FULL_EVICT = 0,         /* replace a live key of the two buckets */
	RL_FULL_FAIL_OPEN,         /* pass the packet                       */
	RL_FULL_FAIL_CLOSED,       /* drop the packet                       */
	RL_FULL_AGGREGATE,         /* charge the rule's shared bucket       */
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
#define RL_RF_CLUSTER    (1u << 5)  /* limit is a cluster's; k holds this
                                      * host's share (user/agent_cluster.c);
                                      * the datapath ignores the flag       */

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
 * A limit's constants, computed once by userspace (rl_lconst_compile in
 * rl_algo.h) so that the datapath never divides by a rule's numbers.
 *   GCRA (token/leaky bucket): rate_r scaled units per ns, `unit` scaled
 *     units per packet or byte, cap = burst * unit, aux = how far ahead of
 *     now a live TAT can be (beyond it, a wrapped idle one).
 *   Windows: rate_r = units per window, unit = period_ns, aux = the
 *     sliding window's weight reciprocal ceil(2^63 / period_ns).
 */
struct rl_lconst {
	__u64 rate_r;
	__u64 unit;
	__u64 cap;
	__u64 aux;
};
_Static_assert(sizeof(struct rl_lconst) == 32, "rl_lconst ABI");

/*
 * rl_rule.tag: which version of a rule a state word belongs to, stored in
 * the word's top byte.  Bits 6..4: generation (1..7, never 0, so a zero
 * word is "no state"); bits 3..0: epoch.  Bit 7 is the word's penalty-box
 * bit, never set in a rule's tag.
 */
#define RL_TAG_GEN   0x70u
static inline __u8 rl_rule_tag(__u32 ver)
{
	return (__u8)(((((ver >> 16) % 7) + 1) << 4) | (ver & 0xf));
}

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
	__u8  tag;                 /* rl_rule_tag(ver)                      */
	__u16 dport_lo;            /* inclusive; 0..65535 = any             */
	__u16 dport_hi;
	__u32 mark;                /* skb->mark, with RL_MK_MARK            */
	__u64 block_ns;            /* block-for duration, 0 = none          */
	struct rl_limit limit;
	struct rl_lconst k;        /* rl_lconst_compile(&limit)             */
};
_Static_assert(sizeof(struct rl_rule) == 96, "rl_rule ABI");

/*
 * Value of the match tries rl_match4/rl_match6.  The entry for prefix P
 * holds every rule whose source prefix contains P, most specific first:
 * everything that applies to a source whose longest covering entry is P
 * (the allow/block lists have tries of their own, rl_lst4/rl_lst6).
 * Userspace replaces whole values; the kernel swaps LPM nodes under RCU,
 * so a packet sees an old or a new entry, never a mix.
 */
struct rl_match {
	__u32 n;                   /* rules in use, <= RL_MAX_CAND          */
	__u32 flags;               /* 0 (once allow/block; kept for the ABI) */
	__u64 block_until_ns;      /* 0 (likewise)                          */
	struct rl_rule rule[RL_MAX_CAND];
};
_Static_assert(sizeof(struct rl_match) == 16 + 96 * RL_MAX_CAND, "rl_match ABI");

/*
 * Direct match table: rl_dir4/rl_dir6 (ARRAY, mmapable) of RL_DIR_CELLS
 * 16-bit cells, four to a 64-bit element (cell i is bits 16*(i%4) of
 * element i/4: 128 KiB a family, small enough to stay in cache), indexed by the top 16 bits of the source, so that most packets
 * find their match entry with two inlined array loads instead of an LPM
 * trie walk (a helper call).  A cell says where the trie's answer for
 * every address of that /16 is:
 *   RL_DIR_TRIE (0)  ask the trie (an entry longer than /16 lies in this
 *                    /16, or no value slot was free; also what an
 *                    all-zero table says, so the trie is always right)
 *   RL_DIR_NONE      no entry covers it (unmatched)
 *   1..RL_DIR_VALS   rl_mval[cell - 1], a copy of the longest covering
 *                    entry (all of length <= 16)
 * The agent keeps the tries the source of truth and derives the cells
 * (agent_dir.c): it writes a value into a slot no cell names, then points
 * cells at it with single 8-byte stores of whole elements, and reuses a slot only a second
 * after the last cell left it, so a packet never reads a slot being
 * written.
 */
#define RL_DIR_BITS       16
#define RL_DIR_CELLS      (1u << RL_DIR_BITS)
#define RL_DIR_PER_ELEM   4
#define RL_DIR_ELEMS      (RL_DIR_CELLS / RL_DIR_PER_ELEM)
#define RL_DIR_VALS       1024
#define RL_DIR_TRIE       0u
#define RL_DIR_NONE       0xffffu

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

/*
 * Per-source state: preallocated tables of 64-byte buckets (one cache
 * line), rl_st4 with four IPv4 slots and rl_st6 with two IPv6 slots per
 * bucket.  A key {rule, source masked to the rule's plen} hashes (seeded
 * per table, rl_conf.seed) to two buckets and lives in a slot of either.
 *   kw    0 = empty; RL_KW_CLAIM = being written by a CPU; else
 *         (rule id + 1) << 32 | IPv4 source (network order), or for IPv6
 *         (rule id + 1) << 32 | a 32-bit fold of the source, which addr
 *         then holds in full.
 *   word  the algorithm state (rl_algo.h): tag byte + 56-bit payload.
 * A slot is claimed with one compare-and-swap on kw (-> CLAIM), its word
 * reset, then published with an atomic exchange; the word is only ever
 * changed by compare-and-swap.  An idle word is the same as no word, so a
 * slot whose word is idle can be taken by a new key without loss.
 */
#define RL_KW_CLAIM   (~0ULL)
#define RL_BKT4_SLOTS 4
#define RL_BKT6_SLOTS 2

struct rl_slot4 {
	__u64 kw;
	__u64 word;
};

struct rl_bkt4 {
	struct rl_slot4 s[RL_BKT4_SLOTS];
};
_Static_assert(sizeof(struct rl_bkt4) == 64, "rl_bkt4 ABI");

struct rl_slot6 {
	__u64 kw;
	__u64 word;
	__u8  addr[16];            /* network order, masked                 */
};

struct rl_bkt6 {
	struct rl_slot6 s[RL_BKT6_SLOTS];
};
_Static_assert(sizeof(struct rl_bkt6) == 64, "rl_bkt6 ABI");

/* Keys of the sliding-log hashes rl_sl4 / rl_sl6: the source masked. */
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

/* Sliding-log ring: the last n = rate admission times (rl_algo.h). */
struct rl_slog_ring {
	__u32 head;                /* index of the oldest entry             */
	__u32 count;               /* entries in use, <= n                  */
	__u32 n;                   /* ring size the entries were kept for   */
	__u32 _pad;
	__u64 ts[RL_SLOG_MAX];     /* admission times, ns                   */
};

/*
 * Value of rl_sl4, rl_sl6 (plain hashes: bpf_spin_lock is allowed there)
 * and rl_slagg.  The deny path reads it without the lock (a torn read
 * errs towards denial); admissions take the lock.
 */
struct rl_slog {
	struct bpf_spin_lock lock;
	__u32 tag;                 /* rl_rule.tag of the ring, 0 = none     */
	__u64 block_until_ns;      /* penalty box; 0 = not blocked          */
	struct rl_slog_ring r;
};
_Static_assert(sizeof(struct rl_slog) == 16 + 16 + 8 * RL_SLOG_MAX, "rl_slog ABI");

/* Counter value of rl_stats and rl_gstats (per CPU; summed on read). */
struct rl_ctr {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct rl_ctr) == 16, "rl_ctr ABI");

/*
 * Value of the per-CPU ARRAY rl_clk: what the datapath has learnt about
 * this CPU's clocks (bpf/rl_state.h).  Written by the datapath only.
 *
 * jbase: the least (precise time - jiffies * tick) seen.  Jiffies advance
 * in whole ticks of CLOCK_MONOTONIC (the kernel moves last_jiffies_update
 * by exactly one tick per jiffy), so jiffies * tick + B is the time of the
 * last tick for one constant B, and every sample is >= B: jbase is B plus
 * the smallest delay with which jiffies were seen to advance.  Wraps (B is
 * "negative": jiffies start near 2^32).
 *
 * With rl_conf.coarse_clock the same fields cache the coarse clock: jset
 * RL_JSET_COARSE, jbase = coarse time - jiffies * tick as read in the jiffy
 * whose low 32 bits are jlast, so that every later packet of that jiffy
 * gets the coarse time without the helper.  Each mode takes the other's
 * values for unlearnt.
 */
#define RL_JSET_PRECISE 1
#define RL_JSET_COARSE  2
struct rl_clk {
	__u64 lag;                 /* precise - estimate, ns, decaying max  */
	__u64 jbase;               /* valid if jset                         */
	__u32 jset;                /* 0, RL_JSET_PRECISE or RL_JSET_COARSE  */
	__u32 jlast;               /* coarse: the jiffy jbase was read in   */
};
_Static_assert(sizeof(struct rl_clk) == 24, "rl_clk ABI");

/* Value of the single-entry ARRAY rl_conf: runtime settings. */
struct rl_conf {
	__u32 on_full;             /* enum rl_on_full                       */
	__u32 malformed;           /* enum rl_malformed                     */
	__u32 coarse_clock;        /* 1: admit on the coarse clock as well  */
	__u32 events;              /* 1: someone streams drop events (the
				    * agent sets it while `rlctl events`
				    * runs): only then are they sampled     */
	__u64 seed;                /* hash seed of rl_st4/rl_st6, set once
				    * at creation (random), kept with the
				    * pins: the loader passes it to the
				    * program as a load-time constant       */
	__u64 tick_ns;             /* coarse clock resolution (clock_getres) */
};
_Static_assert(sizeof(struct rl_conf) == 32, "rl_conf ABI");

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
_Static_assert(sizeof(struct rl_catalog) == 72 + 96, "rl_catalog ABI");

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

/*
 * Apply journal (ARRAY rl_journal), userspace-only: the redo log that
 * makes an agent's apply crash-consistent (docs/ARCHITECTURE.md "Rule
 * compilation and atomic updates").  Element 0 is the head: op
 * RL_J_COMMIT with arg = n and seq = S says "the n records of apply S
 * (from 1 + (S & 1) * RL_JOURNAL_RECS on) are complete and must all reach
 * rl_catalog/rl_lists"; RL_J_NONE says nothing is pending.  The head is
 * written after the records and reset after the apply, each in one map
 * write.
 */
enum rl_jop {
	RL_J_NONE = 0,
	RL_J_COMMIT,               /* head only                              */
	RL_J_CAT,                  /* rl_catalog[arg] = cat                  */
	RL_J_LIST_SET,             /* rl_lists[list.key] = list.val          */
	RL_J_LIST_DEL,             /* delete rl_lists[list.key]              */
};

/* In the head's arg: the set the maps hold once the apply is done (or, on
 * RL_J_NONE, hold now) is one a successful apply made - not an apply's
 * rollback to nothing - so a restart adopts it even when it is empty. */
#define RL_J_APPLIED  (1u << 31)

/* rl_lists writes one apply may journal: a change of more entries (an
 * import, a flush) is written in batches outside the journal. */
#define RL_JOURNAL_LIST_RECS  (2 * 4096)
#define RL_JOURNAL_RECS   (RL_MAX_RULES + RL_JOURNAL_LIST_RECS)

struct rl_jrec {
	__u32 op;                  /* enum rl_jop                           */
	__u32 arg;                 /* head: records; RL_J_CAT: the slot     */
	__u64 seq;                 /* the apply the record belongs to       */
	union {
		struct rl_catalog cat;
		struct {
			struct rl_list_key key;
			__u32 _pad;
			struct rl_list_val val;
		} list;
	};
};
_Static_assert(sizeof(struct rl_jrec) == 16 + 168, "rl_jrec ABI");

#endif /* RL_ABI_H */
