// SPDX-License-Identifier: GPL-2.0
/*
 * rlagent.c - the rl daemon: loads (or adopts) the XDP datapath and its
 * pinned maps, applies the rule set, and serves rlctl on a Unix socket.
 *
 *   rlagent [-c FILE] [-i IFNAME]... [--socket PATH] [--pin-dir DIR]
 *           [--xdp-mode native|generic|auto] [-v] [--foreground|--daemon]
 *           [--detach-on-exit] [--metrics ADDR:PORT|off]
 *           [--xdp-attach auto|dispatcher|link] [--xdp-priority N]
 *   rlagent --check-config FILE
 *
 * It needs at least one interface (-i, or `interfaces:` in the config):
 * without one it says so and exits before creating a pin.
 *
 * Start-up order matters: the config is validated before anything is
 * loaded, so a bad file never leaves a half-configured datapath.  If the
 * pinned catalog already holds rules, they are adopted (runtime changes
 * survive restarts) and the config's rules are not re-applied until a
 * `rlctl config reload`.  On SIGTERM/SIGINT the agent exits and leaves
 * the pinned link and maps in place: the datapath keeps enforcing.
 *
 * One thread, one poll loop: signalfd, the control socket, the metrics
 * endpoint's epoll fd and the block-list expiry timer.
 *
 * Under systemd (deploy/rlagent.service, Type=notify) it reports READY,
 * RELOADING and STOPPING through sd_notify, and when stderr is the journal
 * its lines carry the journal's priority prefixes.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include "agent.h"
#include "rl_loader.h"
#include "rl_version.h"

int agent_log_level = LOG_LVL_INFO;
bool agent_log_syslog;
/* stderr is the journal: lines carry their priority as "<3>" (sd-daemon(3)) */
static bool log_journal;

