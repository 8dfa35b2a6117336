/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_model.h - the userspace model of a rule set, shared by rlagent, rlctl
 * and the tests.  lib_parse.c turns words (CLI tokens, YAML scalars) into
 * these structs, lib_config.c loads a YAML file into struct rl_config,
 * lib_compile.c turns a rule set into the datapath's match entries
 * (include/rl_abi.h).  Nothing here touches BPF: it is all host-testable.
 *
 * Functions return 0 or -errno; on error they fill `err` (struct rl_err)
 * with a message that names the offending word and, for files, its
 * line and column.
 */
#ifndef RL_MODEL_H
#define RL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "rl_abi.h"
#include "rl_lists.h"

#define RL_MAX_IFACES   8
#define RL_MAX_LIST     ((int)RL_MAX_LISTED)  /* allow + block entries */
#define RL_ERR_LEN      512

struct rl_err {
	char msg[RL_ERR_LEN];     /* "file:line:col: key 'x': why" or "why" */
	int line, col;            /* 0 when not from a file                 */
};

struct rl_prefix {
	uint8_t family;           /* 4 or 6                                  */
	uint8_t len;              /* prefix length                           */
	uint8_t addr[16];         /* network order; host bits are zero       */
};

/* One rule as the user wrote it (after defaults are applied). */
struct rl_rule_spec {
	char name[RL_NAME_LEN];
	bool has_src4, has_src6;  /* neither: any source of both families   */
	struct rl_prefix src4, src6;
	uint8_t proto;            /* 0 any, IPPROTO_TCP/UDP/ICMP/ICMPV6      */
	bool syn_only;
	uint16_t dport_lo, dport_hi;
	struct rl_limit limit;    /* rate/period/burst/algo                  */
	bool bytes;               /* byte rate (mbit, kbps, ...)             */
	bool burst_set;           /* user gave burst (else default)          */
	bool per_rule;            /* one bucket for the whole rule           */
	uint8_t plen4, plen6;     /* per source/L4,L6 (default 32,128)       */
	uint8_t action;           /* enum rl_action                          */
	uint8_t mark_flags;       /* RL_MK_*: labels of action mark          */
	uint8_t dscp;             /* 0..63, with RL_MK_DSCP                  */
	uint32_t mark;            /* skb mark, with RL_MK_MARK               */
	uint64_t block_ns;        /* block-for, 0 = none                     */
	bool cluster;             /* scope cluster: limit is the cluster's   */
	/* Not written by the user: this host's share of a cluster rule, in
	 * 1/RL_SHARE_ONE (rl_algo.h), set by the agent's cluster sync; 0 =
	 * not settled yet (agent_apply keeps the running rule's share). */
	uint32_t share_q;
	uint32_t bank_ms;         /* agent: cap the share's bucket may hold, ms */
};

struct rl_list_entry {
	struct rl_prefix pfx;
	uint64_t expires_ns;      /* CLOCK_MONOTONIC, 0 = never              */
};

struct rl_iface {
	char name[16];
	int xdp_mode;             /* 0 auto, 1 native, 2 generic             */
};

struct rl_defaults {
	uint32_t algo;            /* enum rl_algo                            */
	uint8_t action;
	uint8_t plen4, plen6;
	bool per_rule;
	uint32_t on_full;         /* enum rl_on_full                         */
	uint32_t malformed;       /* enum rl_malformed                       */
	bool coarse_clock;        /* bpf_ktime_get_coarse_ns: cheaper, 1 tick */
	uint32_t state_entries;   /* per-source map size, default 1048576    */
	uint32_t xdp_attach;      /* 0 auto, 1 dispatcher, 2 link (rl_loader.h) */
	uint32_t xdp_prio;        /* run priority in libxdp's dispatcher      */
};

/* The `cluster:` section: shared limits through Redis (agent_cluster.c). */
#define RL_CLUSTER_DOWN_LAST_SHARE 0
#define RL_CLUSTER_DOWN_LOCAL      1
struct rl_cluster {
	bool enabled;
	char name[32];            /* Redis key prefix "rl:NAME:", default rl */
	char redis[256];          /* "host:port", "[v6]:port", "unix:/path"  */
	char password_file[256];  /* "" = no AUTH                            */
	char node[64];            /* default: the hostname                   */
	uint64_t sync_ns;         /* default 100 ms                          */
	uint32_t on_down;         /* RL_CLUSTER_DOWN_*                       */
};

