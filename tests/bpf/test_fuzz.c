// SPDX-License-Identifier: GPL-2.0
/*
 * test_fuzz.c - random frames through the real rl_xdp with
 * BPF_PROG_TEST_RUN.  Seeded xorshift PRNG; the seed is printed and can be
 * given back as argv[1] to replay a failure.
 *
 *  1. parser differential: valid templates (VLANs, IPv4 options, IPv6
 *     extension chains, fragments, TCP/UDP/ICMP) are mutated (byte flips
 *     biased to the headers, protocol and length fields rewritten, frames
 *     cut short) and each one is classified by a reference decoder written
 *     here on raw byte offsets.  The catch-all rules of test_xdp.c make the
 *     counter that moves name what the program parsed: it must be the one
 *     the reference predicts, for every frame.
 *  2. accounting: the same stream against tight limits, allow and block
 *     entries, every algorithm and a tiny state map (fail-closed, then
 *     aggregate): every verdict is PASS or DROP and every packet lands in
 *     exactly one terminal counter; drops add up to the dropping counters.
 */
#include "rl_testlib.h"

#define N_DIFF   20000
#define N_ACCT   10000

static struct rl_loader *L;
static __u64 rng;

static __u64 rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static __u32 rndn(__u32 n)
{
	return n ? (__u32)(rnd() % n) : 0;
}

/* ---- the frame stream --------------------------------------------------- */

static __u32 gen_frame(struct built *b)
{
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, 58, 47, 59 };
	static const __u8 exts[] = { 0, 43, 44, 51, 60 };
	static const __u16 ports[] = { 80, 53, 22, 443, 0, 65535 };
	struct pkt_spec s = {};
	char src[64];
	__u32 len, i, n, off;

	s.family = rndn(10) ? (rndn(2) ? 4 : 6) : 0;
	s.ethertype = rndn(2) ? ETH_P_ARP : 0x88cc;
	s.vlans = rndn(8) == 0 ? 3 : rndn(3);
	s.tpid = rndn(4) ? 0 : 0x9100;
	s.proto = protos[rndn(sizeof(protos))];
	s.dport = ports[rndn(sizeof(ports) / 2)];
	s.syn = rndn(2);
	s.ack = rndn(2);
	s.ip4_opt_words = rndn(3) ? 0 : rndn(11);
	s.frag = rndn(4) ? FRAG_NONE : 1 + rndn(2);
	s.payload = rndn(64);
	if (s.family == 6) {
		s.n_ext = rndn(3) ? rndn(4) : rndn(9);
		for (i = 0; i < (__u32)s.n_ext; i++)
			s.ext[i] = exts[rndn(sizeof(exts))];
	}
	if (s.family == 4)
		snprintf(src, sizeof(src), "10.%u.%u.%u", rndn(4), rndn(4), rndn(8));
	else
		snprintf(src, sizeof(src), "2001:db8:%x::%x", rndn(4), rndn(8));
	s.src = src;
	len = build_pkt(&s, b);

	/* mutations */
	n = rndn(4) ? rndn(4) : rndn(32);
	for (i = 0; i < n; i++) {
		/* mostly inside the headers: that is where the parser reads */
		off = rndn(4) ? rndn(b->hdr_end + 4) : rndn(len);
		if (off < len)
			b->buf[off] ^= (__u8)(1u << rndn(8));
	}
	if (!rndn(6) && b->ip_off + 1 < len)
		b->buf[b->ip_off] = (__u8)rnd();              /* version/IHL */
	if (!rndn(6) && b->ip_off + 10 < len)
		b->buf[b->ip_off + (s.family == 6 ? 6 : 9)] = exts[rndn(sizeof(exts))];
	if (!rndn(5))
		len = ETH_HLEN + rndn(len - ETH_HLEN + 1);    /* cut short */
	else if (!rndn(5) && b->hdr_end > ETH_HLEN)
		len = b->hdr_end - 1 - rndn(4) > ETH_HLEN ? b->hdr_end - 1 - rndn(4) : ETH_HLEN;
	return len;
}

/* ---- reference decoder -------------------------------------------------- */

enum { REF_OK, REF_NON_IP, REF_MALFORMED };

struct ref {
	int family, has_ports, syn, nonfirst;
	__u8 proto;
	__u16 dport;
};

