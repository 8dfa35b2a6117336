/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_testlib.h - shared helpers of the BPF_PROG_TEST_RUN tests in
 * tests/bpf/ (test_xdp.c, test_tc.c, test_fuzz.c, test_smp.c, test_loader.c): packet
 * crafting from kernel header structs, match-entry and rule builders,
 * counter snapshots, one test-run call, and the PASS/FAIL/SKIP protocol of
 * tests/run.sh.  Header-only, so each test stays one compilation unit.
 */
#ifndef RL_TESTLIB_H
#define RL_TESTLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/icmp.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rl_abi.h"
#include "rl_algo.h"
#include "rl_loader.h"
#include "rl_hash.h"
#include "rl_lists.h"

#define NS_PER_SEC   1000000000ULL
#define HOUR_NS      (3600ULL * NS_PER_SEC)

/* ---- reporting ---------------------------------------------------- */

static int t_failures, t_cases, t_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("    at %s:%d: ", __FILE__, __LINE__);      \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
			t_failed = 1;                                      \
		}                                                          \
	} while (0)

static inline void t_begin(void)
{
	t_failed = 0;
}

static inline void t_end(const char *name)
{
	t_cases++;
	if (t_failed) {
		t_failures++;
		printf("FAIL %s: see above\n", name);
	} else {
		printf("PASS %s\n", name);
	}
	fflush(stdout);
}

static inline int t_summary(const char *prog)
{
	printf("%s: %d cases, %d failed\n", prog, t_cases, t_failures);
	return t_failures ? 1 : 0;
}

static inline __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE: what bpf_ktime_get_coarse_ns returns. */
static inline __u64 mono_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/*
 * Wait long enough that a packet taking a key's last token is not denied
 * by the datapath's coarse-clock pre-check (rl_charge_word decides a deny
 * at coarse + one tick, but on NOHZ kernels CLOCK_MONOTONIC_COARSE can lag
 * the precise clock by two ticks or more: test_xdp's
 * gcra_last_token_back_to_back shows it).  Tests that are not about that
 * call this before such a packet, so they test one thing each.
 */
static inline void t_settle(void)
{
	usleep(12000);
}

/* Loader without pins (pin_dir ""), small state maps. */
static inline struct rl_loader *t_load(__u32 on_full, __u32 state_entries)
{
	struct rl_loader_opts o = {
		.pin_dir = "",
		.on_full = on_full,
		.state_entries = state_entries,
		.slog_entries = 1024,
	};
	struct rl_loader *l;
	char err[RL_LOADER_ERR_LEN];
	int ret;

	ret = rl_loader_open(&o, &l, err, sizeof(err));
	if (ret) {
		printf("%s %s: %s\n", ret == -EPERM ? "SKIP" : "FAIL",
		       "load", err);
		return NULL;
	}
	return l;
}

/* ---- packets ------------------------------------------------------ */

enum { FRAG_NONE = 0, FRAG_FIRST, FRAG_LATER };

struct pkt_spec {
	int family;                /* 4 or 6; 0 with ethertype for non-IP   */
	__u16 ethertype;           /* non-IP frames                          */
	int vlans;                 /* 0..3 tags, outer 802.1ad              */
	const char *src;
	__u8 proto;
	__u16 dport;
	int syn, ack;
	int ip4_opt_words;         /* 32-bit option words (IHL = 5 + n)      */
	int n_ext;                 /* IPv6 extension headers, in order       */
	__u8 ext[10];
	int frag;                  /* FRAG_*                                 */
	int payload;
	__u16 tpid;                /* outer VLAN TPID, 0: 802.1Q/802.1ad     */
	__u8 ext_hdrlen;           /* IPv6 HBH/DST/RTG hdrlen, 0: 1 (16 B)   */
};

struct built {
	__u8 buf[4096];
	__u32 len;
	__u32 hdr_end;             /* end of the last header the parser reads */
	__u32 ip_off;              /* start of the IP header                 */
	__u32 l4_off;
};

