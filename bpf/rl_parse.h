/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_parse.h - the datapath's packet parser: a bounded header cursor over
 * [data, data_end) that walks Ethernet, up to two VLAN tags, IPv4 (options
 * skipped via IHL) or IPv6 (extension chain of at most RL_IPV6_MAX_EXT
 * headers), and TCP/UDP/ICMP/ICMPv6, and fills struct rl_pkt.  Included by
 * the XDP program (bpf/rl_xdp.bpf.c) and any other hook that shares the
 * decision core; nothing here touches maps or clocks.
 *
 * Policy (docs/ARCHITECTURE.md "Parsing policy"): every header is bounds
 * checked before it is read, and anything truncated or inconsistent is
 * RL_PARSE_MALFORMED rather than guessed at.  A non-first fragment has no
 * L4 header: it is returned with frag_nonfirst set and has_ports clear, so
 * it can only match rules without dport or tcp-flags.
 */
#ifndef RL_PARSE_H
#define RL_PARSE_H

#include "rl_bpf.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define RL_MAX_VLAN       2     /* 802.1ad outer + 802.1Q inner         */
/*
 * Bytes TC makes linear before it parses (bpf_skb_pull_data): enough for
 * two VLAN tags, IPv6 and a few extension headers.  Both hooks use the
 * same limit: a mark rule's packet whose headers end past it is decided
 * by XDP (RL_G_TC_UNPARSED) and ignored by TC, so that no packet is
 * deferred to a TC that cannot read it.
 */
#define RL_TC_PULL        256
#define RL_IPV6_MAX_EXT   6     /* extension headers walked per packet  */

/* Not every libc exports these IPv6 protocol numbers. */
#define RL_IPPROTO_HOPOPTS   0
#define RL_IPPROTO_ROUTING   43
#define RL_IPPROTO_FRAGMENT  44
#define RL_IPPROTO_AH        51
#define RL_IPPROTO_ICMPV6    58
#define RL_IPPROTO_DSTOPTS   60

#define RL_IP_MF          0x2000
#define RL_IP_OFFSET      0x1fff
#define RL_IP6_OFFSET     0xfff8   /* fragment offset bits of frag_off  */

enum rl_parse_res {
	RL_PARSE_OK = 0,
	RL_PARSE_NON_IP,           /* not IPv4/IPv6: passed untouched       */
	RL_PARSE_MALFORMED,        /* truncated or inconsistent headers     */
};

/* 802.1ad's pre-standard TPID, still sent by some QinQ switches. */
#define RL_ETH_P_QINQ1    0x9100

/*
 * What the decision core needs from a packet.  The parser writes each
 * field where it learns it and zeroes only what a path leaves unset, so
 * the struct is not cleared on every branch.
 */
struct rl_pkt {
	__u8  family;              /* 4 or 6                                */
	__u8  proto;               /* final L4 protocol (IPPROTO_*)         */
	__u8  syn;                 /* TCP SYN without ACK                   */
	__u8  frag_nonfirst;       /* fragment offset != 0: no L4 header    */
	__u8  has_ports;           /* dport is valid (TCP/UDP, L4 present)  */
	__u8  _pad;
	__u16 dport;               /* host byte order                       */
	__u32 len;                 /* frame length in bytes (L2 included)   */
	__u32 segs;                /* TC: GRO segments in the skb, 0 = one  */
	__u32 src4;                /* IPv4 source, network order            */
	__u64 src6[2];             /* IPv6 source, network order            */
	__u32 hdr_end;             /* offset past the last header parsed    */
	__u32 _pad2;
};

struct rl_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The first two bytes of hop-by-hop, routing, dest-opts and AH headers. */
struct rl_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct rl_frag_hdr {
	__u8   nexthdr;
	__u8   reserved;
	__be16 frag_off;
	__be32 id;
};

struct rl_cursor {
	void *pos;
	void *end;
	void *start;
};

/* The cursor is valid for n bytes at pos: the one form the verifier likes. */
#define RL_HAVE(c, n) ((void *)(c)->pos + (n) <= (c)->end)

static __always_inline int rl_parse_l4(struct rl_cursor *c, struct rl_pkt *p)
{
	struct tcphdr *th;
	struct udphdr *uh;

	p->hdr_end = c->pos - c->start;
	switch (p->proto) {
	case IPPROTO_TCP:
		th = c->pos;
		if (!RL_HAVE(c, sizeof(*th)) || th->doff < 5)
			return RL_PARSE_MALFORMED;
		p->dport = bpf_ntohs(th->dest);
		p->has_ports = 1;
		p->syn = th->syn && !th->ack;
		p->hdr_end += sizeof(*th);
		return RL_PARSE_OK;
	case IPPROTO_UDP:
		uh = c->pos;
		if (!RL_HAVE(c, sizeof(*uh)))
			return RL_PARSE_MALFORMED;
		p->dport = bpf_ntohs(uh->dest);
		p->has_ports = 1;
		p->hdr_end += sizeof(*uh);
		return RL_PARSE_OK;
	case IPPROTO_ICMP:
	case RL_IPPROTO_ICMPV6:
		/* type, code, checksum and the 4-byte rest-of-header */
		if (!RL_HAVE(c, 8))
			return RL_PARSE_MALFORMED;
		p->hdr_end += 8;
		return RL_PARSE_OK;
	default:
		/* other protocols are keyed by source only: nothing to read */
		return RL_PARSE_OK;
	}
}

/*
 * big_tcp: the hook is TC, where an IPv4 GRO skb over 64 KB (BIG TCP)
 * carries tot_len 0 and its length in the skb; on the wire (XDP) a zero
 * total length is malformed.
 */
