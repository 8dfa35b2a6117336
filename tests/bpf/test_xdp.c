// SPDX-License-Identifier: GPL-2.0
/*
 * test_xdp.c - the real rl_xdp object, loaded through the loader, fed
 * crafted frames with BPF_PROG_TEST_RUN.  Each case asserts the XDP verdict
 * and the map side effects: the global counters (rl_gstats), the per-rule
 * verdict counters (rl_stats) and, where it matters, the state entries.
 *
 *  - parsing: a table of valid frames (IPv4/IPv6, TCP/UDP/ICMP, VLAN and
 *    QinQ, IPv4 options, IPv6 extension chains, fragments) whose expected
 *    rule proves what the parser extracted; a table of malformed ones; and
 *    every truncation of several frames below their last header.
 *  - rule semantics: allow > block > rules, first matching candidate,
 *    dport ranges, SYN-only, per-source masking, per-rule buckets,
 *    monitor, block-for, algorithm switches, every algorithm, byte rates.
 *  - full-map policies on tiny state maps.
 *
 * The kernel clock cannot be faked, so time-dependent cases use limits of
 * a few per hour (nothing refills during the test) and drive time through
 * state contents: states written with chosen timestamps.
 */
#define _GNU_SOURCE
#include <sched.h>
#include "rl_testlib.h"
#include "rl_lists.h"
#include "rl_events.h"
#include "rl_xdp.skel.h"

static struct rl_loader *L;

/* ---- expectations -------------------------------------------------- */

#define NO_RULE 0xffffffffu

struct expect {
	int xdp;                   /* XDP_PASS / XDP_DROP                    */
	int gstat;                 /* terminal global counter, or -1         */
	__u32 rule;                /* with gstat -1: rule and verdict        */
	__u32 verdict;
	int frag;                  /* RL_G_FRAGMENT must grow by one         */
};

static const int terminal[] = {
	RL_G_NON_IP, RL_G_PARSE_ERR, RL_G_UNMATCHED, RL_G_ALLOW, RL_G_BLOCKLIST,
	RL_G_FULL_PASS, RL_G_FULL_DROP, RL_G_LOCK_BUSY, RL_G_TC_UNPARSED,
};

static int xdp_name_ok(int act)
{
	return act == XDP_PASS || act == XDP_DROP;
}

/* Run one frame and check the verdict and every counter it must move. */
static void run_expect(const char *what, const void *pkt, __u32 len,
		       const struct expect *e)
{
	struct snap a, b;
	__u64 r0 = 0, r1;
	unsigned i;
	int act;

	snap_take(L, &a);
	if (e->gstat < 0)
		r0 = rstat(L, e->rule, e->verdict);
	act = run_pkt(L->prog_fd, pkt, len, 1);
	snap_take(L, &b);
	CHECK(xdp_name_ok(act), "%s: test run returned %d", what, act);
	CHECK(act == e->xdp, "%s: XDP action %d, want %d", what, act, e->xdp);
	CHECK(b.g[RL_G_PACKETS] - a.g[RL_G_PACKETS] == 1, "%s: packets +%llu",
	      what, b.g[RL_G_PACKETS] - a.g[RL_G_PACKETS]);
	for (i = 0; i < sizeof(terminal) / sizeof(terminal[0]); i++) {
		__u64 d = b.g[terminal[i]] - a.g[terminal[i]];

		CHECK(d == (terminal[i] == e->gstat), "%s: %s +%llu, want +%d", what,
		      gstat_names[terminal[i]], d, terminal[i] == e->gstat);
	}
	CHECK(b.g[RL_G_FRAGMENT] - a.g[RL_G_FRAGMENT] == (__u64)e->frag,
	      "%s: fragment +%llu, want +%d", what,
	      b.g[RL_G_FRAGMENT] - a.g[RL_G_FRAGMENT], e->frag);
	if (e->gstat < 0) {
		r1 = rstat(L, e->rule, e->verdict);
		CHECK(r1 - r0 == 1, "%s: rule %u %s +%llu, want +1", what, e->rule,
		      verdict_names[e->verdict], r1 - r0);
	}
}

static void run_spec(const char *what, const struct pkt_spec *s,
		     const struct expect *e)
{
	struct built b;

	build_pkt(s, &b);
	run_expect(what, b.buf, b.len, e);
}

/* Expect rule `id` with verdict v. */
static struct expect ER(__u32 id, __u32 v)
{
	struct expect e = { .xdp = (v == RL_V_DROP || v == RL_V_BLOCK) ? XDP_DROP : XDP_PASS,
			    .gstat = -1, .rule = id, .verdict = v };
	return e;
}

static struct expect EG(int g, int xdp)
{
	struct expect e = { .xdp = xdp, .gstat = g };
	return e;
}

/* ---- parsing --------------------------------------------------------- */

/*
 * The catch-all entries 0.0.0.0/0 and ::/0 carry one rule per class of
 * packet, sorted most specific first, each with an unreachable limit: the
 * rule a frame lands in proves its family, protocol, port and SYN bit.
 */
enum {
	P_TCP80 = 1, P_UDP53, P_TCPSYN, P_UDP, P_ICMP, P_ANY, P_ICMP6,
};

static int setup_parse_rules(void)
{
	struct rl_rule r4[6], r6[6];
	int ret;

	r4[0] = mkrule_open(P_TCP80, IPPROTO_TCP);
	r4[0].dport_lo = r4[0].dport_hi = 80;
	r4[1] = mkrule_open(P_UDP53, IPPROTO_UDP);
	r4[1].dport_lo = r4[1].dport_hi = 53;
	r4[2] = mkrule_open(P_TCPSYN, IPPROTO_TCP);
	r4[2].flags = RL_RF_SYN;
	r4[3] = mkrule_open(P_UDP, IPPROTO_UDP);
	r4[4] = mkrule_open(P_ICMP, IPPROTO_ICMP);
	r4[5] = mkrule_open(P_ANY, 0);
	memcpy(r6, r4, sizeof(r6));
	r6[4] = mkrule_open(P_ICMP6, 58);
	ret = set_match(L, "0.0.0.0", 0, r4, 6);
	if (!ret)
		ret = set_match(L, "::", 0, r6, 6);
	return ret;
}

struct parse_case {
	const char *name;
	struct pkt_spec s;
	struct expect e;
};

#define HBH 0
#define RTG 43
#define FRG 44
#define AH  51
#define DST 60

static void test_parse_valid(void)
{
	const struct parse_case cases[] = {
		{ "v4 tcp syn :80", { .family = 4, .proto = IPPROTO_TCP, .dport = 80, .syn = 1 },
		  ER(P_TCP80, RL_V_PASS) },
		{ "v4 tcp syn :22", { .family = 4, .proto = IPPROTO_TCP, .dport = 22, .syn = 1 },
		  ER(P_TCPSYN, RL_V_PASS) },
		{ "v4 tcp syn+ack :22", { .family = 4, .proto = IPPROTO_TCP, .dport = 22, .syn = 1, .ack = 1 },
		  ER(P_ANY, RL_V_PASS) },
		{ "v4 tcp ack :22", { .family = 4, .proto = IPPROTO_TCP, .dport = 22, .ack = 1 },
		  ER(P_ANY, RL_V_PASS) },
		{ "v4 udp :53", { .family = 4, .proto = IPPROTO_UDP, .dport = 53 },
		  ER(P_UDP53, RL_V_PASS) },
		{ "v4 udp :123", { .family = 4, .proto = IPPROTO_UDP, .dport = 123 },
		  ER(P_UDP, RL_V_PASS) },
		{ "v4 icmp", { .family = 4, .proto = IPPROTO_ICMP },
		  ER(P_ICMP, RL_V_PASS) },
		{ "v4 gre", { .family = 4, .proto = 47, .payload = 8 },
		  ER(P_ANY, RL_V_PASS) },
		{ "v4 options (IHL 15) udp :53",
		  { .family = 4, .proto = IPPROTO_UDP, .dport = 53, .ip4_opt_words = 10 },
		  ER(P_UDP53, RL_V_PASS) },
		{ "v4 options (IHL 6) tcp syn :80",
		  { .family = 4, .proto = IPPROTO_TCP, .dport = 80, .syn = 1, .ip4_opt_words = 1 },
		  ER(P_TCP80, RL_V_PASS) },
		{ "vlan v4 udp :53", { .family = 4, .vlans = 1, .proto = IPPROTO_UDP, .dport = 53 },
		  ER(P_UDP53, RL_V_PASS) },
		{ "qinq v4 tcp syn :80", { .family = 4, .vlans = 2, .proto = IPPROTO_TCP, .dport = 80, .syn = 1 },
		  ER(P_TCP80, RL_V_PASS) },
		{ "qinq v6 udp :53", { .family = 6, .vlans = 2, .proto = IPPROTO_UDP, .dport = 53 },
		  ER(P_UDP53, RL_V_PASS) },
		{ "v4 first fragment udp :53",
		  { .family = 4, .proto = IPPROTO_UDP, .dport = 53, .frag = FRAG_FIRST },
		  ER(P_UDP53, RL_V_PASS) },
		{ "v4 later fragment udp", { .family = 4, .proto = IPPROTO_UDP, .frag = FRAG_LATER, .payload = 40 },
		  { XDP_PASS, -1, P_UDP, RL_V_PASS, 1 } },
		{ "v4 later fragment tcp", { .family = 4, .proto = IPPROTO_TCP, .frag = FRAG_LATER, .payload = 40 },
		  { XDP_PASS, -1, P_ANY, RL_V_PASS, 1 } },
		{ "v6 tcp syn :80", { .family = 6, .proto = IPPROTO_TCP, .dport = 80, .syn = 1 },
		  ER(P_TCP80, RL_V_PASS) },
		{ "v6 tcp syn :443", { .family = 6, .proto = IPPROTO_TCP, .dport = 443, .syn = 1 },
		  ER(P_TCPSYN, RL_V_PASS) },
		{ "v6 udp :53", { .family = 6, .proto = IPPROTO_UDP, .dport = 53 },
		  ER(P_UDP53, RL_V_PASS) },
		{ "v6 icmpv6", { .family = 6, .proto = 58 },
		  ER(P_ICMP6, RL_V_PASS) },
		{ "v6 no-next-header", { .family = 6, .proto = 59 },
		  ER(P_ANY, RL_V_PASS) },
		{ "v6 hbh+dst+frag(first) udp :53",
		  { .family = 6, .proto = IPPROTO_UDP, .dport = 53, .n_ext = 3, .ext = { HBH, DST, FRG },
		    .frag = FRAG_FIRST },
		  ER(P_UDP53, RL_V_PASS) },
		{ "v6 hbh+dst+frag(later) udp",
		  { .family = 6, .proto = IPPROTO_UDP, .n_ext = 3, .ext = { HBH, DST, FRG },
		    .frag = FRAG_LATER, .payload = 40 },
		  { XDP_PASS, -1, P_UDP, RL_V_PASS, 1 } },
		{ "v6 routing+ah tcp syn :80",
		  { .family = 6, .proto = IPPROTO_TCP, .dport = 80, .syn = 1, .n_ext = 2, .ext = { RTG, AH } },
		  ER(P_TCP80, RL_V_PASS) },
		{ "v6 six ext headers udp :53",
		  { .family = 6, .proto = IPPROTO_UDP, .dport = 53, .n_ext = 6,
		    .ext = { HBH, DST, RTG, AH, DST, DST } },
		  ER(P_UDP53, RL_V_PASS) },
		{ "vlan v6 hbh icmpv6",
		  { .family = 6, .vlans = 1, .proto = 58, .n_ext = 1, .ext = { HBH } },
		  ER(P_ICMP6, RL_V_PASS) },
		{ "arp", { .ethertype = ETH_P_ARP }, EG(RL_G_NON_IP, XDP_PASS) },
		{ "vlan arp", { .ethertype = ETH_P_ARP, .vlans = 1 }, EG(RL_G_NON_IP, XDP_PASS) },
		{ "lldp", { .ethertype = 0x88cc }, EG(RL_G_NON_IP, XDP_PASS) },
	};
	unsigned i;

	t_begin();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_spec(cases[i].name, &cases[i].s, &cases[i].e);
	t_end("parse_valid_frames");
}