void agent_log(int lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error: ", "warning: ", "", "debug: " };
	va_list ap;

	if (lvl > agent_log_level)
		return;
	va_start(ap, fmt);
	if (agent_log_syslog) {
		vsyslog(prio[lvl], fmt, ap);
	} else {
		/* the journal names the program itself */
		if (log_journal)
			fprintf(stderr, "<%d>%s", prio[lvl], tag[lvl]);
		else
			fprintf(stderr, "rlagent: %s", tag[lvl]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

/*
 * systemd connects stderr to the journal and says so in JOURNAL_STREAM
 * ("DEV:INODE" of that stream); stderr redirected elsewhere since (a shell
 * in a unit, 2>file) no longer matches.  systemd.exec(5).
 */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &end) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/*
 * The service manager's view of the agent (Type=notify): READY=1 once the
 * maps are pinned, the rules applied and the control socket answers;
 * RELOADING=1 ... READY=1 around a reload; STOPPING=1 on the way out.
 * Without NOTIFY_SOCKET (not under systemd) it does nothing.
 */
void agent_notify(const char *fmt, ...)
{
	char buf[RL_ERR_LEN + 128];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ret = sd_notify(0, buf);
	if (ret < 0)
		log_debug("sd_notify: %s", strerror(-ret));
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: rlagent [-c FILE] [-i IFNAME]... [--socket PATH] [--pin-dir DIR]\n"
"               [--xdp-mode native|generic|auto] [-v] [--foreground|--daemon]\n"
"               [--gc-interval SECONDS] [--detach-on-exit]\n"
"               [--xdp-attach auto|dispatcher|link] [--xdp-priority N]\n"
"               [--metrics ADDR:PORT|off] [--chartjs FILE] [--socket-group GROUP]\n"
"       rlagent --check-config FILE\n"
"       rlagent --version\n"
"\n"
"  -c, --config FILE     YAML config (interfaces, defaults, allow/block lists, rules)\n"
"  -i, --interface IF    attach to IF as well as the config's interfaces (repeatable)\n"
"  -S, --socket PATH     control socket (default " AGENT_DEFAULT_SOCK ")\n"
"      --socket-group G  members of group G may use the control socket to read\n"
"                        (list, stats, top, explain, status, config dump);\n"
"                        only root may change anything (default: root only)\n"
"  -p, --pin-dir DIR     bpffs directory for pinned maps and links\n"
"                        (default " AGENT_DEFAULT_PIN ")\n"
"  -m, --xdp-mode MODE   native, generic or auto (native, falling back to generic)\n"
"      --xdp-attach HOW  dispatcher: share the XDP hook through libxdp's dispatcher;\n"
"                        link: rl's own bpf_link (the hook is rl's alone); auto (the\n"
"                        default): dispatcher, falling back to link if it cannot load\n"
"      --xdp-priority N  rl's run priority in the dispatcher, 1..10000, lower runs\n"
"                        first (default 10; libxdp's default for others is 50)\n"
"  -v, --verbose         debug logging, including libbpf's\n"
"      --foreground      stay in the foreground, log to stderr (the default)\n"
"  -d, --daemon          detach after start-up and log to syslog\n"
"      --gc-interval S   seconds between passes over the per-source state maps\n"
"                        (default 60, 0 = off): removes keys of deleted rules and,\n"
"                        with a non-LRU on-full policy, idle keys at full credit\n"
"      --detach-on-exit  on SIGTERM/SIGINT detach XDP and remove rl's pins\n"
"                        (default: leave them, the datapath keeps enforcing)\n"
"      --metrics A:P     serve Prometheus metrics on http://A:P/metrics\n"
"                        and the live dashboard on http://A:P/\n"
"                        (default: the config's metrics:, else\n"
"                        " AGENT_DEFAULT_METRICS "; off = none)\n"
"      --chartjs FILE    Chart.js the dashboard loads from the agent\n"
"                        (default " AGENT_DEFAULT_CHARTJS ")\n"
"      --check-config F  validate F (parse, check, compile); print OK or the error\n"
"  -V, --version         print the version and exit\n"
"\n"
"At least one interface is needed, from -i or the config's `interfaces:`.\n"
"Signals: SIGHUP reloads the config; SIGTERM/SIGINT exit without detaching.\n"
"On start, rules found in the pinned catalog are adopted instead of the config's;\n"
"`rlctl config reload` applies the config file.\n");
}

static int parse_mode(const char *s)
{
	if (!strcmp(s, "auto"))
		return 0;
	if (!strcmp(s, "native") || !strcmp(s, "drv"))
		return 1;
	if (!strcmp(s, "generic") || !strcmp(s, "skb"))
		return 2;
	return -1;
}

static int check_config(const char *path)
{
	struct rl_err err = {};
	int n = 0;

	if (agent_check_config(path, &n, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	printf("%s: OK (%d rule%s)\n", path, n, n == 1 ? "" : "s");
	return 0;
}

/* Config interfaces, plus -i ones; --xdp-mode overrides "auto" entries. */
static int merge_ifaces(struct agent *a, int cli_mode_set)
{
	int i, k;

	for (i = 0; i < a->cfg.n_ifaces; i++)
		if (cli_mode_set && a->cfg.ifaces[i].xdp_mode == 0)
			a->cfg.ifaces[i].xdp_mode = a->xdp_mode;
	for (i = 0; i < a->n_cli_ifaces; i++) {
		for (k = 0; k < a->cfg.n_ifaces; k++)
			if (!strcmp(a->cfg.ifaces[k].name, a->cli_ifaces[i]))
				break;
		if (k < a->cfg.n_ifaces)
			continue;
		if (a->cfg.n_ifaces >= RL_MAX_IFACES) {
			log_err("too many interfaces: at most %d", RL_MAX_IFACES);
			return -E2BIG;
		}
		snprintf(a->cfg.ifaces[a->cfg.n_ifaces].name, sizeof(a->cfg.ifaces[0].name), "%s",
			 a->cli_ifaces[i]);
		a->cfg.ifaces[a->cfg.n_ifaces].xdp_mode = a->xdp_mode;
		a->cfg.n_ifaces++;
	}
	return 0;
}

static int daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);	/* the child owns everything; run no destructors */
	if (setsid() < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	openlog("rlagent", LOG_PID, LOG_DAEMON);
	agent_log_syslog = true;
	return 0;
}

static void handle_signal(struct agent *a, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP from uid %u pid %u: reloading %s", si.ssi_uid, si.ssi_pid,
				 a->config_path ? a->config_path : "(no config)");
			snprintf(a->reload_by, sizeof(a->reload_by), "SIGHUP from uid %u pid %u",
				 si.ssi_uid, si.ssi_pid);
			a->reload_requested = true;
		} else {
			log_info("%s from uid %u pid %u: exiting", strsignal((int)si.ssi_signo),
				 si.ssi_uid, si.ssi_pid);
			agent_notify("STOPPING=1\nSTATUS=exiting on %s", strsignal((int)si.ssi_signo));
			a->stop = true;
		}
	}
}