static __u16 be16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static int ref_l4(const __u8 *b, __u32 len, __u32 off, struct ref *r)
{
	switch (r->proto) {
	case IPPROTO_TCP:
		if (off + 20 > len || (b[off + 12] >> 4) < 5)
			return REF_MALFORMED;
		r->has_ports = 1;
		r->dport = be16(b + off + 2);
		r->syn = (b[off + 13] & 0x02) && !(b[off + 13] & 0x10);
		return REF_OK;
	case IPPROTO_UDP:
		if (off + 8 > len)
			return REF_MALFORMED;
		r->has_ports = 1;
		r->dport = be16(b + off + 2);
		return REF_OK;
	case IPPROTO_ICMP:
	case 58:
		return off + 8 > len ? REF_MALFORMED : REF_OK;
	default:
		return REF_OK;
	}
}

static int ref_parse(const __u8 *b, __u32 len, struct ref *r)
{
	__u32 off = 14, hl, i;
	__u16 et;
	__u8 nh;

	memset(r, 0, sizeof(*r));
	if (len < 14)
		return REF_MALFORMED;
	et = be16(b + 12);
	for (i = 0; et == 0x8100 || et == 0x88a8 || et == 0x9100; i++) {
		if (i == 2 || off + 4 > len)
			return REF_MALFORMED;
		et = be16(b + off + 2);
		off += 4;
	}
	if (et == 0x0800) {
		if (off + 20 > len || (b[off] >> 4) != 4 || (b[off] & 15) < 5)
			return REF_MALFORMED;
		hl = (b[off] & 15) * 4;
		if (be16(b + off + 2) < hl || off + hl > len)
			return REF_MALFORMED;
		r->family = 4;
		r->proto = b[off + 9];
		if (be16(b + off + 6) & 0x1fff) {
			r->nonfirst = 1;
			return REF_OK;
		}
		return ref_l4(b, len, off + hl, r);
	}
	if (et != 0x86dd)
		return REF_NON_IP;
	if (off + 40 > len || (b[off] >> 4) != 6)
		return REF_MALFORMED;
	r->family = 6;
	nh = b[off + 6];
	off += 40;
	for (i = 0;; i++) {
		if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60) {
			r->proto = nh;
			return ref_l4(b, len, off, r);
		}
		if (i == 6)
			return REF_MALFORMED;
		if (nh == 44) {
			if (off + 8 > len)
				return REF_MALFORMED;
			if (be16(b + off + 2) & 0xfff8) {
				r->proto = b[off];
				r->nonfirst = 1;
				return REF_OK;
			}
			nh = b[off];
			off += 8;
			continue;
		}
		if (off + 2 > len)
			return REF_MALFORMED;
		hl = nh == 51 ? (b[off + 1] + 2u) * 4 : (b[off + 1] + 1u) * 8;
		if (off + hl > len)
			return REF_MALFORMED;
		nh = b[off];
		off += hl;
	}
}

/* The catch-all rules (same classes as test_xdp.c). */
enum { P_TCP80 = 1, P_UDP53, P_TCPSYN, P_UDP, P_ICMP, P_ANY, P_ICMP6 };

static __u32 ref_rule(const struct ref *r)
{
	if (r->proto == IPPROTO_TCP && r->has_ports && r->dport == 80)
		return P_TCP80;
	if (r->proto == IPPROTO_UDP && r->has_ports && r->dport == 53)
		return P_UDP53;
	if (r->proto == IPPROTO_TCP && r->has_ports && r->syn)
		return P_TCPSYN;
	if (r->proto == IPPROTO_UDP)
		return P_UDP;
	if (r->family == 4 && r->proto == IPPROTO_ICMP)
		return P_ICMP;
	if (r->family == 6 && r->proto == 58)
		return P_ICMP6;
	return P_ANY;
}

static int setup_catch_all(void)
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
	return ret ? ret : set_match(L, "::", 0, r6, 6);
}

