// SPDX-License-Identifier: GPL-2.0
/*
 * rlgen - floods an interface from the kernel, with many source addresses.
 *
 * Builds one template frame (Ethernet + IPv4/IPv6 + UDP, TCP SYN or ICMP
 * echo), then on each chosen CPU runs tools/rlgen.bpf.c through
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the program stamps a
 * source address into each frame, fixes the checksums and redirects it out
 * of -i IFNAME.  Every run is bounded by --count packets and --duration
 * seconds, whichever comes first, so rlgen always stops by itself.
 *
 * On a veth, frames redirected out of one end reach the other end only if
 * that end runs NAPI, i.e. has an XDP program attached (rl's, or
 * build/xdp_pass.bpf.o); otherwise they vanish without a trace in either
 * end's counters (seen on 6.18), so rlgen warns when the device's
 * tx_packets grew by less than half of what it sent.
 *
 *   rlgen -i rl1-g --dst-mac 02:77:00:00:00:02 -n 1000 --count 1000000
 */
#define _GNU_SOURCE
#include <net/if.h>              /* first: linux/if.h defers to it */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rlgen.skel.h"
#include "tool_util.h"

#define RLG_MAX_CPUS   256
#define RLG_MAX_FRAME  1514
#define RLG_CHUNK      (1u << 18)   /* frames per test run when unpaced */

enum rlg_proto { P_UDP, P_TCP_SYN, P_ICMP };

struct rlg_opts {
	const char *ifname;
	uint8_t dst_mac[6], src_mac[6];
	bool have_dst_mac, have_src_mac;
	int family;
	struct in6_addr dst;              /* IPv4 in the first 4 bytes */
	bool have_dst;
	uint8_t src_base[16];
	int src_plen;
	bool have_src_base;
	int src_shift;
	bool have_src_shift;
	uint64_t n_sources;
	bool every_new;
	enum rlg_proto proto;
	int dport, sport;
	int size;
	uint64_t count;
	double duration_s;
	double rate_pps;
	int cpus[RLG_MAX_CPUS];
	int ncpus;
	int batch;
	int pace_ms;                      /* --pace-ms                      */
	bool json, verbose;
};

struct rlg_worker {
	pthread_t tid;
	int cpu;
	int prog_fd;
	const uint8_t *frame;
	uint32_t frame_len;
	uint64_t quota;                   /* packets this thread sends      */
	double rate_pps;                  /* 0: unpaced                     */
	double deadline;                  /* CLOCK_MONOTONIC seconds        */
	int batch;
	int pace_ms;
	uint64_t sent;
	double seconds;
	int err;                          /* 0 or -errno                    */
};