static inline void *put(struct built *b, __u32 n)
{
	void *p = b->buf + b->len;

	memset(p, 0, n);
	b->len += n;
	return p;
}

static inline __u32 l4_hdr_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:  return sizeof(struct tcphdr);
	case IPPROTO_UDP:  return sizeof(struct udphdr);
	case IPPROTO_ICMP:
	case 58:           return 8;
	default:           return 0;
	}
}

static inline void put_l4(struct built *b, const struct pkt_spec *s)
{
	struct tcphdr *th;
	struct udphdr *uh;
	__u8 *ic;

	b->l4_off = b->len;
	switch (s->proto) {
	case IPPROTO_TCP:
		th = put(b, sizeof(*th));
		th->source = htons(40000);
		th->dest = htons(s->dport);
		th->doff = 5;
		th->syn = !!s->syn;
		th->ack = !!s->ack;
		break;
	case IPPROTO_UDP:
		uh = put(b, sizeof(*uh));
		uh->source = htons(40000);
		uh->dest = htons(s->dport);
		uh->len = htons(8 + s->payload);
		break;
	case IPPROTO_ICMP:
	case 58:
		ic = put(b, 8);
		ic[0] = s->proto == IPPROTO_ICMP ? 8 : 128;   /* echo request */
		break;
	default:
		break;
	}
}

/* Build the frame; returns its length.  Boundaries land in *b. */
static inline __u32 build_pkt(const struct pkt_spec *s, struct built *b)
{
	__u16 outer = s->family == 4 ? ETH_P_IP : s->family == 6 ? ETH_P_IPV6 :
		      s->ethertype;
	struct ethhdr *eth;
	int i;

	memset(b, 0, sizeof(*b));
	eth = put(b, sizeof(*eth));
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", 6);
	eth->h_proto = htons(s->vlans ? (s->tpid ? s->tpid :
					 s->vlans > 1 ? ETH_P_8021AD : ETH_P_8021Q) : outer);
	for (i = 0; i < s->vlans; i++) {
		__be16 *v = put(b, 4);

		v[0] = htons(100 + i);
		v[1] = htons(i + 1 < s->vlans ? ETH_P_8021Q : outer);
	}
	b->ip_off = b->len;

	if (s->family == 4) {
		struct iphdr *ip = put(b, sizeof(*ip) + 4 * s->ip4_opt_words);
		__u8 *opt = (__u8 *)(ip + 1);

		for (i = 0; i < 4 * s->ip4_opt_words; i++)
			opt[i] = 1;   /* NOP options */
		ip->version = 4;
		ip->ihl = 5 + s->ip4_opt_words;
		ip->ttl = 64;
		ip->protocol = s->proto;
		inet_pton(AF_INET, s->src ? s->src : "10.0.0.1", &ip->saddr);
		inet_pton(AF_INET, "10.255.0.1", &ip->daddr);
		if (s->frag == FRAG_FIRST)
			ip->frag_off = htons(0x2000);
		else if (s->frag == FRAG_LATER)
			ip->frag_off = htons(100);
		if (s->frag != FRAG_LATER) {
			put_l4(b, s);
			b->hdr_end = b->l4_off + l4_hdr_len(s->proto);
		} else {
			b->l4_off = b->len;
			b->hdr_end = b->len;
		}
		put(b, s->payload);
		ip->tot_len = htons(b->len - b->ip_off);
	} else if (s->family == 6) {
		struct ipv6hdr *ip6 = put(b, sizeof(*ip6));
		__u8 *nh = &ip6->nexthdr;
		int later = 0;

		ip6->version = 6;
		ip6->hop_limit = 64;
		inet_pton(AF_INET6, s->src ? s->src : "2001:db8::1", &ip6->saddr);
		inet_pton(AF_INET6, "2001:db8:ffff::1", &ip6->daddr);
		for (i = 0; i < s->n_ext; i++) {
			__u8 t = s->ext[i], *h;

			*nh = t;
			if (t == 44) {
				h = put(b, 8);
				if (s->frag == FRAG_LATER) {
					h[2] = 0x03;   /* offset 100 * 8 */
					h[3] = 0x20;
					later = 1;
				} else {
					h[3] = 0x01;   /* M flag */
				}
			} else if (t == 51) {
				h = put(b, 12);
				h[1] = 1;              /* (1 + 2) * 4 = 12 bytes */
			} else {
				__u32 hl = s->ext_hdrlen ? s->ext_hdrlen : 1;

				h = put(b, (hl + 1) * 8);
				h[1] = (__u8)hl;       /* (hl + 1) * 8 bytes */
				if (t != 43) {
					h[2] = 1;      /* PadN over the rest */
					h[3] = (__u8)((hl + 1) * 8 - 4);
				}
			}
			nh = &h[0];
		}
		*nh = s->proto;
		if (!later)
			put_l4(b, s);
		else
			b->l4_off = b->len;
		b->hdr_end = later ? b->len : b->l4_off + l4_hdr_len(s->proto);
		put(b, s->payload);
		ip6->payload_len = htons(b->len - b->ip_off - sizeof(*ip6));
	} else {
		put(b, 28);
		b->hdr_end = 14 + 4 * s->vlans;
	}
	if (b->len < 60)
		put(b, 60 - b->len);
	return b->len;
}

