// SPDX-License-Identifier: GPL-2.0
/*
 * agent_bpf.c - the agent's BPF side, a thin layer over the loader
 * (user/rl_loader.h): make sure bpffs is there, load or adopt the pinned
 * maps, attach or adopt the XDP links, and hand the map fds to the rest of
 * the agent, with the per-source state tables mapped into memory (the
 * sweep and `top` read them in place).  Keeping every loader call here
 * keeps the model and the control code free of libbpf.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agent.h"
#include "rl_loader.h"

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/*
 * The pin dir must live on bpffs.  The usual /sys/fs/bpf is mounted by
 * systemd; on bare systems (containers, CI) it is not, so mount it there.
 * Elsewhere, tell the user rather than mount over their directories.
 */
int ensure_bpffs(const char *pin_dir)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", pin_dir);
	/* The nearest existing ancestor decides which filesystem it is on. */
	while (access(dir, F_OK) && (slash = strrchr(dir, '/')) && slash != dir)
		*slash = 0;
	if (is_bpffs(dir))
		return 0;
	if (!strncmp(pin_dir, "/sys/fs/bpf/", 12) && is_bpffs("/sys/fs/bpf") == false) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			int err = -errno;

			log_err("/sys/fs/bpf is not a bpffs and mounting one failed: %s; run `mount -t bpf bpf /sys/fs/bpf` as root",
				strerror(errno));
			return err;
		}
		log_info("mounted bpffs on /sys/fs/bpf");
		return 0;
	}
	log_err("pin dir %s is not on a bpffs; mount one (`mount -t bpf bpf DIR`) or use a --pin-dir under /sys/fs/bpf",
		pin_dir);
	return -ENOTSUP;
}

static int pin_lock_fd = -1;