static void usage(FILE *f)
{
	fprintf(f,
"usage: rlgen -i IFNAME --dst-mac MAC --count PACKETS [options]\n"
"Floods IFNAME with frames built in the kernel (XDP live frames).\n"
"  -i IFNAME            device to send out of (in the current netns)\n"
"  --dst-mac MAC        destination MAC (the receiver's)\n"
"  --src-mac MAC        source MAC (default: IFNAME's)\n"
"  -4 | -6              address family (default -4)\n"
"  --dst ADDR           destination (default 10.77.0.2 / fd77::2, the lab dut)\n"
"  --src-base ADDR/LEN  sources are ADDR | (index << SHIFT) inside ADDR/LEN\n"
"                       (default 10.0.0.0/8, or fd00::1/16 with shift 64)\n"
"  --src-shift BITS     bit position of the source index (default 0 for\n"
"                       IPv4, 64 for IPv6: one source per /64)\n"
"  -n SOURCES           distinct sources, 1..16777216 (default 1)\n"
"  --every-new          a new source for every packet (cycles through the\n"
"                       whole prefix; threads draw from disjoint ranges)\n"
"  --proto P            udp (default), tcp-syn or icmp (ICMPv6 with -6)\n"
"  --dport N            destination port (default 9 for udp, 80 for tcp)\n"
"  --sport N            source port (default 40000)\n"
"  --size BYTES         frame size without FCS (default: minimum, >= 60)\n"
"  --count PACKETS      total packets over all threads (required)\n"
"  --duration SECONDS   stop after this long (default 10)\n"
"  --rate PPS           total rate cap, split evenly over the threads\n"
"  --pace-ms MS         with --rate: send MS ms worth of packets per kernel\n"
"                       call, then sleep to the schedule (default 5; each\n"
"                       call costs a fixed ~25 ms on some kernels, so short\n"
"                       periods send less than asked: check \"pps\")\n"
"  --cpus LIST          CPUs to send from, one pinned thread each (default 0)\n"
"  --batch N            frames per kernel batch, 1..256 (default 64)\n"
"  -j                   JSON output\n"
"  -v                   libbpf debug output\n");
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = b[i];
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	/* 1k, 1M, 16M: the sizes benchmark tables use */
	if (*end == 'k' || *end == 'K')
		v *= 1000, end++;
	else if (*end == 'M')
		v *= 1000000, end++;
	else if (*end == 'G')
		v *= 1000000000ULL, end++;
	if (*end || v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_cpus(const char *s, struct rlg_opts *o)
{
	char *dup = strdup(s), *tok, *save = NULL;
	int i, ret = 0;

	if (!dup)
		return -ENOMEM;
	o->ncpus = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t c;

		if (parse_u64(tok, 0, RLG_MAX_CPUS - 1, &c) || o->ncpus >= RLG_MAX_CPUS) {
			ret = -EINVAL;
			break;
		}
		for (i = 0; i < o->ncpus; i++)
			if (o->cpus[i] == (int)c)
				ret = -EINVAL;
		o->cpus[o->ncpus++] = c;
	}
	free(dup);
	return ret || o->ncpus == 0 ? -EINVAL : 0;
}

static int parse_prefix(const char *s, uint8_t addr[16], int *plen, int *family)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	uint64_t len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = 6;
	else
		return -EINVAL;
	if (!slash) {
		*plen = *family == 4 ? 32 : 128;
		return 0;
	}
	if (parse_u64(slash, 0, *family == 4 ? 32 : 128, &len))
		return -EINVAL;
	*plen = len;
	return 0;
}

/* Ones' complement sum of 16-bit words as they sit in memory, unfolded. */
static uint32_t sum16(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t sum = 0;
	uint16_t w;
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		memcpy(&w, p + i, 2);
		sum += w;
	}
	if (len & 1) {
		uint8_t last[2] = { p[len - 1], 0 };

		memcpy(&w, last, 2);
		sum += w;
	}
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct rlg_frame {
	uint8_t buf[RLG_MAX_FRAME];
	uint32_t len;
	uint32_t ip_csum_base;
	uint32_t l4_csum_base;
	uint32_t l4_csum_off;             /* 0: L4 sum has no source in it */
};

/*
 * Builds the template with an all-zero source address and records the
 * checksum bases the BPF program completes with each packet's source.
 */
