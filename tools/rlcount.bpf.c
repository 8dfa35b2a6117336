// SPDX-License-Identifier: GPL-2.0
/*
 * rlcount.bpf.c - the TC ingress half of tools/rlcount.c: counts packets
 * and bytes per source address, independently of rl, so tests can check
 * what rl let through.  TC ingress runs after XDP, so it sees only what
 * XDP passed.  Attached direct-action; it returns TC_ACT_UNSPEC ("no
 * opinion": later filters on the same hook still run and the packet goes
 * on) or, with cfg_drop, TC_ACT_SHOT after counting, to spare the stack.
 *
 * Parses Ethernet and up to two VLAN tags (the kernel has usually already
 * taken the outer one off), then IPv4 or IPv6; the key is the family and
 * the 16-byte source address (IPv4 in the first 4 bytes).
 */
#include "rl_bpf.h"

#include "rlcount.h"

const volatile __u32 cfg_drop;
/* --prefix: count only sources of this family with (addr & mask) == net;
 * cfg_pfx_family 0 counts everything. */
const volatile __u32 cfg_pfx_family;
const volatile __u32 cfg_pfx_mask[4];
const volatile __u32 cfg_pfx_net[4];

/* Per-source counters; max_entries set by userspace (--max-sources). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RLC_DEFAULT_SOURCES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rlc_key);
	__type(value, struct rlc_val);
} rlc_src SEC(".maps");

/* Global counters, enum rlc_glob. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, __RLC_G_MAX);
	__type(key, __u32);
	__type(value, struct rlc_val);
} rlc_glob SEC(".maps");

struct rlc_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* One more packet of a tracked source, seen at now.  Two CPUs may race on
 * last_ns: the stamp is then the other's packet, which is as late. */
static __always_inline void count(struct rlc_val *v, __u64 len, __u64 now)
{
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, len);
	if (now > v->last_ns)
		v->last_ns = now;
}

static __always_inline void glob_add(__u32 i, __u64 bytes)
{
	struct rlc_val *v = bpf_map_lookup_elem(&rlc_glob, &i);

	if (v) {
		v->packets++;
		v->bytes += bytes;
	}
}

SEC("tc")
int rlc_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct rlc_key key = {};
	struct rlc_val one = {}, *v;
	__u64 now;
	__u64 len = skb->len;
	void *l3;
	__u16 proto;
	int i;

	glob_add(RLC_G_ALL, len);
	if ((void *)(eth + 1) > data_end)
		goto other;
	proto = eth->h_proto;
	l3 = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		struct rlc_vlan_hdr *vh = l3;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			goto other;
		proto = vh->proto;
		l3 = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			goto other;
		key.family = 4;
		__builtin_memcpy(key.addr, &ip->saddr, 4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			goto other;
		key.family = 6;
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
	} else {
		goto other;
	}

	if (cfg_pfx_family) {
		__u32 w[4];

		__builtin_memcpy(w, key.addr, 16);
		if (key.family != cfg_pfx_family ||
		    (w[0] & cfg_pfx_mask[0]) != cfg_pfx_net[0] ||
		    (w[1] & cfg_pfx_mask[1]) != cfg_pfx_net[1] ||
		    (w[2] & cfg_pfx_mask[2]) != cfg_pfx_net[2] ||
		    (w[3] & cfg_pfx_mask[3]) != cfg_pfx_net[3]) {
			glob_add(RLC_G_OUTSIDE, len);
			return cfg_drop ? TC_ACT_SHOT : TC_ACT_UNSPEC;
		}
	}
	glob_add(RLC_G_IP, len);
	now = bpf_ktime_get_ns();
	v = bpf_map_lookup_elem(&rlc_src, &key);
	if (v) {
		count(v, len, now);
	} else {
		one.packets = 1;
		one.bytes = len;
		one.first_ns = one.last_ns = now;
		if (bpf_map_update_elem(&rlc_src, &key, &one, BPF_NOEXIST)) {
			/* another CPU inserted it first, or the map is full */
			v = bpf_map_lookup_elem(&rlc_src, &key);
			if (v)
				count(v, len, now);
			else
				glob_add(RLC_G_FULL, len);
		}
	}
	return cfg_drop ? TC_ACT_SHOT : TC_ACT_UNSPEC;
other:
	glob_add(RLC_G_OTHER, len);
	return cfg_drop ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