static void test_parse_malformed(void)
{
	struct expect bad = EG(RL_G_PARSE_ERR, XDP_DROP);
	struct pkt_spec s;
	struct built b;
	struct iphdr *ip;
	struct ipv6hdr *ip6;
	struct tcphdr *th;
	struct rl_conf c;

	t_begin();
	s = (struct pkt_spec){ .family = 4, .proto = IPPROTO_UDP, .dport = 53 };
	build_pkt(&s, &b);
	ip = (struct iphdr *)(b.buf + b.ip_off);
	ip->ihl = 4;
	run_expect("IHL 4", b.buf, b.len, &bad);
	ip->ihl = 0;
	run_expect("IHL 0", b.buf, b.len, &bad);
	ip->ihl = 5;
	ip->tot_len = htons(19);
	run_expect("tot_len < IHL*4", b.buf, b.len, &bad);
	ip->tot_len = htons(28);
	ip->version = 6;
	run_expect("IPv4 ethertype, version 6", b.buf, b.len, &bad);
	ip->version = 4;
	ip->ihl = 15;
	run_expect("IHL 15 past a 60-byte frame", b.buf, 14 + 40, &bad);

	s = (struct pkt_spec){ .family = 6, .proto = IPPROTO_UDP, .dport = 53 };
	build_pkt(&s, &b);
	ip6 = (struct ipv6hdr *)(b.buf + b.ip_off);
	ip6->version = 4;
	run_expect("IPv6 ethertype, version 4", b.buf, b.len, &bad);

	s = (struct pkt_spec){ .family = 6, .proto = IPPROTO_UDP, .dport = 53, .n_ext = 7,
			       .ext = { HBH, DST, RTG, DST, DST, DST, DST } };
	build_pkt(&s, &b);
	run_expect("seven IPv6 ext headers", b.buf, b.len, &bad);

	s = (struct pkt_spec){ .family = 4, .vlans = 3, .proto = IPPROTO_UDP, .dport = 53 };
	build_pkt(&s, &b);
	run_expect("three VLAN tags", b.buf, b.len, &bad);

	s = (struct pkt_spec){ .family = 4, .proto = IPPROTO_TCP, .dport = 80, .syn = 1 };
	build_pkt(&s, &b);
	th = (struct tcphdr *)(b.buf + b.l4_off);
	th->doff = 4;
	run_expect("TCP doff 4", b.buf, b.len, &bad);

	/* a hop-by-hop header claiming 2 KiB in a short frame */
	s = (struct pkt_spec){ .family = 6, .proto = IPPROTO_UDP, .dport = 53, .n_ext = 1,
			       .ext = { HBH } };
	build_pkt(&s, &b);
	b.buf[b.ip_off + 40 + 1] = 255;
	run_expect("IPv6 ext header past the end", b.buf, b.len, &bad);

	/* policy pass: still counted, but passed */
	rl_conf_read(L->fd.conf, &c);
	c.malformed = RL_MALFORMED_PASS;
	rl_conf_write(L->fd.conf, &c);
	{
		struct expect pass = EG(RL_G_PARSE_ERR, XDP_PASS);

		run_expect("seven IPv6 ext headers, malformed=pass", b.buf, 14 + 40, &pass);
	}
	c.malformed = RL_MALFORMED_DROP;
	rl_conf_write(L->fd.conf, &c);
	t_end("parse_malformed_frames");
}

/* Every length from the Ethernet header up to the last header is malformed. */
static void test_parse_truncated(void)
{
	const struct pkt_spec specs[] = {
		{ .family = 4, .proto = IPPROTO_TCP, .dport = 80, .syn = 1, .payload = 100 },
		{ .family = 4, .vlans = 2, .proto = IPPROTO_UDP, .dport = 53, .ip4_opt_words = 3 },
		{ .family = 4, .proto = IPPROTO_ICMP, .payload = 64 },
		{ .family = 6, .vlans = 1, .proto = IPPROTO_TCP, .dport = 80, .syn = 1,
		  .n_ext = 3, .ext = { HBH, DST, FRG }, .frag = FRAG_FIRST },
		{ .family = 6, .proto = 58, .n_ext = 2, .ext = { RTG, AH } },
		{ .family = 6, .proto = IPPROTO_UDP, .n_ext = 2, .ext = { HBH, FRG },
		  .frag = FRAG_LATER, .payload = 40 },
	};
	struct expect bad = EG(RL_G_PARSE_ERR, XDP_DROP);
	unsigned i, n = 0;
	__u32 len;
	char what[64];
	struct built b;

	t_begin();
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		build_pkt(&specs[i], &b);
		/* BPF_PROG_TEST_RUN refuses frames shorter than ETH_HLEN */
		for (len = ETH_HLEN; len < b.hdr_end; len++, n++) {
			snprintf(what, sizeof(what), "spec %u cut at %u of %u", i, len, b.hdr_end);
			run_expect(what, b.buf, len, &bad);
		}
		/* and exactly at the end of the headers it parses */
		{
			struct expect ok = { XDP_PASS, -1, 0, RL_V_PASS,
					     specs[i].frag == FRAG_LATER };

			ok.rule = specs[i].proto == IPPROTO_TCP ? P_TCP80 :
				  specs[i].proto == IPPROTO_UDP ?
				  (specs[i].frag == FRAG_LATER ? P_UDP : P_UDP53) :
				  specs[i].proto == IPPROTO_ICMP ? P_ICMP : P_ICMP6;
			snprintf(what, sizeof(what), "spec %u at exactly %u", i, b.hdr_end);
			run_expect(what, b.buf, b.hdr_end < ETH_HLEN ? ETH_HLEN : b.hdr_end, &ok);
		}
	}
	printf("    %u truncated frames\n", n);
	t_end("parse_truncated_every_length");
}

/* ---- rule semantics ---------------------------------------------------- */

static struct built pk;

static __u32 v4pkt(const char *src, __u8 proto, __u16 dport, int syn, int ack)
{
	struct pkt_spec s = { .family = 4, .src = src, .proto = proto, .dport = dport,
			      .syn = syn, .ack = ack };

	return build_pkt(&s, &pk);
}

static __u32 v6pkt(const char *src, __u8 proto, __u16 dport)
{
	struct pkt_spec s = { .family = 6, .src = src, .proto = proto, .dport = dport };

	return build_pkt(&s, &pk);
}

static void expect_rule(const char *what, __u32 len, __u32 id, __u32 v)
{
	struct expect e = ER(id, v);

	if (v == RL_V_PASS)
		t_settle();
	run_expect(what, pk.buf, len, &e);
}

