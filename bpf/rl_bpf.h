/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_bpf.h - what every BPF program of rl includes first (bpf/, tools/):
 * the kernel's types from vmlinux.h (generated from /sys/kernel/btf/vmlinux
 * by the Makefile), libbpf's helper and endian headers, and the handful of
 * UAPI constants that are preprocessor macros and so are not in BTF.
 * Never a glibc or <linux/...> header: tests/check/test_bpf_deps.sh fails
 * the build if one creeps back in.
 */
#ifndef RL_BPF_H
#define RL_BPF_H

/* rl reads no kernel-internal struct, so no CO-RE: with it, clang 14 may
 * compute context field addresses (skb + 76) that the verifier refuses */
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#define BPF_NO_PRESERVE_ACCESS_INDEX
#endif
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/if_ether.h> */
#define ETH_ALEN        6
#define ETH_P_IP        0x0800
#define ETH_P_IPV6      0x86DD
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88A8

/* <linux/pkt_cls.h> */
#define TC_ACT_UNSPEC   (-1)
#define TC_ACT_OK       0
#define TC_ACT_SHOT     2

#ifndef offsetof
#define offsetof(t, m)  __builtin_offsetof(t, m)
#endif

#endif /* RL_BPF_H */
