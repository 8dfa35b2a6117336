// SPDX-License-Identifier: GPL-2.0
/*
 * test_loader.c - the loader (user/lib_loader.c) against the real kernel:
 * pinning and adopting maps (state, counters and rl_conf survive a
 * reload, the hash seed kept, on-full changed at run time), refusing an incompatible pin with a message that names the map
 * and the pin directory, and XDP links on a veth pair: attach (auto and
 * generic), pin, adopt with bpf_link_update (the attached program changes
 * without a detach), detach; and the TC ingress filter beside each link:
 * attached, replaced in place on adopt, removed on detach.  Pins live under /sys/fs/bpf/rltest_<pid> and
 * the veth is rlt<pid>a/b; both are removed at the end.
 */
#include <sys/stat.h>
#include <linux/if_link.h>
#include <net/if.h>

#include "rl_testlib.h"

static char pin_dir[64], ifa[IF_NAMESIZE], ifb[IF_NAMESIZE];

static int open_pinned(struct rl_loader **l, __u32 on_full, __u32 entries,
		       char *err, size_t len)
{
	struct rl_loader_opts o = {
		.pin_dir = pin_dir,
		.on_full = on_full,
		.state_entries = entries,
		.slog_entries = 1024,
		/* this test is about rl's own pinned links */
		.xdp_attach = RL_ATTACH_LINK,
	};

	return rl_loader_open(&o, l, err, len);
}

static __u32 xdp_prog_id(const char *ifname, __u8 *mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int ifindex = if_nametoindex(ifname);

	if (!ifindex || bpf_xdp_query(ifindex, 0, &q))
		return 0;
	if (mode)
		*mode = q.attach_mode;
	return q.prog_id;
}

/* The program of our clsact ingress filter on ifname, 0 if none. */
static __u32 tc_prog_id(const char *ifname)
{
	LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = (int)if_nametoindex(ifname),
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = RL_TC_HANDLE, .priority = RL_TC_PRIO);

	if (!h.ifindex || bpf_tc_query(&h, &o))
		return 0;
	return o.prog_id;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", ifa);
	if (system(cmd) < 0)
		perror("system");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pin_dir);
	if (system(cmd) < 0)
		perror("system");
}

