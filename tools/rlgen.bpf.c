// SPDX-License-Identifier: GPL-2.0
/*
 * rlgen.bpf.c - the packet-writing half of tools/rlgen.c, the traffic
 * generator.  Run through BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES:
 * the kernel hands this program a frame built from userspace's template,
 * the program stamps a new source address into it, fixes the checksums and
 * redirects it through a one-slot DEVMAP out of the chosen interface (the
 * scheme of xdp-tools' xdp-trafficgen).
 *
 * Live frames are recycled pages: a frame still holds whatever the last run
 * wrote into it, so every field that varies is written in full on every run
 * and every checksum is computed from a fixed base (the template's sum with
 * the source address and the checksum field zeroed), never incrementally
 * from what happens to be in the frame.
 *
 * Source i of a CPU is base | (perm(i) << shift), where perm is the affine
 * permutation j -> (mult * j + add) mod n over [0, n) (n <= 2^32), or, for
 * n = 2^k with k > 32, (mult * i + add) & mask (mult odd, so a bijection).
 */
#include "rl_bpf.h"

#define RLG_MAX_L4_OFF 128

/* Set by userspace before load; the verifier prunes the unused family. */
const volatile __u32 cfg_family = 4;        /* 4 or 6                      */
const volatile __u32 cfg_l4_csum_off;       /* frame offset of the L4 csum,
					     * 0: L4 sum has no source in it */
const volatile __u32 cfg_udp;               /* UDP: a 0 checksum goes 0xffff */
const volatile __u32 cfg_ip_csum_base;      /* IPv4 header sum, unfolded   */
const volatile __u32 cfg_l4_csum_base;      /* L4 + pseudo header sum      */
const volatile __u64 cfg_n;                 /* modulus, 0: use cfg_mask    */
const volatile __u64 cfg_mask;
const volatile __u64 cfg_mult = 1;
const volatile __u64 cfg_add;
const volatile __u32 cfg_shift;             /* index bit position          */
const volatile __u64 cfg_base_hi;           /* source base, host order;    */
const volatile __u64 cfg_base_lo;           /* IPv4 uses the low 32 bits   */

/* Packets stamped by this CPU; userspace seeds each CPU's start. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rlg_ctr SEC(".maps");

/* Frames this CPU could not build (too short: a bug, never expected). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rlg_err SEC(".maps");

/* Slot 0: the ifindex frames leave by. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rlg_tx SEC(".maps");

static __always_inline int aborted(void)
{
	__u32 zero = 0;
	__u64 *e = bpf_map_lookup_elem(&rlg_err, &zero);

	if (e)
		(*e)++;
	return XDP_ABORTED;
}

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u64 src_index(void)
{
	__u32 zero = 0;
	__u64 *ctr = bpf_map_lookup_elem(&rlg_ctr, &zero);
	__u64 i;

	if (!ctr)
		return 0;
	i = (*ctr)++;
	if (cfg_n)
		return (cfg_mult * (i % cfg_n) + cfg_add) % cfg_n;
	return (cfg_mult * i + cfg_add) & cfg_mask;
}

/* Adds the source's 16-bit words to the L4 sum and writes the result. */
static __always_inline int put_l4_csum(void *data, void *data_end, __u64 sum)
{
	__u32 off = cfg_l4_csum_off;
	__u16 *p, c;

	if (!off)
		return 0;
	if (off > RLG_MAX_L4_OFF)
		return -1;
	p = data + off;
	if ((void *)(p + 1) > data_end)
		return -1;
	c = csum_fold(sum);
	if (cfg_udp && c == 0)
		c = 0xffff;
	*p = c;
	return 0;
}

SEC("xdp")
int rlg_xmit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 idx = src_index();
	__u32 sh = cfg_shift;
	__u64 hi, lo;

	if (sh == 0) {
		lo = idx;
		hi = 0;
	} else if (sh < 64) {
		lo = idx << sh;
		hi = idx >> (64 - sh);
	} else {
		lo = 0;
		hi = idx << (sh - 64);
	}
	hi |= cfg_base_hi;
	lo |= cfg_base_lo;

	if (cfg_family == 4) {
		struct iphdr *iph = data + sizeof(struct ethhdr);
		__u16 *w;
		__u64 s;

		if ((void *)(iph + 1) > data_end)
			return aborted();
		iph->saddr = bpf_htonl((__u32)lo);
		w = (__u16 *)&iph->saddr;
		s = (__u64)w[0] + w[1];
		iph->check = csum_fold(cfg_ip_csum_base + s);
		if (put_l4_csum(data, data_end, cfg_l4_csum_base + s))
			return aborted();
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
		__u32 *a;
		__u16 *w;
		__u64 s = 0;
		int k;

		if ((void *)(ip6 + 1) > data_end)
			return aborted();
		a = (__u32 *)&ip6->saddr;
		a[0] = bpf_htonl((__u32)(hi >> 32));
		a[1] = bpf_htonl((__u32)hi);
		a[2] = bpf_htonl((__u32)(lo >> 32));
		a[3] = bpf_htonl((__u32)lo);
		w = (__u16 *)&ip6->saddr;
#pragma unroll
		for (k = 0; k < 8; k++)
			s += w[k];
		if (put_l4_csum(data, data_end, cfg_l4_csum_base + s))
			return aborted();
	}
	return bpf_redirect_map(&rlg_tx, 0, 0);
}

char LICENSE[] SEC("license") = "GPL";
