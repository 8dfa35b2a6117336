/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_maps.h - every map the datapath and the agent share, one comment
 * each (docs/ARCHITECTURE.md "Maps"), and the load-time constants the
 * loader sets in .rodata.  Included once, by bpf/rl_xdp.bpf.c, whose
 * object holds both programs (XDP and TC) so they share one skeleton and
 * one set of pins.  Sizes marked "set by the loader" come from the config
 * (user/lib_loader.c).
 */
#ifndef RL_MAPS_H
#define RL_MAPS_H

#include "rl_bpf.h"
#include "rl_abi.h"
#include "rl_lists.h"
#include "rl_events.h"

/*
 * Load-time constants (the loader writes them before load; the verifier
 * then prunes what they switch off).  The hash seed must be the one the
 * pinned tables were filled with, so the loader takes it from the pinned
 * rl_conf when it adopts one.
 */
const volatile __u64 rl_seed;          /* rl_conf.seed                      */
const volatile __u32 rl_st4_n = 1;     /* rl_st4 buckets (any count)        */
const volatile __u32 rl_st6_n = 1;     /* rl_st6 buckets                    */
const volatile __u64 rl_tick_ns = 4000000; /* coarse clock resolution (ns)   */

/* Source prefix -> allow/block flags and candidate rules (IPv4). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm4);
	__type(value, struct rl_match);
} rl_match4 SEC(".maps");

/* Source prefix -> allow/block flags and candidate rules (IPv6). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm6);
	__type(value, struct rl_match);
} rl_match6 SEC(".maps");

/*
 * Top 16 bits of the source / 4 -> four 16-bit cells saying where its
 * match entry is (RL_DIR_*, rl_abi.h).  64-bit elements: an ARRAY's are
 * 8-byte aligned anyway, so the agent's mmap sees the same layout.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_DIR_ELEMS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rl_dir4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_DIR_ELEMS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rl_dir6 SEC(".maps");

/* Copies of match entries the direct tables point at (both families). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_DIR_VALS);
	__type(key, __u32);
	__type(value, struct rl_match);
} rl_mval SEC(".maps");

/*
 * Per-source state, IPv4: buckets of four {key, word} slots, one cache
 * line each; a key lives in one of its two buckets.  Preallocated and
 * mmapable (page-aligned, so every bucket is line-aligned; the agent's
 * sweep reads it in place).  Bucket count set by the loader.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rl_bkt4);
} rl_st4 SEC(".maps");

/* Per-source state, IPv6: buckets of two {key, word, address} slots. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct rl_bkt6);
} rl_st6 SEC(".maps");

/*
 * Per-source sliding logs {rule, masked IPv4 source}: 304-byte values with
 * a bpf_spin_lock, so a plain preallocated hash (LRU maps refuse spin
 * locks).  Size set by the loader; idle logs are deleted by the agent.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rl_key4);
	__type(value, struct rl_slog);
} rl_sl4 SEC(".maps");

/* Per-source sliding logs (IPv6). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rl_key6);
	__type(value, struct rl_slog);
} rl_sl6 SEC(".maps");

/* Rule id -> the rule's shared state word (per-rule keying, on-full=aggregate). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} rl_agg SEC(".maps");

/* Rule id -> the rule's shared sliding log. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_slog);
} rl_slagg SEC(".maps");

/* rule id * __RL_V_MAX + enum rl_verdict -> packets and bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_MAX_RULES * __RL_V_MAX);
	__type(key, __u32);
	__type(value, struct rl_ctr);
} rl_stats SEC(".maps");

/* enum rl_gstat -> packets and bytes, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __RL_G_MAX);
	__type(key, __u32);
	__type(value, struct rl_ctr);
} rl_gstats SEC(".maps");

/*
 * Per CPU: the clock estimate's base and its lag behind the precise clock
 * (struct rl_clk; measured at every precise read, the lag decaying).  The
 * deny path's "latest possible now" is estimate + max(tick, lag): on a VM
 * the tick can be late by more than a tick, and a too-small margin denies
 * packets that conform (measured here: up to 7.8 ms at HZ 250).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_clk);
} rl_clk SEC(".maps");

/* 0 -> runtime settings (malformed policy, clock, on-full) and the seed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_conf);
} rl_conf SEC(".maps");

/*
 * Rule id -> the rule as written.  The agent's memory across restarts,
 * and the datapath's view of a rule by id: deciding whether another
 * rule's slot is idle when a new key needs room.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct rl_catalog);
} rl_catalog SEC(".maps");

/*
 * Bulk allow/block lists, kept out of the rule tries (a million list
 * prefixes there would send nearly every /16 of the direct table to the
 * trie): list prefix -> merged flags and block expiry (rl_lists.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_LST_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm4);
	__type(value, struct rl_lval);
} rl_lst4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_LST_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_lpm6);
	__type(value, struct rl_lval);
} rl_lst6 SEC(".maps");

/*
 * Guard bitmaps of the list tries (rl_lists.h): a source whose bit is
 * clear is on no list and pays one inlined array load, not a trie walk.
 * Written by the agent through mmap after the tries.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_LBM4_ELEMS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rl_lbm4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_LBM6_ELEMS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rl_lbm6 SEC(".maps");

/* Allow/block list entries with expiry; the agent's memory across restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * RL_MAX_LISTED);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_list_key);
	__type(value, struct rl_list_val);
} rl_lists SEC(".maps");

/* Sampled drop events for the agent (rl_events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RL_EV_RING_BYTES);
} rl_events SEC(".maps");

/* Per CPU: hash of {rule, source} -> (second << 32 | tag) of its last
 * over-limit event, so a source reports once a second. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_EV_SEEN_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} rl_evseen SEC(".maps");

/* Per CPU: events reported this second, blocklist hits seen. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_evbudget);
} rl_evbud SEC(".maps");

/* The agent's apply journal (struct rl_jrec): head + two regions of redo
 * records, used by alternate applies. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 + 2 * RL_JOURNAL_RECS);
	__type(key, __u32);
	__type(value, struct rl_jrec);
} rl_journal SEC(".maps");

#endif /* RL_MAPS_H */
