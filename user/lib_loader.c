// SPDX-License-Identifier: GPL-2.0
/*
 * lib_loader.c - implements rl_loader.h: the skeleton lifecycle of
 * build/rl_xdp.skel.h (open, size the state maps, set pin paths, load),
 * XDP attach/adopt through libxdp's multi-program dispatcher (the
 * dispatcher side in user/lib_xdpdisp.c) or pinned bpf_links, the TC
 * ingress filter beside
 * it (netlink bpf_tc_* API: libbpf 1.1 has no tcx links), and per-CPU counter and
 * rl_conf helpers.  Linked into every binary and test; the only file that
 * includes the skeleton, so the object's bytes exist once per binary.
 */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "rl_loader.h"
#include "rl_loader_int.h"
#include "rl_xdp.skel.h"

void rl_seterr(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static const char *map_type_name(__u32 type)
{
	switch (type) {
	case BPF_MAP_TYPE_HASH:            return "HASH";
	case BPF_MAP_TYPE_LRU_HASH:        return "LRU_HASH";
	case BPF_MAP_TYPE_ARRAY:           return "ARRAY";
	case BPF_MAP_TYPE_PERCPU_ARRAY:    return "PERCPU_ARRAY";
	case BPF_MAP_TYPE_LPM_TRIE:        return "LPM_TRIE";
	default:                           return "other";
	}
}

int rl_libbpf_verbose;
static int (*libbpf_print_to)(int level, const char *fmt, va_list ap);

int rl_print_all(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !rl_libbpf_verbose)
		return 0;
	if (libbpf_print_to)
		return libbpf_print_to(level, fmt, ap);
	return vfprintf(stderr, fmt, ap);
}


/* mkdir -p for the pin directory; it must sit on a bpf filesystem. */
static int make_pin_dir(const char *dir, char *err, size_t err_len)
{
	char path[256], *p;
	struct statfs sfs;

	snprintf(path, sizeof(path), "%s", dir);
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		goto fail;
	if (statfs(path, &sfs) == 0 && sfs.f_type != BPF_FS_MAGIC) {
		rl_seterr(err, err_len,
		       "pin directory %s is not on a bpf filesystem: mount -t bpf bpf /sys/fs/bpf",
		       dir);
		return -ENOTDIR;
	}
	return 0;
fail:
	{
		int e = -errno;

		rl_seterr(err, err_len, "cannot create pin directory %s: %s", path,
		       strerror(errno));
		return e;
	}
}

/*
 * libbpf reuses a pinned map only if it is compatible and otherwise fails
 * the whole load with a terse log line.  Check first so the message can
 * name the map and say what differs.  *existed counts pins found.
 */
static int check_pin(struct bpf_map *map, const char *path, int *existed,
		     const char *pin_dir, char *err, size_t err_len)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, ret = 0;

	if (access(path, F_OK))
		return 0;
	(*existed)++;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		ret = -errno;
		rl_seterr(err, err_len, "cannot open pinned map %s: %s%s", path,
		       strerror(-ret), ret == -EPERM ? " (needs root or CAP_BPF)" : "");
		return ret;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		ret = -errno;
		rl_seterr(err, err_len, "%s is not a BPF map (%s); remove it",
		       path, strerror(-ret));
		goto out;
	}
	if (info.type != bpf_map__type(map) ||
	    info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.max_entries != bpf_map__max_entries(map) ||
	    info.map_flags != bpf_map__map_flags(map)) {
		ret = -EINVAL;
		rl_seterr(err, err_len,
		       "pinned map %s is incompatible: it is %s, %u entries, key %u B, value %u B, "
		       "flags 0x%x; this load needs %s, %u entries, key %u B, value %u B, flags 0x%x "
		       "(state-entries changed, or the pins are from another version of rl, "
		       "e.g. before the one-word state layout of 0.2). Keep the old settings, "
		       "or stop the agent, detach (rlagent --detach-on-exit) and remove %s to "
		       "start afresh: that drops all rate-limit state, rules and counters",
		       path, map_type_name(info.type), info.max_entries, info.key_size,
		       info.value_size, info.map_flags, map_type_name(bpf_map__type(map)),
		       bpf_map__max_entries(map), bpf_map__key_size(map),
		       bpf_map__value_size(map), bpf_map__map_flags(map), pin_dir);
	}
