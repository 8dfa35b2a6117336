// SPDX-License-Identifier: GPL-2.0
/*
 * agent_ctl.c - rlagent's control socket: a Unix stream socket carrying
 * one JSON object per line each way.  It runs inside the agent's single
 * poll loop, so every limit here is about never letting one client stall
 * or exhaust the agent:
 *
 *   - a request line longer than CTL_MAX_REQ gets "request too large" and
 *     the connection is closed (the rest of the line is never buffered);
 *   - a client that does not read its answers stops being read once
 *     CTL_OUT_PAUSE bytes are queued for it, and is dropped if its queue
 *     passes CTL_MAX_OUT or it makes no progress for CTL_STALL_MS;
 *   - a connection that drops mid-line loses only that line;
 *   - a client with nothing queued for it is dropped CTL_IDLE_MS after it
 *     connected or its last answer went out, unless a complete request
 *     came meanwhile: dribbling bytes does not keep a connection;
 *   - at most CTL_MAX_PER_UID connections per peer uid (SO_PEERCRED) and
 *     CTL_MAX_CLIENTS in all; over either, the longest-idle connection (of
 *     that uid, or of all) makes room, and only if none is idle is the new
 *     one told and closed.  So idle connections never lock rlctl out;
 *   - a command that needs more than a poll turn (`top`) is a job: one
 *     bounded slice of one job a turn, its answer when done; the client's
 *     later lines wait their turn.
 *
 * Nothing a client sends reaches the model except through agent_dispatch,
 * which parses the words itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include "agent.h"

#define CTL_MAX_CLIENTS 64
#define CTL_MAX_PER_UID 16
#define CTL_MAX_REQ     (64 * 1024)
#define CTL_OUT_PAUSE   (256 * 1024)
#define CTL_MAX_OUT     (32 * 1024 * 1024)
#define CTL_STALL_MS    30000
#define CTL_IDLE_MS     5000

struct client {
	int fd;
	uid_t uid;                /* the peer, from SO_PEERCRED at accept   */
	char who[64];             /* "uid 0 pid 123 (rlctl)", for the log   */
	uint64_t req_ms;          /* accept, last request, or last answer out */
	char *in;                 /* CTL_MAX_REQ + 1 bytes                  */
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t last_ms;         /* last progress either way (output stalls) */
	bool eof;                 /* peer closed its sending side           */
	bool closing;             /* close once `out` is flushed            */
	struct agent_job *job;    /* a command answered over several turns  */
	bool events;              /* `events`: streams drop events          */
	uint64_t ev_missed;       /* events it missed, its queue being full */
};

const char *agent_peer;

static int listen_fd = -1;
static struct client clients[CTL_MAX_CLIENTS];
static int n_clients;
static int pfd_client[CTL_MAX_CLIENTS + 1];   /* pollfd index -> client  */
static char listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static uint64_t now_ms(void)
{
	return agent_now_ns() / 1000000ull;
}

int ctl_max_fds(void)
{
	return CTL_MAX_CLIENTS + 1;
}

/*
 * An existing socket directory must be ours (root's, or this user's) and
 * writable by no one else unless sticky (/tmp): in a directory another
 * user may write to, the socket could be swapped for something of theirs
 * between its bind and its first use.  0 also when dir does not exist.
 */