static int run_loop(struct agent *a, int sfd)
{
	int maxfds = ctl_max_fds() + 4;	/* signals, metrics, events, cluster */
	struct pollfd *pfds = calloc((size_t)maxfds, sizeof(*pfds));
	uint64_t retry_expiry_ns = 0;

	if (!pfds)
		return -ENOMEM;
	while (!a->stop) {
		uint64_t now = agent_now_ns(), next = agent_next_expiry(a);
		int n, nctl, timeout = ctl_timeout_ms(), mt = metrics_timeout_ms(), r;

		if (retry_expiry_ns && next && next < retry_expiry_ns)
			next = retry_expiry_ns;
		if (agent_gc_next(a) && (!next || agent_gc_next(a) < next))
			next = agent_gc_next(a);
		if (agent_dir_next(a) && (!next || agent_dir_next(a) < next))
			next = agent_dir_next(a);
		if (agent_cluster_next(a) && (!next || agent_cluster_next(a) < next))
			next = agent_cluster_next(a);
		if (next) {
			uint64_t ms = next > now ? (next - now) / 1000000ull + 1 : 0;

			if (ms > 3600000)
				ms = 3600000;
			if (timeout < 0 || (int)ms < timeout)
				timeout = (int)ms;
		}
		if (mt >= 0 && (timeout < 0 || mt < timeout))
			timeout = mt;
		pfds[0].fd = sfd;
		pfds[0].events = POLLIN;
		pfds[0].revents = 0;
		nctl = ctl_pollfds(pfds + 1, maxfds - 3);
		n = 1 + nctl;
		if (metrics_pollfd(&pfds[n]))
			n++;
		if (agent_events_fd() >= 0) {
			pfds[n].fd = agent_events_fd();
			pfds[n].events = POLLIN;
			pfds[n].revents = 0;
			n++;
		}
		if (agent_cluster_fd(a) >= 0) {
			pfds[n].fd = agent_cluster_fd(a);
			pfds[n].events = POLLIN;
			pfds[n].revents = 0;
			n++;
		}
		r = poll(pfds, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR) {
			int err = -errno;

			log_err("poll: %s", strerror(errno));
			free(pfds);
			return err;
		}
		if (r > 0 && pfds[0].revents)
			handle_signal(a, sfd);
		ctl_handle(a, pfds + 1, r > 0 ? nctl : 0);
		metrics_run();
		agent_events_run(a);
		metrics_step(a);
		if (a->reload_requested) {
			struct rl_err err = {};

			a->reload_requested = false;
			agent_peer = a->reload_by;
			agent_config_reload(a, &err);
			agent_peer = NULL;
		}
		now = agent_now_ns();
		next = agent_next_expiry(a);
		if (next && now >= next && (!retry_expiry_ns || now >= retry_expiry_ns)) {
			/* A failing apply must not spin the loop: retry in 1 s. */
			retry_expiry_ns = agent_expire(a, now) ? now + 1000000000ull : 0;
		}
		if (a->gc_interval_ns && now >= agent_gc_next(a))
			agent_gc_step(a, now);
		if (agent_dir_next(a) && now >= agent_dir_next(a))
			agent_dir_retry(a);
		if (agent_cluster_fd(a) >= 0)
			agent_cluster_step(a, now);
	}
	free(pfds);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "interface", required_argument, NULL, 'i' },
		{ "socket", required_argument, NULL, 'S' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "xdp-mode", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "detach-on-exit", no_argument, NULL, 'D' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "gc-interval", required_argument, NULL, 'G' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "xdp-attach", required_argument, NULL, 'A' },
		{ "xdp-priority", required_argument, NULL, 'P' },
		{ "chartjs", required_argument, NULL, 'J' },
		{ "socket-group", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent *a;
	char *config_abs = NULL;
	struct rl_err err = {};
	sigset_t mask;
	bool daemon_mode = false, had_state = false;
	int c, ret = 1, sfd = -1, mode_set = 0, n_cfg_rules = 0;
	bool bpf_open = false, listening = false, metrics_on = false;

	/* First thing: a SIGHUP (or SIGTERM) during a slow start waits for
	 * the poll loop's signalfd instead of killing a half-started agent. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
		fprintf(stderr, "rlagent: blocking signals: %s\n", strerror(errno));
		return 1;
	}
	a = calloc(1, sizeof(*a));
	if (a)
		a->cl.efd = -1;
	if (!a) {
		fprintf(stderr, "rlagent: out of memory\n");
		return 1;
	}
	a->sock_path = AGENT_DEFAULT_SOCK;
	a->sock_group = (gid_t)-1;
	a->sweep4.live = a->sweep6.live = -1;
	a->gc_interval_ns = 60 * 1000000000ull;
	a->pin_dir = AGENT_DEFAULT_PIN;
	a->metrics_listen = AGENT_DEFAULT_METRICS;
	a->xdp_attach = -1;
	a->chartjs_path = AGENT_DEFAULT_CHARTJS;
	while ((c = getopt_long(argc, argv, "c:i:S:p:m:vfdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'i':
			if (a->n_cli_ifaces >= RL_MAX_IFACES || strlen(optarg) >= 16) {
				fprintf(stderr, "rlagent: -i %s: at most %d interfaces of up to 15 characters\n",
					optarg, RL_MAX_IFACES);
				goto usage_err;
			}
			snprintf(a->cli_ifaces[a->n_cli_ifaces++], 16, "%s", optarg);
			break;
		case 'S':
			a->sock_path = optarg;
			break;
		case 'p':
			/* refused, not cut: the lock, the pins and the unpin
			 * must all name this very directory */
			if (!*optarg || strlen(optarg) > RL_PIN_DIR_MAX) {
				fprintf(stderr, "rlagent: --pin-dir: %zu characters; want 1..%d (a directory on bpffs)\n",
					strlen(optarg), RL_PIN_DIR_MAX);
				goto usage_err;
			}
			a->pin_dir = optarg;
			break;
		case 'm':
			a->xdp_mode = parse_mode(optarg);
			mode_set = 1;
			if (a->xdp_mode < 0) {
				fprintf(stderr, "rlagent: --xdp-mode %s: use native, generic or auto\n", optarg);
				goto usage_err;
			}
			break;
		case 'A':
			a->xdp_attach = rl_parse_xdp_attach(optarg);
			if (a->xdp_attach < 0) {
				fprintf(stderr, "rlagent: --xdp-attach %s: use auto, dispatcher or link\n", optarg);
				goto usage_err;
			}
			break;
		case 'P': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 1 || v > RL_XDP_PRIO_MAX) {
				fprintf(stderr, "rlagent: --xdp-priority %s: want a whole number 1..%d (lower runs first)\n",
					optarg, RL_XDP_PRIO_MAX);
				goto usage_err;
			}
			a->xdp_prio = (uint32_t)v;
			break;
		}
		case 'v':
			agent_log_level = LOG_LVL_DEBUG;
			break;
		case 'f':
			daemon_mode = false;
			break;
		case 'd':
			daemon_mode = true;
			break;
		case 'D':
			a->detach_on_exit = true;
			break;
		case 'G': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 0 || v > 86400) {
				fprintf(stderr, "rlagent: --gc-interval %s: want seconds 0..86400 (0 = off)\n", optarg);
				goto usage_err;
			}
			a->gc_interval_ns = (uint64_t)v * 1000000000ull;
			break;
		}
		case 'M': {
			struct sockaddr_storage ss;
			socklen_t sslen;

			if (strcmp(optarg, "off") && rl_parse_listen(optarg, &ss, &sslen)) {
				fprintf(stderr, "rlagent: --metrics %s: want ADDR:PORT (127.0.0.1:9471, [::1]:9471) or off\n",
					optarg);
				goto usage_err;
			}
			a->metrics_listen = optarg;
			a->metrics_cli = true;
			break;
		}
		case 'J':
			a->chartjs_path = optarg;
			break;
		case 'g': {
			struct group *gr = getgrnam(optarg);
			char *end;
			unsigned long g = strtoul(optarg, &end, 10);

			if (gr) {
				a->sock_group = gr->gr_gid;
			} else if (*optarg && !*end && g < (gid_t)-1) {
				a->sock_group = (gid_t)g;
			} else {
				fprintf(stderr, "rlagent: --socket-group %s: no such group\n", optarg);
				goto usage_err;
			}
			break;
		}
		case 'C':
			/* a check runs no loop: Ctrl-C must stop it */
			sigprocmask(SIG_UNBLOCK, &mask, NULL);
			ret = check_config(optarg);
			goto out_free;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out_free;
		case 'V':
			printf("rlagent %s\n", RL_VERSION);
			ret = 0;
			goto out_free;
		default:
			goto usage_err;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rlagent: unexpected argument '%s'\n", argv[optind]);
		goto usage_err;
	}
	/* A bare `rlagent` used to start a daemon that enforced nothing and
	 * left pins behind: say what is missing before anything is created. */
	if (!a->config_path && !a->n_cli_ifaces) {
		fprintf(stderr, "rlagent: no interface to enforce on: give -i IFNAME, or -c FILE "
			"with the interfaces under `interfaces:` (rlagent --help lists the options)\n");
		ret = 2;
		goto out_free;
	}

	/* Reloads read the same file whatever the working directory is. */
	if (a->config_path) {
		char *abs = realpath(a->config_path, NULL);

		if (abs)
			a->config_path = config_abs = abs;
	}
	a->started = time(NULL);
	log_journal = stderr_is_journal();
	signal(SIGPIPE, SIG_IGN);
	rl_config_defaults(&a->cfg);
	if (a->config_path) {
		/* Validate everything first: a bad file must not leave a
		 * loaded datapath behind. */
		if (agent_check_config(a->config_path, &n_cfg_rules, &err)) {
			log_err("%s", err.msg);
			log_err("not starting: fix the config (`rlagent --check-config %s` checks it)",
				a->config_path);
			goto out;
		}
		rl_config_free(&a->cfg);
		rl_config_defaults(&a->cfg);
		if (rl_config_load(a->config_path, &a->cfg, &err)) {
			log_err("%s", err.msg);
			goto out;
		}
	}
	a->have_cfg = true;
	if (merge_ifaces(a, mode_set))
		goto out;
	/* the command line wins over the file, as --xdp-mode does */
	if (a->xdp_attach >= 0)
		a->cfg.defaults.xdp_attach = (uint32_t)a->xdp_attach;
	if (a->xdp_prio)
		a->cfg.defaults.xdp_prio = a->xdp_prio;
	if (a->cfg.metrics[0] && !a->metrics_cli) {
		snprintf(a->metrics_cfg, sizeof(a->metrics_cfg), "%s", a->cfg.metrics);
		a->metrics_listen = a->metrics_cfg;
	} else if (a->cfg.metrics[0] && strcmp(a->cfg.metrics, a->metrics_listen)) {
		log_info("metrics: --metrics %s wins over the config's `metrics: %s`",
			 a->metrics_listen, a->cfg.metrics);
	}
	if (!a->cfg.n_ifaces) {
		log_err("%s lists no interfaces and no -i was given: nothing would be enforced; "
			"add `interfaces: [IFNAME]` to it or pass -i IFNAME", a->config_path);
		goto out;
	}

	/* blocked since main() began: what arrived meanwhile is pending */
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto out;
	}

	if (ctl_check_path(a->sock_path))
		goto out;
	if (ensure_bpffs(a->pin_dir))
		goto out;
	if (agent_bpf_open(a))
		goto out;
	bpf_open = true;
	/* before the rules: scope cluster rules need it (the thread starts
	 * later, agent_cluster_start) */
	if (agent_cluster_configure(a, &a->cfg.cluster))
		goto out;

	/* adopts the pinned rules (finishing an apply a crash cut short)
	 * or, with none, applies the config's */
	if (agent_restore(a, &had_state, &err)) {
		log_err("%s: %s", a->adopted ? "re-applying the rules adopted from the pins" :
			"reading the pins or applying the config's rules", err.msg);
		goto out;
	}
	if (had_state)
		log_info("adopted %d rules from pinned state in %s (%d allow, %d block entries); `rlctl config reload` applies %s",
			 a->model.n_rules, a->pin_dir, a->model.n_allow, a->model.n_block,
			 a->config_path ? a->config_path : "the config file");
	else
		log_info("applied %d rules, %d allow and %d block entries from %s",
			 a->model.n_rules, a->model.n_allow, a->model.n_block,
			 a->config_path ? a->config_path : "no config");
	if (agent_bpf_write_conf(a))
		goto out;
	if (agent_events_open(a))
		goto out;
	if (metrics_start(a, a->metrics_listen))
		goto out;
	metrics_on = true;
	if (ctl_listen(a->sock_path, a->sock_group))
		goto out;
	listening = true;
	if (daemon_mode && daemonize()) {
		log_err("daemonizing: %s", strerror(errno));
		goto out;
	}
	if (agent_caps_drop(a))
		goto out;
	if (agent_cluster_start(a))
		goto out;
	log_info("ready: %d interface(s), %d rules, control socket %s, pins in %s",
		 a->n_ifaces, a->model.n_rules, a->sock_path, a->pin_dir);
	agent_notify("READY=1\nMAINPID=%lu\nSTATUS=enforcing %d rules on %d interface(s)",
		     (unsigned long)getpid(), a->model.n_rules, a->n_ifaces);

	ret = run_loop(a, sfd) ? 1 : 0;
	if (a->detach_on_exit)
		log_info("--detach-on-exit: detaching XDP and removing the pins in %s", a->pin_dir);
	else
		log_info("exiting without detaching: XDP stays attached and enforcing from the pins in %s "
			 "(rm -r %s and `ip link set dev IF xdp off` remove it)", a->pin_dir, a->pin_dir);
out:
	agent_cluster_stop(a);
	if (metrics_on)
		metrics_stop();
	if (listening)
		ctl_close();
	agent_events_close();
	/* the listeners are gone with the agent: the datapath left enforcing
	 * from the pins must not go on sampling into a ring nobody reads */
	if (bpf_open && a->events_on) {
		a->events_on = false;
		if (agent_bpf_write_conf(a))
			log_warn("drop events stay on in the pinned rl_conf until the next start");
	}
	if (bpf_open)
		agent_bpf_close(a, a->detach_on_exit && !ret);
	if (sfd >= 0)
		close(sfd);
	agent_model_free(&a->model);
	rl_compiled_free(&a->applied);
	rl_lset_free(&a->lapplied);
	rl_config_free(&a->cfg);
out_free:
	free(config_abs);
	free(a);
	return ret;
usage_err:
	usage(stderr);
	free(a);
	return 2;
}