static int build_frame(const struct rlg_opts *o, struct rlg_frame *f)
{
	int l3 = o->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	int l4, minlen, l4len, proto;
	struct ethhdr *eth = (struct ethhdr *)f->buf;
	uint8_t *l4p = f->buf + ETH_HLEN + l3;
	uint8_t pseudo[40];
	size_t plen;

	switch (o->proto) {
	case P_UDP:
		l4 = sizeof(struct udphdr);
		proto = IPPROTO_UDP;
		break;
	case P_TCP_SYN:
		l4 = sizeof(struct tcphdr);
		proto = IPPROTO_TCP;
		break;
	default:
		l4 = 8;
		proto = o->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		break;
	}
	minlen = ETH_HLEN + l3 + l4;
	if (minlen < 60)
		minlen = 60;
	f->len = o->size ? o->size : minlen;
	if ((int)f->len < minlen || f->len > RLG_MAX_FRAME) {
		fprintf(stderr, "rlgen: --size %u out of range: this packet needs %d..%d bytes\n",
			f->len, minlen, RLG_MAX_FRAME);
		return -EINVAL;
	}
	memset(f->buf, 0, sizeof(f->buf));
	memcpy(eth->h_dest, o->dst_mac, 6);
	memcpy(eth->h_source, o->src_mac, 6);
	l4len = f->len - ETH_HLEN - l3;

	if (o->family == 4) {
		struct iphdr *ip = (struct iphdr *)(f->buf + ETH_HLEN);

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(f->len - ETH_HLEN);
		ip->frag_off = htons(0x4000);    /* DF */
		ip->ttl = 64;
		ip->protocol = proto;
		memcpy(&ip->daddr, &o->dst, 4);
		eth->h_proto = htons(ETH_P_IP);
		f->ip_csum_base = sum16(ip, sizeof(*ip));
		memset(pseudo, 0, sizeof(pseudo));
		memcpy(pseudo + 4, &o->dst, 4);
		pseudo[9] = proto;
		pseudo[10] = l4len >> 8;
		pseudo[11] = l4len & 0xff;
		plen = 12;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(f->buf + ETH_HLEN);

		ip6->version = 6;
		ip6->payload_len = htons(l4len);
		ip6->nexthdr = proto;
		ip6->hop_limit = 64;
		memcpy(&ip6->daddr, &o->dst, 16);
		eth->h_proto = htons(ETH_P_IPV6);
		memset(pseudo, 0, sizeof(pseudo));
		memcpy(pseudo + 16, &o->dst, 16);
		pseudo[34] = l4len >> 8;
		pseudo[35] = l4len & 0xff;
		pseudo[39] = proto;
		plen = 40;
	}

	if (o->proto == P_UDP) {
		struct udphdr *u = (struct udphdr *)l4p;

		u->source = htons(o->sport);
		u->dest = htons(o->dport);
		u->len = htons(l4len);
		f->l4_csum_off = ETH_HLEN + l3 + offsetof(struct udphdr, check);
	} else if (o->proto == P_TCP_SYN) {
		struct tcphdr *t = (struct tcphdr *)l4p;

		t->source = htons(o->sport);
		t->dest = htons(o->dport);
		t->seq = htonl(0x726c0001);
		t->doff = 5;
		t->syn = 1;
		t->window = htons(64240);
		f->l4_csum_off = ETH_HLEN + l3 + offsetof(struct tcphdr, check);
	} else {
		struct icmphdr *ic = (struct icmphdr *)l4p;

		ic->type = o->family == 4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST;
		ic->un.echo.id = htons(0x726c);
		ic->un.echo.sequence = htons(1);
		/* ICMPv4's sum has no pseudo header: it never changes. */
		f->l4_csum_off = o->family == 4 ? 0 : ETH_HLEN + l3 + 2;
		if (o->family == 4)
			ic->checksum = fold(sum16(l4p, l4len));
	}
	if (f->l4_csum_off)
		f->l4_csum_base = sum16(pseudo, plen) + sum16(l4p, l4len);
	return 0;
}

static int read_dev_stats(const char *ifname, uint64_t *tx_pkts, uint64_t *tx_drop)
{
	/* /proc/net follows the reader's netns; /sys/class/net may not. */
	FILE *fp = fopen("/proc/net/dev", "r");
	char line[512];
	size_t n = strlen(ifname);
	int ret = -ENODEV;

	if (!fp)
		return -errno;
	while (fgets(line, sizeof(line), fp)) {
		char *p = line;
		unsigned long long v[16];

		while (*p == ' ')
			p++;
		if (strncmp(p, ifname, n) || p[n] != ':')
			continue;
		if (sscanf(p + n + 1, "%llu %llu %llu %llu %llu %llu %llu %llu "
			   "%llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
			   &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14],
			   &v[15]) == 16) {
			*tx_pkts = v[9];
			*tx_drop = v[11];
			ret = 0;
		}
		break;
	}
	fclose(fp);
	return ret;
}