/* Creates the pin dir like `mkdir -p`, mode 0700 for what it creates. */
static int mkdir_p(const char *path)
{
	char dir[PATH_MAX];
	char *p;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Two agents on one pin dir would each believe their model is what the
 * maps hold and undo each other's changes; a flock on the directory (held
 * for the agent's life, released by the kernel even on kill -9) makes the
 * second one stop at once.
 */
static int lock_pin_dir(const char *pin_dir)
{
	int fd, err = mkdir_p(pin_dir);

	if (err) {
		log_err("creating pin dir %s: %s", pin_dir, strerror(-err));
		return err;
	}
	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_err("opening pin dir %s: %s", pin_dir, strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (errno == EWOULDBLOCK)
			log_err("another rlagent is using pin dir %s; stop it first, or give this one its own --pin-dir",
				pin_dir);
		else
			log_err("locking pin dir %s: %s", pin_dir, strerror(errno));
		close(fd);
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	pin_lock_fd = fd;
	return 0;
}

/*
 * Map a BPF_F_MMAPABLE state table shared, read-write: the sweep clears
 * slots with compare-and-swap in place.  *n gets its bucket count.
 */
static int map_table(int fd, const char *name, size_t bsz, void **out, uint32_t *n)
{
	uint32_t max = 0, type = 0;
	void *p;
	int ret;

	*out = NULL;
	*n = 0;
	ret = agent_map_info(fd, &max, &type);
	if (ret) {
		log_err("reading map %s: %s", name, strerror(-ret));
		return ret;
	}
	p = mmap(NULL, (size_t)max * bsz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		log_err("mapping %s (%u buckets, %zu bytes): %s", name, max, (size_t)max * bsz,
			strerror(errno));
		return ret;
	}
	*out = p;
	*n = max;
	return 0;
}

static void unmap_tables(struct agent *a)
{
	if (a->maps.bkt4)
		munmap(a->maps.bkt4, (size_t)a->maps.n_bkt4 * sizeof(*a->maps.bkt4));
	if (a->maps.bkt6)
		munmap(a->maps.bkt6, (size_t)a->maps.n_bkt6 * sizeof(*a->maps.bkt6));
	if (a->maps.lbm[0])
		munmap(a->maps.lbm[0], (size_t)a->maps.n_lbm[0] * sizeof(uint64_t));
	if (a->maps.lbm[1])
		munmap(a->maps.lbm[1], (size_t)a->maps.n_lbm[1] * sizeof(uint64_t));
	a->maps.lbm[0] = a->maps.lbm[1] = NULL;
	a->maps.bkt4 = NULL;
	a->maps.bkt6 = NULL;
	a->maps.n_bkt4 = a->maps.n_bkt6 = 0;
}

/*
 * libbpf's messages (a refused program's verifier log runs to many lines)
 * as the agent's own log lines, one per line, so each carries its level:
 * a priority in the journal, a tag on a terminal.
 */
static int print_libbpf(int level, const char *fmt, va_list ap)
{
	int lvl = level == LIBBPF_WARN ? LOG_LVL_WARN :
		  level == LIBBPF_INFO ? LOG_LVL_INFO : LOG_LVL_DEBUG;
	char *buf, *line, *save = NULL;
	va_list ap2;
	int n;

	if (lvl > agent_log_level)
		return 0;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return n;
	buf = malloc((size_t)n + 1);
	if (!buf)
		return -ENOMEM;
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		agent_log(lvl, "libbpf: %s", line);
	free(buf);
	return n;
}

int agent_bpf_open(struct agent *a)
{
	struct rl_loader_opts opts = {
		.pin_dir = a->pin_dir,
		.on_full = a->cfg.defaults.on_full,
		.state_entries = a->cfg.defaults.state_entries,
		.verbose = agent_log_level >= LOG_LVL_DEBUG,
		.print = print_libbpf,
		.xdp_attach = a->cfg.defaults.xdp_attach,
		.xdp_prio = a->cfg.defaults.xdp_prio,
	};
	struct rl_loader *l = NULL;
	char err[RL_LOADER_ERR_LEN] = "";
	int i, ret;

	ret = lock_pin_dir(a->pin_dir);
	if (ret)
		return ret;
	ret = rl_loader_open(&opts, &l, err, sizeof(err));
	if (ret) {
		log_err("loading the datapath (pins in %s): %s", a->pin_dir,
			err[0] ? err : strerror(-ret));
		return ret;
	}
	a->bpf = l;
	a->ncpus = l->ncpus;
	a->maps.match4 = l->fd.match4;
	a->maps.match6 = l->fd.match6;
	a->maps.stats = l->fd.stats;
	a->maps.gstats = l->fd.gstats;
	a->maps.agg = l->fd.agg;
	a->maps.slagg = l->fd.slagg;
	a->maps.conf = l->fd.conf;
	a->maps.catalog = l->fd.catalog;
	a->maps.lists = l->fd.lists;
	a->maps.lst4 = l->fd.lst4;
	a->maps.lst6 = l->fd.lst6;
	a->maps.lbm4 = l->fd.lbm4;
	a->maps.lbm6 = l->fd.lbm6;
	a->maps.events = l->fd.events;
	a->maps.journal = l->fd.journal;
	a->maps.st4 = l->fd.st4;
	a->maps.st6 = l->fd.st6;
	a->maps.sl4 = l->fd.sl4;
	a->maps.sl6 = l->fd.sl6;
	a->maps.dir4 = l->fd.dir4;
	a->maps.dir6 = l->fd.dir6;
	a->maps.mval = l->fd.mval;
	a->st_capacity = opts.state_entries ? opts.state_entries : RL_STATE_ENTRIES_DEFAULT;
	ret = map_table(a->maps.st4, "rl_st4", sizeof(struct rl_bkt4), (void **)&a->maps.bkt4, &a->maps.n_bkt4);
	if (!ret)
		ret = map_table(a->maps.st6, "rl_st6", sizeof(struct rl_bkt6), (void **)&a->maps.bkt6, &a->maps.n_bkt6);
	if (!ret)
		ret = map_table(a->maps.lbm4, "rl_lbm4", sizeof(uint64_t), (void **)&a->maps.lbm[0],
				&a->maps.n_lbm[0]);
	if (!ret)
		ret = map_table(a->maps.lbm6, "rl_lbm6", sizeof(uint64_t), (void **)&a->maps.lbm[1],
				&a->maps.n_lbm[1]);
	if (!ret)
		ret = agent_dir_open(a, l->adopted);
	if (ret)
		return ret;
	log_info("%s the maps in %s", l->adopted ? "adopted" : "created and pinned", a->pin_dir);

	for (i = 0; i < a->cfg.n_ifaces; i++) {
		struct agent_iface *ifc = &a->ifaces[a->n_ifaces];
		const struct rl_iface *ci = &a->cfg.ifaces[i];
		int k, adopted = 0;

		snprintf(ifc->name, sizeof(ifc->name), "%s", ci->name);
		snprintf(ifc->mode, sizeof(ifc->mode), "?");
		ret = rl_loader_attach(l, ci->name, (enum rl_xdp_mode)ci->xdp_mode, ifc->mode,
				       sizeof(ifc->mode));
		if (ret) {
			log_err("attaching XDP to %s: %s", ci->name, l->err[0] ? l->err : strerror(-ret));
			return ret;
		}
		if (l->note[0])
			log_warn("%s", l->note);
		snprintf(ifc->note, sizeof(ifc->note), "%s", l->note);
		for (k = 0; k < l->n_links; k++) {
			if (strcmp(l->links[k].ifname, ci->name))
				continue;
			ifc->ifindex = l->links[k].ifindex;
			ifc->dispatcher = l->links[k].dispatcher;
			ifc->prio = l->links[k].prio;
			adopted = l->links[k].adopted;
		}
		if (ifc->dispatcher)
			log_info("XDP (%s mode) on %s (ifindex %d) in libxdp's dispatcher at run priority %u%s",
				 ifc->mode, ifc->name, ifc->ifindex, ifc->prio,
				 adopted ? ": adopted rl's program there" : "");
		else
			log_info("XDP (%s mode) on %s (ifindex %d) through rl's own bpf_link%s",
				 ifc->mode, ifc->name, ifc->ifindex,
				 adopted ? ": adopted the pinned link" : "");
		a->n_ifaces++;
	}
	/* rl_loader_attach put TC on as well; the first apply takes it off
	 * again unless a rule has action mark */
	a->tc_on = a->n_ifaces > 0;
	return 0;
}

/*
 * libbpf logs the kernel's complaint for every refused tc request, the
 * expected ones too (the clsact that exists, the filter that is gone):
 * quiet while we make them, our own messages say what matters.
 */
static int print_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/*
 * rl_tc_in on or off ifindex's clsact ingress, at the loader's priority
 * and handle (rl_loader.h), so that this and rl_loader_attach/detach
 * manage one and the same filter.  Attaching replaces the program of a
 * filter already there; detaching a missing filter is not an error.
 */
static int tc_set(struct rl_loader *l, int ifindex, bool on)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = RL_TC_HANDLE, .priority = RL_TC_PRIO);
	bool quiet = agent_log_level < LOG_LVL_DEBUG;
	libbpf_print_fn_t old = quiet ? libbpf_set_print(print_quiet) : NULL;
	int ret;

	if (on) {
		o.prog_fd = l->tc_prog_fd;
		o.flags = BPF_TC_F_REPLACE;
		ret = bpf_tc_hook_create(&hook);
		if (!ret || ret == -EEXIST)
			ret = bpf_tc_attach(&hook, &o);
	} else {
		ret = bpf_tc_detach(&hook, &o);
		if (ret == -ENOENT || ret == -EINVAL)
			ret = 0;
	}
	if (quiet)
		libbpf_set_print(old);
	return ret;
}