/*
 * The bulk lists, written as the agent writes them (a trie entry and its
 * guard bit): listed, unlisted beside a listed one (its /24's bit is set:
 * the trie says no), expired, and an entry whose bit is clear (the
 * datapath never looks: the bitmap is what keeps the trie off the path).
 */
/* Empties the list tries and zeroes their bitmaps: later tests share L. */
static void clear_lists(void)
{
	union { struct rl_lpm4 k4; struct rl_lpm6 k6; } k;
	int fds[2] = { L->fd.lst4, L->fd.lst6 }, f;
	__u64 zero = 0;
	__u32 i;

	for (f = 0; f < 2; f++)
		while (!bpf_map_get_next_key(fds[f], NULL, &k))
			if (bpf_map_delete_elem(fds[f], &k))
				break;
	for (i = 0; i < RL_LBM4_ELEMS; i++)
		bpf_map_update_elem(L->fd.lbm4, &i, &zero, BPF_ANY);
	for (i = 0; i < RL_LBM6_ELEMS; i++)
		bpf_map_update_elem(L->fd.lbm6, &i, &zero, BPF_ANY);
}

static void test_bulk_lists(void)
{
	struct rl_rule r = mkrule_open(21, 0);
	struct expect allow = EG(RL_G_ALLOW, XDP_PASS);
	struct expect block = EG(RL_G_BLOCKLIST, XDP_DROP);
	__u32 len;

	t_begin();
	set_match(L, "198.18.0.0", 15, &r, 1);
	set_match(L, "2001:db8:ab00::", 40, &r, 1);
	set_list(L, "198.18.1.7", 32, RL_LF_BLOCK, ~0ULL, 1);
	set_list(L, "198.18.2.0", 24, RL_LF_BLOCK | RL_LF_ALLOW, ~0ULL, 1);
	set_list(L, "198.18.3.0", 24, RL_LF_BLOCK, 1, 1);
	set_list(L, "198.18.4.0", 24, RL_LF_BLOCK, mono_ns() + HOUR_NS, 1);
	set_list(L, "198.18.5.5", 32, RL_LF_BLOCK, ~0ULL, 0);
	set_list(L, "2001:db8:ab01:2::", 64, RL_LF_BLOCK, ~0ULL, 1);
	set_list(L, "2001:db8:ab02::", 47, RL_LF_BLOCK, ~0ULL, 1);
	set_list(L, "2001:db8:ab04::", 48, RL_LF_ALLOW, 0, 1);

	len = v4pkt("198.18.1.7", IPPROTO_UDP, 53, 0, 0);
	run_expect("listed /32: blocked", pk.buf, len, &block);
	len = v4pkt("198.18.1.8", IPPROTO_UDP, 53, 0, 0);
	expect_rule("unlisted, same /24: rules apply", len, 21, RL_V_PASS);
	len = v4pkt("198.18.2.200", IPPROTO_UDP, 53, 0, 0);
	run_expect("allow+block /24: allow wins", pk.buf, len, &allow);
	len = v4pkt("198.18.3.1", IPPROTO_UDP, 53, 0, 0);
	expect_rule("expired block: rules apply", len, 21, RL_V_PASS);
	len = v4pkt("198.18.4.1", IPPROTO_TCP, 80, 1, 0);
	run_expect("block for an hour", pk.buf, len, &block);
	len = v4pkt("198.18.5.5", IPPROTO_UDP, 53, 0, 0);
	expect_rule("entry without its guard bit: not looked up", len, 21, RL_V_PASS);
	len = v4pkt("198.19.0.1", IPPROTO_UDP, 53, 0, 0);
	expect_rule("unlisted: rules apply", len, 21, RL_V_PASS);
	len = v6pkt("2001:db8:ab01:2::99", IPPROTO_UDP, 53);
	run_expect("IPv6 /64 (hashed bit): blocked", pk.buf, len, &block);
	len = v6pkt("2001:db8:ab01:3::99", IPPROTO_UDP, 53);
	expect_rule("IPv6 next /64: rules apply", len, 21, RL_V_PASS);
	len = v6pkt("2001:db8:ab04:1::1", IPPROTO_UDP, 53);
	run_expect("IPv6 /48 allow", pk.buf, len, &allow);
	len = v6pkt("2001:db8:ab03:ffff::1", IPPROTO_UDP, 53);
	run_expect("IPv6 /47 (short-prefix bit): blocked", pk.buf, len, &block);
	t_end("bulk_lists_listed_unlisted_expired");
	clear_lists();
}

static void test_candidates(void)
{
	struct rl_rule r[4];
	__u32 len;

	t_begin();
	r[0] = mkrule(30, IPPROTO_TCP, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	r[0].dport_lo = r[0].dport_hi = 22;
	r[1] = mkrule_open(31, IPPROTO_TCP);
	r[1].dport_lo = 1000;
	r[1].dport_hi = 2000;
	r[2] = mkrule_open(32, IPPROTO_TCP);
	r[2].flags = RL_RF_SYN;
	r[3] = mkrule_open(33, 0);
	set_match(L, "198.51.100.0", 24, r, 4);

	len = v4pkt("198.51.100.1", IPPROTO_TCP, 22, 0, 1);
	expect_rule("most specific: tcp :22", len, 30, RL_V_PASS);
	expect_rule("most specific: tcp :22 over its limit", len, 30, RL_V_DROP);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 999, 0, 1);
	expect_rule("dport 999 below range", len, 33, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 1000, 0, 1);
	expect_rule("dport 1000 range start", len, 31, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 2000, 1, 0);
	expect_rule("dport 2000 range end (SYN)", len, 31, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 2001, 0, 1);
	expect_rule("dport 2001 above range", len, 33, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 2001, 1, 0);
	expect_rule("SYN-only: SYN", len, 32, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 2001, 1, 1);
	expect_rule("SYN-only: SYN+ACK is not", len, 33, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_UDP, 22, 0, 0);
	expect_rule("udp :22 is not tcp :22", len, 33, RL_V_PASS);
	len = v4pkt("198.51.100.1", IPPROTO_TCP, 22, 1, 0);
	expect_rule("tcp :22 SYN still the :22 rule", len, 30, RL_V_DROP);

	/* a rule for the other family only is skipped */
	r[0] = mkrule_open(34, 0);
	r[0].flags = RL_RF_V6;
	r[1] = mkrule_open(35, 0);
	r[1].flags = RL_RF_V4;
	set_match(L, "198.51.101.0", 24, r, 2);
	len = v4pkt("198.51.101.1", IPPROTO_UDP, 5, 0, 0);
	expect_rule("v6-only rule skipped for v4", len, 35, RL_V_PASS);

	/* n = 0 with a rule in the value: unmatched */
	set_match(L, "198.51.102.0", 24, r, 0);
	len = v4pkt("198.51.102.1", IPPROTO_UDP, 5, 0, 0);
	{
		struct expect un = EG(RL_G_UNMATCHED, XDP_PASS);

		run_expect("entry without rules", pk.buf, len, &un);
	}
	t_end("candidates_most_specific_dport_syn");
}

static void test_unmatched(void)
{
	struct expect un = EG(RL_G_UNMATCHED, XDP_PASS);
	struct rl_lpm4 k4 = { .prefixlen = 0 };
	struct rl_lpm6 k6 = { .prefixlen = 0 };
	__u32 len;

	t_begin();
	bpf_map_delete_elem(L->fd.match4, &k4);
	bpf_map_delete_elem(L->fd.match6, &k6);
	len = v4pkt("203.0.113.1", IPPROTO_UDP, 53, 0, 0);
	run_expect("v4 without an entry", pk.buf, len, &un);
	len = v6pkt("2001:db8:dead::1", IPPROTO_UDP, 53);
	run_expect("v6 without an entry", pk.buf, len, &un);
	t_end("unmatched_passes");
	setup_parse_rules();
}

