/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tool_util.h - the few helpers every tool in tools/ needs: a stop flag
 * set by SIGINT/SIGTERM, a monotonic clock in seconds, and a libbpf print
 * callback for -v.  Included by tools/rlgen.c and tools/rlcount.c.
 */
#ifndef RL_TOOL_UTIL_H
#define RL_TOOL_UTIL_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int libbpf_print(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	(void)lvl;
	return vfprintf(stderr, fmt, ap);
}

#endif /* RL_TOOL_UTIL_H */