static void *worker_main(void *arg)
{
	struct rlg_worker *w = arg;
	cpu_set_t set;
	double t0, t, t_call;
	uint64_t limit = RLG_CHUNK;       /* adapts to ~50 ms per run */

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	w->err = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (w->err)
		return NULL;

	t0 = now_s();
	while (w->sent < w->quota && !stop_flag) {
		uint64_t chunk = w->quota - w->sent;
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = w->frame,
			.data_size_in = w->frame_len,
			.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			.batch_size = w->batch,
		);

		if (w->rate_pps > 0) {
			/* pace_ms worth per call, then sleep to the schedule */
			double per = w->rate_pps * w->pace_ms / 1000;
			double due = t0 + w->sent / w->rate_pps;

			t = now_s();
			if (due > t) {
				struct timespec ts;
				double d = due - t;

				if (due > w->deadline)
					break;
				ts.tv_sec = (time_t)d;
				ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
				nanosleep(&ts, NULL);
				continue;
			}
			if (chunk > (uint64_t)per)
				chunk = per < 1 ? 1 : (uint64_t)per;
		}
		if (chunk > limit)
			chunk = limit;
		opts.repeat = chunk;
		t_call = now_s();
		if (bpf_prog_test_run_opts(w->prog_fd, &opts)) {
			w->err = -errno;
			break;
		}
		w->sent += chunk;
		t = now_s();
		if (t >= w->deadline)
			break;
		/* keep each run near 50 ms so --duration is not overshot */
		if (t > t_call) {
			double pps = chunk / (t - t_call);

			limit = pps * 0.05;
			if (limit * 2 > pps * (w->deadline - t))
				limit = pps * (w->deadline - t) / 2;
			if (limit < 256)
				limit = 256;
			if (limit > RLG_CHUNK)
				limit = RLG_CHUNK;
		}
	}
	w->seconds = now_s() - t0;
	return NULL;
}

static const char *proto_name(enum rlg_proto p)
{
	return p == P_UDP ? "udp" : p == P_TCP_SYN ? "tcp-syn" : "icmp";
}

static int get_src_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		ret = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return ret;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

enum {
	OPT_DST_MAC = 256, OPT_SRC_MAC, OPT_DST, OPT_SRC_BASE, OPT_SRC_SHIFT,
	OPT_EVERY_NEW, OPT_PROTO, OPT_DPORT, OPT_SPORT, OPT_SIZE, OPT_COUNT,
	OPT_DURATION, OPT_RATE, OPT_CPUS, OPT_BATCH, OPT_PACE,
};