/* One BPF_PROG_TEST_RUN; returns the XDP action or -errno. */
static inline int run_pkt(int prog_fd, const void *data, __u32 len, __u32 repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, o,
		    .data_in = data,
		    .data_size_in = len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	return (int)o.retval;
}

/* ---- rules and match entries ------------------------------------- */

static inline struct rl_rule mkrule(__u32 id, __u8 proto, __u64 rate,
				    __u64 period_ns, __u64 burst, __u32 algo)
{
	struct rl_rule r = {
		.id = id,
		.ver = (1u << 16) | 1,
		.proto = proto,
		.action = RL_ACT_DROP,
		.plen4 = 32,
		.plen6 = 128,
		.dport_lo = 0,
		.dport_hi = 0xffff,
		.limit = { .rate = rate, .period_ns = period_ns, .burst = burst,
			   .algo = algo },
	};
	return r;
}

/* Rate high enough that nothing in a test ever exceeds it. */
static inline struct rl_rule mkrule_open(__u32 id, __u8 proto)
{
	return mkrule(id, proto, 1000000000ULL, NS_PER_SEC, 1000000000ULL,
		      RL_ALGO_TOKEN_BUCKET);
}

/*
 * What rl_rule_compile does to a rule: its constants k and its tag.  Every
 * rule written into a match entry or the catalog goes through this.
 */
static inline void t_rule_fix(struct rl_rule *r)
{
	rl_lconst_compile(&r->limit, !!(r->flags & RL_RF_BYTES), &r->k);
	r->tag = rl_rule_tag(r->ver);
}

/* rl_catalog[id] = the rule, in use: the datapath reads it to judge
 * whether a slot of this rule is idle. */
static inline int t_catalog(struct rl_loader *l, const struct rl_rule *r)
{
	struct rl_catalog c = {};

	c.in_use = 1;
	c.prio = r->id;
	snprintf(c.name, sizeof(c.name), "t%u", r->id);
	c.src4_len = 0xff;
	c.src6_len = 0xff;
	c.rule = *r;
	return bpf_map_update_elem(l->fd.catalog, &r->id, &c, BPF_ANY) ? -errno : 0;
}

static inline int set_match(struct rl_loader *l, const char *pfx, int plen,
			    const struct rl_rule *rules, int n)
{
	struct rl_match m = {};
	int i;

	m.n = n;
	for (i = 0; i < n && i < RL_MAX_CAND; i++) {
		m.rule[i] = rules[i];
		t_rule_fix(&m.rule[i]);
		if (t_catalog(l, &m.rule[i]))
			return -errno;
	}
	if (strchr(pfx, ':')) {
		struct rl_lpm6 k = { .prefixlen = plen };

		inet_pton(AF_INET6, pfx, k.addr);
		return bpf_map_update_elem(l->fd.match6, &k, &m, BPF_ANY) ? -errno : 0;
	} else {
		struct rl_lpm4 k = { .prefixlen = plen };

		inet_pton(AF_INET, pfx, &k.addr);
		return bpf_map_update_elem(l->fd.match4, &k, &m, BPF_ANY) ? -errno : 0;
	}
}