static int check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st))
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		log_err("control socket directory %s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
		log_err("control socket directory %s is owned by uid %u with mode %04o: "
			"it must be root's and writable by no one else (or sticky, like /tmp); "
			"pick another --socket", dir, (unsigned)st.st_uid,
			(unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* The directory of path (the root directory for "/sock"); 0 if none. */
static int dir_of(const char *path, char *dir, size_t len)
{
	char *slash;

	snprintf(dir, len, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	return 1;
}

int ctl_check_path(const char *path)
{
	char dir[sizeof(listen_path)];

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_err("control socket path %s is longer than %zu bytes; pick a shorter --socket",
			path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	return dir_of(path, dir, sizeof(dir)) ? check_dir(dir) : 0;
}

/*
 * Creates the socket's directory if it is missing (0700, or 0750 with the
 * socket's group); one that exists must pass check_dir.
 */
static int make_parent(const char *path, gid_t group)
{
	char dir[sizeof(listen_path)];
	struct stat st;

	if (!dir_of(path, dir, sizeof(dir)))
		return 0;
	if (!stat(dir, &st))
		return check_dir(dir);
	if (strcmp(dir, "/") && make_parent(dir, group))
		return -errno;
	if (mkdir(dir, group == (gid_t)-1 ? 0700 : 0750) && errno != EEXIST) {
		int err = -errno;

		log_err("creating the control socket directory %s: %s", dir, strerror(errno));
		return err;
	}
	if (group != (gid_t)-1 && (lchown(dir, (uid_t)-1, group) || chmod(dir, 0750))) {
		int err = -errno;

		log_err("giving the control socket directory %s to group %u: %s", dir,
			(unsigned)group, strerror(errno));
		return err;
	}
	return 0;
}

int ctl_listen(const char *path, gid_t group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd = -1, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("control socket path %s is longer than %zu bytes; pick a shorter --socket",
			path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	err = make_parent(path, group);
	if (err)
		return err;
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("control socket path %s exists and is not a socket; remove it or pick another --socket",
				path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			log_err("another rlagent is listening on %s; stop it or pick another --socket",
				path);
			return -EADDRINUSE;
		}
		if (fd >= 0)
			close(fd);
		/* Nobody answers: a leftover of an agent that died. */
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_err("creating the control socket: %s", strerror(errno));
		return err;
	}
	/* the mode from the umask at bind, the group by lchown: nothing
	 * here follows a symlink */
	old = umask(group == (gid_t)-1 ? 0177 : 0117);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		umask(old);
		log_err("binding the control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	umask(old);
	if ((group != (gid_t)-1 && lchown(path, (uid_t)-1, group)) || listen(fd, 64)) {
		err = -errno;
		log_err("setting up the control socket %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	listen_fd = fd;
	snprintf(listen_path, sizeof(listen_path), "%s", path);
	return 0;
fail:
	close(fd);
	return err;
}

static void client_free(struct client *c)
{
	agent_job_free(c->job);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void client_drop(int i, const char *why)
{
	if (why)
		log_debug("control client %s dropped: %s", clients[i].who, why);
	client_free(&clients[i]);
	clients[i] = clients[n_clients - 1];
	memset(&clients[n_clients - 1], 0, sizeof(clients[0]));
	clients[n_clients - 1].fd = -1;
	n_clients--;
}

void ctl_close(void)
{
	while (n_clients)
		client_drop(n_clients - 1, NULL);
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
		unlink(listen_path);
	}
}

static size_t out_pending(const struct client *c)
{
	return c->out_len - c->out_off;
}

static bool queue_raw(struct client *c, const char *s, size_t len);

bool ctl_events_wanted(void)
{
	int i;

	for (i = 0; i < n_clients; i++)
		if (clients[i].events && !clients[i].closing)
			return true;
	return false;
}

/* One event line to every streaming client; one that does not keep up
 * (CTL_OUT_PAUSE queued) misses it and is told the count when it does. */
void ctl_events_send(const char *line)
{
	size_t len = strlen(line);
	int i;

	for (i = 0; i < n_clients; i++) {
		struct client *c = &clients[i];

		if (!c->events || c->closing)
			continue;
		if (out_pending(c) >= CTL_OUT_PAUSE) {
			c->ev_missed++;
			continue;
		}
		if (c->ev_missed) {
			char m[160];
			int n = snprintf(m, sizeof(m),
					 "{\"kind\":\"lost\",\"count\":%llu,\"reason\":\"this client read too slowly\"}",
					 (unsigned long long)c->ev_missed);

			if (!queue_raw(c, m, (size_t)n))
				continue;
			c->ev_missed = 0;
		}
		if (!queue_raw(c, line, len))
			c->ev_missed++;
	}
}

/* Queues one response line (NULL: one saying it could not be built);
 * false if the client's queue is over the cap. */
static bool queue(struct client *c, json_t *resp)
{
	char *s = json_dumps(resp, JSON_COMPACT);
	size_t len;
	bool ok;

	json_decref(resp);
	/* every string in an answer is sanitized UTF-8: what is left is
	 * memory, but say what is known, and that the command may have run */
	if (!s)
		s = strdup("{\"ok\":false,\"error\":\"the agent could not build its answer (out of memory?); the command may have taken effect: check with rlctl\",\"code\":\"refused\"}");
	if (!s)
		return false;
	len = strlen(s);
	ok = queue_raw(c, s, len);
	free(s);
	return ok;
}

/* Queues len bytes of s and a newline; false if over the cap or out of memory. */
static bool queue_raw(struct client *c, const char *s, size_t len)
{
	if (out_pending(c) + len + 1 > CTL_MAX_OUT)
		return false;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;

		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + len + 1)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return false;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return true;
}

json_t *ctl_answer(struct agent *a, const char *line, size_t len, const char *who,
		   uid_t uid, struct agent_job **job)
{
	json_error_t jerr;
	json_t *req, *resp;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return agent_error("usage", "request is not valid JSON (column %d: %s); send one object {\"argv\": [...]} per line",
				   jerr.column, jerr.text);
	agent_peer = who;	/* the log says who made each change */
	resp = agent_dispatch(a, req, uid, job);
	agent_peer = NULL;
	json_decref(req);
	return resp;
}

/* The answer to one line, or NULL with c->job set: it comes later. */
static json_t *handle_line(struct agent *a, struct client *c, const char *line, size_t len)
{
	json_t *resp = ctl_answer(a, line, len, c->who, c->uid, &c->job);

	c->req_ms = now_ms();
	return resp;
}

/* Answers the complete lines in the input buffer, as long as the client
 * keeps reading.  Returns false if the client must be dropped. */
static bool process(struct agent *a, struct client *c)
{
	size_t start = 0;

	/* one answer at a time, in order: lines wait while a job runs */
	while (!c->closing && !c->job && out_pending(c) < CTL_OUT_PAUSE) {
		const char *line = c->in + start;
		const char *nl = memchr(line, '\n', c->in_len - start);
		json_t *resp;
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - line);
		if (len && line[len - 1] == '\r')
			len--;
		start = (size_t)(nl - c->in) + 1;
		if (!len)
			continue;
		resp = handle_line(a, c, line, len);
		/* `events`: from now on the connection carries the stream */
		if (resp && json_is_string(json_object_get(resp, "stream")))
			c->events = true;
		/* NULL without a job: queue() says the answer failed */
		if (!c->job && !queue(c, resp))
			return false;
	}
	if (start) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
	}
	/* full, and not of lines waiting their turn: one line too long */
	if (!c->closing && c->in_len >= CTL_MAX_REQ && !memchr(c->in, '\n', c->in_len)) {
		if (!queue(c, agent_error("usage", "request too large (more than %d bytes without a newline); closing",
					  CTL_MAX_REQ)))
			return false;
		c->closing = true;
		c->in_len = 0;
	}
	return true;
}

/* Waiting for nothing: no partial request, no answer queued, no job, and
 * nothing sent that is still unread in the socket. */
static bool idle(const struct client *c)
{
	char b;

	return !c->events && !c->in_len && !out_pending(c) && !c->job && !c->closing &&
	       recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* The idle client (of uid, or of anyone with uid -1) idle the longest, or -1. */
static int longest_idle(long uid)
{
	int i, best = -1;

	for (i = 0; i < n_clients; i++)
		if ((uid < 0 || clients[i].uid == (uid_t)uid) && idle(&clients[i]) &&
		    (best < 0 || clients[i].req_ms < clients[best].req_ms))
			best = i;
	return best;
}

static void refuse(int fd, const char *why)
{
	char msg[192];
	int n = snprintf(msg, sizeof(msg), "{\"ok\":false,\"error\":\"%s; try again\",\"code\":\"refused\"}\n", why);

	if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("telling an extra control client to go: %s", strerror(errno));
	close(fd);
}

/* Who is at the other end: uid and pid from the kernel, the command from
 * /proc (best effort: the process may be gone already). */
static void peer(int fd, struct client *c)
{
	struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cr);
	char path[64], comm[32] = "?";
	ssize_t n;
	int f;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		log_debug("SO_PEERCRED: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)cr.pid);
	f = cr.pid > 0 ? open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
	if (f >= 0) {
		n = read(f, comm, sizeof(comm) - 1);
		comm[n > 0 ? n : 0] = 0;
		comm[strcspn(comm, "\n")] = 0;
		close(f);
	}
	c->uid = cr.uid;
	snprintf(c->who, sizeof(c->who), "uid %d pid %d (%s)", (int)cr.uid, (int)cr.pid, comm);
	rl_utf8_sanitize(c->who);
}

static void accept_clients(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client nc, *c;
		int i, same = 0;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accepting a control client: %s", strerror(errno));
			return;
		}
		memset(&nc, 0, sizeof(nc));
		peer(fd, &nc);
		for (i = 0; i < n_clients; i++)
			same += clients[i].uid == nc.uid;
		/* room first from the same uid, then from anyone idle */
		if (same >= CTL_MAX_PER_UID) {
			i = longest_idle((long)nc.uid);
			if (i < 0) {
				log_warn("control client %s refused: %d connections of uid %d are busy",
					 nc.who, same, (int)nc.uid);
				refuse(fd, "too many control connections from this uid");
				continue;
			}
			client_drop(i, "idle, making room for another of its uid");
		} else if (n_clients >= CTL_MAX_CLIENTS) {
			i = longest_idle(-1);
			if (i < 0) {
				log_warn("control client %s refused: %d connections are busy", nc.who,
					 n_clients);
				refuse(fd, "too many control clients");
				continue;
			}
			client_drop(i, "idle, making room for a new client");
		}
		c = &clients[n_clients];
		*c = nc;
		c->fd = fd;
		c->in = malloc(CTL_MAX_REQ + 1);
		if (!c->in) {
			close(fd);
			c->fd = -1;
			continue;
		}
		c->last_ms = c->req_ms = now_ms();
		n_clients++;
	}
}

int ctl_pollfds(struct pollfd *pfds, int max)
{
	int i, n = 0;

	if (listen_fd < 0 || max < 1)
		return 0;
	pfds[n].fd = listen_fd;
	pfds[n].events = POLLIN;
	pfds[n].revents = 0;
	pfd_client[n++] = -1;
	for (i = 0; i < n_clients && n < max; i++) {
		struct client *c = &clients[i];

		pfds[n].fd = c->fd;
		pfds[n].events = 0;
		if (!c->eof && !c->closing && out_pending(c) < CTL_OUT_PAUSE &&
		    c->in_len < CTL_MAX_REQ)
			pfds[n].events |= POLLIN;
		if (out_pending(c))
			pfds[n].events |= POLLOUT;
		pfds[n].revents = 0;
		pfd_client[n++] = i;
	}
	return n;
}

/* When the client is dropped if nothing changes: a stalled reader after
 * CTL_STALL_MS without progress; anyone else CTL_IDLE_MS after it
 * connected, sent its last request or got its last answer. */
static uint64_t deadline(const struct client *c)
{
	if (out_pending(c))
		return c->last_ms + CTL_STALL_MS;
	/* a stream listener waits as long as it likes */
	if (c->events)
		return now_ms() + 60000;
	return c->req_ms + CTL_IDLE_MS;
}

int ctl_timeout_ms(void)
{
	uint64_t now = now_ms();
	int64_t best = -1;
	int i;

	for (i = 0; i < n_clients; i++)
		if (clients[i].job)
			return 0;	/* a job goes on next turn */
	for (i = 0; i < n_clients; i++) {
		const struct client *c = &clients[i];
		int64_t left = (int64_t)deadline(c) - (int64_t)now;

		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return (int)(best > 0 ? best + 1 : best);
}

/* Reads what is there; false if the client must be dropped. */
static bool client_read(struct agent *a, struct client *c)
{
	while (!c->eof && c->in_len < CTL_MAX_REQ) {
		ssize_t r = recv(c->fd, c->in + c->in_len, CTL_MAX_REQ - c->in_len, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return false;
		}
		if (r == 0) {
			c->eof = true;
			break;
		}
		c->in_len += (size_t)r;
		c->last_ms = now_ms();
		if (!process(a, c))
			return false;
		if (c->closing || out_pending(c) >= CTL_OUT_PAUSE)
			break;
	}
	return process(a, c);
}

static bool client_write(struct agent *a, struct client *c)
{
	while (out_pending(c)) {
		ssize_t w = send(c->fd, c->out + c->out_off, out_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			return false;
		}
		c->out_off += (size_t)w;
		c->last_ms = now_ms();
	}
	c->req_ms = c->last_ms;	/* the idle time starts when the answer is out */
	/* The queue drained: answer lines held back while it was full. */
	return process(a, c);
}

/* One slice of one client's job a turn, taking turns: a long scan never
 * holds the loop, and several never add up in one turn. */
static void step_job(struct agent *a)
{
	static int next;
	struct client *c;
	json_t *resp;
	int i, k;

	for (k = 0; k < n_clients; k++)
		if (clients[(next + k) % n_clients].job)
			break;
	if (k == n_clients)
		return;
	i = (next + k) % n_clients;
	next = i + 1;
	c = &clients[i];
	resp = agent_job_step(a, c->job);
	c->last_ms = now_ms();
	if (!resp)
		return;
	agent_job_free(c->job);
	c->job = NULL;
	/* then the lines that waited for it */
	if (!queue(c, resp) || !process(a, c))
		client_drop(i, "queue over limit");
}

void ctl_handle(struct agent *a, struct pollfd *pfds, int n)
{
	uint64_t now;
	int i, k;
	bool pending_accept = false;
	/* Snapshot: dropping a client reorders clients[]. */
	int fds[CTL_MAX_CLIENTS + 1];

	for (k = 0; k < n; k++)
		fds[k] = pfds[k].fd;
	for (k = 0; k < n; k++) {
		short re = pfds[k].revents;
		struct client *c = NULL;

		if (!re)
			continue;
		/* accepted last: it may close an idle client, and a new one
		 * reusing that fd must not inherit its events of this turn */
		if (pfd_client[k] < 0) {
			pending_accept = true;
			continue;
		}
		for (i = 0; i < n_clients; i++)
			if (clients[i].fd == fds[k])
				c = &clients[i];
		if (!c)
			continue;
		i = (int)(c - clients);
		if ((re & (POLLIN | POLLHUP | POLLERR)) && !client_read(a, c)) {
			client_drop(i, "read failed or queue over limit");
			continue;
		}
		if ((re & POLLERR) && !(re & POLLIN)) {
			client_drop(i, "socket error");
			continue;
		}
		if (out_pending(c) && !client_write(a, c)) {
			client_drop(i, "write failed (client gone)");
			continue;
		}
		if (!out_pending(c) && !c->job && (c->closing || c->eof)) {
			client_drop(i, c->closing ? "closed after an error" : NULL);
			continue;
		}
	}

	if (pending_accept)
		accept_clients();
	step_job(a);

	now = now_ms();
	for (i = n_clients - 1; i >= 0; i--) {
		struct client *c = &clients[i];

		if (!c->job && now >= deadline(c))
			client_drop(i, out_pending(c) ? "not reading its answers" :
				    c->in_len ? "no complete request in time" : "idle");
	}
}