static __always_inline int rl_parse_ipv4(struct rl_cursor *c, struct rl_pkt *p,
					 int big_tcp)
{
	struct iphdr *iph = c->pos;
	__u32 hlen, tot;
	__u16 frag;

	if (!RL_HAVE(c, sizeof(*iph)))
		return RL_PARSE_MALFORMED;
	if (iph->version != 4 || iph->ihl < 5)
		return RL_PARSE_MALFORMED;
	hlen = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (!(big_tcp && tot == 0 && p->len > 0xffff) && tot < hlen)
		return RL_PARSE_MALFORMED;
	if (!RL_HAVE(c, hlen))
		return RL_PARSE_MALFORMED;
	p->family = 4;
	p->proto = iph->protocol;
	p->src4 = iph->saddr;
	c->pos += hlen;

	frag = bpf_ntohs(iph->frag_off);
	if (frag & RL_IP_OFFSET) {
		p->frag_nonfirst = 1;
		p->hdr_end = c->pos - c->start;
		return RL_PARSE_OK;
	}
	return rl_parse_l4(c, p);
}

static __always_inline int rl_ipv6_is_ext(__u8 nh)
{
	return nh == RL_IPPROTO_HOPOPTS || nh == RL_IPPROTO_ROUTING ||
	       nh == RL_IPPROTO_DSTOPTS || nh == RL_IPPROTO_AH ||
	       nh == RL_IPPROTO_FRAGMENT;
}

static __always_inline int rl_parse_ipv6(struct rl_cursor *c, struct rl_pkt *p)
{
	struct ipv6hdr *ip6h = c->pos;
	struct rl_frag_hdr *fh;
	struct rl_ext_hdr *eh;
	void *next;
	__u32 hlen;
	__u8 nh;
	int i;

	if (!RL_HAVE(c, sizeof(*ip6h)))
		return RL_PARSE_MALFORMED;
	if (ip6h->version != 6)
		return RL_PARSE_MALFORMED;
	p->family = 6;
	__builtin_memcpy(p->src6, &ip6h->saddr, 16);
	nh = ip6h->nexthdr;
	c->pos += sizeof(*ip6h);

	/* RL_IPV6_MAX_EXT headers, then one more round to see the L4 one */
#pragma unroll
	for (i = 0; i <= RL_IPV6_MAX_EXT; i++) {
		if (!rl_ipv6_is_ext(nh)) {
			p->proto = nh;
			return rl_parse_l4(c, p);
		}
		if (i == RL_IPV6_MAX_EXT)
			return RL_PARSE_MALFORMED;
		if (nh == RL_IPPROTO_FRAGMENT) {
			fh = c->pos;
			if (!RL_HAVE(c, sizeof(*fh)))
				return RL_PARSE_MALFORMED;
			if (bpf_ntohs(fh->frag_off) & RL_IP6_OFFSET) {
				p->proto = fh->nexthdr;
				p->frag_nonfirst = 1;
				p->hdr_end = c->pos + sizeof(*fh) - c->start;
				return RL_PARSE_OK;
			}
			nh = fh->nexthdr;
			c->pos += sizeof(*fh);
			continue;
		}
		eh = c->pos;
		if (!RL_HAVE(c, sizeof(*eh)))
			return RL_PARSE_MALFORMED;
		/* RFC 8200: 8-octet units after the first 8; RFC 4302: AH
		 * length is in 4-octet units minus 2 */
		if (nh == RL_IPPROTO_AH)
			hlen = ((__u32)eh->hdrlen + 2) * 4;
		else
			hlen = ((__u32)eh->hdrlen + 1) * 8;
		next = c->pos + hlen;
		if (next > c->end)
			return RL_PARSE_MALFORMED;
		nh = eh->nexthdr;
		c->pos = next;
	}
	return RL_PARSE_MALFORMED;
}

static __always_inline int rl_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) ||
	       h_proto == bpf_htons(ETH_P_8021AD) ||
	       h_proto == bpf_htons(RL_ETH_P_QINQ1);
}

/*
 * Parse the frame [data, data_end) into *p.  p is fully written on
 * RL_PARSE_OK; on the other results only p->len is meaningful.  The
 * caller sets p->len (and p->segs) first: the frame's, or at TC the whole
 * skb's.
 */
static __always_inline int rl_parse(void *data, void *data_end,
				    struct rl_pkt *p, int big_tcp)
{
	struct rl_cursor c = { .pos = data, .end = data_end, .start = data };
	struct rl_vlan_hdr *vh;
	struct ethhdr *eth;
	__u16 h_proto;
	int i;

	*(__u64 *)p = 0;           /* family .. dport */

	eth = c.pos;
	if (!RL_HAVE(&c, sizeof(*eth)))
		return RL_PARSE_MALFORMED;
	h_proto = eth->h_proto;
	c.pos += sizeof(*eth);

	/* a third tag is malformed by policy: never guess the payload */
#pragma unroll
	for (i = 0; i <= RL_MAX_VLAN; i++) {
		if (!rl_is_vlan(h_proto))
			break;
		if (i == RL_MAX_VLAN)
			return RL_PARSE_MALFORMED;
		vh = c.pos;
		if (!RL_HAVE(&c, sizeof(*vh)))
			return RL_PARSE_MALFORMED;
		h_proto = vh->encap_proto;
		c.pos += sizeof(*vh);
	}

	if (h_proto == bpf_htons(ETH_P_IP))
		return rl_parse_ipv4(&c, p, big_tcp);
	if (h_proto == bpf_htons(ETH_P_IPV6))
		return rl_parse_ipv6(&c, p);
	return RL_PARSE_NON_IP;
}

#endif /* RL_PARSE_H */
