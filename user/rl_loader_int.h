/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_loader_int.h - what user/lib_loader.c and user/lib_xdpdisp.c share
 * and nothing else includes: the message helpers, and the dispatcher side
 * of rl_loader_attach/detach.  Every int function returns 0 or -errno and
 * writes its reason into l->err.
 */
#ifndef RL_LOADER_INT_H
#define RL_LOADER_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "rl_loader.h"

void rl_seterr(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* libbpf's and libxdp's messages, to opts->print or stderr (debug: -v) */
extern int rl_libbpf_verbose;
int rl_print_all(enum libbpf_print_level level, const char *fmt, va_list ap);
int rl_print_xdp(enum libxdp_print_level level, const char *fmt, va_list ap);

/* lib_loader.c: the dispatcher's copy of rl_xdp (l->ext_skel, l->ext_prog) */
int rl_ext_open(struct rl_loader *l);
void rl_ext_close(struct rl_loader *l);

/*
 * lib_xdpdisp.c.  rl_disp_adopt: 1 if rl's program (same maps, same
 * build) is in ifindex's dispatcher and lk now describes it; 0 if not,
 * with *old_id set if one of another build is there (to replace).
 * rl_disp_attach: put l->ext_prog in (-EOPNOTSUPP: no dispatcher here;
 * l->disp_broken then stops further tries).  rl_disp_detach: take rl's
 * program (id, or 0: the one using these maps) out; -ENOENT if absent.
 */
int rl_disp_adopt(struct rl_loader *l, struct rl_loader_link *lk, int ifindex,
		  __u32 *old_id);
int rl_disp_attach(struct rl_loader *l, struct rl_loader_link *lk, int ifindex,
		   const char *ifname, enum rl_xdp_mode mode);
int rl_disp_detach(struct rl_loader *l, int ifindex, const char *ifname, __u32 id);

#endif /* RL_LOADER_INT_H */