struct rl_config {
	int n_ifaces;
	struct rl_iface ifaces[RL_MAX_IFACES];
	struct rl_defaults defaults;
	int n_allow, n_block;
	struct rl_list_entry *allow, *block;    /* malloc'd */
	int n_rules;
	struct rl_rule_spec *rules;             /* malloc'd, file order */
	struct rl_cluster cluster;
	char metrics[80];          /* `metrics:` ADDR:PORT or "off"; "" unset */
};

/* lib_parse.c: words -> values.  Each returns 0 or -EINVAL with err set. */
int rl_parse_rate(const char *s, struct rl_limit *l, bool *bytes, struct rl_err *err);
int rl_parse_duration(const char *s, uint64_t *ns, struct rl_err *err);
/* "20", "20 packets", "64kb", "1.5mb": in packets, or bytes if `bytes`
 * (the rate is a byte rate); a unit of the other kind is an error. */
int rl_parse_burst(const char *s, bool bytes, uint64_t *burst, struct rl_err *err);
/* w is a burst unit (packets, kb, ...): the CLI's `burst 5 packets`. */
bool rl_burst_unit_word(const char *w);
int rl_parse_prefix(const char *s, struct rl_prefix *p, struct rl_err *err);
/* Zeroes the host bits of p (and the bytes past its family's address). */
void rl_prefix_mask(struct rl_prefix *p);
int rl_parse_proto(const char *s, uint8_t *proto, struct rl_err *err);
int rl_parse_ports(const char *s, uint16_t *lo, uint16_t *hi, struct rl_err *err);
int rl_parse_algo(const char *s, uint32_t *algo, struct rl_err *err);
int rl_parse_action(const char *s, uint8_t *action, struct rl_err *err);
int rl_parse_mark(const char *s, uint32_t *mark, struct rl_err *err);
int rl_parse_dscp(const char *s, uint8_t *dscp, struct rl_err *err);
int rl_parse_onoff(const char *s, bool *on, struct rl_err *err);
int rl_parse_scope(const char *s, bool *cluster, struct rl_err *err);
/* "host:port", "[v6addr]:port" or "unix:/abs/path" (what `cluster.redis`
 * takes); host gets the host (brackets removed) or the path, *port 0 for
 * a unix socket. */
int rl_parse_redis_addr(const char *s, char *host, size_t len, int *port,
			struct rl_err *err);
int rl_parse_per(const char *s, bool *per_rule, uint8_t *p4, uint8_t *p6, struct rl_err *err);
/* A numeric TCP listen address "ADDR:PORT" or "[v6]:PORT": 0 or -EINVAL. */
int rl_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen);
bool rl_name_valid(const char *name);
/* "auto", "dispatcher", "link" -> 0, 1, 2; -1 for anything else */
int rl_parse_xdp_attach(const char *s);
const char *rl_algo_name(uint32_t algo);
const char *rl_action_name(uint8_t action);
const char *rl_proto_name(uint8_t proto);
int rl_format_rate(const struct rl_limit *l, bool bytes, char *buf, size_t len);
int rl_format_prefix(const struct rl_prefix *p, char *buf, size_t len);

/*
 * `rule add|change` grammar after NAME:
 *   [src PREFIX] [proto P] [dport N[-M]] [tcp-flags syn] rate RATE
 *   [burst N [UNIT]] [algo A] [per source[/L4[,L6]]|per rule]
 *   [action drop|monitor|mark] [mark-value N|none] [dscp N|none]
 *   [ecn [on|off]] [block-for DUR] [scope local|cluster]
 * mark-value, dscp and ecn need action mark, which needs one of them.
 * For add, `spec` starts from defaults; for change, from the existing rule.
 */
int rl_parse_rule_words(int argc, char **argv, struct rl_rule_spec *spec,
			bool require_rate, struct rl_err *err);
/*
 * `explain SRC [proto P] [dport N] [syn]`: the packet to explain.  A word
 * left out means a packet that no rule's condition of that kind requires:
 * no dport, no rule with ports takes it; syn implies proto tcp.
 */
struct rl_explain_req {
	struct rl_prefix src;     /* a single address (/32 or /128)          */
	uint8_t proto;            /* 0: none given                           */
	bool has_dport, syn;
	uint16_t dport;
};
int rl_parse_explain_words(int argc, char **argv, struct rl_explain_req *q,
			   struct rl_err *err);

/* Whole-rule checks (limits in range, sliding-log bound, ...). */
int rl_rule_validate(const struct rl_rule_spec *spec, struct rl_err *err);
/* Clears the whole spec (name too) and applies `d` (NULL: built-ins). */
void rl_rule_defaults(struct rl_rule_spec *spec, const struct rl_defaults *d);
/* The burst the datapath uses: limit.burst if burst_set, else the default
 * (one period's worth of rate, >= 1514 for byte rates, capped to fit). */