out:
	close(fd);
	return ret;
}

static int map_size(struct bpf_map *map, __u32 entries, char *err,
		    size_t err_len)
{
	int ret = bpf_map__set_max_entries(map, entries);

	if (ret)
		rl_seterr(err, err_len, "cannot size map %s: %s", bpf_map__name(map),
		       strerror(-ret));
	return ret;
}

/*
 * Buckets for `entries` tracked sources: twice the slots for IPv4 (16-byte
 * slots, 32 bytes a source) and 1.5 times for IPv6 (32-byte slots, 48
 * bytes a source).  With two candidate buckets per key, a table at these
 * loads practically never overflows before `entries` keys are live.
 */
static __u32 st_buckets(__u32 entries, __u32 slots_per_bucket, __u32 num, __u32 den)
{
	__u64 slots = ((__u64)entries * num + den - 1) / den;
	__u64 b = (slots + slots_per_bucket - 1) / slots_per_bucket;

	return b < 2 ? 2 : (__u32)b;
}

/*
 * The seed of the state tables' hash: the pinned one when the tables are
 * adopted (another seed would lose every key), else a fresh random one.
 */
static int pick_seed(const char *pin_dir, __u64 *seed, char *err, size_t err_len)
{
	struct rl_conf c = {};
	char path[512];
	__u32 zero = 0;
	int fd;

	if (pin_dir[0]) {
		snprintf(path, sizeof(path), "%s/rl_conf", pin_dir);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			int r = bpf_map_lookup_elem(fd, &zero, &c);

			close(fd);
			if (!r && c.seed) {
				*seed = c.seed;
				return 0;
			}
		}
	}
	do {
		if (getrandom(seed, sizeof(*seed), 0) != sizeof(*seed)) {
			rl_seterr(err, err_len, "cannot read a random hash seed: %s",
			       strerror(errno));
			return -errno;
		}
	} while (!*seed);
	return 0;
}

