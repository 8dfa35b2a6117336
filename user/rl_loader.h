/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_loader.h - the libbpf side of rl: open and load build/rl_xdp.bpf.o
 * through its skeleton, size and type the state maps, pin or adopt every
 * map under a pin directory, attach or adopt the XDP program per interface
 * through libxdp's dispatcher or pinned bpf_links and the TC ingress
 * program (mark rules) as a
 * clsact filter next to it, and the small map helpers every binary needs
 * (per-CPU counter sums, rl_conf).  Implemented in user/lib_loader.c
 * (and user/lib_xdpdisp.c, its libxdp dispatcher side),
 * which is linked into every binary and test; included by the agent
 * (user/agent_bpf.c), the BPF tests and the tools.
 *
 * Every function returns 0 or -errno.  rl_loader_open() writes its reason
 * into the caller's buffer; the others into l->err.  Messages say what
 * failed, on what, and what to do about it.
 */
#ifndef RL_LOADER_H
#define RL_LOADER_H

#include <stdarg.h>
#include <stddef.h>
#include <linux/types.h>
#include "rl_abi.h"

struct xdp_program;

#define RL_PIN_DIR_DEFAULT        "/sys/fs/bpf/rlagent"
/* Longest pin dir: a longer one is refused, never cut (the lock, the pins
 * and the unpin must all name the same directory). */
#define RL_PIN_DIR_MAX            255
#define RL_STATE_ENTRIES_DEFAULT  1048576   /* per family: rl_st4, rl_st6 */
#define RL_SLOG_ENTRIES_DEFAULT   65536     /* per family: rl_sl4, rl_sl6 */
#define RL_LOADER_MAX_LINKS       32
#define RL_LOADER_ERR_LEN         512

/*
 * rl_tc_in's filter on clsact ingress.  A fixed priority and handle make a
 * restarted agent find and replace its own filter; priority 10 runs after
 * tools/rlcount (priority 1, which returns TC_ACT_UNSPEC so ours still
 * runs) and leaves 11 and up for filters that act on our labels.
 */
#define RL_TC_PRIO                10
#define RL_TC_HANDLE              0x7c10

/*
 * How rl_xdp goes on the XDP hook (defaults.xdp-attach, --xdp-attach).
 * Same numbering as struct rl_defaults.xdp_attach.
 */
enum rl_xdp_attach {
	RL_ATTACH_AUTO = 0,        /* dispatcher, falling back to link         */
	RL_ATTACH_DISPATCHER,      /* libxdp's multi-program dispatcher only   */
	RL_ATTACH_LINK,            /* rl's own bpf_link: the hook is rl's alone */
};

/* rl's run priority in the dispatcher: lower runs first; libxdp's default
 * for programs without one is 50, so rl sees packets before them. */
#define RL_XDP_PRIO_DEFAULT       10
#define RL_XDP_PRIO_MAX           10000

/* Same numbering as struct rl_iface.xdp_mode. */
enum rl_xdp_mode {
	RL_XDP_AUTO = 0,           /* native if the driver has it, else generic */
	RL_XDP_NATIVE,             /* XDP_FLAGS_DRV_MODE: fail if unsupported   */
	RL_XDP_GENERIC,            /* XDP_FLAGS_SKB_MODE                         */
};

struct rl_loader_opts {
	const char *pin_dir;       /* NULL: RL_PIN_DIR_DEFAULT; "": pin nothing */
	__u32 on_full;             /* enum rl_on_full: selects the map type     */
	__u32 state_entries;       /* 0: RL_STATE_ENTRIES_DEFAULT                */
	__u32 slog_entries;        /* 0: RL_SLOG_ENTRIES_DEFAULT                 */
	int verbose;               /* 1: libbpf's debug log on stderr           */
	__u32 xdp_attach;          /* enum rl_xdp_attach (rl_loader_attach)     */
	__u32 xdp_prio;            /* dispatcher run priority; 0: the default   */
	/* libbpf's messages go here instead of stderr (level: LIBBPF_WARN,
	 * _INFO, _DEBUG; debug ones only with verbose); NULL: stderr */
	int (*print)(int level, const char *fmt, va_list ap);
};

/* Map fds, owned by the loader (closed by rl_loader_close). */
struct rl_loader_fds {
	int match4, match6;
	int st4, st6, sl4, sl6;
	int agg, slagg;
	int stats, gstats;
	int conf, catalog, lists, journal;
	int dir4, dir6, mval;      /* direct match tables and their values  */
	int lst4, lst6, lbm4, lbm6; /* bulk list tries and their bitmaps    */
	int events;                /* drop-event ring buffer                */
};

