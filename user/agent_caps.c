// SPDX-License-Identifier: GPL-2.0
/*
 * agent_caps.c - least privilege.  Once the datapath is loaded, attached
 * and pinned and the sockets listen, the agent keeps only the
 * capabilities that what it still does needs, in its effective, permitted
 * and bounding sets (libcap-ng), and drops every other one for good:
 *
 *   CAP_NET_ADMIN  the TC program goes on and off the interfaces' clsact
 *                  ingress as rules with action mark come and go at run
 *                  time (netlink), and comes off at --detach-on-exit
 *   CAP_BPF        only where this kernel still checks it on every bpf()
 *                  call when unprivileged BPF is off (before 6.5): map
 *                  lookups and updates through the open fds; probed, not
 *                  guessed from the version
 *   CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON
 *                  only with --detach-on-exit and rl in libxdp's
 *                  dispatcher: taking rl out finds the dispatcher by id
 *                  (CAP_SYS_ADMIN) and loads a new one for the programs
 *                  that stay
 *
 * XDP is never attached again at run time: interfaces and xdp-attach
 * change only with a restart, and a restarted agent starts with its full
 * set (adopting a pinned link or a dispatcher entry needs CAP_SYS_ADMIN
 * and CAP_BPF, and is done before the drop).
 *
 * Everything else works on fds and files the agent already holds or owns
 * (uid 0 stays): map fds and the mmap'd state tables, the control socket
 * and the metrics listener, the pins (unlinked at --detach-on-exit), the
 * config file it reloads and saves.  Called once from rlagent.c; what it
 * kept is in a->caps, for `status` and the log.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cap-ng.h>
#include <linux/capability.h>
#include "agent.h"

static void add(struct agent *a, int cap)
{
	const char *n = capng_capability_to_name((unsigned int)cap);
	size_t len = strlen(a->caps);

	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
		     (unsigned long)cap);
	snprintf(a->caps + len, sizeof(a->caps) - len, "%scap_%s", len ? " " : "",
		 n ? n : "?");
}

static int cap_last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	int n = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = CAP_LAST_CAP;
		fclose(f);
	}
	return n;
}

/*
 * Does a map operation through an open fd still need CAP_BPF here?  Try
 * one with CAP_BPF and CAP_SYS_ADMIN (either makes bpf_capable() true) out
 * of the effective set only, where they can be raised again.
 */
static bool map_ops_need_bpf(struct agent *a)
{
	bool need;

	if (capng_get_caps_process())
		return true;
	capng_update(CAPNG_DROP, CAPNG_EFFECTIVE, CAP_BPF);
	capng_update(CAPNG_DROP, CAPNG_EFFECTIVE, CAP_SYS_ADMIN);
	if (capng_apply(CAPNG_SELECT_CAPS))
		return true;
	need = agent_bpf_write_conf(a) == -EPERM;
	capng_get_caps_process();
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, CAP_BPF);
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, CAP_SYS_ADMIN);
	capng_apply(CAPNG_SELECT_CAPS);
	return need;
}

/* Returns 0: a failure to drop is logged, and the agent runs on. */
int agent_caps_drop(struct agent *a)
{
	bool disp = false, bpf;
	int i, ret;

	for (i = 0; i < a->n_ifaces; i++)
		disp |= a->ifaces[i].dispatcher;
	bpf = map_ops_need_bpf(a);
	a->caps[0] = 0;
	capng_clear(CAPNG_SELECT_BOTH);
	add(a, CAP_NET_ADMIN);
	if (bpf || (a->detach_on_exit && disp))
		add(a, CAP_BPF);
	/* before 5.8 there is no CAP_BPF: bpf() wants CAP_SYS_ADMIN */
	if (bpf && cap_last_cap() < CAP_BPF && !(a->detach_on_exit && disp))
		add(a, CAP_SYS_ADMIN);
	if (a->detach_on_exit && disp) {
		add(a, CAP_PERFMON);
		add(a, CAP_SYS_ADMIN);
	}
	/* the bounding set needs CAP_SETPCAP, which a unit may have taken */
	ret = capng_apply(CAPNG_SELECT_BOTH);
	if (ret && !capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP))
		ret = capng_apply(CAPNG_SELECT_CAPS);
	if (ret) {
		log_err("dropping capabilities failed (libcap-ng error %d); the agent runs on with "
			"the ones it started with", ret);
		a->caps[0] = 0;
		return 0;
	}
	a->caps_dropped = true;
	log_info("least privilege: kept %s (%s%s%s); every other capability is dropped",
		 a->caps, "TC program for mark rules",
		 bpf ? "; bpf() map access on this kernel" : "",
		 a->detach_on_exit && disp ? "; --detach-on-exit from the dispatcher" : "");
	return 0;
}