static void test_masking(void)
{
	struct rl_rule r = mkrule(40, 0, 1, HOUR_NS, 2, RL_ALGO_TOKEN_BUCKET);
	struct t_slot sl;
	__u32 len, i1, i2;
	__u64 w;

	t_begin();
	r.plen4 = 24;
	r.plen6 = 64;
	set_match(L, "10.1.0.0", 16, &r, 1);
	set_match(L, "2001:db8:1::", 48, &r, 1);

	len = v4pkt("10.1.2.3", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/24: first host", len, 40, RL_V_PASS);
	len = v4pkt("10.1.2.200", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/24: second host shares the bucket", len, 40, RL_V_PASS);
	len = v4pkt("10.1.2.3", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/24: bucket empty", len, 40, RL_V_DROP);
	len = v4pkt("10.1.3.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/24: next /24 has its own", len, 40, RL_V_PASS);
	CHECK(state4(L, 40, "10.1.2.0", &w) == 0, "no state for {40, 10.1.2.0}");
	CHECK(state4(L, 40, "10.1.2.3", &w) == -ENOENT, "unmasked state key exists");
	/* the slot sits in one of the key's two buckets (the seeded hash) */
	st4_buckets_of(L, t_kw4(40, "10.1.2.0"), &i1, &i2);
	CHECK(!st4_find(L, t_kw4(40, "10.1.2.0"), &sl) && (sl.bkt == i1 || sl.bkt == i2),
	      "slot in bucket %u, the key hashes to %u and %u", sl.bkt, i1, i2);

	len = v6pkt("2001:db8:1:2::1", IPPROTO_UDP, 1);
	expect_rule("/64: first host", len, 40, RL_V_PASS);
	len = v6pkt("2001:db8:1:2:ffff:ffff:ffff:ffff", IPPROTO_UDP, 1);
	expect_rule("/64: second host shares", len, 40, RL_V_PASS);
	len = v6pkt("2001:db8:1:2:1234::9", IPPROTO_UDP, 1);
	expect_rule("/64: bucket empty", len, 40, RL_V_DROP);
	len = v6pkt("2001:db8:1:3::1", IPPROTO_UDP, 1);
	expect_rule("/64: next /64 has its own", len, 40, RL_V_PASS);
	CHECK(!state6(L, 40, "2001:db8:1:2::", &w), "no state for the /64");
	CHECK(state6(L, 40, "2001:db8:1:2::1", &w) == -ENOENT, "unmasked v6 state exists");

	/* odd prefix lengths: /20 and /57 */
	r.id = 41;
	r.plen4 = 20;
	r.plen6 = 57;
	set_match(L, "10.2.0.0", 16, &r, 1);
	set_match(L, "2001:db8:2::", 48, &r, 1);
	len = v4pkt("10.2.16.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/20: 10.2.16.1", len, 41, RL_V_PASS);
	len = v4pkt("10.2.31.255", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/20: 10.2.31.255 same bucket", len, 41, RL_V_PASS);
	len = v4pkt("10.2.17.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/20: empty", len, 41, RL_V_DROP);
	len = v4pkt("10.2.32.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("/20: 10.2.32.1 other bucket", len, 41, RL_V_PASS);
	len = v6pkt("2001:db8:2:7f::1", IPPROTO_UDP, 1);
	expect_rule("/57: 2001:db8:2:7f::1", len, 41, RL_V_PASS);
	len = v6pkt("2001:db8:2::2", IPPROTO_UDP, 1);
	expect_rule("/57: 2001:db8:2::2 same bucket", len, 41, RL_V_PASS);
	len = v6pkt("2001:db8:2:40::3", IPPROTO_UDP, 1);
	expect_rule("/57: 2001:db8:2:40::3 finds it empty", len, 41, RL_V_DROP);
	len = v6pkt("2001:db8:2:80::1", IPPROTO_UDP, 1);
	expect_rule("/57: 2001:db8:2:80::1 other bucket", len, 41, RL_V_PASS);
	t_end("per_source_masking_v4_v6");
}

static void test_per_rule(void)
{
	struct rl_rule r = mkrule(50, 0, 1, HOUR_NS, 2, RL_ALGO_TOKEN_BUCKET);
	__u64 w = 0;
	__u32 len, id = 50;
	__u64 new0 = gstat(L, RL_G_STATE_NEW);

	t_begin();
	r.flags = RL_RF_PER_RULE;
	r.ver = (7u << 16) | 3;
	set_match(L, "10.3.0.0", 16, &r, 1);
	set_match(L, "2001:db8:3::", 48, &r, 1);
	len = v4pkt("10.3.0.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("per rule: source A", len, 50, RL_V_PASS);
	len = v6pkt("2001:db8:3::77", IPPROTO_UDP, 1);
	expect_rule("per rule: v6 source B shares", len, 50, RL_V_PASS);
	len = v4pkt("10.3.9.9", IPPROTO_UDP, 1, 0, 0);
	expect_rule("per rule: source C finds it empty", len, 50, RL_V_DROP);
	CHECK(gstat(L, RL_G_STATE_NEW) == new0, "per-rule created per-source state");
	CHECK(st4_count(L, 50) == 0, "per-rule key has a per-source slot");
	CHECK(!bpf_map_lookup_elem(L->fd.agg, &id, &w), "rl_agg[50] unreadable");
	CHECK(rl_word_tag(w) == rl_rule_tag(r.ver), "rl_agg[50] tag %#x, want %#x",
	      rl_word_tag(w), rl_rule_tag(r.ver));
	t_end("per_rule_bucket");
}

static void test_monitor(void)
{
	struct rl_rule r = mkrule(60, 0, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	__u32 len;
	int i;

	t_begin();
	r.action = RL_ACT_MONITOR;
	set_match(L, "10.4.0.0", 16, &r, 1);
	len = v4pkt("10.4.0.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("monitor: within limit", len, 60, RL_V_PASS);
	for (i = 0; i < 3; i++)
		expect_rule("monitor: over limit passes, counted", len, 60, RL_V_MONITOR);
	CHECK(rstat(L, 60, RL_V_DROP) == 0, "monitor counted a drop");
	CHECK(rstat(L, 60, RL_V_MONITOR) == 3, "monitor count %llu", rstat(L, 60, RL_V_MONITOR));
	CHECK(rstat_bytes(L, 60, RL_V_MONITOR) == 3ULL * len, "monitor bytes %llu",
	      rstat_bytes(L, 60, RL_V_MONITOR));

	/* monitor with block-for: would-block is counted as monitor too */
	r.id = 61;
	r.block_ns = HOUR_NS;
	set_match(L, "10.4.1.0", 24, &r, 1);
	len = v4pkt("10.4.1.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("monitor+block: pass", len, 61, RL_V_PASS);
	expect_rule("monitor+block: over", len, 61, RL_V_MONITOR);
	expect_rule("monitor+block: would be blocked", len, 61, RL_V_MONITOR);
	CHECK(rstat(L, 61, RL_V_BLOCK) == 0, "monitor counted a block");
	t_end("monitor_passes_and_counts");
}

/* The end of a boxed word's penalty box, ns (256 ns resolution). */
static __u64 box_end(__u64 w)
{
	return (w & RL_PAY_MASK) << RL_BOX_SHIFT;
}

static void test_block_for(void)
{
	struct rl_rule r = mkrule(70, 0, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	__u64 t0, t1, w = 0;
	__u32 len;

	t_begin();
	r.block_ns = 60 * NS_PER_SEC;
	set_match(L, "10.5.0.0", 16, &r, 1);
	t_rule_fix(&r);
	len = v4pkt("10.5.0.1", IPPROTO_UDP, 1, 0, 0);
	t0 = mono_ns();
	expect_rule("block-for: first passes", len, 70, RL_V_PASS);
	expect_rule("block-for: over the limit drops", len, 70, RL_V_DROP);
	t1 = mono_ns();
	expect_rule("block-for: then the penalty box", len, 70, RL_V_BLOCK);
	expect_rule("block-for: still boxed", len, 70, RL_V_BLOCK);
	CHECK(!state4(L, 70, "10.5.0.1", &w), "no state");
	CHECK(rl_word_tag(w) == (RL_TAG_BOXED | r.tag), "word tag %#x, want boxed %#x",
	      rl_word_tag(w), RL_TAG_BOXED | r.tag);
	CHECK(box_end(w) >= t0 + r.block_ns && box_end(w) <= t1 + r.block_ns + 512,
	      "box end %llu not in [%llu, %llu]", box_end(w), t0 + r.block_ns,
	      t1 + r.block_ns + 512);

	/* time passes (in the word): the box ended, the key starts fresh */
	state4_put(L, 70, "10.5.0.1",
		   rl_word_make(RL_TAG_BOXED | r.tag, (mono_ns() >> RL_BOX_SHIFT) - 1));
	expect_rule("block-for: expired box, fresh key passes", len, 70, RL_V_PASS);
	expect_rule("block-for: and boxes again", len, 70, RL_V_DROP);
	expect_rule("block-for: boxed again", len, 70, RL_V_BLOCK);

	/* a box of another rule version still blocks until it ends */
	len = v4pkt("10.5.0.2", IPPROTO_UDP, 1, 0, 0);
	expect_rule("block-for: second key passes", len, 70, RL_V_PASS);
	state4_put(L, 70, "10.5.0.2",
		   rl_word_make(RL_TAG_BOXED | rl_rule_tag(9u << 16 | 9),
				(mono_ns() + HOUR_NS) >> RL_BOX_SHIFT));
	expect_rule("block-for: box of another version blocks", len, 70, RL_V_BLOCK);
	t_end("block_for_penalty_box");
}

static void test_versions(void)
{
	struct rl_rule r = mkrule(80, 0, 1, HOUR_NS, 5, RL_ALGO_TOKEN_BUCKET), old;
	__u64 w = 0;
	__u32 len;

	t_begin();
	/* a key with a full bucket written under epoch 1 ... */
	r.ver = (5u << 16) | 1;
	set_match(L, "10.6.0.0", 16, &r, 1);
	len = v4pkt("10.6.0.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("epoch 1: key created", len, 80, RL_V_PASS);
	old = r;
	t_rule_fix(&old);
	CHECK(!state4_put(L, 80, "10.6.0.1", rl_word_init(&old, mono_ns(), 1)), "put");
	/* ... and the rule is at epoch 2 of the same generation: drained */
	r.ver = (5u << 16) | 2;
	set_match(L, "10.6.0.0", 16, &r, 1);
	t_rule_fix(&r);
	expect_rule("epoch switch: drained, no burst", len, 80, RL_V_DROP);
	CHECK(!state4(L, 80, "10.6.0.1", &w) && rl_word_tag(w) == r.tag,
	      "tag %#x, want %#x", rl_word_tag(w), r.tag);

	/* same key, new generation (a new rule in the slot): full credit */
	r.ver = (6u << 16) | 2;
	set_match(L, "10.6.0.0", 16, &r, 1);
	expect_rule("new generation: full", len, 80, RL_V_PASS);
	expect_rule("new generation: burst 2", len, 80, RL_V_PASS);

	/* switch the algorithm to a fixed window: drained for this window */
	r.ver = (6u << 16) | 3;
	r.limit.algo = RL_ALGO_FIXED_WINDOW;
	set_match(L, "10.6.0.0", 16, &r, 1);
	expect_rule("to fixed window: drained", len, 80, RL_V_DROP);

	/* and to a sliding log: its state is a different map, a fresh one */
	r.ver = (6u << 16) | 4;
	r.limit.algo = RL_ALGO_SLIDING_LOG;
	r.limit.rate = 3;
	set_match(L, "10.6.0.0", 16, &r, 1);
	t_rule_fix(&r);
	expect_rule("to sliding log: new key in rl_sl4 passes", len, 80, RL_V_PASS);
	{
		struct rl_key4 k = { .rule = 80 };
		struct rl_slog sl;

		inet_pton(AF_INET, "10.6.0.1", &k.addr);
		CHECK(!bpf_map_lookup_elem(L->fd.sl4, &k, &sl), "no sliding log state: %s",
		      strerror(errno));
		CHECK(sl.tag == r.tag && sl.r.count == 1, "slog tag %#x count %u, want %#x 1",
		      sl.tag, sl.r.count, r.tag);
	}
	t_end("version_switch_reinit");
}

static void test_algorithms(void)
{
	static const char *names[] = { "token_bucket", "leaky_bucket", "fixed_window",
				       "sliding_window", "sliding_log" };
	char what[96];
	__u32 len, algo;
	int i;

	t_begin();
	for (algo = 0; algo < __RL_ALGO_MAX; algo++) {
		struct rl_rule r = mkrule(90 + algo, 0, 5, HOUR_NS, 5, algo);
		char src[32];

		snprintf(src, sizeof(src), "10.7.%u.1", algo);
		set_match(L, src, 32, &r, 1);
		len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
		for (i = 0; i < 8; i++) {
			snprintf(what, sizeof(what), "%s packet %d", names[algo], i + 1);
			expect_rule(what, len, 90 + algo, i < 5 ? RL_V_PASS : RL_V_DROP);
		}
	}
	t_end("every_algorithm_5_per_hour");
}

static void test_bytes(void)
{
	struct rl_rule r = mkrule(100, 0, 1000, HOUR_NS, 1514, RL_ALGO_TOKEN_BUCKET);
	struct pkt_spec s = { .family = 4, .src = "10.8.0.1", .proto = IPPROTO_UDP,
			      .dport = 9, .payload = 600 - 42 };
	__u32 len;

	t_begin();
	r.flags = RL_RF_BYTES;
	set_match(L, "10.8.0.0", 16, &r, 1);
	len = build_pkt(&s, &pk);
	CHECK(len == 600, "frame %u bytes", len);
	expect_rule("bytes: 600 of 1514", len, 100, RL_V_PASS);
	expect_rule("bytes: 1200 of 1514", len, 100, RL_V_PASS);
	expect_rule("bytes: 1800 > 1514", len, 100, RL_V_DROP);
	CHECK(rstat_bytes(L, 100, RL_V_PASS) == 1200, "pass bytes %llu",
	      rstat_bytes(L, 100, RL_V_PASS));
	t_end("byte_rate_counts_frame_bytes");
}

/*
 * Oversize: a byte rule with a burst of 2000 admits one 2040-byte frame
 * when the bucket is full (into debt), then denies until refilled; a
 * bucket that is not full does not admit it.
 */
static void test_oversize(void)
{
	struct rl_rule r = mkrule(101, 0, 1000, HOUR_NS, 2000, RL_ALGO_TOKEN_BUCKET);
	struct pkt_spec big = { .family = 4, .src = "10.8.1.1", .proto = IPPROTO_UDP,
				.dport = 9, .payload = 2040 - 42 };
	struct pkt_spec small = { .family = 4, .src = "10.8.1.1", .proto = IPPROTO_UDP,
				  .dport = 9, .payload = 100 - 42 };
	__u32 len;

	t_begin();
	r.flags = RL_RF_BYTES;
	set_match(L, "10.8.1.0", 24, &r, 1);
	len = build_pkt(&big, &pk);
	CHECK(len == 2040, "frame %u bytes", len);
	expect_rule("oversize: 2040 > burst 2000 on a full bucket passes", len, 101, RL_V_PASS);
	expect_rule("oversize: a second one is denied", len, 101, RL_V_DROP);
	len = build_pkt(&small, &pk);
	expect_rule("oversize: in debt, even 100 bytes are denied", len, 101, RL_V_DROP);

	/* another key: a small packet first, then the bucket is not full */
	small.src = big.src = "10.8.1.2";
	len = build_pkt(&small, &pk);
	expect_rule("not full: 100 bytes pass", len, 101, RL_V_PASS);
	len = build_pkt(&big, &pk);
	expect_rule("not full: 2040 bytes are denied", len, 101, RL_V_DROP);
	len = build_pkt(&small, &pk);
	expect_rule("not full: 100 more bytes still fit", len, 101, RL_V_PASS);
	t_end("oversize_packet_on_full_bucket");
}

/*
 * A new key with a burst of 2 admits two packets sent back to back: the
 * second takes the last token exactly when its time is not before the
 * first's.  The datapath decides denials at coarse clock + one tick
 * (clock_getres of CLOCK_MONOTONIC_COARSE); where the coarse clock lags
 * by more, the second packet is wrongly denied.  Also measures the lag.
 */
static void test_last_token(void)
{
	struct rl_rule r = mkrule(130, 0, 1, HOUR_NS, 2, RL_ALGO_TOKEN_BUCKET);
	struct rl_conf c = {};
	__u64 lag = 0, p, q;
	int i, bad = 0, act1, act2;
	char src[32];
	__u32 len;

	t_begin();
	rl_conf_read(L->fd.conf, &c);
	set_match(L, "10.11.0.0", 16, &r, 1);
	for (i = 0; i < 50; i++) {
		snprintf(src, sizeof(src), "10.11.0.%d", i + 1);
		len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
		if (i % 5 == 0)
			usleep(20000);     /* let the CPU go idle now and then */
		act1 = run_pkt(L->prog_fd, pk.buf, len, 1);
		act2 = run_pkt(L->prog_fd, pk.buf, len, 1);
		q = mono_coarse_ns();
		p = mono_ns();
		if (p - q > lag)
			lag = p - q;
		if (act1 != XDP_PASS || act2 != XDP_PASS)
			bad++;
	}
	printf("    tick_ns %llu, coarse clock lag seen up to %llu ns; %d of 50 keys "
	       "denied their second token\n", (unsigned long long)c.tick_ns,
	       (unsigned long long)lag, bad);
	CHECK(bad == 0, "%d of 50 back-to-back pairs lost their last token "
	      "(coarse-clock deny while the precise clock admits)", bad);
	t_end("gcra_last_token_back_to_back");
}

/* Runs the caller on CPU 0 (rl_clk is per CPU); *old restores it. */
static void pin_cpu0(cpu_set_t *old)
{
	cpu_set_t set;

	sched_getaffinity(0, sizeof(*old), old);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* This CPU's rl_clk (the test is pinned to CPU 0). */
static int clk_rw(struct rl_clk *c, int write)
{
	int n = libbpf_num_possible_cpus(), fd, ret;
	struct rl_clk *all = calloc(n, sizeof(*all));
	__u32 zero = 0;

	fd = bpf_map__fd(L->skel->maps.rl_clk);
	ret = all ? bpf_map_lookup_elem(fd, &zero, all) : -1;
	if (!ret && write) {
		all[0] = *c;
		ret = bpf_map_update_elem(fd, &zero, all, BPF_ANY);
	} else if (!ret) {
		*c = all[0];
	}
	free(all);
	return ret;
}

/*
 * The jiffies estimate (bpf/rl_state.h): learnt on the first precise read,
 * lowered again by the next one when it is too high (here pushed 20 ms
 * ahead), and a too-high estimate never denies what conforms (it only
 * makes `late` later).
 */
static void test_jiffies_clock(void)
{
	struct rl_rule r = mkrule(131, 0, 1, HOUR_NS, 2, RL_ALGO_TOKEN_BUCKET);
	struct rl_clk c0 = {}, c1 = {}, c2 = {};
	cpu_set_t old;
	__u32 len;

	t_begin();
	pin_cpu0(&old);
	set_match(L, "10.12.0.0", 16, &r, 1);
	len = v4pkt("10.12.0.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("learn: first packet", len, 131, RL_V_PASS);
	CHECK(!clk_rw(&c0, 0), "cannot read rl_clk");
	CHECK(c0.jset == RL_JSET_PRECISE, "no jiffies base learnt after a precise read");
	CHECK(c0.lag < NS_PER_SEC, "lag %llu ns", (unsigned long long)c0.lag);
	c1 = c0;
	c1.jbase += 20000000;
	CHECK(!clk_rw(&c1, 1), "cannot write rl_clk");
	expect_rule("estimate 20 ms ahead: second token", len, 131, RL_V_PASS);
	expect_rule("estimate 20 ms ahead: over", len, 131, RL_V_DROP);
	len = v4pkt("10.12.0.2", IPPROTO_UDP, 1, 0, 0);
	expect_rule("estimate 20 ms ahead: a new key", len, 131, RL_V_PASS);
	CHECK(!clk_rw(&c2, 0), "cannot read rl_clk");
	printf("    jbase %#llx, pushed +20 ms, relearnt %+lld ns from the first; lag %llu ns\n",
	       (unsigned long long)c0.jbase, (long long)(c2.jbase - c0.jbase),
	       (unsigned long long)c2.lag);
	CHECK((__s64)(c2.jbase - c0.jbase) < 10000000,
	      "jbase not lowered: %+lld ns from the first", (long long)(c2.jbase - c0.jbase));
	/* a CPU whose packets are only ever denied learns the base too:
	 * its first packet reads the precise clock once (before, such a
	 * CPU paid the coarse-clock helper on every packet) */
	c1 = (struct rl_clk){};
	CHECK(!clk_rw(&c1, 1), "cannot write rl_clk");
	len = v4pkt("10.12.0.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("fresh CPU, key over its limit", len, 131, RL_V_DROP);
	CHECK(!clk_rw(&c2, 0), "cannot read rl_clk");
	CHECK(c2.jset == RL_JSET_PRECISE, "a CPU that only denied learnt no jiffies base");
	sched_setaffinity(0, sizeof(old), &old);
	t_end("jiffies_clock");
}

/* ---- drop events: what the ring buffer rl_events received */
static struct rl_event evs[4096];
static int n_evs;

static int ev_cb(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size == sizeof(struct rl_event) && n_evs < (int)(sizeof(evs) / sizeof(evs[0])))
		memcpy(&evs[n_evs], data, sizeof(evs[0]));
	n_evs++;
	return 0;
}

static int ev_count(int kind, __u32 rule, const char *src)
{
	__u8 a[16] = {};
	int i, n = 0;

	inet_pton(AF_INET, src, a);
	for (i = 0; i < n_evs && i < (int)(sizeof(evs) / sizeof(evs[0])); i++)
		if (evs[i].kind == kind && evs[i].rule == rule && !memcmp(evs[i].src, a, 16))
			n++;
	return n;
}

/*
 * The three kinds, each bounded: the first over-limit packet of a source
 * in a second (not the next ones), a penalty-box start (not the packets
 * in the box), 1 in 64 blocklist hits; and a flood of new over-limit
 * sources on one CPU: every attempt is either reported or counted lost,
 * and the per-CPU budget holds.
 */
static void test_events(void)
{
	struct rl_rule r[2] = { mkrule(30, IPPROTO_UDP, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET),
				mkrule(31, IPPROTO_UDP, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET) };
	struct rl_rule f = mkrule(32, IPPROTO_UDP, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	struct ring_buffer *rb;
	struct rl_conf conf = {};
	cpu_set_t old;
	__u64 lost0, lost1;
	__u32 len;
	int i, got, flood = 2500;
	char src[32];

	t_begin();
	pin_cpu0(&old);
	rb = ring_buffer__new(L->fd.events, ev_cb, NULL, NULL);
	CHECK(rb, "cannot open the ring buffer rl_events: %s", strerror(errno));
	if (!rb)
		goto out;
	ring_buffer__consume(rb);	/* what earlier tests left */
	/* nobody listening (rl_conf.events 0): nothing is sampled */
	n_evs = 0;
	set_list(L, "198.21.0.0", 16, RL_LF_BLOCK, ~0ULL, 1);
	len = v4pkt("198.21.0.4", IPPROTO_UDP, 53, 0, 0);
	for (i = 0; i < 128; i++)
		run_pkt(L->prog_fd, pk.buf, len, 1);
	ring_buffer__consume(rb);
	CHECK(n_evs == 0, "%d events with rl_conf.events 0", n_evs);
	CHECK(!rl_conf_read(L->fd.conf, &conf), "cannot read rl_conf");
	conf.events = 1;
	CHECK(!rl_conf_write(L->fd.conf, &conf), "cannot write rl_conf");
	n_evs = 0;
	r[0].dport_lo = r[0].dport_hi = 30;
	r[1].dport_lo = r[1].dport_hi = 31;
	r[1].block_ns = HOUR_NS;
	set_match(L, "198.20.0.0", 16, r, 2);
	set_match(L, "198.22.0.0", 16, &f, 1);

	len = v4pkt("198.20.0.1", IPPROTO_UDP, 30, 0, 0);
	for (i = 0; i < 6; i++)
		run_pkt(L->prog_fd, pk.buf, len, 1);
	len = v4pkt("198.20.0.2", IPPROTO_UDP, 31, 0, 0);
	for (i = 0; i < 6; i++)
		run_pkt(L->prog_fd, pk.buf, len, 1);
	len = v4pkt("198.21.0.4", IPPROTO_UDP, 53, 0, 0);
	for (i = 0; i < 128; i++)
		run_pkt(L->prog_fd, pk.buf, len, 1);
	ring_buffer__consume(rb);
	got = ev_count(RL_EV_OVER_LIMIT, 30, "198.20.0.1");
	CHECK(got >= 1 && got <= 2, "over-limit: %d events for 5 drops, want 1 (2 across a second)", got);
	CHECK(ev_count(RL_EV_PENALTY, 31, "198.20.0.2") == 1,
	      "penalty box: %d start events, want 1", ev_count(RL_EV_PENALTY, 31, "198.20.0.2"));
	CHECK(ev_count(RL_EV_OVER_LIMIT, 31, "198.20.0.2") == 0, "boxed packets reported");
	CHECK(ev_count(RL_EV_BLOCKLIST, RL_EV_NO_RULE, "198.21.0.4") == 2,
	      "blocklist: %d events for 128 hits, want 2", ev_count(RL_EV_BLOCKLIST, RL_EV_NO_RULE, "198.21.0.4"));
	for (i = 0; i < n_evs && i < 1; i++)
		CHECK(evs[i].family == 4 && evs[i].proto == IPPROTO_UDP && evs[i].time_ns > 0 &&
		      (evs[i].kind != RL_EV_BLOCKLIST || evs[i].verdict == RL_V_DROP),
		      "event fields: family %u proto %u time %llu", evs[i].family, evs[i].proto,
		      (unsigned long long)evs[i].time_ns);

	/* a flood of new sources, each over its limit once */
	lost0 = gstat(L, RL_G_EV_LOST);
	n_evs = 0;
	for (i = 0; i < flood; i++) {
		snprintf(src, sizeof(src), "198.22.%d.%d", i / 250, i % 250 + 1);
		len = v4pkt(src, IPPROTO_UDP, 9, 0, 0);
		run_pkt(L->prog_fd, pk.buf, len, 1);
		run_pkt(L->prog_fd, pk.buf, len, 1);
	}
	ring_buffer__consume(rb);
	lost1 = gstat(L, RL_G_EV_LOST);
	printf("    flood of %d over-limit sources on one CPU: %d reported, %llu lost\n", flood,
	       n_evs, (unsigned long long)(lost1 - lost0));
	CHECK((__u64)n_evs + (lost1 - lost0) == (__u64)flood,
	      "%d reported + %llu lost != %d attempts", n_evs, (unsigned long long)(lost1 - lost0), flood);
	CHECK(n_evs <= 2 * RL_EV_BUDGET, "%d reported: over two seconds' budget", n_evs);
	CHECK(lost1 - lost0 >= (__u64)(flood - 2 * RL_EV_BUDGET), "only %llu lost",
	      (unsigned long long)(lost1 - lost0));
	ring_buffer__free(rb);
out:
	conf.events = 0;
	rl_conf_write(L->fd.conf, &conf);
	clear_lists();
	sched_setaffinity(0, sizeof(old), &old);
	t_end("events_kinds_sampling_budget");
}

/* Set one cell of rl_dir4/rl_dir6 (family 4 or 6), keeping its neighbours. */
static void dir_cell(int family, __u32 cell, __u64 v)
{
	int fd = family == 4 ? L->fd.dir4 : L->fd.dir6;
	__u32 idx = cell / RL_DIR_PER_ELEM, sh = cell % RL_DIR_PER_ELEM * 16;
	__u64 e = 0;

	bpf_map_lookup_elem(fd, &idx, &e);
	e = (e & ~(0xffffULL << sh)) | v << sh;
	bpf_map_update_elem(fd, &idx, &e, BPF_ANY);
}

/*
 * The direct match table (rl_abi.h): a cell naming a value slot decides
 * without the trie, NONE means unmatched, TRIE (0, what the tests' other
 * cells hold) asks the trie, and so does a cell naming no slot (it fails
 * safe, not open) - in both families.  Here the trie and the
 * table disagree on purpose, so each answer shows who decided.
 */
static void test_dir_table(void)
{
	struct rl_rule rt = mkrule_open(140, 0), rd = mkrule_open(141, 0);
	struct expect none = EG(RL_G_UNMATCHED, XDP_PASS);
	struct rl_match m = {};
	__u32 slot = 7, len;
	int fam;

	t_begin();
	m.n = 1;
	m.rule[0] = rd;
	t_rule_fix(&m.rule[0]);
	t_catalog(L, &m.rule[0]);
	CHECK(!bpf_map_update_elem(L->fd.mval, &slot, &m, BPF_ANY), "cannot write rl_mval");
	set_match(L, "10.13.0.0", 16, &rt, 1);
	set_match(L, "fd13::", 16, &rt, 1);
	for (fam = 4; fam <= 6; fam += 2) {
		__u32 cell = fam == 4 ? 0x0a0d : 0xfd13;

		len = fam == 4 ? v4pkt("10.13.1.2", IPPROTO_UDP, 53, 0, 0) :
				 v6pkt("fd13::1:2", IPPROTO_UDP, 53);
		expect_rule(fam == 4 ? "v4 cell TRIE: the trie's rule" : "v6 cell TRIE: the trie's rule",
			    len, 140, RL_V_PASS);
		dir_cell(fam, cell, slot + 1);
		expect_rule(fam == 4 ? "v4 cell names a slot: its rule" : "v6 cell names a slot: its rule",
			    len, 141, RL_V_PASS);
		dir_cell(fam, cell, RL_DIR_NONE);
		run_expect(fam == 4 ? "v4 cell NONE: unmatched" : "v6 cell NONE: unmatched",
			   pk.buf, len, &none);
		dir_cell(fam, cell, RL_DIR_VALS + 5);
		expect_rule(fam == 4 ? "v4 cell naming no slot: the trie" :
				       "v6 cell naming no slot: the trie", len, 140, RL_V_PASS);
		dir_cell(fam, cell, RL_DIR_TRIE);
		expect_rule(fam == 4 ? "v4 cell back to TRIE" : "v6 cell back to TRIE",
			    len, 140, RL_V_PASS);
	}
	t_end("direct_match_table");
}

/* rl_conf.coarse_clock: the box's end comes from the coarse clock. */
static void test_coarse_clock(void)
{
	struct rl_rule r = mkrule(120, 0, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	struct rl_conf c;
	__u64 t0, t1, w = 0;
	__u32 len;

	t_begin();
	r.block_ns = HOUR_NS;
	set_match(L, "10.10.0.0", 16, &r, 1);
	rl_conf_read(L->fd.conf, &c);
	c.coarse_clock = 1;
	rl_conf_write(L->fd.conf, &c);
	len = v4pkt("10.10.0.1", IPPROTO_UDP, 1, 0, 0);
	t0 = mono_coarse_ns();
	expect_rule("coarse clock: pass", len, 120, RL_V_PASS);
	expect_rule("coarse clock: drop", len, 120, RL_V_DROP);
	expect_rule("coarse clock: block", len, 120, RL_V_BLOCK);
	t1 = mono_coarse_ns();
	c.coarse_clock = 0;
	rl_conf_write(L->fd.conf, &c);
	CHECK(!state4(L, 120, "10.10.0.1", &w), "no state");
	CHECK(rl_word_tag(w) & RL_TAG_BOXED, "word %#llx not boxed", w);
	/* the box ends at (coarse + block) rounded up to 256 ns */
	CHECK(box_end(w) >= t0 + HOUR_NS && box_end(w) <= t1 + HOUR_NS + 256,
	      "box end %llu not in coarse [%llu, %llu]", box_end(w),
	      t0 + HOUR_NS, t1 + HOUR_NS + 256);
	t_end("coarse_clock");
}

/*
 * rl_conf.coarse_clock reads the coarse clock once per jiffy and CPU and
 * caches it in rl_clk (bpf/rl_state.h, rl_clock_coarse): the cache holds
 * the coarse time, later packets of the same jiffy use it, the next jiffy
 * reads again, and the precise mode takes a coarse cache for unlearnt.
 */
static void test_coarse_clock_cache(void)
{
	struct rl_rule r = mkrule(121, 0, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	struct rl_clk k0 = {}, k1 = {};
	struct rl_conf c;
	cpu_set_t old;
	__u64 t0, t1, tick;
	int used = 0, i;
	char src[32];
	__u32 len;

	t_begin();
	pin_cpu0(&old);
	set_match(L, "10.13.0.0", 16, &r, 1);
	rl_conf_read(L->fd.conf, &c);
	tick = c.tick_ns;
	c.coarse_clock = 1;
	rl_conf_write(L->fd.conf, &c);

	/* the cache holds the coarse time of the packet's jiffy */
	t0 = mono_coarse_ns();
	len = v4pkt("10.13.0.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("coarse cache: first packet", len, 121, RL_V_PASS);
	t1 = mono_coarse_ns();
	CHECK(!clk_rw(&k0, 0), "cannot read rl_clk");
	CHECK(k0.jset == RL_JSET_COARSE, "jset %u after a coarse read", k0.jset);
	if (k0.jset == RL_JSET_COARSE) {
		/* jlast keeps 32 bits of jiffies: the time it gives is the
		 * coarse time modulo 2^32 ticks */
		__s64 m = (__s64)((1ULL << 32) * tick);
		__s64 d = (__s64)((__u64)k0.jlast * tick + k0.jbase - t0) % m;

		if (d < 0)
			d += m;
		CHECK((__u64)d <= t1 - t0, "cached coarse time %+lld ns from [%llu, %llu]",
		      (long long)d, (unsigned long long)t0, (unsigned long long)t1);
	}

	/* within the jiffy, the cache is used: a cache pushed 2 h ahead
	 * admits the key's second packet (rate 1/h); a tick between the two
	 * packets reads the clock again, so try a few keys */
	for (i = 0; i < 20 && !used; i++) {
		snprintf(src, sizeof(src), "10.13.1.%d", i + 1);
		len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
		if (run_pkt(L->prog_fd, pk.buf, len, 1) != XDP_PASS)
			continue;
		if (clk_rw(&k1, 0))
			break;
		k1.jbase += 2 * HOUR_NS;
		clk_rw(&k1, 1);
		used = run_pkt(L->prog_fd, pk.buf, len, 1) == XDP_PASS;
	}
	CHECK(used, "a cache 2 h ahead was never used within its jiffy (%d tries)", i);

	/* the next jiffy reads the coarse clock again */
	usleep(3 * tick / 1000);
	len = v4pkt("10.13.2.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("coarse cache: a later jiffy, new key", len, 121, RL_V_PASS);
	expect_rule("coarse cache: a later jiffy, over", len, 121, RL_V_DROP);
	CHECK(!clk_rw(&k1, 0), "cannot read rl_clk");
	CHECK((__s64)(k1.jbase - k0.jbase) < (__s64)HOUR_NS,
	      "the 2 h push survived into a later jiffy (jbase %+lld ns)",
	      (long long)(k1.jbase - k0.jbase));

	/* back to precise: the coarse cache is not taken for a learnt base */
	c.coarse_clock = 0;
	rl_conf_write(L->fd.conf, &c);
	len = v4pkt("10.13.3.1", IPPROTO_UDP, 1, 0, 0);
	expect_rule("precise again: new key", len, 121, RL_V_PASS);
	expect_rule("precise again: over", len, 121, RL_V_DROP);
	CHECK(!clk_rw(&k1, 0), "cannot read rl_clk");
	CHECK(k1.jset == RL_JSET_PRECISE, "jset %u after a precise packet", k1.jset);
	sched_setaffinity(0, sizeof(old), &old);
	t_end("coarse_clock_cache");
}

/* VLAN TPID 0x9100 (pre-standard QinQ) is a VLAN tag like 802.1ad. */
static void test_parse_qinq9100(void)
{
	struct pkt_spec one = { .family = 4, .vlans = 1, .tpid = 0x9100,
				.proto = IPPROTO_UDP, .dport = 53 };
	struct pkt_spec two = { .family = 6, .vlans = 2, .tpid = 0x9100,
				.proto = IPPROTO_TCP, .dport = 80, .syn = 1 };
	struct pkt_spec three = { .family = 4, .vlans = 3, .tpid = 0x9100,
				  .proto = IPPROTO_UDP, .dport = 53 };
	struct expect bad = EG(RL_G_PARSE_ERR, XDP_DROP);
	struct built b;

	t_begin();
	build_pkt(&one, &b);
	CHECK(b.buf[12] == 0x91 && b.buf[13] == 0x00, "TPID not 0x9100");
	{
		struct expect e = ER(P_UDP53, RL_V_PASS);

		run_expect("0x9100 v4 udp :53", b.buf, b.len, &e);
	}
	build_pkt(&two, &b);
	{
		struct expect e = ER(P_TCP80, RL_V_PASS);

		run_expect("0x9100 + 802.1Q v6 tcp :80", b.buf, b.len, &e);
	}
	build_pkt(&three, &b);
	run_expect("0x9100 + two more tags", b.buf, b.len, &bad);
	/* cut inside the 0x9100 tag */
	build_pkt(&one, &b);
	run_expect("0x9100 tag cut short", b.buf, 16, &bad);
	t_end("parse_vlan_tpid_9100");
}

/* An IPv4 total length of 0 is malformed on the wire (XDP). */
static void test_parse_totlen0(void)
{
	struct pkt_spec s = { .family = 4, .proto = IPPROTO_UDP, .dport = 53 };
	struct expect bad = EG(RL_G_PARSE_ERR, XDP_DROP);
	struct iphdr *ip;
	struct built b;

	t_begin();
	build_pkt(&s, &b);
	ip = (struct iphdr *)(b.buf + b.ip_off);
	ip->tot_len = 0;
	run_expect("XDP: IPv4 tot_len 0", b.buf, b.len, &bad);
	t_end("parse_ipv4_totlen0_xdp");
}

/* ---- full map ----------------------------------------------------------- */

/*
 * A tiny table (state_entries 4: two buckets of four IPv4 slots) and a
 * slow rule, so every key stays live: distinct sources fill it, then the
 * policy decides.
 */
static void test_on_full(__u32 on_full, const char *name)
{
	struct rl_loader *saved = L;
	struct rl_rule r = mkrule(110, 0, 1, HOUR_NS, on_full == RL_FULL_EVICT ? 1 : 3,
				  RL_ALGO_TOKEN_BUCKET);
	__u32 len, i, stored = 0, full = 0, nslots, agg_pass = 0;
	int first_full = 0, first_stored = 0, gone = 0;
	struct snap a, z;
	char src[32];
	int act;

	t_begin();
	L = t_load(on_full, 4);
	if (!L) {
		L = saved;
		t_failed = 1;
		t_end(name);
		return;
	}
	nslots = t_map_entries(L->fd.st4) * RL_BKT4_SLOTS;
	set_match(L, "10.9.0.0", 16, &r, 1);
	for (i = 1; i <= 40; i++) {
		snprintf(src, sizeof(src), "10.9.0.%u", i);
		len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
		t_settle();
		snap_take(L, &a);
		__u64 p0 = rstat(L, 110, RL_V_PASS), d0 = rstat(L, 110, RL_V_DROP);
		act = run_pkt(L->prog_fd, pk.buf, len, 1);
		snap_take(L, &z);
		__u64 dp = rstat(L, 110, RL_V_PASS) - p0, dd = rstat(L, 110, RL_V_DROP) - d0;
		__u64 dnew = z.g[RL_G_STATE_NEW] - a.g[RL_G_STATE_NEW];
		__u64 dfull = z.g[RL_G_MAP_FULL] - a.g[RL_G_MAP_FULL];
		__u64 devict = z.g[RL_G_EVICT] - a.g[RL_G_EVICT];

		CHECK(z.g[RL_G_LOCK_BUSY] == a.g[RL_G_LOCK_BUSY], "%s: lock_busy", src);
		if (dnew) {
			/* a slot for it: the limit decides, a fresh key passes */
			stored++;
			if (!first_stored)
				first_stored = (int)i;
			CHECK(act == XDP_PASS && dp == 1 && !dfull, "%s: stored but act %d pass +%llu full +%llu",
			      src, act, dp, dfull);
			if (on_full != RL_FULL_EVICT)
				CHECK(!devict, "%s: evict counted under another policy", src);
			continue;
		}
		full++;
		if (!first_full)
			first_full = (int)i;
		CHECK(dfull == 1, "%s: no slot, but map_full +%llu", src, dfull);
		switch (on_full) {
		case RL_FULL_FAIL_OPEN:
			CHECK(act == XDP_PASS && z.g[RL_G_FULL_PASS] - a.g[RL_G_FULL_PASS] == 1 &&
			      !dp && !dd, "%s: fail-open act %d", src, act);
			break;
		case RL_FULL_FAIL_CLOSED:
			CHECK(act == XDP_DROP && z.g[RL_G_FULL_DROP] - a.g[RL_G_FULL_DROP] == 1 &&
			      !dp && !dd, "%s: fail-closed act %d", src, act);
			break;
		case RL_FULL_AGGREGATE:
			CHECK(z.g[RL_G_FULL_AGG] - a.g[RL_G_FULL_AGG] == 1, "%s: full_agg", src);
			/* the shared bucket has the rule's burst of 3 */
			(void)0;
			CHECK(agg_pass < 3 ? (act == XDP_PASS && dp == 1) : (act == XDP_DROP && dd == 1),
			      "%s: overflow key %u: act %d pass +%llu drop +%llu", src,
			      agg_pass, act, dp, dd);
			agg_pass++;
			break;
		default:
			CHECK(0, "%s: evict found no room (map_full +%llu)", src, dfull);
			break;
		}
	}
	printf("    %u slots: %u keys stored, %u found no room (first at key %d)\n",
	       nslots, stored, full, first_full);
	CHECK(first_stored == 1, "first key not stored");
	CHECK(st4_count(L, ~0u) <= nslots, "more keys than slots");
	if (on_full == RL_FULL_EVICT) {
		CHECK(stored == 40 && gstat(L, RL_G_STATE_NEW) == 40, "state_new %llu",
		      gstat(L, RL_G_STATE_NEW));
		CHECK(gstat(L, RL_G_EVICT) >= 40 - nslots, "evict %llu, want >= %u",
		      gstat(L, RL_G_EVICT), 40 - nslots);
		CHECK(gstat(L, RL_G_MAP_FULL) == 0, "map_full %llu with evict",
		      gstat(L, RL_G_MAP_FULL));
		CHECK(st4_count(L, 110) == nslots, "%u keys live, want every slot %u",
		      st4_count(L, 110), nslots);
		/* an evicted key comes back fresh (burst 1: a kept key would be
		 * denied), and takes a live slot again: RL_G_EVICT counts it */
		for (i = 1; i <= 40; i++) {
			snprintf(src, sizeof(src), "10.9.0.%u", i);
			len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
			if (state4(L, 110, src, NULL) == -ENOENT) {
				__u64 e0 = gstat(L, RL_G_EVICT);

				gone++;
				expect_rule("evict: evicted key comes back fresh", len, 110, RL_V_PASS);
				CHECK(gstat(L, RL_G_EVICT) == e0 + 1, "evict +%llu",
				      gstat(L, RL_G_EVICT) - e0);
				CHECK(!state4(L, 110, src, NULL), "%s not stored again", src);
				break;
			}
		}
		CHECK(gone, "no key was evicted");
		for (i = 1; i <= 40; i++) {
			snprintf(src, sizeof(src), "10.9.0.%u", i);
			len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
			if (!state4(L, 110, src, NULL)) {
				expect_rule("evict: a key still stored keeps its state", len, 110,
					    RL_V_DROP);
				break;
			}
		}
	} else {
		CHECK(full > 0 && stored <= nslots && stored >= 1, "stored %u full %u", stored, full);
		CHECK(gstat(L, RL_G_EVICT) == 0, "evict %llu", gstat(L, RL_G_EVICT));
		/* a stored key still has its own state */
		snprintf(src, sizeof(src), "10.9.0.%d", first_stored);
		len = v4pkt(src, IPPROTO_UDP, 1, 0, 0);
		expect_rule("full: a stored key keeps its bucket", len, 110, RL_V_PASS);
	}
	rl_loader_close(L);
	L = saved;
	t_end(name);
}

/*
 * A full sliding-log hash under on-full evict: logs are not evicted, so a
 * source with no log of its own is charged to the rule's shared log
 * (FULL_AGG), never passed unlimited; a random-source flood that fills
 * the hash cannot open the rule.
 */
static void test_slog_full_evict(void)
{
	struct rl_loader *l = t_load(RL_FULL_EVICT, 4096);
	struct rl_rule r = mkrule(120, IPPROTO_UDP, 2, HOUR_NS, 2, RL_ALGO_SLIDING_LOG);
	__u32 i, n = t_map_entries(l ? l->fd.sl4 : -1) + 200, overflow = 0, opass = 0;
	struct snap a, z;
	char src[32];

	t_begin();
	if (!l)
		goto out;
	CHECK(!set_match(l, "0.0.0.0", 0, &r, 1), "set_match: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		struct pkt_spec s = { .family = 4, .src = src, .proto = IPPROTO_UDP, .dport = 53 };
		struct built b;
		int act;

		snprintf(src, sizeof(src), "10.%u.%u.%u", 40 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
		build_pkt(&s, &b);
		snap_take(l, &a);
		act = run_pkt(l->prog_fd, b.buf, b.len, 1);
		snap_take(l, &z);
		CHECK(z.g[RL_G_FULL_PASS] == a.g[RL_G_FULL_PASS], "%s: full log hash passed it unlimited", src);
		if (z.g[RL_G_MAP_FULL] == a.g[RL_G_MAP_FULL])
			continue;
		overflow++;
		CHECK(z.g[RL_G_FULL_AGG] - a.g[RL_G_FULL_AGG] == 1, "%s: full, but full_agg not counted", src);
		opass += act == XDP_PASS;
	}
	CHECK(overflow >= 200, "only %u sources found the log hash full", overflow);
	CHECK(opass == 2, "%u sources without a log passed; the shared log allows 2", opass);
out:
	rl_loader_close(l);
	t_end("slog_full_evict_charges_shared_log");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	L = t_load(RL_FULL_EVICT, 4096);
	if (!L)
		return getuid() == 0 ? 1 : 0;
	if (setup_parse_rules()) {
		printf("FAIL setup: cannot write rl_match4/rl_match6: %s\n", strerror(errno));
		return 1;
	}
	test_parse_valid();
	test_parse_malformed();
	test_parse_truncated();
	test_unmatched();
	test_bulk_lists();
	test_events();
	test_candidates();
	test_masking();
	test_per_rule();
	test_monitor();
	test_block_for();
	test_versions();
	test_algorithms();
	test_bytes();
	test_oversize();
	test_last_token();
	test_jiffies_clock();
	test_dir_table();
	test_coarse_clock();
	test_coarse_clock_cache();
	test_parse_qinq9100();
	test_parse_totlen0();
	rl_loader_close(L);
	L = NULL;
	test_on_full(RL_FULL_FAIL_OPEN, "on_full_fail_open");
	test_on_full(RL_FULL_FAIL_CLOSED, "on_full_fail_closed");
	test_on_full(RL_FULL_AGGREGATE, "on_full_aggregate");
	test_on_full(RL_FULL_EVICT, "on_full_evict");
	test_slog_full_evict();
	return t_summary("test_xdp");
}
