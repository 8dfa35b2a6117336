// SPDX-License-Identifier: GPL-2.0
/*
 * rlcount - counts packets per source address at TC ingress, independently
 * of rl, and prints a JSON summary: what rl (at XDP) let through.
 *
 * Attaches tools/rlcount.bpf.c as a direct-action cls_bpf filter on the
 * clsact ingress hook of -i IFNAME (creating clsact if it is missing),
 * counts for --duration seconds or until SIGINT/SIGTERM, detaches, then
 * prints.  It removes only what it created: its own filter always, the
 * clsact qdisc only if it was not there before and rlagent's mark filter
 * (RL_TC_PRIO/RL_TC_HANDLE) has not moved in since.
 *
 *   rlcount -i rl1-d --duration 5 --summary --ready-file /tmp/ready
 */
#define _GNU_SOURCE
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "rlcount.h"
#include "rlcount.skel.h"
#include "rl_loader.h"
#include "tool_util.h"

#define RLC_HANDLE   0x7c01       /* our filter's handle on the hook     */
#define RLC_PRIO     1            /* first: rl's TC filters still run   */
#define RLC_TOP      10

struct rlc_opts {
	const char *ifname;
	const char *ready_file;
	double duration_s;                /* 0: until a signal               */
	uint32_t max_sources;
	uint32_t prio;
	int pfx_family;                   /* 0: no --prefix                  */
	uint8_t pfx_addr[16];
	int pfx_len;
	bool drop, summary, keep_qdisc, verbose;
};

struct rlc_entry {
	struct rlc_key key;
	struct rlc_val val;
};


static void usage(FILE *f)
{
	fprintf(f,
"usage: rlcount -i IFNAME [options]\n"
"Counts packets per source address at TC ingress of IFNAME (after XDP)\n"
"and prints a JSON summary when done: per source its packets, bytes and the\n"
"CLOCK_MONOTONIC times (ns) of its first and latest packet.\n"
"  -i IFNAME            device to count on (in the current netns)\n"
"  --duration SECONDS   count this long (default: until SIGINT/SIGTERM)\n"
"  --drop               drop packets after counting (spares the stack)\n"
"  --summary            only min/max/mean/percentiles and the top %d,\n"
"                       not every source\n"
"  --ready-file PATH    write PATH once the filter is attached\n"
"  --max-sources N      size of the source table (default %u)\n"
"  --prio N             tc filter priority (default %d: runs first)\n"

"  --prefix ADDR/LEN    count only sources in this prefix (the rest are\n"
"                       reported as outside_packets)\n"
"  --keep-qdisc         never delete the clsact qdisc, even if created here\n"
"  -v                   libbpf debug output\n",
		RLC_TOP, RLC_DEFAULT_SOURCES, RLC_PRIO);
}