int rl_loader_open(const struct rl_loader_opts *opts, struct rl_loader **out,
		   char *err, size_t err_len)
{
	struct rl_loader_opts o = {};
	struct rl_loader *l;
	struct rl_conf conf;
	struct bpf_map *map;
	struct timespec res;
	__u32 st_n, sl_n;
	__u64 seed, tick;
	char path[512];
	int ret, existed = 0;

	*out = NULL;
	if (err && err_len)
		err[0] = 0;
	if (opts)
		o = *opts;
	if (o.on_full >= __RL_FULL_MAX) {
		rl_seterr(err, err_len, "unknown on-full policy %u", o.on_full);
		return -EINVAL;
	}
	if (o.pin_dir && strlen(o.pin_dir) > RL_PIN_DIR_MAX) {
		rl_seterr(err, err_len, "pin dir %.64s... is %zu characters long; at most %d",
		       o.pin_dir, strlen(o.pin_dir), RL_PIN_DIR_MAX);
		return -ENAMETOOLONG;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		rl_seterr(err, err_len, "out of memory");
		return -ENOMEM;
	}
	snprintf(l->pin_dir, sizeof(l->pin_dir), "%s",
		 o.pin_dir ? o.pin_dir : RL_PIN_DIR_DEFAULT);
	l->xdp_attach = o.xdp_attach;
	l->xdp_prio = o.xdp_prio ? o.xdp_prio : RL_XDP_PRIO_DEFAULT;
	if (o.xdp_attach > RL_ATTACH_LINK) {
		rl_seterr(err, err_len, "unknown XDP attach method %u", o.xdp_attach);
		ret = -EINVAL;
		goto fail;
	}
	rl_libbpf_verbose = o.verbose;
	libbpf_print_to = o.print;
	libbpf_set_print(rl_print_all);
	libxdp_set_print(rl_print_xdp);

	l->skel = rl_xdp_bpf__open();
	if (!l->skel) {
		ret = -errno;
		rl_seterr(err, err_len, "cannot open the BPF object rl_xdp: %s", strerror(-ret));
		goto fail;
	}

	/* the tables are sized by config; everything the datapath needs to
	 * index them is a load-time constant */
	st_n = o.state_entries ? o.state_entries : RL_STATE_ENTRIES_DEFAULT;
	sl_n = o.slog_entries ? o.slog_entries : RL_SLOG_ENTRIES_DEFAULT;
	ret = pick_seed(l->pin_dir, &seed, err, err_len);
	if (ret)
		goto fail;
	tick = 4000000;
	if (!clock_getres(CLOCK_MONOTONIC_COARSE, &res))
		tick = (__u64)res.tv_sec * 1000000000ULL + (__u64)res.tv_nsec;
	l->skel->rodata->rl_seed = seed;
	l->skel->rodata->rl_tick_ns = tick;
	l->skel->rodata->rl_st4_n = st_buckets(st_n, RL_BKT4_SLOTS, 2, 1);
	l->skel->rodata->rl_st6_n = st_buckets(st_n, RL_BKT6_SLOTS, 3, 2);
	if ((ret = map_size(l->skel->maps.rl_st4, l->skel->rodata->rl_st4_n, err, err_len)) ||
	    (ret = map_size(l->skel->maps.rl_st6, l->skel->rodata->rl_st6_n, err, err_len)) ||
	    (ret = map_size(l->skel->maps.rl_sl4, sl_n, err, err_len)) ||
	    (ret = map_size(l->skel->maps.rl_sl6, sl_n, err, err_len)))
		goto fail;

	if (l->pin_dir[0]) {
		ret = make_pin_dir(l->pin_dir, err, err_len);
		if (ret)
			goto fail;
		bpf_object__for_each_map(map, l->skel->obj) {
			/* .rodata is the object's own, rebuilt on every load */
			if (bpf_map__is_internal(map))
				continue;
			snprintf(path, sizeof(path), "%s/%s", l->pin_dir, bpf_map__name(map));
			ret = check_pin(map, path, &existed, l->pin_dir, err, err_len);
			if (!ret)
				ret = bpf_map__set_pin_path(map, path);
			if (ret) {
				if (!err || !err[0])
					rl_seterr(err, err_len, "cannot set pin path %s: %s",
					       path, strerror(-ret));
				goto fail;
			}
		}
	}

	ret = rl_xdp_bpf__load(l->skel);
	if (ret) {
		ret = ret < 0 ? ret : -errno;
		if (ret == -EPERM)
			rl_seterr(err, err_len,
			       "loading the BPF program rl_xdp failed: %s (needs root, or CAP_BPF "
			       "and CAP_NET_ADMIN)", strerror(-ret));
		else
			rl_seterr(err, err_len,
			       "loading the BPF program rl_xdp failed: %s (the libbpf log above "
			       "has the details; -v shows more)", strerror(-ret));
		goto fail;
	}
	l->adopted = existed > 0;
	l->prog_fd = bpf_program__fd(l->skel->progs.rl_xdp);
	l->tc_prog_fd = bpf_program__fd(l->skel->progs.rl_tc_in);
	l->fd.match4 = bpf_map__fd(l->skel->maps.rl_match4);
	l->fd.match6 = bpf_map__fd(l->skel->maps.rl_match6);
	l->fd.st4 = bpf_map__fd(l->skel->maps.rl_st4);
	l->fd.st6 = bpf_map__fd(l->skel->maps.rl_st6);
	l->fd.sl4 = bpf_map__fd(l->skel->maps.rl_sl4);
	l->fd.sl6 = bpf_map__fd(l->skel->maps.rl_sl6);
	l->fd.agg = bpf_map__fd(l->skel->maps.rl_agg);
	l->fd.slagg = bpf_map__fd(l->skel->maps.rl_slagg);
	l->fd.stats = bpf_map__fd(l->skel->maps.rl_stats);
	l->fd.gstats = bpf_map__fd(l->skel->maps.rl_gstats);
	l->fd.conf = bpf_map__fd(l->skel->maps.rl_conf);
	l->fd.catalog = bpf_map__fd(l->skel->maps.rl_catalog);
	l->fd.lists = bpf_map__fd(l->skel->maps.rl_lists);
	l->fd.journal = bpf_map__fd(l->skel->maps.rl_journal);
	l->fd.dir4 = bpf_map__fd(l->skel->maps.rl_dir4);
	l->fd.dir6 = bpf_map__fd(l->skel->maps.rl_dir6);
	l->fd.mval = bpf_map__fd(l->skel->maps.rl_mval);
	l->fd.lst4 = bpf_map__fd(l->skel->maps.rl_lst4);
	l->fd.lst6 = bpf_map__fd(l->skel->maps.rl_lst6);
	l->fd.lbm4 = bpf_map__fd(l->skel->maps.rl_lbm4);
	l->fd.lbm6 = bpf_map__fd(l->skel->maps.rl_lbm6);
	l->fd.events = bpf_map__fd(l->skel->maps.rl_events);
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0) {
		ret = l->ncpus ? l->ncpus : -EINVAL;
		rl_seterr(err, err_len, "cannot count possible CPUs: %s", strerror(-ret));
		goto fail;
	}

	ret = rl_conf_read(l->fd.conf, &conf);
	if (!ret) {
		conf.on_full = o.on_full;
		conf.seed = seed;
		conf.tick_ns = tick;
		ret = rl_conf_write(l->fd.conf, &conf);
	}
	if (ret) {
		rl_seterr(err, err_len, "cannot initialise map rl_conf: %s", strerror(-ret));
		goto fail;
	}
	*out = l;
	return 0;