struct rl_loader_link {
	char ifname[16];
	int ifindex;
	int fd;                    /* the XDP bpf_link; -1 in the dispatcher    */
	int dispatcher;            /* 1: rl runs in libxdp's dispatcher         */
	__u32 prog_id;             /* rl's program there (dispatcher only)      */
	__u32 prio;                /* its run priority there                    */
	int adopted;               /* 1: a previous agent's, kept               */
};

struct rl_loader {
	struct rl_xdp_bpf *skel;
	int prog_fd;               /* rl_xdp                                   */
	int tc_prog_fd;            /* rl_tc_in                                 */
	struct rl_loader_fds fd;
	__u32 xdp_attach;          /* enum rl_xdp_attach                        */
	__u32 xdp_prio;
	/* the dispatcher's copy of rl_xdp (BPF_PROG_TYPE_EXT, loaded by libxdp
	 * from a second open of the object that reuses every map of the first) */
	struct rl_xdp_bpf *ext_skel;
	struct xdp_program *ext_prog;
	char note[RL_LOADER_ERR_LEN]; /* the last attach's warning: a fallback */
	int disp_broken;           /* the dispatcher failed: do not try again  */
	char disp_broken_why[RL_LOADER_ERR_LEN];
	int adopted;               /* 1: pinned maps existed and were reused   */
	int ncpus;                 /* possible CPUs: per-CPU value count       */
	char pin_dir[RL_PIN_DIR_MAX + 1]; /* "" when not pinning               */
	int n_links;
	struct rl_loader_link links[RL_LOADER_MAX_LINKS];
	char err[RL_LOADER_ERR_LEN];
};

/*
 * Open, size and load the program; adopt pinned maps that exist and pin
 * the rest.  Writes rl_conf.on_full = opts->on_full (the other rl_conf
 * fields are the agent's).  On success *out is the loader; on failure
 * *out is NULL and err (if non-NULL) says why.
 */
int rl_loader_open(const struct rl_loader_opts *opts, struct rl_loader **out,
		   char *err, size_t err_len);

/*
 * Close every fd.  Pinned maps and pinned links stay: the datapath keeps
 * enforcing while no agent runs.  Unpinned links (pin_dir "") go away.
 */
void rl_loader_close(struct rl_loader *l);

/*
 * Remove the pins of rl's own maps (the names the object defines) from the
 * pin dir, and nothing else: the dir may be shared (--pin-dir /sys/fs/bpf).
 * Links are unpinned by rl_loader_detach.  Returns 0 or the first -errno.
 */
int rl_loader_unpin(struct rl_loader *l);

/*
 * Attach rl_xdp to ifname.  What is already there is adopted, whatever
 * xdp_attach says: the link pinned at <pin_dir>/link_<ifname> (its program
 * swapped with bpf_link_update(), no enforcement gap), or rl's program in
 * the libxdp dispatcher on ifname that uses these very maps (kept as it
 * is; one from another build of rl is replaced: the new one is added
 * before the old one goes, so for a moment both count).  Otherwise, by
 * l->xdp_attach: into libxdp's dispatcher at l->xdp_prio (pins under
 * /sys/fs/bpf/xdp/dispatch-IFINDEX-PROGID, which keep it running without
 * the agent), or a new bpf_link pinned at <pin_dir>/link_<ifname>; auto
 * tries the dispatcher and falls back to the link, saying why in l->note.
 * mode_out (may be NULL) gets the mode actually in effect: "native",
 * "generic", "offload" or "?".  An adopted link keeps the mode it was
 * created with.
 *
 * Then rl_tc_in goes on ifname's clsact ingress hook (clsact created if
 * missing) at RL_TC_PRIO/RL_TC_HANDLE, direct action, replacing the
 * program of a filter already there.  TC filters are not bpf_links: the
 * qdisc holds the program, so it stays after the agent exits or is killed.
 */
int rl_loader_attach(struct rl_loader *l, const char *ifname,
		     enum rl_xdp_mode mode, char *mode_out, size_t mode_len);

/*
 * Detach from ifname: detach the link and remove its pin, or take rl's
 * program out of the dispatcher (the others stay and keep running), and
 * delete our TC filter.  The clsact qdisc stays: other filters may live on it.
 */
int rl_loader_detach(struct rl_loader *l, const char *ifname);

/* Sum a per-CPU rl_ctr (rl_stats, rl_gstats) entry over all CPUs. */
int rl_ctr_sum(int map_fd, __u32 key, struct rl_ctr *out);

/* Zero a per-CPU rl_ctr entry on every CPU (rule slot reuse). */
int rl_ctr_zero(int map_fd, __u32 key);

int rl_conf_read(int conf_fd, struct rl_conf *c);
int rl_conf_write(int conf_fd, const struct rl_conf *c);

#endif /* RL_LOADER_H */