/*
 * A bulk-list entry (rl_lst4/6) with flags RL_LF_* and a block expiry, and
 * unless !guard its guard bits: for IPv4 every /24 the prefix meets (as the
 * agent sets them; prefixes of /8 or longer), for IPv6 the bit of its first
 * address.
 */
static inline void set_list(struct rl_loader *l, const char *pfx, int plen,
			    __u32 flags, __u64 until, int guard)
{
	struct rl_lval v = { .flags = flags, .block_until_ns = until };
	__u32 idx, b, n = 1, j;
	__u64 w;

	if (strchr(pfx, ':')) {
		struct rl_lpm6 k = { .prefixlen = plen };
		__u64 hi = 0;
		int i;

		inet_pton(AF_INET6, pfx, k.addr);
		bpf_map_update_elem(l->fd.lst6, &k, &v, BPF_ANY);
		for (i = 0; i < 8; i++)
			hi = hi << 8 | k.addr[i];
		if (plen >= RL_LBM6_HASH_LEN) {
			b = rl_lbm6_hash_bit(hi);
			idx = RL_LBM6_SHORT + b / 64;
		} else {
			b = rl_lbm6_short_bit(hi);
			idx = b / 64;
		}
		if (guard && !bpf_map_lookup_elem(l->fd.lbm6, &idx, &w)) {
			w |= 1ULL << (b % 64);
			bpf_map_update_elem(l->fd.lbm6, &idx, &w, BPF_ANY);
		}
		return;
	}
	struct rl_lpm4 k = { .prefixlen = plen };

	inet_pton(AF_INET, pfx, &k.addr);
	bpf_map_update_elem(l->fd.lst4, &k, &v, BPF_ANY);
	if (plen >= 8 && plen < RL_LBM_BITS)
		n = 1u << (RL_LBM_BITS - plen);
	for (j = 0; guard && j < n; j++) {
		b = rl_lbm4_bit(ntohl(k.addr)) + j;
		idx = b / 64;
		if (!bpf_map_lookup_elem(l->fd.lbm4, &idx, &w)) {
			w |= 1ULL << (b % 64);
			bpf_map_update_elem(l->fd.lbm4, &idx, &w, BPF_ANY);
		}
	}
}

/* ---- counters ----------------------------------------------------- */

static inline __u64 gstat(struct rl_loader *l, __u32 g)
{
	struct rl_ctr c;

	return rl_ctr_sum(l->fd.gstats, g, &c) ? ~0ULL : c.packets;
}

static inline __u64 rstat(struct rl_loader *l, __u32 id, __u32 v)
{
	struct rl_ctr c;

	return rl_ctr_sum(l->fd.stats, id * __RL_V_MAX + v, &c) ? ~0ULL : c.packets;
}

static inline __u64 rstat_bytes(struct rl_loader *l, __u32 id, __u32 v)
{
	struct rl_ctr c;

	return rl_ctr_sum(l->fd.stats, id * __RL_V_MAX + v, &c) ? ~0ULL : c.bytes;
}

struct snap {
	__u64 g[__RL_G_MAX];
};

static inline void snap_take(struct rl_loader *l, struct snap *s)
{
	__u32 i;

	for (i = 0; i < __RL_G_MAX; i++)
		s->g[i] = gstat(l, i);
}

static const char *const gstat_names[__RL_G_MAX] = {
	"packets", "non_ip", "parse_err", "unmatched", "allow", "blocklist",
	"state_new", "map_full", "full_pass", "full_drop", "full_agg",
	"lock_busy", "fragment", "tc_defer", "evict", "tc_unparsed",
};

/* ---- state tables --------------------------------------------------- */