static void test_pin_adopt(void)
{
	struct rl_rule r = mkrule(7, 0, 1, HOUR_NS, 1, RL_ALGO_TOKEN_BUCKET);
	struct pkt_spec s = { .family = 4, .src = "10.50.0.1", .proto = IPPROTO_UDP, .dport = 9 };
	char err[RL_LOADER_ERR_LEN], path[128];
	struct rl_loader *l = NULL;
	struct rl_conf c;
	struct built b;
	__u64 seed0 = 0;
	int ret;

	t_begin();
	ret = open_pinned(&l, RL_FULL_FAIL_CLOSED, 64, err, sizeof(err));
	CHECK(!ret, "first open: %s", err);
	if (ret)
		goto out;
	CHECK(!l->adopted, "fresh pin dir reported as adopted");
	snprintf(path, sizeof(path), "%s/rl_st4", pin_dir);
	CHECK(!access(path, F_OK), "%s not pinned", path);
	snprintf(path, sizeof(path), "%s/rl_catalog", pin_dir);
	CHECK(!access(path, F_OK), "%s not pinned", path);
	CHECK(!rl_conf_read(l->fd.conf, &c) && c.on_full == RL_FULL_FAIL_CLOSED,
	      "rl_conf.on_full %u", c.on_full);
	seed0 = c.seed;
	c.malformed = RL_MALFORMED_PASS;
	rl_conf_write(l->fd.conf, &c);
	set_match(l, "10.50.0.0", 16, &r, 1);
	build_pkt(&s, &b);
	CHECK(run_pkt(l->prog_fd, b.buf, b.len, 1) == XDP_PASS, "first packet");
	CHECK(run_pkt(l->prog_fd, b.buf, b.len, 1) == XDP_DROP, "second packet");
	rl_loader_close(l);
	l = NULL;

	/* a restarted agent adopts everything */
	ret = open_pinned(&l, RL_FULL_FAIL_CLOSED, 64, err, sizeof(err));
	CHECK(!ret, "second open: %s", err);
	if (ret)
		goto out;
	CHECK(l->adopted, "pinned maps not reported as adopted");
	CHECK(!rl_conf_read(l->fd.conf, &c) && c.malformed == RL_MALFORMED_PASS,
	      "rl_conf lost: malformed %u", c.malformed);
	CHECK(!rl_conf_read(l->fd.conf, &c) && c.seed == seed0,
	      "hash seed not kept: %#llx -> %#llx", (unsigned long long)seed0,
	      (unsigned long long)c.seed);
	CHECK(rstat(l, 7, RL_V_PASS) == 1 && rstat(l, 7, RL_V_DROP) == 1,
	      "counters lost: pass %llu drop %llu", rstat(l, 7, RL_V_PASS),
	      rstat(l, 7, RL_V_DROP));
	CHECK(run_pkt(l->prog_fd, b.buf, b.len, 1) == XDP_DROP,
	      "bucket state lost: the empty bucket admitted again");
	rl_loader_close(l);
	l = NULL;

	/* another state size is refused, naming the map */
	ret = open_pinned(&l, RL_FULL_FAIL_CLOSED, 128, err, sizeof(err));
	CHECK(ret == -EINVAL && !l, "size change: ret %d", ret);
	CHECK(strstr(err, "rl_st4") && strstr(err, pin_dir) && strstr(err, "remove"),
	      "message does not name the map and the fix: %s", err);
	printf("    size change: %s\n", err);
	rl_loader_close(l);
	l = NULL;

	/* on-full is read at run time from rl_conf: another policy adopts the
	 * pins (seed, state kept) and only rl_conf.on_full changes */
	ret = open_pinned(&l, RL_FULL_EVICT, 64, err, sizeof(err));
	CHECK(!ret && l && l->adopted, "on-full change: ret %d (%s)", ret, err);
	if (ret)
		goto out;
	{
		struct rl_conf c2 = {};

		CHECK(!rl_conf_read(l->fd.conf, &c2) && c2.on_full == RL_FULL_EVICT,
		      "rl_conf.on_full %u, want evict", c2.on_full);
		CHECK(c2.seed == seed0 && c2.seed, "hash seed changed on adopt: %#llx -> %#llx",
		      (unsigned long long)seed0, (unsigned long long)c2.seed);
		CHECK(c2.malformed == RL_MALFORMED_PASS, "rl_conf.malformed lost");
	}
	CHECK(run_pkt(l->prog_fd, b.buf, b.len, 1) == XDP_DROP,
	      "on-full change lost the bucket state");
out:
	rl_loader_close(l);
	t_end("loader_pin_adopt_refuse");
}

