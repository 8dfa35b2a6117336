/* SPDX-License-Identifier: GPL-2.0 */
/*
 * agent.h - rlagent's private interfaces, included only by user/rlagent.c
 * and user/agent_*.c.  The agent is split by concern:
 *
 *   rlagent.c      options, startup (load/adopt), the poll loop, signals
 *   agent_bpf.c    the BPF side: loader calls, map fds, per-CPU reads
 *   agent_state.c  the in-memory model (rules, allow/block) and the one
 *                  function that makes the maps equal to a model
 *   agent_journal.c  the redo journal that makes that function
 *                  crash-consistent
 *   agent_gc.c     the sweep of the per-source state tables and sliding
 *                  logs: idle and orphaned keys out, live keys counted
 *   agent_cmd.c    the control commands: argv in, JSON object out
 *   agent_save.c   `config save`: the running state over the config file
 *   agent_ctl.c    the control socket server (framing, limits, clients)
 *   agent_metrics.c  the Prometheus /metrics endpoint (libmicrohttpd)
 *   agent_cluster.c  scope cluster rules: settles with Redis every sync
 *                  period and sets this host's share of each
 *
 * Everything runs on one thread, so nothing here locks, except the Redis
 * client: agent_cluster.c runs it on a thread of its own and hands
 * requests and results over under its own mutex (struct agent_cluster).
 */
#ifndef RL_AGENT_H
#define RL_AGENT_H

#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
#include <jansson.h>
#include "rl_abi.h"
#include "rl_model.h"
#include "rl_events.h"

#define AGENT_DEFAULT_SOCK "/run/rlagent/rlagent.sock"
#define AGENT_DEFAULT_PIN  "/sys/fs/bpf/rlagent"
#define AGENT_DEFAULT_METRICS "127.0.0.1:9471"
/* Chart.js for the dashboard: Debian's libjs-chart.js */
#define AGENT_DEFAULT_CHARTJS "/usr/share/javascript/chart.js/chart.min.js"

/* Logging: stderr in the foreground ("<3>" priority prefixes when stderr
 * is the journal), syslog once daemonized. */
