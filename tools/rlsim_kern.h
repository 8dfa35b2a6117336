/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rlsim_kern.h - run a trace through the BPF build of rl_algo.h
 * (tools/rlsim.bpf.c) with BPF_PROG_TEST_RUN.  Included by tools/rlsim.c
 * and tests/bpf/test_algo_diff.c; needs root (CAP_BPF).
 */
#ifndef RLSIM_KERN_H
#define RLSIM_KERN_H

#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rl_algo.h"
#include "rlsim.skel.h"

struct rl_sim_rec {
	__u64 now_ns;
	__u64 cost;
	__u64 verdict;
};

#define RLSIM_BATCH 65536

/*
 * Charge recs[0..n) in the kernel, starting from `*st`/`*sl`, and write
 * verdicts into recs[i].verdict; the state after the trace is written back.
 * Returns 0 or -errno.
 */
static int rlsim_kernel_run(struct rlsim_bpf *skel, const struct rl_limit *l,
			    struct rl_words *st, struct rl_slog *sl,
			    struct rl_sim_rec *recs, __u32 n)
{
	int map_fd = bpf_map__fd(skel->maps.rl_sim_trace);
	int prog_fd = bpf_program__fd(skel->progs.rl_sim);
	unsigned char pkt[64] = { 0 };
	__u32 done = 0, i, chunk;
	int err;

	skel->bss->sim_limit = *l;
	skel->bss->sim_state = *st;
	skel->bss->sim_slog = *sl;
	while (done < n) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt,
			    .data_size_in = sizeof(pkt), .repeat = 1);

		chunk = n - done < RLSIM_BATCH ? n - done : RLSIM_BATCH;
		for (i = 0; i < chunk; i++) {
			err = bpf_map_update_elem(map_fd, &i, &recs[done + i], 0);
			if (err)
				return -errno;
		}
		skel->bss->sim_n = chunk;
		err = bpf_prog_test_run_opts(prog_fd, &opts);
		if (err)
			return -errno;
		for (i = 0; i < chunk; i++) {
			err = bpf_map_lookup_elem(map_fd, &i, &recs[done + i]);
			if (err)
				return -errno;
		}
		done += chunk;
	}
	*st = skel->bss->sim_state;
	*sl = skel->bss->sim_slog;
	return 0;
}

#endif /* RLSIM_KERN_H */
