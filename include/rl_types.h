/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_types.h - the fixed-width types (__u8 .. __u64, __be16, __be32) for
 * headers shared by BPF programs and userspace (rl_abi.h, rl_hash.h,
 * tools/rlcount.h).  A BPF object gets them from vmlinux.h, generated from
 * the running kernel's BTF by the Makefile, so that nothing built with
 * -target bpf reaches a libc or arch-specific UAPI header (a fresh machine
 * without 32-bit glibc headers cannot build those); userspace gets them from
 * <linux/types.h> as usual.
 */
#ifndef RL_TYPES_H
#define RL_TYPES_H

#ifdef __bpf__
/* rl reads no kernel-internal struct, so no CO-RE: with it, clang 14 may
 * compute context field addresses (skb + 76) that the verifier refuses */
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#define BPF_NO_PRESERVE_ACCESS_INDEX
#endif
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#endif /* RL_TYPES_H */