fail:
	rl_loader_close(l);
	return ret;
}

void rl_loader_close(struct rl_loader *l)
{
	int i;

	if (!l)
		return;
	for (i = 0; i < l->n_links; i++)
		if (l->links[i].fd >= 0)
			close(l->links[i].fd);
	/* the dispatcher's pins hold rl's program there, not these fds */
	rl_ext_close(l);
	rl_xdp_bpf__destroy(l->skel);
	free(l);
}

int rl_loader_unpin(struct rl_loader *l)
{
	struct bpf_map *map;
	int ret = 0, r;

	if (!l || !l->pin_dir[0])
		return 0;
	bpf_object__for_each_map(map, l->skel->obj) {
		if (bpf_map__is_internal(map) || !bpf_map__pin_path(map))
			continue;
		r = bpf_map__unpin(map, NULL);
		if (r && r != -ENOENT && !ret) {
			ret = r;
			rl_seterr(l->err, sizeof(l->err), "cannot remove pin %s: %s",
			       bpf_map__pin_path(map), strerror(-r));
		}
	}
	return ret;
}

static struct rl_loader_link *link_find(struct rl_loader *l, const char *ifname)
{
	int i;

	for (i = 0; i < l->n_links; i++)
		if (!strcmp(l->links[i].ifname, ifname))
			return &l->links[i];
	return NULL;
}

static void mode_name(int ifindex, char *buf, size_t len)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	const char *m = "?";

	if (!buf || !len)
		return;
	if (!bpf_xdp_query(ifindex, 0, &q)) {
		switch (q.attach_mode) {
		case XDP_ATTACHED_DRV: m = "native"; break;
		case XDP_ATTACHED_SKB: m = "generic"; break;
		case XDP_ATTACHED_HW:  m = "offload"; break;
		default: break;
		}
	}
	snprintf(buf, len, "%s", m);
}

/*
 * Open the pinned link for ifname if it is a live XDP link on that very
 * device.  Returns the fd, -ENOENT if there is none to adopt (a stale pin
 * is removed), or -errno.
 */
static int link_adopt(struct rl_loader *l, const char *path, int ifindex,
		      const char *ifname)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, ret;

	if (access(path, F_OK))
		return -ENOENT;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err), "cannot open pinned link %s: %s", path,
		       strerror(-ret));
		return ret;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_XDP) {
		rl_seterr(l->err, sizeof(l->err),
		       "%s is not an XDP link; remove it and attach again", path);
		close(fd);
		return -EINVAL;
	}
	if ((int)info.xdp.ifindex != ifindex) {
		/* the device went away (ifindex 0) or was recreated */
		bpf_link_detach(fd);
		close(fd);
		unlink(path);
		return -ENOENT;
	}
	if (bpf_link_update(fd, l->prog_fd, NULL)) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err),
		       "cannot swap the program of the XDP link on %s (%s): %s", ifname,
		       path, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * libbpf prints the kernel's netlink complaint for every refused tc
 * request, including the expected ones ("Exclusivity flag on" for an
 * existing clsact, "Cannot find specified filter chain" for a filter that
 * is gone); our own message says what matters, so they are shown with -v only.
 */
static int print_tc(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!rl_libbpf_verbose)
		return 0;
	return rl_print_all(level, fmt, ap);
}

/*
 * rl_tc_in on ifindex's clsact ingress.  BPF_TC_F_REPLACE swaps the
 * program of our existing filter in place (NLM_F_REPLACE on the same
 * priority and handle), so a restarted agent leaves no moment without it.
 */