static int parse_args(int argc, char **argv, struct rlc_opts *o)
{
	static const struct option lo[] = {
		{ "duration", required_argument, NULL, 'd' },
		{ "drop", no_argument, NULL, 'D' },
		{ "summary", no_argument, NULL, 's' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "max-sources", required_argument, NULL, 'm' },
		{ "prio", required_argument, NULL, 'p' },
		{ "keep-qdisc", no_argument, NULL, 'k' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->max_sources = RLC_DEFAULT_SOURCES;
	o->prio = RLC_PRIO;
	while ((c = getopt_long(argc, argv, "i:vhj", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 'd':
			o->duration_s = strtod(optarg, &end);
			if (end == optarg || *end || !(o->duration_s > 0) || o->duration_s > 86400)
				goto bad;
			break;
		case 'D':
			o->drop = true;
			break;
		case 's':
			o->summary = true;
			break;
		case 'r':
			o->ready_file = optarg;
			break;
		case 'm':
		case 'p': {
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || end == optarg || *end || v < 1 ||
			    v > (c == 'm' ? (1ul << 26) : 0xffff))
				goto bad;
			if (c == 'm')
				o->max_sources = v;
			else
				o->prio = v;
			break;
		}
		case 'k':
			o->keep_qdisc = true;
			break;
		case 'P': {
			char buf[INET6_ADDRSTRLEN + 8], *slash;
			unsigned long len;

			if (strlen(optarg) >= sizeof(buf))
				goto bad;
			strcpy(buf, optarg);
			slash = strchr(buf, '/');
			if (slash)
				*slash++ = 0;
			memset(o->pfx_addr, 0, 16);
			if (inet_pton(AF_INET, buf, o->pfx_addr) == 1)
				o->pfx_family = 4;
			else if (inet_pton(AF_INET6, buf, o->pfx_addr) == 1)
				o->pfx_family = 6;
			else
				goto bad;
			len = o->pfx_family == 4 ? 32 : 128;
			if (slash) {
				errno = 0;
				len = strtoul(slash, &end, 10);
				if (errno || end == slash || *end ||
				    len > (o->pfx_family == 4 ? 32u : 128u))
					goto bad;
			}
			o->pfx_len = len;
			break;
		}
		case 'v':
			o->verbose = true;
			break;
		case 'j':
			break;                    /* output is always JSON */
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		continue;
bad:
		fprintf(stderr, "rlcount: bad value '%s' for %s (see rlcount -h)\n",
			optarg, argv[optind - 1]);
		return -EINVAL;
	}
	if (optind != argc || !o->ifname) {
		fprintf(stderr, "rlcount: -i IFNAME is required, and no other arguments (see rlcount -h)\n");
		return -EINVAL;
	}
	return 0;
}

static int write_ready(const char *path, int ifindex, uint32_t prio)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "ifindex=%d prio=%u handle=0x%x pid=%d\n", ifindex, prio, RLC_HANDLE, getpid());
	if (fclose(f) || rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	const struct rlc_entry *x = a, *y = b;

	if (x->val.packets != y->val.packets)
		return x->val.packets < y->val.packets ? 1 : -1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* Reads the whole source table: batched, or key by key on old kernels. */
static int read_sources(int fd, uint32_t max, struct rlc_entry **out, size_t *n_out)
{
	const uint32_t chunk = 4096;
	struct rlc_key *keys = calloc(chunk, sizeof(*keys));
	struct rlc_val *vals = calloc(chunk, sizeof(*vals));
	struct rlc_entry *ents = NULL;
	uint64_t token[4];
	size_t n = 0, cap = 0;
	bool first = true, done = false;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (!done) {
		__u32 count = chunk, i;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);

		err = bpf_map_lookup_batch(fd, first ? NULL : token, token, keys, vals,
					   &count, &bo);
		if (err) {
			err = -errno;
			if (err != -ENOENT)
				break;
			done = true;
			err = 0;
		}
		first = false;
		if (n + count > cap) {
			struct rlc_entry *p;

			cap = cap ? cap * 2 : 65536;
			while (cap < n + count)
				cap *= 2;
			p = realloc(ents, cap * sizeof(*ents));
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			ents = p;
		}
		for (i = 0; i < count; i++) {
			ents[n].key = keys[i];
			ents[n].val = vals[i];
			n++;
		}
		if (n > max)
			break;
	}
	/* 524: the kernel's ENOTSUPP, from maps without batch ops */
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -524) {
		struct rlc_key cur, next;
		bool have = false;

		n = 0;
		err = 0;
		while (!bpf_map_get_next_key(fd, have ? &cur : NULL, &next)) {
			if (n == cap) {
				struct rlc_entry *p;

				cap = cap ? cap * 2 : 65536;
				p = realloc(ents, cap * sizeof(*ents));
				if (!p) {
					err = -ENOMEM;
					goto out;
				}
				ents = p;
			}
			if (!bpf_map_lookup_elem(fd, &next, &ents[n].val)) {
				ents[n].key = next;
				n++;
			}
			cur = next;
			have = true;
		}
	}
out:
	free(keys);
	free(vals);
	if (err) {
		free(ents);
		return err;
	}
	*out = ents;
	*n_out = n;
	return 0;
}

static const char *key_str(const struct rlc_key *k, char *buf, size_t len)
{
	if (!inet_ntop(k->family == 4 ? AF_INET : AF_INET6, k->addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

static void print_entry(const struct rlc_entry *e, bool comma)
{
	char a[INET6_ADDRSTRLEN];

	printf("%s{\"src\":\"%s\",\"packets\":%llu,\"bytes\":%llu,\"first_ns\":%llu,\"last_ns\":%llu}",
	       comma ? "," : "", key_str(&e->key, a, sizeof(a)), (unsigned long long)e->val.packets,
	       (unsigned long long)e->val.bytes, (unsigned long long)e->val.first_ns,
	       (unsigned long long)e->val.last_ns);
}

/* Nearest-rank percentile of the packet counts; ents sorted descending. */
static uint64_t pct(const struct rlc_entry *ents, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)(p * n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return ents[n - rank].val.packets;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tco, .handle = RLC_HANDLE);
	struct rlcount_bpf *skel = NULL;
	struct rlc_entry *ents = NULL;
	struct rlc_val glob[__RLC_G_MAX] = {};
	struct rlc_val *pcpu = NULL;
	struct rlc_opts o;
	struct sigaction sa;
	bool created = false, attached = false;
	double t0 = 0, secs = 0;
	size_t n = 0, i;
	int ifindex, err, ncpu;
	__u32 k;

	if (parse_args(argc, argv, &o))
		return 2;
	if (o.verbose)
		libbpf_set_print(libbpf_print);
	ifindex = if_nametoindex(o.ifname);
	if (!ifindex) {
		fprintf(stderr, "rlcount: no device %s in this network namespace\n", o.ifname);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;      /* no SA_RESTART: wake the sleep */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	skel = rlcount_bpf__open();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "rlcount: opening the BPF object: %s\n", strerror(-err));
		goto cleanup;
	}
	skel->rodata->cfg_drop = o.drop;
	if (o.pfx_family) {
		uint8_t m[16] = {}, net[16];
		int b;

		for (b = 0; b < o.pfx_len; b++)
			m[b / 8] |= 0x80 >> (b % 8);
		for (b = 0; b < 16; b++)
			net[b] = o.pfx_addr[b] & m[b];
		skel->rodata->cfg_pfx_family = o.pfx_family;
		memcpy((void *)skel->rodata->cfg_pfx_mask, m, 16);
		memcpy((void *)skel->rodata->cfg_pfx_net, net, 16);
	}
	bpf_map__set_max_entries(skel->maps.rlc_src, o.max_sources);
	err = rlcount_bpf__load(skel);
	if (err) {
		fprintf(stderr, "rlcount: loading the BPF program: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs root / CAP_BPF + CAP_NET_ADMIN)" : " (try -v)");
		goto cleanup;
	}

	hook.ifindex = ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		fprintf(stderr, "rlcount: creating clsact on %s: %s\n", o.ifname, strerror(-err));
		goto cleanup;
	}
	created = !err;
	tco.prog_fd = bpf_program__fd(skel->progs.rlc_ingress);
	tco.priority = o.prio;
	err = bpf_tc_attach(&hook, &tco);
	if (err) {
		fprintf(stderr, "rlcount: attaching to %s ingress (prio %u handle 0x%x): %s%s\n",
			o.ifname, o.prio, RLC_HANDLE, strerror(-err),
			err == -EEXIST ? " (another rlcount on this device? use --prio)" : "");
		goto cleanup;
	}
	attached = true;
	t0 = now_s();
	if (o.ready_file && (err = write_ready(o.ready_file, ifindex, o.prio))) {
		fprintf(stderr, "rlcount: writing %s: %s\n", o.ready_file, strerror(-err));
		goto cleanup;
	}

	while (!stop_flag) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (o.duration_s > 0 && now_s() - t0 >= o.duration_s)
			break;
		nanosleep(&ts, NULL);
	}

	/* Detach first, so the counts read below are final. */
	{
		LIBBPF_OPTS(bpf_tc_opts, dto, .handle = RLC_HANDLE, .priority = o.prio);

		err = bpf_tc_detach(&hook, &dto);
		if (err)
			fprintf(stderr, "rlcount: detaching from %s: %s\n", o.ifname, strerror(-err));
		attached = false;
	}
	secs = now_s() - t0;

	ncpu = libbpf_num_possible_cpus();
	pcpu = ncpu > 0 ? calloc(ncpu, sizeof(*pcpu)) : NULL;
	if (!pcpu) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (k = 0; k < __RLC_G_MAX; k++) {
		int c;

		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.rlc_glob), &k, pcpu))
			continue;
		for (c = 0; c < ncpu; c++) {
			glob[k].packets += pcpu[c].packets;
			glob[k].bytes += pcpu[c].bytes;
		}
	}
	err = read_sources(bpf_map__fd(skel->maps.rlc_src), o.max_sources, &ents, &n);
	if (err) {
		fprintf(stderr, "rlcount: reading the source table: %s\n", strerror(-err));
		goto cleanup;
	}
	qsort(ents, n, sizeof(*ents), cmp_desc);

	printf("{\"ifname\":\"%s\",\"seconds\":%.3f,\"packets\":%llu,\"bytes\":%llu,"
	       "\"sources\":%zu,\"seen_packets\":%llu,\"other_packets\":%llu,"
	       "\"outside_packets\":%llu,\"table_full_packets\":%llu,\"dropped\":%s,",
	       o.ifname, secs, (unsigned long long)glob[RLC_G_IP].packets,
	       (unsigned long long)glob[RLC_G_IP].bytes, n,
	       (unsigned long long)glob[RLC_G_ALL].packets,
	       (unsigned long long)glob[RLC_G_OTHER].packets,
	       (unsigned long long)glob[RLC_G_OUTSIDE].packets,
	       (unsigned long long)glob[RLC_G_FULL].packets, o.drop ? "true" : "false");
	if (o.summary) {
		double mean = 0;

		for (i = 0; i < n; i++)
			mean += ents[i].val.packets;
		mean = n ? mean / n : 0;
		printf("\"per_source\":{\"min\":%llu,\"max\":%llu,\"mean\":%.3f,"
		       "\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu},\"top\":[",
		       (unsigned long long)(n ? ents[n - 1].val.packets : 0),
		       (unsigned long long)(n ? ents[0].val.packets : 0), mean,
		       (unsigned long long)pct(ents, n, 0.50),
		       (unsigned long long)pct(ents, n, 0.90),
		       (unsigned long long)pct(ents, n, 0.99),
		       (unsigned long long)pct(ents, n, 0.999));
		for (i = 0; i < n && i < RLC_TOP; i++)
			print_entry(&ents[i], i > 0);
		printf("]}\n");
	} else {
		printf("\"per_source\":[");
		for (i = 0; i < n; i++)
			print_entry(&ents[i], i > 0);
		printf("]}\n");
	}
	err = 0;

cleanup:
	if (attached) {
		LIBBPF_OPTS(bpf_tc_opts, dto, .handle = RLC_HANDLE, .priority = o.prio);

		bpf_tc_detach(&hook, &dto);
	}
	if (created && !o.keep_qdisc) {
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = RL_TC_HANDLE, .priority = RL_TC_PRIO);

		/* an rlagent that attached after us put its mark filter on our
		 * qdisc: deleting the qdisc would take that filter with it */
		if (bpf_tc_query(&hook, &q)) {
			/* INGRESS|EGRESS: delete the clsact qdisc itself */
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
		}
	}
	free(pcpu);
	free(ents);
	rlcount_bpf__destroy(skel);
	return err ? 1 : 0;
}