static void test_differential(void)
{
	static const char *cls[] = { "ok", "non-ip", "malformed" };
	struct built b;
	struct snap a, z;
	struct ref ref;
	__u64 before[8], after;
	unsigned i, k, n_cls[3] = {}, bad = 0;
	__u32 len;
	int rc, act, g_want, g;

	t_begin();
	CHECK(!setup_catch_all(), "cannot write catch-all entries");
	for (i = 0; i < N_DIFF; i++) {
		len = gen_frame(&b);
		rc = ref_parse(b.buf, len, &ref);
		n_cls[rc]++;
		snap_take(L, &a);
		for (k = 1; k <= P_ICMP6; k++)
			before[k] = rstat(L, k, RL_V_PASS);
		act = run_pkt(L->prog_fd, b.buf, len, 1);
		snap_take(L, &z);

		g_want = rc == REF_NON_IP ? RL_G_NON_IP : rc == REF_MALFORMED ?
			 RL_G_PARSE_ERR : -1;
		for (g = RL_G_NON_IP; g <= RL_G_BLOCKLIST; g++)
			if (z.g[g] - a.g[g] != (__u64)(g == g_want))
				break;
		if (g <= RL_G_BLOCKLIST) {
			if (bad++ < 10)
				printf("    frame %u (%u bytes): reference says %s, program moved %s\n",
				       i, len, cls[rc], gstat_names[g]);
			continue;
		}
		if (act != (rc == REF_MALFORMED ? XDP_DROP : XDP_PASS)) {
			if (bad++ < 10)
				printf("    frame %u: action %d for %s\n", i, act, cls[rc]);
			continue;
		}
		if (rc == REF_OK) {
			__u32 want = ref_rule(&ref);

			for (k = 1; k <= P_ICMP6; k++) {
				after = rstat(L, k, RL_V_PASS);
				if (after - before[k] != (k == want)) {
					if (bad++ < 10)
						printf("    frame %u: family %d proto %u dport %u%s syn %d "
						       "nonfirst %d: want rule %u, rule %u moved\n",
						       i, ref.family, ref.proto, ref.dport,
						       ref.has_ports ? "" : "(none)", ref.syn,
						       ref.nonfirst, want, k);
					break;
				}
			}
			if (z.g[RL_G_FRAGMENT] - a.g[RL_G_FRAGMENT] != (__u64)ref.nonfirst &&
			    bad++ < 10)
				printf("    frame %u: fragment counter off\n", i);
		}
	}
	printf("    %u frames: %u parsed, %u non-IP, %u malformed; %u disagreements\n",
	       N_DIFF, n_cls[REF_OK], n_cls[REF_NON_IP], n_cls[REF_MALFORMED], bad);
	CHECK(bad == 0, "%u frames disagree with the reference decoder", bad);
	CHECK(n_cls[REF_OK] > N_DIFF / 10 && n_cls[REF_MALFORMED] > N_DIFF / 10,
	      "stream is lopsided: the mutations need tuning");
	t_end("fuzz_parser_differential");
}

/* ---- accounting ----------------------------------------------------------- */

static void setup_tight(void)
{
	struct rl_rule r[6];
	__u32 a;

	for (a = 0; a < 5; a++) {
		r[a] = mkrule(300 + a, 0, 3, HOUR_NS, 3, a);
		r[a].proto = a == 0 ? IPPROTO_TCP : a == 1 ? IPPROTO_UDP : a == 2 ? IPPROTO_ICMP :
			     a == 3 ? 58 : 0;
		r[a].block_ns = a == 1 ? HOUR_NS : 0;
		r[a].action = a == 2 ? RL_ACT_MONITOR : RL_ACT_DROP;
		r[a].plen4 = 24;
	}
	r[1].flags = RL_RF_BYTES;
	r[1].limit.rate = 3000;
	r[1].limit.burst = 3000;
	r[4].flags = RL_RF_PER_RULE;
	r[5] = mkrule(305, 0, 5, HOUR_NS, 5, RL_ALGO_TOKEN_BUCKET);
	set_match(L, "0.0.0.0", 0, r, 6);
	set_match(L, "::", 0, r, 6);
	set_list(L, "10.1.0.0", 16, RL_LF_ALLOW, 0, 1);
	set_list(L, "10.2.0.0", 16, RL_LF_BLOCK, ~0ULL, 1);
	set_list(L, "10.3.2.0", 24, RL_LF_BLOCK, 1, 1);
	set_list(L, "2001:db8:1::", 48, RL_LF_BLOCK, ~0ULL, 1);
}