static int tc_attach(struct rl_loader *l, int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = RL_TC_HANDLE, .priority = RL_TC_PRIO,
		    .prog_fd = l->tc_prog_fd, .flags = BPF_TC_F_REPLACE);
	libbpf_print_fn_t old = libbpf_set_print(print_tc);
	int ret, qret;

	qret = bpf_tc_hook_create(&hook);
	ret = qret && qret != -EEXIST ? qret : bpf_tc_attach(&hook, &o);
	libbpf_set_print(old);
	if (qret && qret != -EEXIST)
		rl_seterr(l->err, sizeof(l->err), "cannot create the clsact qdisc on %s: %s%s",
		       ifname, strerror(-ret),
		       ret == -EPERM ? " (needs CAP_NET_ADMIN)" :
		       ret == -ENOENT || ret == -EOPNOTSUPP ?
		       " (the kernel lacks sch_clsact: modprobe sch_ingress)" : "");
	else if (ret)
		rl_seterr(l->err, sizeof(l->err),
		       "cannot attach the TC ingress program to %s (clsact prio %u handle 0x%x): %s%s",
		       ifname, RL_TC_PRIO, RL_TC_HANDLE, strerror(-ret),
		       ret == -EPERM ? " (needs CAP_NET_ADMIN and CAP_BPF)" :
		       ret == -EINVAL ? " (another filter holds that priority with another "
					"protocol? see `tc filter show dev IF ingress`)" : "");
	return ret;
}

/* Delete our filter; a missing one (or a missing clsact) is not an error. */
static int tc_detach(struct rl_loader *l, int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = RL_TC_HANDLE, .priority = RL_TC_PRIO);
	libbpf_print_fn_t old = libbpf_set_print(print_tc);
	int ret = bpf_tc_detach(&hook, &o);

	libbpf_set_print(old);
	if (ret && ret != -ENOENT && ret != -EINVAL) {
		rl_seterr(l->err, sizeof(l->err), "cannot remove the TC ingress filter from %s: %s",
		       ifname, strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * The dispatcher's copy of rl_xdp (user/lib_xdpdisp.c links it): the
 * skeleton opened a second time, rl_tc_in not loaded, every map reusing
 * the first load's fd; libxdp loads it as BPF_PROG_TYPE_EXT.
 */
void rl_ext_close(struct rl_loader *l)
{
	xdp_program__close(l->ext_prog);
	rl_xdp_bpf__destroy(l->ext_skel);
	l->ext_prog = NULL;
	l->ext_skel = NULL;
}

int rl_ext_open(struct rl_loader *l)
{
	struct bpf_map *m, *m1;
	struct xdp_program *p;
	int ret;

	if (l->ext_prog)
		return 0;
	l->ext_skel = rl_xdp_bpf__open();
	if (!l->ext_skel) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err), "cannot open the BPF object rl_xdp again: %s",
		       strerror(-ret));
		return ret;
	}
	bpf_program__set_autoload(l->ext_skel->progs.rl_tc_in, false);
	bpf_object__for_each_map(m, l->ext_skel->obj) {
		m1 = bpf_object__find_map_by_name(l->skel->obj, bpf_map__name(m));
		ret = m1 ? bpf_map__reuse_fd(m, bpf_map__fd(m1)) : -ENOENT;
		if (ret) {
			rl_seterr(l->err, sizeof(l->err), "cannot share map %s with the dispatcher's "
			       "copy of rl_xdp: %s", bpf_map__name(m), strerror(-ret));
			goto fail;
		}
	}
	p = xdp_program__from_bpf_obj(l->ext_skel->obj, "xdp");
	ret = libxdp_get_error(p);
	if (ret) {
		rl_seterr(l->err, sizeof(l->err), "libxdp cannot use the BPF object rl_xdp: %s",
		       strerror(-ret));
		goto fail;
	}
	l->ext_prog = p;
	/* rl passes on what it admits; what it drops goes no further */
	if ((ret = xdp_program__set_run_prio(p, l->xdp_prio)) ||
	    (ret = xdp_program__set_chain_call_enabled(p, XDP_PASS, true))) {
		rl_seterr(l->err, sizeof(l->err), "cannot set rl_xdp's run priority %u: %s",
		       l->xdp_prio, strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	rl_ext_close(l);
	return ret;
}

static int link_attach(struct rl_loader *l, const char *path, int ifindex,
		       const char *ifname, enum rl_xdp_mode mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int fd, ret;

	switch (mode) {
	case RL_XDP_NATIVE:  lo.flags = XDP_FLAGS_DRV_MODE; break;
	case RL_XDP_GENERIC: lo.flags = XDP_FLAGS_SKB_MODE; break;
	default:             lo.flags = 0; break;
	}
	fd = bpf_link_create(l->prog_fd, ifindex, BPF_XDP, &lo);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EBUSY || ret == -EEXIST)
			rl_seterr(l->err, sizeof(l->err),
			       "cannot attach XDP to %s: another XDP program is attached "
			       "(see `ip link show %s`; remove it with `ip link set dev %s xdp off` "
			       "if it is not needed, or load it through libxdp (xdp-loader) so "
			       "that rl can join its dispatcher)", ifname, ifname, ifname);
		else if (ret == -EOPNOTSUPP && mode == RL_XDP_NATIVE)
			rl_seterr(l->err, sizeof(l->err),
			       "cannot attach XDP to %s in native mode: the driver has no native "
			       "XDP; use mode auto or generic", ifname);
		else if (ret == -EPERM)
			rl_seterr(l->err, sizeof(l->err),
			       "cannot attach XDP to %s: %s (needs CAP_NET_ADMIN and CAP_BPF)",
			       ifname, strerror(-ret));
		else
			rl_seterr(l->err, sizeof(l->err), "cannot attach XDP to %s: %s",
			       ifname, strerror(-ret));
		return ret;
	}
	if (path[0] && bpf_obj_pin(fd, path)) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err),
		       "attached XDP to %s but cannot pin the link at %s: %s (detached again)",
		       ifname, path, strerror(-ret));
		bpf_link_detach(fd);
		close(fd);
		return ret;
	}
	return fd;
}