int agent_bpf_tc(struct agent *a, bool on, struct rl_err *err)
{
	struct rl_loader *l = a->bpf;
	int i, ret = 0, r;

	if (!l)
		return 0;
	for (i = 0; i < a->n_ifaces; i++) {
		r = tc_set(l, a->ifaces[i].ifindex, on);
		if (!r)
			continue;
		if (on) {
			agent_err(err, "cannot attach the TC ingress program (action mark) to %s "
				  "(clsact prio %u handle 0x%x): %s%s", a->ifaces[i].name, RL_TC_PRIO,
				  RL_TC_HANDLE, strerror(-r),
				  r == -EINVAL ? " (another filter holds that priority? see `tc filter show dev IF ingress`)" :
				  r == -ENOENT || r == -EOPNOTSUPP ? " (the kernel lacks sch_clsact)" : "");
			/* all or none: mark rules need TC wherever XDP defers */
			while (i--)
				tc_set(l, a->ifaces[i].ifindex, false);
			return r;
		}
		log_warn("removing the TC ingress program from %s: %s (it only costs time: "
			 "no rule has action mark)", a->ifaces[i].name, strerror(-r));
		ret = r;
	}
	a->tc_on = on;
	if (a->n_ifaces)
		log_info("TC ingress program %s (%s rule with action mark)",
			 on ? "attached" : "detached", on ? "a" : "no");
	return ret;
}

