// SPDX-License-Identifier: GPL-2.0
/*
 * subreaper.c - runs one test as a child subreaper and ends what it left
 * running.  tests/run.sh starts every test through it:
 *
 *   subreaper [-o REPORT] [-s SETTLE_MS] [-g GRACE_MS] -- CMD [ARGS...]
 *
 * With PR_SET_CHILD_SUBREAPER set, every process the test starts stays
 * below this one even after its parent is gone: a `start_agent &` whose $!
 * was the function's subshell, a daemon that forked and called setsid, an
 * nginx master.  So "what the test left behind" is exact: the processes
 * still below us once CMD has exited, and never a process of someone else
 * (another checkout's test run, a real rlagent) that merely has the same
 * name.  A process still there SETTLE_MS (default 1000) after CMD exited
 * (the test may have signalled it without waiting) is written to REPORT as
 * "PID COMM", sent SIGTERM, and SIGKILL after GRACE_MS (default 2000); all
 * are reaped before we exit.
 *
 * Exits with CMD's status (128 + signal if a signal ended it), 125 if CMD
 * could not be started.  SIGINT and SIGTERM are passed on to CMD, and the
 * clean-up still runs.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

struct proc {
	pid_t pid, ppid;
	char state;
	char comm[32];
};

static volatile pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* pid, state, ppid and comm from /proc/PID/stat; comm may hold spaces and ')' */
static int read_stat(pid_t pid, struct proc *p)
{
	char path[64], buf[512], *l, *r;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	l = strchr(buf, '(');
	r = strrchr(buf, ')');
	if (!l || !r || r < l || sscanf(r + 1, " %c %d", &p->state, &p->ppid) != 2)
		return -EINVAL;
	p->pid = pid;
	*r = '\0';
	snprintf(p->comm, sizeof(p->comm), "%s", l + 1);
	return 0;
}

/*
 * Every live process below us (zombies are dead: reap() takes ours).
 * Returns the count (at most max), or -errno.  A parent that exits while
 * we scan only moves its children up to us.
 */
static int descendants(struct proc *out, int max)
{
	struct proc *all = NULL, *tmp;
	int n_all = 0, cap = 0, n = 0, i, k;
	bool grew = true;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (n_all == cap) {
			cap = cap ? cap * 2 : 1024;
			tmp = realloc(all, (size_t)cap * sizeof(*all));
			if (!tmp) {
				free(all);
				closedir(d);
				return -ENOMEM;
			}
			all = tmp;
		}
		if (!read_stat((pid_t)pid, &all[n_all]) && all[n_all].state != 'Z' &&
		    all[n_all].state != 'X')
			n_all++;
	}
	closedir(d);
	/* the tree is shallow: repeat until no process joins */
	while (grew && n < max) {
		grew = false;
		for (i = 0; i < n_all && n < max; i++) {
			bool below = all[i].ppid == getpid(), seen = false;

			for (k = 0; k < n && !below; k++)
				below = all[i].ppid == out[k].pid;
			for (k = 0; k < n && !seen; k++)
				seen = all[i].pid == out[k].pid;
			if (below && !seen) {
				out[n++] = all[i];
				grew = true;
			}
		}
	}
	free(all);
	return n;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	static struct proc left[4096], now[4096];
	struct sigaction sa = { .sa_handler = forward };
	const char *report = NULL;
	long settle_ms = 1000, grace_ms = 2000, t0;
	int c, status = 0, n_left = 0, n, i, k, ret;
	FILE *rf = NULL;
	pid_t w;

	while ((c = getopt(argc, argv, "+o:s:g:")) != -1) {
		switch (c) {
		case 'o':
			report = optarg;
			break;
		case 's':
			settle_ms = strtol(optarg, NULL, 10);
			break;
		case 'g':
			grace_ms = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: subreaper [-o REPORT] [-s SETTLE_MS] [-g GRACE_MS] -- CMD [ARGS...]\n");
			return 125;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: subreaper [-o REPORT] [-s SETTLE_MS] [-g GRACE_MS] -- CMD [ARGS...]\n");
		return 125;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		fprintf(stderr, "subreaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 125;
	}
	if (report) {
		rf = fopen(report, "w");
		if (!rf) {
			fprintf(stderr, "subreaper: %s: %s\n", report, strerror(errno));
			return 125;
		}
	}
	child_pid = fork();
	if (child_pid < 0) {
		fprintf(stderr, "subreaper: fork: %s\n", strerror(errno));
		return 125;
	}
	if (child_pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "subreaper: %s: %s\n", argv[optind], strerror(errno));
		_exit(125);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* Orphans that exit on their own while CMD runs are reaped here too. */
	for (;;) {
		w = waitpid(-1, &status, 0);
		if (w == child_pid)
			break;
		if (w < 0 && errno != EINTR) {
			fprintf(stderr, "subreaper: waitpid: %s\n", strerror(errno));
			status = 125 << 8;
			break;
		}
	}
	child_pid = 0;
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	/*
	 * What is still below us was left behind by CMD.  A process the test
	 * did stop (kill without wait, SIGTERM and a short shutdown) gets
	 * settle_ms to go; whatever is left then is reported and ended.
	 */
	t0 = now_ms();
	for (;;) {
		long t = now_ms() - t0;

		reap();
		n = descendants(now, (int)(sizeof(now) / sizeof(now[0])));
		if (n <= 0)
			break;
		if (t < settle_ms) {
			usleep(20000);
			continue;
		}
		for (i = 0; i < n; i++) {
			for (k = 0; k < n_left && left[k].pid != now[i].pid; k++)
				;
			if (k == n_left && n_left < (int)(sizeof(left) / sizeof(left[0])))
				left[n_left++] = now[i];
			kill(now[i].pid, t < settle_ms + grace_ms ? SIGTERM : SIGKILL);
		}
		if (t >= settle_ms + grace_ms + 5000) {
			fprintf(stderr, "subreaper: %d process(es) survive SIGKILL\n", n);
			break;
		}
		usleep(20000);
	}
	if (rf) {
		for (i = 0; i < n_left; i++)
			fprintf(rf, "%d %s\n", (int)left[i].pid, left[i].comm);
		fclose(rf);
	}
	return ret;
}