static const struct option long_opts[] = {
	{ "dst-mac", required_argument, NULL, OPT_DST_MAC },
	{ "src-mac", required_argument, NULL, OPT_SRC_MAC },
	{ "dst", required_argument, NULL, OPT_DST },
	{ "src-base", required_argument, NULL, OPT_SRC_BASE },
	{ "src-shift", required_argument, NULL, OPT_SRC_SHIFT },
	{ "every-new", no_argument, NULL, OPT_EVERY_NEW },
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "dport", required_argument, NULL, OPT_DPORT },
	{ "sport", required_argument, NULL, OPT_SPORT },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "pace-ms", required_argument, NULL, OPT_PACE },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(int argc, char **argv, struct rlg_opts *o)
{
	const char *dst_s = NULL;
	uint64_t v;
	int c, fam;

	memset(o, 0, sizeof(*o));
	o->family = 4;
	o->n_sources = 1;
	o->dport = -1;
	o->sport = 40000;
	o->duration_s = 10;
	o->cpus[0] = 0;
	o->ncpus = 1;
	o->batch = 64;
	o->pace_ms = 5;

	while ((c = getopt_long(argc, argv, "i:n:46jvh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case '4':
			o->family = 4;
			break;
		case '6':
			o->family = 6;
			break;
		case 'j':
			o->json = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'n':
			if (parse_u64(optarg, 1, 1 << 24, &o->n_sources))
				goto bad;
			break;
		case OPT_DST_MAC:
			if (parse_mac(optarg, o->dst_mac))
				goto bad;
			o->have_dst_mac = true;
			break;
		case OPT_SRC_MAC:
			if (parse_mac(optarg, o->src_mac))
				goto bad;
			o->have_src_mac = true;
			break;
		case OPT_DST:
			dst_s = optarg;
			break;
		case OPT_SRC_BASE:
			if (parse_prefix(optarg, o->src_base, &o->src_plen, &fam))
				goto bad;
			o->have_src_base = true;
			break;
		case OPT_SRC_SHIFT:
			if (parse_u64(optarg, 0, 127, &v))
				goto bad;
			o->src_shift = v;
			o->have_src_shift = true;
			break;
		case OPT_EVERY_NEW:
			o->every_new = true;
			break;
		case OPT_PROTO:
			if (!strcmp(optarg, "udp"))
				o->proto = P_UDP;
			else if (!strcmp(optarg, "tcp-syn") || !strcmp(optarg, "tcp"))
				o->proto = P_TCP_SYN;
			else if (!strcmp(optarg, "icmp") || !strcmp(optarg, "icmpv6"))
				o->proto = P_ICMP;
			else
				goto bad;
			break;
		case OPT_DPORT:
		case OPT_SPORT:
			if (parse_u64(optarg, 0, 65535, &v))
				goto bad;
			if (c == OPT_DPORT)
				o->dport = v;
			else
				o->sport = v;
			break;
		case OPT_SIZE:
			if (parse_u64(optarg, 60, RLG_MAX_FRAME, &v))
				goto bad;
			o->size = v;
			break;
		case OPT_COUNT:
			if (parse_u64(optarg, 1, 1ULL << 40, &o->count))
				goto bad;
			break;
		case OPT_DURATION:
		case OPT_RATE: {
			char *end;
			double d = strtod(optarg, &end);

			if (end == optarg || *end || !(d > 0) ||
			    (c == OPT_DURATION && d > 86400) || d > 1e10)
				goto bad;
			if (c == OPT_DURATION)
				o->duration_s = d;
			else
				o->rate_pps = d;
			break;
		}
		case OPT_CPUS:
			if (parse_cpus(optarg, o))
				goto bad;
			break;
		case OPT_BATCH:
			if (parse_u64(optarg, 1, 256, &v))
				goto bad;
			o->batch = v;
			break;
		case OPT_PACE:
			if (parse_u64(optarg, 1, 1000, &v))
				goto bad;
			o->pace_ms = v;
			break;
		default:
			usage(stderr);
			return -EINVAL;
		}
		continue;
bad:
		fprintf(stderr, "rlgen: bad value '%s' for option %s (see rlgen -h)\n",
			optarg, argv[optind - 1]);
		return -EINVAL;
	}
	if (optind != argc) {
		fprintf(stderr, "rlgen: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->ifname || !o->have_dst_mac || !o->count) {
		fprintf(stderr, "rlgen: -i IFNAME, --dst-mac MAC and --count PACKETS are required (see rlgen -h)\n");
		return -EINVAL;
	}
	if (o->dport < 0)
		o->dport = o->proto == P_TCP_SYN ? 80 : 9;

	if (!dst_s)
		dst_s = o->family == 4 ? "10.77.0.2" : "fd77::2";
	if (inet_pton(o->family == 4 ? AF_INET : AF_INET6, dst_s, &o->dst) != 1) {
		fprintf(stderr, "rlgen: --dst %s is not an IPv%d address\n", dst_s, o->family);
		return -EINVAL;
	}
	if (!o->have_src_base)
		parse_prefix(o->family == 4 ? "10.0.0.0/8" : "fd00::1/16",
			     o->src_base, &o->src_plen, &fam);
	else if (fam != o->family) {
		fprintf(stderr, "rlgen: --src-base is not an IPv%d prefix\n", o->family);
		return -EINVAL;
	}
	if (!o->have_src_shift)
		o->src_shift = o->family == 6 ? 64 : 0;
	return 0;
}

/* 128-bit address as two host-order halves; IPv4 in the low 32 bits. */
static void addr_split(const uint8_t *a, int family, uint64_t *hi, uint64_t *lo)
{
	int i;

	*hi = *lo = 0;
	if (family == 4) {
		*lo = (uint64_t)a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
		return;
	}
	for (i = 0; i < 8; i++) {
		*hi = *hi << 8 | a[i];
		*lo = *lo << 8 | a[8 + i];
	}
}

int main(int argc, char **argv)
{
	struct rlg_worker workers[RLG_MAX_CPUS];
	struct rlgen_bpf *skel = NULL;
	struct rlg_frame frame;
	struct rlg_opts o;
	uint64_t base_hi, base_lo, n, mult = 1, add = 0, mask = 0, space;
	uint64_t total = 0, tx0 = 0, drop0 = 0, tx1 = 0, drop1 = 0, seed;
	uint64_t *seeds = NULL;
	int ifindex, host_bits, idx_bits, i, err, ncpu_possible;
	bool have_dev_stats;
	double t_start, secs = 0, deadline;
	sigset_t sigs, old;
	char srcbuf[INET6_ADDRSTRLEN];
	uint32_t zero = 0, ifx;

	err = parse_args(argc, argv, &o);
	if (err)
		return 2;
	if (o.verbose)
		libbpf_set_print(libbpf_print);

	ifindex = if_nametoindex(o.ifname);
	if (!ifindex) {
		fprintf(stderr, "rlgen: no device %s in this network namespace (run rlgen inside the lab's gen netns)\n",
			o.ifname);
		return 1;
	}
	if (!o.have_src_mac && (err = get_src_mac(o.ifname, o.src_mac))) {
		fprintf(stderr, "rlgen: reading the MAC of %s: %s\n", o.ifname, strerror(-err));
		return 1;
	}

	/* Source index space: the host bits above the shift, at most 64. */
	host_bits = (o.family == 4 ? 32 : 128) - o.src_plen;
	idx_bits = host_bits - o.src_shift;
	if (idx_bits <= 0) {
		fprintf(stderr, "rlgen: --src-base /%d with --src-shift %d leaves no bits for the source index\n",
			o.src_plen, o.src_shift);
		return 2;
	}
	if (idx_bits > 64)
		idx_bits = 64;
	space = idx_bits == 64 ? 0 : 1ULL << idx_bits;   /* 0 = 2^64 */
	/* The base keeps its host bits (fd00::1), minus the index's field. */
	{
		uint8_t b[16];
		int bit;

		memcpy(b, o.src_base, 16);
		for (bit = 0; bit < (o.family == 4 ? 32 : 128); bit++) {
			int pos = (o.family == 4 ? 32 : 128) - 1 - bit; /* from LSB */
			bool in_prefix = bit < o.src_plen;
			bool in_index = pos >= o.src_shift && pos < o.src_shift + idx_bits;

			if (!in_prefix && in_index && (b[bit / 8] & (0x80 >> (bit % 8)))) {
				fprintf(stderr, "rlgen: --src-base %s has bits set where the source index goes (bits %d..%d from the right)\n",
					inet_ntop(o.family == 4 ? AF_INET : AF_INET6, o.src_base, srcbuf, sizeof(srcbuf)),
					o.src_shift, o.src_shift + idx_bits - 1);
				return 2;
			}
		}
		addr_split(b, o.family, &base_hi, &base_lo);
	}

	seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	seed = 0x726c67656e ^ seed;
	if (o.every_new) {
		n = space;
	} else {
		n = o.n_sources;
		if (space && n > space) {
			fprintf(stderr, "rlgen: -n %llu does not fit: the prefix leaves %d index bits (%llu sources)\n",
				(unsigned long long)n, idx_bits, (unsigned long long)space);
			return 2;
		}
	}
	if (n && n <= (1ULL << 32)) {
		/* affine permutation mod n: mult coprime to n */
		mult = 1;
		if (n > 2) {
			do {
				mult = splitmix64(&seed) % n;
			} while (mult < 2 || gcd64(mult, n) != 1);
		}
		add = splitmix64(&seed) % n;
	} else {
		/* n = 2^k, k > 32: odd multiplier mod 2^k is a bijection */
		mask = n ? n - 1 : ~0ULL;
		mult = splitmix64(&seed) | 1;
		add = splitmix64(&seed) & mask;
		n = 0;
	}

	if (build_frame(&o, &frame))
		return 2;

	skel = rlgen_bpf__open();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "rlgen: opening the BPF object: %s\n", strerror(-err));
		goto cleanup;
	}
	skel->rodata->cfg_family = o.family;
	skel->rodata->cfg_l4_csum_off = frame.l4_csum_off;
	skel->rodata->cfg_udp = o.proto == P_UDP;
	skel->rodata->cfg_ip_csum_base = frame.ip_csum_base;
	skel->rodata->cfg_l4_csum_base = frame.l4_csum_base;
	skel->rodata->cfg_n = n;
	skel->rodata->cfg_mask = mask;
	skel->rodata->cfg_mult = mult;
	skel->rodata->cfg_add = add;
	skel->rodata->cfg_shift = o.src_shift;
	skel->rodata->cfg_base_hi = base_hi;
	skel->rodata->cfg_base_lo = base_lo;
	err = rlgen_bpf__load(skel);
	if (err) {
		fprintf(stderr, "rlgen: loading the BPF program: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs root / CAP_BPF + CAP_NET_ADMIN)" : " (try -v)");
		goto cleanup;
	}
	ifx = ifindex;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.rlg_tx), &zero, &ifx, 0)) {
		err = -errno;
		fprintf(stderr, "rlgen: putting %s in the devmap: %s\n", o.ifname, strerror(-err));
		goto cleanup;
	}

	/* Each thread starts at its own offset: with --count n over T
	 * threads, every one of n sources is sent exactly once. */
	ncpu_possible = libbpf_num_possible_cpus();
	if (ncpu_possible <= 0) {
		err = ncpu_possible ? ncpu_possible : -EINVAL;
		goto cleanup;
	}
	seeds = calloc(ncpu_possible, sizeof(*seeds));
	if (!seeds) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < o.ncpus; i++) {
		uint64_t span = n ? n : (mask == ~0ULL ? (1ULL << 63) / o.ncpus * 2 : (mask + 1) / o.ncpus);

		if (o.cpus[i] >= ncpu_possible) {
			fprintf(stderr, "rlgen: CPU %d does not exist (%d possible)\n", o.cpus[i], ncpu_possible);
			err = -EINVAL;
			goto cleanup;
		}
		seeds[o.cpus[i]] = n ? span * i / o.ncpus : span * i;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.rlg_ctr), &zero, seeds, 0)) {
		err = -errno;
		fprintf(stderr, "rlgen: seeding the per-CPU counters: %s\n", strerror(-err));
		goto cleanup;
	}

	have_dev_stats = !read_dev_stats(o.ifname, &tx0, &drop0);

	/* Workers inherit a mask with SIGINT/SIGTERM blocked, so a signal
	 * never interrupts a test run halfway (its frames would go uncounted);
	 * the main thread takes it and the workers stop between runs. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	t_start = now_s();
	deadline = t_start + o.duration_s;
	for (i = 0; i < o.ncpus; i++) {
		struct rlg_worker *w = &workers[i];

		memset(w, 0, sizeof(*w));
		w->cpu = o.cpus[i];
		w->prog_fd = bpf_program__fd(skel->progs.rlg_xmit);
		w->frame = frame.buf;
		w->frame_len = frame.len;
		w->quota = o.count / o.ncpus + ((uint64_t)i < o.count % o.ncpus);
		w->rate_pps = o.rate_pps / o.ncpus;
		w->deadline = deadline;
		w->batch = o.batch;
		w->pace_ms = o.pace_ms;
		err = pthread_create(&w->tid, NULL, worker_main, w);
		if (err) {
			fprintf(stderr, "rlgen: starting thread for CPU %d: %s\n", w->cpu, strerror(err));
			stop_flag = 1;
			o.ncpus = i;
			err = -err;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (i = 0; i < o.ncpus; i++)
		pthread_join(workers[i].tid, NULL);
	secs = now_s() - t_start;
	if (have_dev_stats)
		have_dev_stats = !read_dev_stats(o.ifname, &tx1, &drop1);

	{
		/* live frames leave retval unset: the program counts its own failures */
		uint64_t errs = 0;

		if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.rlg_err), &zero, seeds))
			for (i = 0; i < ncpu_possible; i++)
				errs += seeds[i];
		if (errs && !err)
			err = -EPROTO;
	}
	for (i = 0; i < o.ncpus; i++) {
		total += workers[i].sent;
		if (workers[i].err && !err) {
			err = workers[i].err;
			fprintf(stderr, "rlgen: CPU %d: %s%s\n", workers[i].cpu,
				strerror(-err),
				err == -EINVAL ? " (kernel without XDP live frames? needs 5.18+)" : "");
		}
	}

	if (have_dev_stats && total && (tx1 - tx0) + (drop1 - drop0) < total / 2)
		fprintf(stderr, "rlgen: warning: %s counted only %llu of %llu frames as sent: a veth delivers redirected frames only if its peer has an XDP program (tools/lab.sh up NAME --xdp-pass dut, or rl attached)\n",
			o.ifname, (unsigned long long)(tx1 - tx0 + drop1 - drop0),
			(unsigned long long)total);
	if (err == -EPROTO)
		fprintf(stderr, "rlgen: the BPF program aborted frames it could not build (a bug)\n");
	if (o.json) {
		printf("{\"packets\":%llu,\"seconds\":%.6f,\"pps\":%.0f,\"family\":%d,"
		       "\"proto\":\"%s\",\"frame_bytes\":%u,\"sources\":%s%llu%s,"
		       "\"ifname\":\"%s\",\"stopped_by_signal\":%s,",
		       (unsigned long long)total, secs, secs > 0 ? total / secs : 0.0,
		       o.family, proto_name(o.proto), frame.len,
		       o.every_new ? "\"every-new\",\"space\":" : "",
		       (unsigned long long)(o.every_new ? (space ? space : ~0ULL) : o.n_sources),
		       "", o.ifname, stop_flag ? "true" : "false");
		if (have_dev_stats)
			printf("\"dev_tx_packets\":%llu,\"dev_tx_dropped\":%llu,",
			       (unsigned long long)(tx1 - tx0), (unsigned long long)(drop1 - drop0));
		printf("\"threads\":[");
		for (i = 0; i < o.ncpus; i++)
			printf("%s{\"cpu\":%d,\"packets\":%llu,\"seconds\":%.6f,\"pps\":%.0f}",
			       i ? "," : "", workers[i].cpu, (unsigned long long)workers[i].sent,
			       workers[i].seconds,
			       workers[i].seconds > 0 ? workers[i].sent / workers[i].seconds : 0.0);
		printf("],\"error\":%s%s%s}\n", err ? "\"" : "", err ? strerror(-err) : "null",
		       err ? "\"" : "");
	} else {
		printf("rlgen: sent %llu packets in %.3f s = %.3f Mpps (%s IPv%d, %u-byte frames, %s%llu sources, out %s)\n",
		       (unsigned long long)total, secs, secs > 0 ? total / secs / 1e6 : 0.0,
		       proto_name(o.proto), o.family, frame.len,
		       o.every_new ? "every packet new, space " : "",
		       (unsigned long long)(o.every_new ? (space ? space : ~0ULL) : o.n_sources),
		       o.ifname);
		for (i = 0; i < o.ncpus; i++)
			printf("  cpu %d: %llu packets in %.3f s = %.3f Mpps\n", workers[i].cpu,
			       (unsigned long long)workers[i].sent, workers[i].seconds,
			       workers[i].seconds > 0 ? workers[i].sent / workers[i].seconds / 1e6 : 0.0);
		if (have_dev_stats)
			printf("  %s: tx_packets +%llu tx_dropped +%llu\n", o.ifname,
			       (unsigned long long)(tx1 - tx0), (unsigned long long)(drop1 - drop0));
	}

cleanup:
	free(seeds);
	rlgen_bpf__destroy(skel);
	return err ? 1 : 0;
}