int rl_loader_attach(struct rl_loader *l, const char *ifname,
		     enum rl_xdp_mode mode, char *mode_out, size_t mode_len)
{
	struct rl_loader_link *lk, nl = { .fd = -1 };
	char path[512] = "";
	int ifindex, fd, ret, created = 0;
	__u32 old_id = 0;

	l->note[0] = 0;
	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err), "interface %s: %s", ifname, strerror(-ret));
		return ret;
	}
	lk = link_find(l, ifname);
	if (lk && lk->ifindex == ifindex) {
		mode_name(ifindex, mode_out, mode_len);
		return 0;
	}
	if (!lk && l->n_links >= RL_LOADER_MAX_LINKS) {
		rl_seterr(l->err, sizeof(l->err), "too many interfaces (at most %d)",
		       RL_LOADER_MAX_LINKS);
		return -E2BIG;
	}

	/* adopt what a previous agent left, whatever it was */
	if (l->pin_dir[0]) {
		snprintf(path, sizeof(path), "%s/link_%s", l->pin_dir, ifname);
		fd = link_adopt(l, path, ifindex, ifname);
		if (fd >= 0) {
			nl.fd = fd;
			nl.adopted = 1;
			goto done;
		}
		if (fd != -ENOENT)
			return fd;
	}
	ret = rl_disp_adopt(l, &nl, ifindex, &old_id);
	if (ret < 0)
		return ret;
	if (ret)
		goto done;

	/* another build's rl_xdp in a dispatcher is replaced there, whatever
	 * xdp_attach says: a link could not go on beside the dispatcher */
	if (l->xdp_attach != RL_ATTACH_LINK || old_id) {
		ret = rl_disp_attach(l, &nl, ifindex, ifname, mode);
		if (!ret) {
			created = 1;
			/* another build's rl_xdp goes once the new one runs */
			if (old_id && rl_disp_detach(l, ifindex, ifname, old_id) && old_id)
				rl_seterr(l->note, sizeof(l->note),
				       "the previous rl_xdp (id %u) stays in the dispatcher on %s: %s",
				       old_id, ifname, l->err);
			goto done;
		}
		if (l->xdp_attach == RL_ATTACH_DISPATCHER || old_id)
			return ret;
		rl_seterr(l->note, sizeof(l->note), "%s; falling back to rl's own bpf_link, which "
		       "holds the XDP hook of %s alone", l->err, ifname);
		l->err[0] = 0;
	}
	fd = link_attach(l, path, ifindex, ifname, mode);
	if (fd < 0)
		return fd;
	nl.fd = fd;
	created = 1;