static inline __u32 t_map_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

/* The slot key of {rule, IPv4 source (already masked)}. */
static inline __u64 t_kw4(__u32 rule, const char *addr)
{
	__u32 a = 0;

	inet_pton(AF_INET, addr, &a);
	return (__u64)(rule + 1) << 32 | a;
}

/* Where a key's slot is: bucket index and slot, found by scanning. */
struct t_slot {
	__u32 bkt;
	int slot;
	__u64 word;
};

/* Scan rl_st4 for the slot of kw: 0 and *out, or -ENOENT. */
static inline int st4_find(struct rl_loader *l, __u64 kw, struct t_slot *out)
{
	__u32 n = t_map_entries(l->fd.st4), i;
	struct rl_bkt4 b;
	int j;

	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(l->fd.st4, &i, &b))
			return -errno;
		for (j = 0; j < RL_BKT4_SLOTS; j++)
			if (b.s[j].kw == kw) {
				if (out) {
					out->bkt = i;
					out->slot = j;
					out->word = b.s[j].word;
				}
				return 0;
			}
	}
	return -ENOENT;
}

/* The word of {rule, masked IPv4 source}: 0 and *w, or -ENOENT. */
static inline int state4(struct rl_loader *l, __u32 rule, const char *addr, __u64 *w)
{
	struct t_slot s = {};
	int ret = st4_find(l, t_kw4(rule, addr), &s);

	if (!ret && w)
		*w = s.word;
	return ret;
}

/* Overwrite the word of an existing slot (tests are single-threaded). */
static inline int state4_put(struct rl_loader *l, __u32 rule, const char *addr, __u64 w)
{
	struct t_slot s = {};
	struct rl_bkt4 b;
	int ret = st4_find(l, t_kw4(rule, addr), &s);

	if (ret)
		return ret;
	if (bpf_map_lookup_elem(l->fd.st4, &s.bkt, &b))
		return -errno;
	b.s[s.slot].word = w;
	return bpf_map_update_elem(l->fd.st4, &s.bkt, &b, BPF_ANY) ? -errno : 0;
}

/* Scan rl_st6 for {rule, masked IPv6 source}: 0 and *w, or -ENOENT. */
static inline int state6(struct rl_loader *l, __u32 rule, const char *addr, __u64 *w)
{
	__u32 n = t_map_entries(l->fd.st6), i;
	struct rl_bkt6 b;
	__u8 a[16];
	int j;

	inet_pton(AF_INET6, addr, a);
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(l->fd.st6, &i, &b))
			return -errno;
		for (j = 0; j < RL_BKT6_SLOTS; j++)
			if (b.s[j].kw >> 32 == (__u64)rule + 1 &&
			    !memcmp(b.s[j].addr, a, 16)) {
				if (w)
					*w = b.s[j].word;
				return 0;
			}
	}
	return -ENOENT;
}

/* Slots in use (kw != 0) in rl_st4, and of them those of `rule` (~0u: any). */
static inline __u32 st4_count(struct rl_loader *l, __u32 rule)
{
	__u32 n = t_map_entries(l->fd.st4), i, c = 0;
	struct rl_bkt4 b;
	int j;

	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(l->fd.st4, &i, &b))
			continue;
		for (j = 0; j < RL_BKT4_SLOTS; j++)
			if (b.s[j].kw && (rule == ~0u || b.s[j].kw >> 32 == (__u64)rule + 1))
				c++;
	}
	return c;
}

/* The datapath's hash (include/rl_hash.h): the two buckets of an IPv4 key. */
static inline void st4_buckets_of(struct rl_loader *l, __u64 kw, __u32 *i1, __u32 *i2)
{
	struct rl_conf c = {};

	rl_conf_read(l->fd.conf, &c);
	rl_buckets(rl_hash4(kw, c.seed), t_map_entries(l->fd.st4), i1, i2);
}

static const char *const verdict_names[__RL_V_MAX] = {
	"pass", "drop", "monitor", "block", "mark",
};

#endif /* RL_TESTLIB_H */