static void test_links(void)
{
	char err[RL_LOADER_ERR_LEN], mode[16], path[128], cmd[160];
	struct rl_loader *l = NULL;
	__u32 id1, id2, tc1;
	__u8 am = 0;
	int ret;

	t_begin();
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s && ip link set %s up "
		 "&& ip link set %s up", ifa, ifb, ifa, ifb);
	if (system(cmd)) {
		printf("FAIL loader_xdp_links: cannot create veth %s (%s)\n", ifa, cmd);
		t_failures++;
		return;
	}
	ret = open_pinned(&l, RL_FULL_FAIL_CLOSED, 64, err, sizeof(err));
	CHECK(!ret, "open: %s", err);
	if (ret)
		goto out;

	ret = rl_loader_attach(l, "rl-no-such-if0", RL_XDP_AUTO, mode, sizeof(mode));
	CHECK(ret == -ENODEV && strstr(l->err, "rl-no-such-if0"), "bad ifname: %d %s",
	      ret, l->err);

	ret = rl_loader_attach(l, ifa, RL_XDP_AUTO, mode, sizeof(mode));
	CHECK(!ret, "attach auto: %s", l->err);
	CHECK(!strcmp(mode, "native"), "veth in auto mode runs %s, want native", mode);
	snprintf(path, sizeof(path), "%s/link_%s", pin_dir, ifa);
	CHECK(!access(path, F_OK), "link not pinned at %s", path);
	id1 = prog_id(l->prog_fd);
	CHECK(xdp_prog_id(ifa, &am) == id1 && am == XDP_ATTACHED_DRV,
	      "attached prog %u mode %u, want %u native", xdp_prog_id(ifa, NULL), am, id1);
	tc1 = prog_id(l->tc_prog_fd);
	CHECK(tc1 && tc_prog_id(ifa) == tc1, "TC filter runs prog %u, want %u",
	      tc_prog_id(ifa), tc1);
	rl_loader_close(l);
	CHECK(tc_prog_id(ifa) == tc1, "closing the loader removed the TC filter");
	l = NULL;
	CHECK(xdp_prog_id(ifa, NULL) == id1, "closing the loader detached XDP");

	/* the next agent swaps the program inside the pinned link */
	ret = open_pinned(&l, RL_FULL_FAIL_CLOSED, 64, err, sizeof(err));
	CHECK(!ret, "reopen: %s", err);
	if (ret)
		goto out;
	ret = rl_loader_attach(l, ifa, RL_XDP_GENERIC, mode, sizeof(mode));
	CHECK(!ret, "adopt: %s", l->err);
	id2 = prog_id(l->prog_fd);
	CHECK(id2 != id1 && xdp_prog_id(ifa, NULL) == id2,
	      "after adopt the device runs prog %u, want the new %u (old %u)",
	      xdp_prog_id(ifa, NULL), id2, id1);
	CHECK(!strcmp(mode, "native"), "adopted link reports %s, keeps native", mode);
	CHECK(tc_prog_id(ifa) == prog_id(l->tc_prog_fd) && tc_prog_id(ifa) != tc1,
	      "after adopt the TC filter runs prog %u, want the new %u (old %u)",
	      tc_prog_id(ifa), prog_id(l->tc_prog_fd), tc1);

	ret = rl_loader_detach(l, ifa);
	CHECK(!ret, "detach: %s", l->err);
	CHECK(access(path, F_OK), "link pin %s left behind", path);
	CHECK(xdp_prog_id(ifa, NULL) == 0, "XDP still attached after detach");
	CHECK(tc_prog_id(ifa) == 0, "TC filter still attached after detach");
	ret = rl_loader_detach(l, ifa);
	CHECK(ret == -ENOENT, "second detach: %d", ret);

	ret = rl_loader_attach(l, ifb, RL_XDP_GENERIC, mode, sizeof(mode));
	CHECK(!ret && !strcmp(mode, "generic"), "attach generic: %d %s (%s)", ret, mode, l->err);
	CHECK(xdp_prog_id(ifb, &am) == id2 && am == XDP_ATTACHED_SKB, "generic not in effect");
	CHECK(!rl_loader_detach(l, ifb), "detach generic: %s", l->err);
out:
	rl_loader_close(l);
	t_end("loader_xdp_links");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getuid() != 0) {
		printf("SKIP loader: needs root (BPF, bpffs pins, veth)\n");
		return 0;
	}
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/rltest_%d", (int)getpid());
	snprintf(ifa, sizeof(ifa), "rlt%da", (int)getpid() % 1000000);
	snprintf(ifb, sizeof(ifb), "rlt%db", (int)getpid() % 1000000);
	cleanup();
	test_pin_adopt();
	test_links();
	cleanup();
	return t_summary("test_loader");
}