/*
 * --detach-on-exit: remove what rl pinned and nothing else (the pin dir
 * may be shared: --pin-dir /sys/fs/bpf holds other tools' pins), then the
 * dir itself if that left it empty.
 */
static void unpin_ours(struct agent *a, struct rl_loader *l)
{
	if (rl_loader_unpin(l))
		log_warn("removing the pins: %s", l->err);
	if (!rmdir(a->pin_dir))
		return;
	if (errno == ENOTEMPTY || errno == EEXIST)
		log_info("pin dir %s still holds entries rl did not create (or links of interfaces no longer configured): left in place",
			 a->pin_dir);
	else
		log_warn("removing pin dir %s: %s", a->pin_dir, strerror(errno));
}

void agent_bpf_close(struct agent *a, bool detach)
{
	struct rl_loader *l = a->bpf;
	int i;

	if (!l)
		return;
	unmap_tables(a);
	agent_dir_close(a);
	if (detach) {
		for (i = 0; i < a->n_ifaces; i++)
			if (rl_loader_detach(l, a->ifaces[i].name))
				log_warn("detaching XDP from %s: %s", a->ifaces[i].name, l->err);
	}
	if (detach)
		unpin_ours(a, l);
	rl_loader_close(l);
	a->bpf = NULL;
	if (pin_lock_fd >= 0) {
		close(pin_lock_fd);
		pin_lock_fd = -1;
	}
}

int agent_bpf_write_conf(struct agent *a)
{
	struct rl_conf c = {};
	int ret;

	/* seed and tick belong to the loader: read, change ours, write */
	ret = rl_conf_read(a->maps.conf, &c);
	if (ret) {
		log_err("reading rl_conf: %s", strerror(-ret));
		return ret;
	}
	c.on_full = a->cfg.defaults.on_full;
	c.malformed = a->cfg.defaults.malformed;
	c.coarse_clock = a->cfg.defaults.coarse_clock;
	c.events = a->events_on;
	ret = rl_conf_write(a->maps.conf, &c);
	if (ret)
		log_err("writing rl_conf: %s", strerror(-ret));
	return ret;
}

int agent_pcpu_sum(struct agent *a, int fd, uint32_t key, struct rl_ctr *out)
{
	(void)a;
	return rl_ctr_sum(fd, key, out);
}

int agent_pcpu_zero(struct agent *a, int fd, uint32_t key)
{
	(void)a;
	return rl_ctr_zero(fd, key);
}

int agent_map_info(int fd, uint32_t *max_entries, uint32_t *type)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*max_entries = info.max_entries;
	*type = info.type;
	return 0;
}