enum { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
void agent_log(int lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)   agent_log(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  agent_log(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  agent_log(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) agent_log(LOG_LVL_DEBUG, __VA_ARGS__)
extern int agent_log_level;
extern bool agent_log_syslog;
/* sd_notify(3) to the service manager, if there is one: "READY=1\n..." */
void agent_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One rule of the running model: the spec as the user wrote it, its slot
 * (counters and state index), the state version the datapath checks and,
 * once applied, the compiled rule exactly as the maps hold it (the sweep
 * and `top` read state words with it). */
struct agent_rule {
	struct rl_rule_spec spec;
	uint32_t id;                  /* slot; AGENT_NO_SLOT until assigned   */
	uint32_t ver;                 /* (gen << 16) | epoch                  */
	uint32_t prio;                /* insertion order, for stable listing  */
	struct rl_rule abi;           /* rl_rule_compile(spec, id, ver)       */
};
#define AGENT_NO_SLOT UINT32_MAX

struct agent_model {
	int n_rules, cap_rules;
	struct agent_rule *rules;     /* listing order (prio)                 */
	int n_allow, n_block;         /* together at most RL_MAX_LIST         */
	int cap_allow, cap_block;
	struct rl_list_entry *allow;  /* sorted by rl_lpfx_cmp, malloc'd      */
	struct rl_list_entry *block;
};

/* Map fds the agent reads and writes; owned by the BPF side (agent_bpf.c). */
struct agent_maps {
	int match4, match6;
	int stats, gstats;
	int agg, slagg;
	int conf, catalog, lists, journal;
	int st4, st6;                 /* per-source state tables              */
	int sl4, sl6;                 /* per-source sliding logs              */
	/* the state tables mapped shared (BPF_F_MMAPABLE), NULL if not */
	struct rl_bkt4 *bkt4;
	struct rl_bkt6 *bkt6;
	uint32_t n_bkt4, n_bkt6;      /* buckets: the maps' max_entries       */
	int dir4, dir6, mval;         /* direct match tables (agent_dir.c)    */
	int lst4, lst6, lbm4, lbm6;   /* bulk list tries and bitmaps          */
	int events;                   /* rl_events ring buffer                */
	uint64_t *lbm[2];             /* rl_lbm4, rl_lbm6 mapped shared       */
	uint32_t n_lbm[2];            /* their 64-bit elements                */
};

/* The direct match tables, mapped, and their value slots (agent_dir.c). */
struct agent_dir {
	uint64_t *cells[2];           /* rl_dir4, rl_dir6 (RL_DIR_ELEMS each) */
	struct rl_dir_slots slots;
	int no_slot_cells;            /* /16s sent to the trie for want of a slot */
	uint64_t retry_ns;            /* sync again then (a slot leaves quarantine) */
};

/* What the last complete sweep of one family found. */
struct agent_sweep {
	int64_t live;                 /* occupied slots; -1 before the first  */
	uint64_t at_ns;               /* agent_now_ns() when it completed     */
	uint64_t cleared;             /* slots and logs freed, since start    */
};

struct agent_iface {
	char name[16];
	int ifindex;
	char mode[16];                /* "native", "generic", "?"             */
	bool dispatcher;              /* in libxdp's dispatcher, else own link */
	uint32_t prio;                /* run priority there                   */
	char note[512];               /* why it is not where configured, or "" */
};

/* What the poll loop knows of one scope cluster rule (agent_cluster.c). */
struct agent_crule {
	char name[RL_NAME_LEN];
	uint32_t id, ver;             /* the slot its counters were read from  */
	bool have_prev;
	uint64_t prev_ns, prev_seen, prev_pass;  /* units: packets or bytes    */
	uint64_t demand_ps, admitted_ps;         /* this host, units/s         */
	uint64_t cl_demand_ps, cl_admitted_ps;   /* the cluster's (last sync)  */
	uint32_t nodes;               /* nodes that reported in the last ttl   */
	uint64_t cl_share_sum;        /* their shares, in 1/RL_SHARE_ONE       */
	uint32_t share_min, share_max;  /* ... since the last status read     */
	double share_sum_avg;         /* EWMA of the sum, for status           */
};

struct agent_cluster_shared;      /* agent_cluster.c: loop <-> Redis thread */

struct agent_cluster {
	struct rl_cluster cfg;        /* in effect (the config's cluster:)     */
	struct agent_cluster_shared *sh;  /* NULL until agent_cluster_start */
	bool can_start;               /* after the capability drop and fork    */
	int efd;                      /* eventfd: the thread has a result      */
	uint64_t next_ns;             /* next sync; 0 = not running            */
	bool busy;                    /* a request is with the thread          */
	bool up;                      /* the last sync reached Redis           */
	bool ever_up;
	int warm;                     /* good syncs since Redis came (back)    */
	uint32_t last_nodes;          /* nodes seen in the last good sync      */
	uint64_t last_latency_ns, last_ok_ns;
	uint64_t up_real_ms;          /* CLOCK_REALTIME ms: first good sync    */
	uint64_t settled_real_ms;     /*   and the first that set shares,     */
	                              /*   since Redis came (back)            */
	uint64_t syncs_ok, syncs_failed, syncs_skipped, share_updates;
	uint64_t down_syncs;          /* syncs spent on the on-redis-down policy */
	uint64_t redis_cmds;          /* commands sent to Redis, since start   */
	char last_error[1024];
	int n_rules;
	struct agent_crule rules[RL_MAX_RULES];
};

struct agent {
	/* options */
	const char *config_path;
	const char *sock_path;
	gid_t sock_group;          /* --socket-group, or (gid_t)-1            */
	const char *pin_dir;
	const char *metrics_listen;   /* ADDR:PORT or "off"                   */
	bool metrics_cli;             /* --metrics given: it beats `metrics:` */
	char metrics_cfg[80];         /* the config's `metrics:` at start     */
	const char *chartjs_path;     /* served as /chart.js on the listener  */
	int xdp_mode;                 /* 0 auto, 1 native, 2 generic          */
	int xdp_attach;               /* --xdp-attach: -1 unset, else as config */
	uint32_t xdp_prio;            /* --xdp-priority: 0 unset              */
	bool foreground, detach_on_exit;
	uint64_t gc_interval_ns;        /* between GC passes; 0 = no GC       */
	int n_cli_ifaces;
	char cli_ifaces[RL_MAX_IFACES][16];

	/* what was loaded */
	struct rl_config cfg;         /* defaults and interfaces in effect    */
	bool have_cfg;
	void *bpf;                    /* agent_bpf.c's handle                 */
	struct agent_maps maps;
	struct agent_dir dir;
	int n_ifaces;
	struct agent_iface ifaces[RL_MAX_IFACES];
	int ncpus;
	bool tc_on;                   /* rl_tc_in on the interfaces           */
	char caps[128];               /* what agent_caps_drop kept: "cap_x .." */
	bool caps_dropped;

	/* what is running */
	struct agent_model model;
	struct rl_compiled applied;   /* exactly what the match tries hold    */
	struct rl_lset lapplied;      /* exactly what the list tries hold     */
	uint64_t next_expiry_ns;      /* the model's earliest list expiry, 0: none */
	bool events_on;               /* rl_conf.events: a client streams events */
	uint32_t next_gen;            /* 1..0xffff, never 0                   */
	uint32_t next_prio;
	uint32_t next_slot;
	bool adopted;
	uint64_t jseq;                /* the last apply's rl_journal number   */
	bool jfwd;                    /* the apply being journaled is a forward
				       * one, not a rollback                  */
	bool japplied;                /* the maps hold a set a successful apply
				       * made (RL_J_APPLIED, kept in the head) */
	bool jflag;                   /* japplied once the pending apply is done */
	/* the last refused change left the maps as they were */
	bool unchanged;
	/* a rollback failed and the maps could not be re-read since: the
	 * running rules may not be a->model (status, /metrics) */
	bool degraded, resyncing;
	char degraded_msg[RL_ERR_LEN];

	/* bookkeeping for status */
	time_t started;
	int reloads;
	bool last_reload_ok;
	bool have_last_reload;
	time_t last_reload_time;
	char last_reload_msg[RL_ERR_LEN];

	/* per-source state usage, counted by each sweep (agent_gc.c) */
	uint32_t st_capacity;         /* sources per family (state-entries)   */
	struct agent_sweep sweep4, sweep6;
	uint64_t gc_deleted, gc_passes;

	struct agent_cluster cl;      /* agent_cluster.c                      */

	bool stop;
	bool reload_requested;
	char reload_by[64];           /* who sent the SIGHUP                  */
};

/* agent_caps.c: keep only the capabilities still needed (after start-up) */
int agent_caps_drop(struct agent *a);

/* agent_bpf.c */
int agent_bpf_open(struct agent *a);
/* agent_dir.c */
int agent_dir_open(struct agent *a, bool adopted);
void agent_dir_close(struct agent *a);
int agent_dir_sync(struct agent *a, const struct rl_compiled *c, struct rl_err *err);
uint64_t agent_dir_next(const struct agent *a);
void agent_dir_retry(struct agent *a);
json_t *agent_dir_json(const struct agent *a);
void agent_bpf_close(struct agent *a, bool detach);
int agent_bpf_write_conf(struct agent *a);
/* rl_tc_in on (or off) every interface: only rules with action mark need it. */
int agent_bpf_tc(struct agent *a, bool on, struct rl_err *err);
int agent_pcpu_sum(struct agent *a, int fd, uint32_t key, struct rl_ctr *out);
int agent_pcpu_zero(struct agent *a, int fd, uint32_t key);
int agent_map_info(int fd, uint32_t *max_entries, uint32_t *type);
int ensure_bpffs(const char *pin_dir);

/* agent_state.c */
void agent_model_init(struct agent_model *m);
void agent_model_free(struct agent_model *m);
int agent_model_dup(const struct agent_model *src, struct agent_model *dst);
int agent_model_from_config(const struct rl_config *cfg, struct agent_model *m,
			    struct rl_err *err);
struct agent_rule *agent_model_find(struct agent_model *m, const char *name);
int agent_model_add_rule(struct agent_model *m, const struct rl_rule_spec *spec);
void agent_model_del_rule(struct agent_model *m, const char *name);
/* Index of p in a model list (sorted), or -1. */
int agent_list_find(const struct rl_list_entry *l, int n, const struct rl_prefix *p);
/* Room for n entries in the allow (or block) list of m. */
int agent_list_reserve(struct agent_model *m, bool allow, int n);
/* Validates, compiles and writes `next` to the maps; on success `next` is
 * moved into a->model (and emptied), on failure the maps and a->model are
 * as before and err says why. */
int agent_apply(struct agent *a, struct agent_model *next, struct rl_err *err);
/* Finishes an apply a crash left committed in rl_journal, then rebuilds
 * the model from rl_catalog and rl_lists and reads the tries back. */
int agent_adopt(struct agent *a, bool *had_state, struct rl_err *err);
/* What a start does: agent_adopt(), then re-apply the adopted model (or,
 * with no pinned state, apply a->cfg's rules). */
int agent_restore(struct agent *a, bool *had_state, struct rl_err *err);
/* Memory made equal to the maps again after a failed rollback: adopt and
 * re-apply; clears a->degraded when it succeeds. */
int agent_resync(struct agent *a, struct rl_err *err);
/* "; the running rules are unchanged" after a refused change, if true */
#define AGENT_UNCHANGED(a) ((a)->unchanged ? "; the running rules are unchanged" : "")
int agent_expire(struct agent *a, uint64_t now_ns);
uint64_t agent_next_expiry(const struct agent *a);
uint64_t agent_now_ns(void);
void agent_err(struct rl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* agent_journal.c: the apply journal (rl_journal).  A jlog is an
 * apply's records in memory; commit writes them and the head, do makes
 * one record's write, done clears the head; recover finishes an apply
 * the head says is committed (*redone: its records). */
struct agent_jlog {
	struct rl_jrec *r;
	int n, cap;
};
int agent_jlog_cat(struct agent_jlog *j, uint32_t slot, const struct rl_catalog *c);
int agent_jlog_list(struct agent_jlog *j, bool del, uint32_t kind, const struct rl_prefix *p,
		    uint64_t expires_ns);
void agent_jlog_free(struct agent_jlog *j);
/* the rl_lists key of prefix p on list kind (enum rl_list_kind) */
void agent_list_key(uint32_t kind, const struct rl_prefix *p, struct rl_list_key *k);
int agent_journal_commit(struct agent *a, struct agent_jlog *j, struct rl_err *err);
int agent_journal_do(struct agent *a, const struct rl_jrec *r, struct rl_err *err);
int agent_journal_done(struct agent *a, struct rl_err *err);
int agent_journal_recover(struct agent *a, int *redone, struct rl_err *err);
/* agent_state.c: rl_lists writes an apply journals; more go in batches */
extern long agent_jlist_max;

/* agent_gc.c */
uint64_t agent_gc_next(const struct agent *a);
void agent_gc_step(struct agent *a, uint64_t now_ns);
/* by_id[slot] = index of the model's rule in that slot, or -1 (RL_MAX_RULES long). */
void agent_rule_index(const struct agent *a, int32_t *by_id);
/* The model's rule a state slot's key kw belongs to, NULL if none. */
const struct agent_rule *agent_slot_rule(const struct agent *a, const int32_t *by_id,
					 uint64_t kw);

/* agent_cluster.c */
/* Starts (or re-points) the Redis thread for cfg->cluster; nothing if the
 * config has no cluster section. */
int agent_cluster_configure(struct agent *a, const struct rl_cluster *c);
/* The thread starts only here, once the agent has daemonized (fork keeps
 * only the calling thread) and dropped its capabilities (they are per
 * thread): until then a configured cluster only lets rules apply. */
int agent_cluster_start(struct agent *a);
void agent_cluster_stop(struct agent *a);
int agent_cluster_fd(const struct agent *a);     /* -1 when off          */
uint64_t agent_cluster_next(const struct agent *a);
/* The poll loop: a result to take (fd readable) and a sync that is due. */
void agent_cluster_step(struct agent *a, uint64_t now_ns);
/* The share a scope cluster rule starts with before its first sync. */
uint32_t agent_cluster_initial_share(const struct agent *a);
/* How long a share's bucket may bank: 4 sync periods up to 1 s, at least 2. */
uint32_t agent_cluster_bank_ms(const struct agent *a);
json_t *agent_cluster_json(const struct agent *a);
const struct agent_crule *agent_cluster_rule(const struct agent *a, const char *name);

/* agent_cmd.c */
/*
 * One request in, one answer out; or, for a command that takes more than
 * a poll turn (`top` over large tables), NULL and *job: agent_job_step()
 * then does a bounded slice of it each turn and returns the answer when
 * it is done (NULL until then).
 */
struct agent_job;
json_t *agent_dispatch(struct agent *a, json_t *req, uid_t uid, struct agent_job **job);
json_t *agent_job_step(struct agent *a, struct agent_job *job);
/* A `top -n n` scan as a job (the dashboard runs one), NULL without memory. */
struct agent_job *agent_top_job(long n);
/* The name `stats` gives global counter g ("packets", "blocklisted"), NULL if none. */
const char *agent_gstat_name(int g);
void agent_job_free(struct agent_job *job);
json_t *agent_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
json_t *agent_rule_json(const struct agent_rule *r);
int agent_config_reload(struct agent *a, struct rl_err *err);
char *agent_config_dump(struct agent *a);
int agent_check_config(const char *path, int *n_rules, struct rl_err *err);

/* agent_explain.c: `explain SRC [proto P] [dport N] [syn]` (argv[0] "explain") */
json_t *agent_explain(struct agent *a, int argc, char **argv);

/* agent_save.c: writes agent_config_dump() over path (NULL: the config
 * file) atomically; `saved` gets the file written (symlinks resolved). */
int agent_config_save(struct agent *a, const char *path, char *saved, size_t len,
		      struct rl_err *err);
void format_duration(uint64_t ns, char *buf, size_t len);
void rule_words(const struct rl_rule_spec *s, char *buf, size_t len);

/* agent_ctl.c */
/* Who the request being dispatched came from ("uid 0 pid 42 (rlctl)",
 * "SIGHUP from ..."), for the log line of every change; NULL otherwise. */
extern const char *agent_peer;
/* One request line (no newline) to its answer, as a client gets it: NULL
 * with *job set when the answer comes later (agent_job_step).  No socket:
 * tests/fuzz/fuzz_request.c calls it directly. */
json_t *ctl_answer(struct agent *a, const char *line, size_t len, const char *who,
		   uid_t uid, struct agent_job **job);
/* group: the socket's group (--socket-group), whose members may run what
 * changes nothing; (gid_t)-1 for none: root only */
int ctl_listen(const char *path, gid_t group);
/* Before anything is created: the path fits and its directory is safe. */
int ctl_check_path(const char *path);
void ctl_close(void);
/* Fills pfds from index 0; returns how many.  ctl_timeout_ms caps poll. */
int ctl_pollfds(struct pollfd *pfds, int max);
void ctl_handle(struct agent *a, struct pollfd *pfds, int n);
int ctl_timeout_ms(void);
int ctl_max_fds(void);

/* Streams to every `events` client (one JSON line each); a client whose
 * queue is full misses it, and is told how many it missed later. */
bool ctl_events_wanted(void);
void ctl_events_send(const char *line);

/* agent_events.c: the drop-event ring buffer, read in the poll loop. */
int agent_events_open(struct agent *a);
void agent_events_close(void);
int agent_events_fd(void);                  /* -1: none                 */
void agent_events_run(struct agent *a);     /* never blocks             */

/* agent_metrics.c: runs inside the poll loop, on the loop's thread. */
int metrics_start(struct agent *a, const char *listen_addr);   /* "off": nothing */
void metrics_stop(void);
bool metrics_pollfd(struct pollfd *pfd);    /* false when off           */
int metrics_timeout_ms(void);               /* -1: no deadline          */
void metrics_run(void);                     /* never blocks             */
void metrics_step(struct agent *a);         /* a slice of the dashboard's top scan */

#endif /* RL_AGENT_H */