static void test_accounting(__u32 on_full, const char *name)
{
	__u64 n_pass = 0, n_drop = 0, term = 0, dropping, rule_total = 0;
	__u32 id, v, len, i;
	struct built b;
	struct snap s;
	int act, odd = 0;

	t_begin();
	L = t_load(on_full, 16);
	if (!L) {
		t_failed = 1;
		t_end(name);
		return;
	}
	setup_tight();
	for (i = 0; i < N_ACCT; i++) {
		len = gen_frame(&b);
		/* repeat 1: a repeat > 1 swaps the XDP dispatcher, which waits
		 * for an RCU grace period on every run */
		act = run_pkt(L->prog_fd, b.buf, len, 1);
		if (act == XDP_PASS)
			n_pass++;
		else if (act == XDP_DROP)
			n_drop++;
		else if (odd++ < 5)
			printf("    frame %u: action %d\n", i, act);
	}
	snap_take(L, &s);
	dropping = s.g[RL_G_PARSE_ERR] + s.g[RL_G_BLOCKLIST] + s.g[RL_G_FULL_DROP] +
		   s.g[RL_G_LOCK_BUSY];
	for (id = 300; id <= 305; id++)
		for (v = 0; v < __RL_V_MAX; v++) {
			__u64 c = rstat(L, id, v);

			rule_total += c;
			if (v == RL_V_DROP || v == RL_V_BLOCK)
				dropping += c;
		}
	term = s.g[RL_G_NON_IP] + s.g[RL_G_PARSE_ERR] + s.g[RL_G_UNMATCHED] + s.g[RL_G_ALLOW] +
	       s.g[RL_G_BLOCKLIST] + s.g[RL_G_FULL_PASS] + s.g[RL_G_FULL_DROP] +
	       s.g[RL_G_LOCK_BUSY] + s.g[RL_G_TC_UNPARSED] + rule_total;
	for (v = 0; v < __RL_G_MAX; v++)
		printf("    %-10s %llu\n", gstat_names[v], (unsigned long long)s.g[v]);
	printf("    rule verdicts %llu; actions: %llu pass, %llu drop\n",
	       (unsigned long long)rule_total, (unsigned long long)n_pass,
	       (unsigned long long)n_drop);
	CHECK(odd == 0, "%d runs returned something other than PASS/DROP", odd);
	CHECK(s.g[RL_G_PACKETS] == term, "packets %llu != sum of terminal counters %llu",
	      (unsigned long long)s.g[RL_G_PACKETS], (unsigned long long)term);
	CHECK(s.g[RL_G_PACKETS] == N_ACCT, "packets %llu for %u frames",
	      (unsigned long long)s.g[RL_G_PACKETS], N_ACCT);
	CHECK(dropping == n_drop, "dropping counters add up to %llu, %llu XDP_DROP verdicts",
	      (unsigned long long)dropping, (unsigned long long)n_drop);
	CHECK(s.g[RL_G_MAP_FULL] > 0, "tiny state map never filled");
	CHECK(s.g[RL_G_LOCK_BUSY] == 0, "lock_busy %llu on one CPU",
	      (unsigned long long)s.g[RL_G_LOCK_BUSY]);
	CHECK(s.g[RL_G_EVICT] == 0, "evict %llu under another policy",
	      (unsigned long long)s.g[RL_G_EVICT]);
	if (on_full == RL_FULL_AGGREGATE)
		CHECK(s.g[RL_G_FULL_AGG] == s.g[RL_G_MAP_FULL], "full_agg %llu != map_full %llu",
		      (unsigned long long)s.g[RL_G_FULL_AGG], (unsigned long long)s.g[RL_G_MAP_FULL]);
	else
		CHECK(s.g[RL_G_FULL_DROP] == s.g[RL_G_MAP_FULL], "full_drop %llu != map_full %llu",
		      (unsigned long long)s.g[RL_G_FULL_DROP], (unsigned long long)s.g[RL_G_MAP_FULL]);
	rl_loader_close(L);
	L = NULL;
	t_end(name);
}

int main(int argc, char **argv)
{
	__u64 seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (mono_ns() ^ (__u64)getpid() << 32);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!seed)
		seed = 1;
	rng = seed;
	printf("seed %#llx (replay: %s %#llx)\n", (unsigned long long)seed, argv[0],
	       (unsigned long long)seed);
	L = t_load(RL_FULL_EVICT, 65536);
	if (!L)
		return getuid() == 0 ? 1 : 0;
	test_differential();
	rl_loader_close(L);
	L = NULL;
	test_accounting(RL_FULL_FAIL_CLOSED, "fuzz_accounting_fail_closed");
	test_accounting(RL_FULL_AGGREGATE, "fuzz_accounting_aggregate");
	return t_summary("test_fuzz");
}