uint64_t rl_rule_burst(const struct rl_rule_spec *spec);
/* outer contains inner (same family, outer->len <= inner->len). */
bool rl_prefix_contains(const struct rl_prefix *outer, const struct rl_prefix *inner);
/* Formats into err->msg (err may be NULL), sanitized as below. */
void rl_errf(struct rl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Messages quote user words and end up in JSON, which must be valid
 * UTF-8: a word is quoted cut on a character boundary (RL_CUT, for
 * "%.*s"), and a finished message is sanitized (a character split by a
 * buffer's end is dropped, any invalid byte becomes '?').
 */
size_t rl_utf8_prefix(const char *s, size_t max);
void rl_utf8_sanitize(char *s);
#define RL_CUT(s, max) (int)rl_utf8_prefix((s), (max)), (s)

/* lib_config.c */
void rl_config_defaults(struct rl_config *cfg);
int rl_config_load(const char *path, struct rl_config *cfg, struct rl_err *err);
void rl_config_free(struct rl_config *cfg);
/* Load, validate and compile without applying: 0, or -errno with err set. */
int rl_config_check(const char *path, int *n_rules, struct rl_err *err);

/* lib_compile.c: rule set -> match trie entries. */
struct rl_compiled_entry {
	struct rl_prefix pfx;     /* trie key                                */
	struct rl_match m;        /* trie value                              */
};

struct rl_compiled {
	int n;
	struct rl_compiled_entry *e;            /* malloc'd */
};

/*
 * `ids[i]`/`vers[i]` are the slot and state version assigned to rules[i].
 * The entries come sorted by rl_prefix_cmp.  Fails with -E2BIG (err set)
 * if some prefix is covered by more than RL_MAX_CAND rules.
 */
int rl_compile(const struct rl_rule_spec *rules, const uint32_t *ids,
	       const uint32_t *vers, int n_rules, struct rl_compiled *out,
	       struct rl_err *err);
void rl_compiled_free(struct rl_compiled *c);
/*
 * lib_dir.c: the direct match tables (rl_abi.h "Direct match table").
 * rl_dir_plan fills plan[RL_DIR_CELLS] for one family: the index in c of
 * the entry every address of that /16 matches, RL_DIR_PLAN_NONE, or
 * RL_DIR_PLAN_TRIE (an entry longer than /16 lies in it).
 */
#define RL_DIR_PLAN_NONE      (-1)
#define RL_DIR_PLAN_TRIE      (-2)
void rl_dir_plan(const struct rl_compiled *c, int family, int32_t *plan);

/*
 * What each rl_mval slot holds and whether cells may name it.  One sync:
 * rl_dir_slot_get for each value the new cells need, then commit (slots no
 * cell needs any more start their quarantine) or abort.  A slot is written
 * only while no cell names it and RL_DIR_QUARANTINE_NS after the last one
 * stopped (a packet still reading the old value has long finished).
 */
#define RL_DIR_QUARANTINE_NS  1000000000ULL
enum { RL_DIR_SLOT_FREE = 0, RL_DIR_SLOT_USED, RL_DIR_SLOT_KEPT, RL_DIR_SLOT_NEW };
struct rl_dir_slots {
	uint8_t state[RL_DIR_VALS];
	uint64_t hash[RL_DIR_VALS];
	uint64_t freed_ns[RL_DIR_VALS];
	struct rl_match *val;                   /* RL_DIR_VALS, malloc'd */
};
int rl_dir_slots_init(struct rl_dir_slots *s);
void rl_dir_slots_free(struct rl_dir_slots *s);
/* What slot holds (read back at start); used: some cell names it. */
void rl_dir_slot_known(struct rl_dir_slots *s, uint32_t slot, const struct rl_match *m,
		       bool used, uint64_t now_ns);
/* A slot holding m: one that already does, or a free one past its
 * quarantine (*fresh: the caller must write m there, then call
 * rl_dir_slot_written, before any cell names it); -1 if none. */
int rl_dir_slot_get(struct rl_dir_slots *s, const struct rl_match *m,
		    uint64_t now_ns, bool *fresh);
void rl_dir_slot_written(struct rl_dir_slots *s, uint32_t slot, const struct rl_match *m);
void rl_dir_slots_commit(struct rl_dir_slots *s, uint64_t now_ns);
/* When the first slot in quarantine becomes free again; 0 if none is. */
uint64_t rl_dir_slots_next_free(const struct rl_dir_slots *s);
void rl_dir_slots_abort(struct rl_dir_slots *s);

/* Family, then length, then address: the order of compiled entries. */
int rl_prefix_cmp(const struct rl_prefix *a, const struct rl_prefix *b);
/* Rules whose order alone would decide between them (refused); `src`, if
 * not NULL, gets the source they share. */
bool rl_rules_clash(const struct rl_rule_spec *a, const struct rl_rule_spec *b,
		    struct rl_prefix *src);
/*
 * What only a whole rule set can get wrong, in time linear in its rules:
 * a name used twice (-EEXIST), two rules that clash (-EINVAL), more than
 * RL_MAX_CAND rules with one exact source (-E2BIG: rl_compile would refuse
 * them too; with fewer, a rule is compared with at most 2 x RL_MAX_CAND
 * others).  *first < *second are the rules concerned: the earlier name or
 * rule, or the first rule with that source and the one over the limit.
 * -ENOMEM leaves them -1.
 */
int rl_rules_check(const struct rl_rule_spec *rules, int n, int *first, int *second);

/*
 * A hash index of rule names, for rule sets searched by name: elements of
 * `stride` bytes from `base` whose first member is the name (struct
 * rl_rule_spec, or a struct that starts with one).  The index points into
 * the caller's array: it must not move while the index is used.
 */
struct rl_name_index {
	const char *base;
	size_t stride;
	uint32_t *slot;           /* element index + 1, 0 empty              */
	size_t mask;
};
/* Room for n names; 0 or -ENOMEM. */
int rl_name_index_init(struct rl_name_index *x, const void *base, size_t stride, int n);
/* Adds element i, unless a name equal to its is there: returns that
 * element's index (i is not added), else -1. */
int rl_name_index_add(struct rl_name_index *x, int i);
int rl_name_index_find(const struct rl_name_index *x, const char *name);
void rl_name_index_free(struct rl_name_index *x);

/* The datapath rule for a spec, with its constants k (no id/ver/tag). */
void rl_rule_to_abi(const struct rl_rule_spec *spec, struct rl_rule *r);
/*
 * The datapath rule in slot `id` at state version `ver`: rl_rule_to_abi
 * plus id, ver and tag.  The one place every rl_rule the agent writes
 * (match entries, rl_catalog) comes from, so the copies are identical.
 */
void rl_rule_compile(const struct rl_rule_spec *spec, uint32_t id, uint32_t ver,
		     struct rl_rule *r);
/*
 * True if per-source state kept under `old` means nothing under `now`:
 * another algorithm, period or unit (bytes/packets), or for token and
 * leaky bucket other constants (a rate or burst change rescales the
 * word).  A window algorithm keeps its counts across a rate change.
 */
bool rl_rule_state_changed(const struct rl_rule_spec *old, const struct rl_rule_spec *now);
/*
 * A node's share of a scope cluster rule of rate_ps (units/s), in
 * 1/RL_SHARE_ONE, from its demand, the cluster's (its own included) and
 * the number of nodes that reported (agent_cluster.c; docs/ARCHITECTURE.md
 * "Cluster-wide quotas").
 */
uint32_t rl_cluster_share(double rate_ps, double mine, double all, uint32_t nodes);
/* ver with its epoch bumped if rl_rule_state_changed(), else ver. */
uint32_t rl_rule_next_ver(const struct rl_rule_spec *old, const struct rl_rule_spec *now,
			  uint32_t ver);

/* lib_lists.c: the bulk allow/block lists (include/rl_lists.h). */
struct rl_lentry {
	struct rl_prefix pfx;
	struct rl_lval v;         /* what the list trie holds for pfx         */
};
struct rl_lset {
	int n;
	struct rl_lentry *e;      /* sorted by rl_lpfx_cmp                    */
};
/* Address, then length: the order the agent keeps its lists in. */
int rl_lpfx_cmp(const struct rl_prefix *a, const struct rl_prefix *b);
int rl_list_sort(struct rl_list_entry *l, int n);
int rl_list_search(const struct rl_list_entry *l, int n, const struct rl_prefix *p);
#ifdef EOF
int rl_list_read(FILE *f, const char *name, int max, struct rl_list_entry **out, int *n_out,
		 struct rl_err *err);
#endif
int rl_lists_build(const struct rl_list_entry *allow, int na,
		   const struct rl_list_entry *block, int nb, uint64_t now,
		   struct rl_lset *out);
void rl_lset_free(struct rl_lset *s);
void rl_lbm_build(const struct rl_lset *s, uint64_t *bm4, uint64_t *bm6);
const struct rl_lentry *rl_lset_lookup(const struct rl_lset *s, const struct rl_prefix *src);

#endif /* RL_MODEL_H */
