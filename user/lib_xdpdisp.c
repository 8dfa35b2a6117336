// SPDX-License-Identifier: GPL-2.0
/*
 * lib_xdpdisp.c - rl_xdp in libxdp's multi-program dispatcher, for
 * user/lib_loader.c (rl_loader_attach/detach): find rl's program in an
 * interface's dispatcher, adopt it, put it in, take it out.  Declared in
 * user/rl_loader_int.h.
 *
 * libxdp runs several XDP programs on one hook: a dispatcher program is
 * attached, and each component is a BPF_PROG_TYPE_EXT (freplace) program
 * linked into one of its slots, in run-priority order; a component's
 * XDP_PASS goes on to the next one.  rl's component is a second load of
 * rl_xdp from the same object, as EXT, reusing every map fd of the first
 * load (so both see the same pinned maps); libxdp does that load itself
 * when it first links the program, to the dispatcher it built.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "rl_loader.h"
#include "rl_loader_int.h"

/* libxdp's messages through the same printer as libbpf's */
int rl_print_xdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return rl_print_all((enum libbpf_print_level)level, fmt, ap);
}

static __u32 conf_map_id(struct rl_loader *l)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(l->fd.conf, &info, &len) ? 0 : info.id;
}

/* 1 if prog_fd uses map id `map` */
static int prog_uses_map(int prog_fd, __u32 map)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[64];

	info.nr_map_ids = 64;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	for (__u32 i = 0; i < info.nr_map_ids && i < 64; i++)
		if (ids[i] == map)
			return 1;
	return 0;
}

/*
 * rl's program in the dispatcher on ifindex: the component named rl_xdp
 * that uses this loader's rl_conf.  Another rl (another pin dir) on the
 * same interface is not ours.  *mp_out (to close) is the dispatcher.
 */
static struct xdp_program *disp_find(struct rl_loader *l, int ifindex,
				     struct xdp_multiprog **mp_out)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;
	__u32 conf = conf_map_id(l);

	*mp_out = NULL;
	if (libxdp_get_error(mp) || !mp)
		return NULL;
	if (xdp_multiprog__is_legacy(mp)) {
		xdp_multiprog__close(mp);
		return NULL;
	}
	while ((p = xdp_multiprog__next_prog(p, mp)))
		if (!strcmp(xdp_program__name(p), "rl_xdp") &&
		    prog_uses_map(xdp_program__fd(p), conf))
			break;
	if (!p) {
		xdp_multiprog__close(mp);
		return NULL;
	}
	*mp_out = mp;
	return p;
}

/* Take rl's program (id, or 0: the one disp_find names) out of ifindex's
 * dispatcher; the others stay.  -ENOENT if it is not there. */
int rl_disp_detach(struct rl_loader *l, int ifindex, const char *ifname, __u32 id)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p = disp_find(l, ifindex, &mp);
	int ret;

	if (p && id)
		for (p = NULL; (p = xdp_multiprog__next_prog(p, mp));)
			if (xdp_program__id(p) == id)
				break;
	if (!p) {
		xdp_multiprog__close(mp);
		return -ENOENT;
	}
	ret = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
	if (ret)
		rl_seterr(l->err, sizeof(l->err),
		       "cannot take rl_xdp out of the XDP dispatcher on %s: %s%s", ifname,
		       strerror(-ret), ret == -EPERM ?
		       " (needs CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)" : "");
	xdp_multiprog__close(mp);
	return ret;
}

static const unsigned char *fd_tag(int fd, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? NULL : info->tag;
}

/*
 * Adopt rl's program in ifindex's dispatcher: 1 if it is there and kept,
 * 0 if there is none (or it was from another build and is to be replaced:
 * *old_id says which), -errno on error.
 */
int rl_disp_adopt(struct rl_loader *l, struct rl_loader_link *lk, int ifindex,
		      __u32 *old_id)
{
	struct bpf_prog_info mine;
	struct xdp_multiprog *mp;
	struct xdp_program *p = disp_find(l, ifindex, &mp);
	const unsigned char *tag;

	*old_id = 0;
	if (!p)
		return 0;
	/* the same instructions (map addresses do not enter the tag) */
	tag = fd_tag(l->prog_fd, &mine);
	if (!tag || memcmp(tag, xdp_program__tag(p), BPF_TAG_SIZE)) {
		*old_id = xdp_program__id(p);
		xdp_multiprog__close(mp);
		return 0;
	}
	lk->dispatcher = 1;
	lk->adopted = 1;
	lk->fd = -1;
	lk->prog_id = xdp_program__id(p);
	lk->prio = xdp_program__run_prio(p);
	if (lk->prio != l->xdp_prio)
		rl_seterr(l->note, sizeof(l->note),
		       "rl_xdp keeps run priority %u in the dispatcher (%u is configured: "
		       "detach it, or stop rlagent with --detach-on-exit, to change it)",
		       lk->prio, l->xdp_prio);
	xdp_multiprog__close(mp);
	return 1;
}