done:
	ret = tc_attach(l, ifindex, ifname);
	if (ret) {
		/* what we just attached goes again; an adopted one keeps enforcing */
		if (created && nl.dispatcher) {
			rl_disp_detach(l, ifindex, ifname, nl.prog_id);
		} else if (created) {
			bpf_link_detach(nl.fd);
			if (path[0])
				unlink(path);
		}
		if (nl.fd >= 0)
			close(nl.fd);
		return ret;
	}
	if (lk) {
		if (lk->fd >= 0)
			close(lk->fd);
	} else {
		lk = &l->links[l->n_links++];
	}
	snprintf(nl.ifname, sizeof(nl.ifname), "%s", ifname);
	nl.ifindex = ifindex;
	*lk = nl;
	mode_name(ifindex, mode_out, mode_len);
	return 0;
}

int rl_loader_detach(struct rl_loader *l, const char *ifname)
{
	struct rl_loader_link *lk = link_find(l, ifname);
	char path[512] = "";
	int fd = -1, ret = 0, ifindex;

	ifindex = lk ? lk->ifindex : (int)if_nametoindex(ifname);
	if (l->pin_dir[0])
		snprintf(path, sizeof(path), "%s/link_%s", l->pin_dir, ifname);
	if (lk && lk->dispatcher) {
		ret = rl_disp_detach(l, ifindex, ifname, lk->prog_id);
		if (ret == -ENOENT) {
			/* someone took it out already: nothing of ours runs there */
			ret = 0;
		}
		goto tc;
	}
	if (lk) {
		fd = lk->fd;
	} else if (path[0] && !access(path, F_OK)) {
		fd = bpf_obj_get(path);
		if (fd < 0) {
			ret = -errno;
			rl_seterr(l->err, sizeof(l->err), "cannot open pinned link %s: %s",
			       path, strerror(-ret));
			return ret;
		}
	} else {
		if (ifindex && !rl_disp_detach(l, ifindex, ifname, 0))
			goto tc;
		if (ifindex)
			tc_detach(l, ifindex, ifname);
		rl_seterr(l->err, sizeof(l->err), "rl is not attached to %s", ifname);
		return -ENOENT;
	}
	/* detach even if someone else holds the link open */
	if (bpf_link_detach(fd) && errno != ENOLINK) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err), "cannot detach XDP from %s: %s", ifname,
		       strerror(-ret));
	}
	if (path[0] && unlink(path) && errno != ENOENT && !ret) {
		ret = -errno;
		rl_seterr(l->err, sizeof(l->err), "cannot remove pinned link %s: %s", path,
		       strerror(-ret));
	}
	close(fd);
tc:
	/* after XDP: until then TC labels what XDP defers to it */
	if (ifindex && !ret)
		ret = tc_detach(l, ifindex, ifname);
	else if (ifindex)
		tc_detach(l, ifindex, ifname);
	if (lk)
		*lk = l->links[--l->n_links];
	return ret;
}

int rl_ctr_sum(int map_fd, __u32 key, struct rl_ctr *out)
{
	int i, n = libbpf_num_possible_cpus();
	struct rl_ctr *v;

	memset(out, 0, sizeof(*out));
	if (n <= 0)
		return n ? n : -EINVAL;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, &key, v)) {
		i = -errno;
		free(v);
		return i;
	}
	for (i = 0; i < n; i++) {
		out->packets += v[i].packets;
		out->bytes += v[i].bytes;
	}
	free(v);
	return 0;
}

int rl_ctr_zero(int map_fd, __u32 key)
{
	int ret = 0, n = libbpf_num_possible_cpus();
	struct rl_ctr *v;

	if (n <= 0)
		return n ? n : -EINVAL;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_update_elem(map_fd, &key, v, BPF_ANY))
		ret = -errno;
	free(v);
	return ret;
}

int rl_conf_read(int conf_fd, struct rl_conf *c)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(conf_fd, &zero, c) ? -errno : 0;
}

int rl_conf_write(int conf_fd, const struct rl_conf *c)
{
	__u32 zero = 0;

	return bpf_map_update_elem(conf_fd, &zero, c, BPF_ANY) ? -errno : 0;
}