/*
 * What libbpf and libxdp say while libxdp builds its dispatcher: its own
 * probes fail by design on kernels without the features it needs, so
 * their lines are shown with -v only; the last failure is kept for our
 * message.
 */
static char disp_why[200];

static void disp_note(const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	if (!strstr(line, "failed") && !strstr(line, "Failed"))
		return;
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	snprintf(disp_why, sizeof(disp_why), "%.190s",
		 strncmp(line, "libxdp: ", 8) && strncmp(line, "libbpf: ", 8) ? line : line + 8);
}

static int print_disp(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list ap2;

	va_copy(ap2, ap);
	disp_note(fmt, ap2);
	va_end(ap2);
	return rl_libbpf_verbose ? rl_print_all(level, fmt, ap) : 0;
}

static int print_disp_xdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return print_disp((enum libbpf_print_level)level, fmt, ap);
}

int rl_disp_attach(struct rl_loader *l, struct rl_loader_link *lk, int ifindex,
		       const char *ifname, enum rl_xdp_mode mode)
{
	enum xdp_attach_mode m = mode == RL_XDP_NATIVE ? XDP_MODE_NATIVE :
				 mode == RL_XDP_GENERIC ? XDP_MODE_SKB : XDP_MODE_UNSPEC;
	struct xdp_multiprog *mp;
	libbpf_print_fn_t old;
	char buf[128] = "";
	int ret, legacy;

	if (l->disp_broken) {
		rl_seterr(l->err, sizeof(l->err), "%s", l->disp_broken_why);
		return -EOPNOTSUPP;
	}
	ret = rl_ext_open(l);
	if (ret)
		return ret;
	disp_why[0] = 0;
	old = libbpf_set_print(print_disp);
	libxdp_set_print(print_disp_xdp);
	ret = xdp_program__attach(l->ext_prog, ifindex, m, 0);
	libbpf_set_print(old);
	libxdp_set_print(rl_print_xdp);
	if (ret) {
		libxdp_strerror(ret, buf, sizeof(buf));
		rl_seterr(l->err, sizeof(l->err), "libxdp cannot put rl_xdp into an XDP dispatcher "
		       "on %s: %s%s%s%s", ifname, buf,
		       ret == -EPERM ? " (needs CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON and "
				       "CAP_NET_ADMIN)" :
		       ret == -EEXIST || ret == -EBUSY ? " (a program that is not in a "
				       "dispatcher holds the hook: see `ip link show`)" : "",
		       disp_why[0] ? "; libxdp: " : "", disp_why);
		return ret;
	}
	/*
	 * When the dispatcher cannot load, libxdp 1.3 attaches the program
	 * alone instead ("legacy" mode), which would hold the hook as
	 * exclusively as rl's own link does and leave rl's program of the
	 * wrong type for any later dispatcher: take it off again and say so.
	 */
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	legacy = libxdp_get_error(mp) || !mp || xdp_multiprog__is_legacy(mp);
	if (legacy) {
		if (!libxdp_get_error(mp) && mp)
			xdp_multiprog__detach(mp);
		rl_seterr(l->disp_broken_why, sizeof(l->disp_broken_why),
		       "libxdp's XDP dispatcher cannot load here%s%s%s (on kernels that refuse "
		       "freplace programs, BPF_PROG_TYPE_EXT, libxdp runs one program alone)",
		       getenv("LIBXDP_SKIP_DISPATCHER") ? ": LIBXDP_SKIP_DISPATCHER is set" : "",
		       disp_why[0] ? "; libxdp: " : "", disp_why);
		l->disp_broken = 1;
		rl_seterr(l->err, sizeof(l->err), "%s", l->disp_broken_why);
		if (!libxdp_get_error(mp))
			xdp_multiprog__close(mp);
		/* loaded as a plain XDP program now: of no use to a dispatcher */
		rl_ext_close(l);
		return -EOPNOTSUPP;
	}
	xdp_multiprog__close(mp);
	lk->dispatcher = 1;
	lk->fd = -1;
	lk->prog_id = xdp_program__id(l->ext_prog);
	lk->prio = l->xdp_prio;
	return 0;
}
