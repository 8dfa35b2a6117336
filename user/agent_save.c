// SPDX-License-Identifier: GPL-2.0
/*
 * agent_save.c - `rlctl config save [FILE]`: the running state as `config
 * dump` prints it (interfaces, defaults, allow/block lists, rules, with
 * every runtime change) written over the agent's config file, or FILE, so
 * that changes made with rlctl survive a reboot.  Included by nothing;
 * declared in agent.h, called by agent_cmd.c.
 *
 * The write is atomic: a temporary file in the target's directory, loaded
 * back and checked as `rlagent --check-config` checks a file, fsync'd, then
 * renamed over the target, and the directory fsync'd.  A reader (a reload,
 * the next boot) sees the old file or the new one, never a part; a state
 * that would not load back is refused and nothing is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "agent.h"

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* What to do about a failed write, where the reason is a usual one. */
static const char *hint(int e)
{
	if (e == EROFS || e == EACCES || e == EPERM)
		return " (under the systemd unit rlagent may write only below /etc/rl: "
		       "ReadWritePaths= in rlagent.service)";
	if (e == ENOENT)
		return " (the directory must exist)";
	return "";
}

int agent_config_save(struct agent *a, const char *path, char *saved, size_t len,
		      struct rl_err *err)
{
	char *yaml = NULL, *target = NULL, *body, *dcopy = NULL, *bcopy = NULL;
	char tmp[PATH_MAX], stamp[64];
	struct rl_err e = {};
	struct stat st;
	bool exists, made = false;
	time_t now = time(NULL);
	int fd = -1, dfd = -1, ret, n = 0;

	if (!path)
		path = a->config_path;
	if (!path) {
		agent_err(err, "the agent was started without a config file (-c FILE): "
			  "give one, `rlctl config save FILE`");
		return -ENOENT;
	}
	if (path[0] != '/') {
		agent_err(err, "'%s' is not an absolute path", path);
		return -EINVAL;
	}
	/* Through a symlink, replace the file it names, not the link. */
	target = realpath(path, NULL);
	if (!target && errno != ENOENT) {
		ret = -errno;
		agent_err(err, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!target)
		target = strdup(path);
	dcopy = target ? strdup(target) : NULL;
	bcopy = target ? strdup(target) : NULL;
	yaml = agent_config_dump(a);
	if (!target || !dcopy || !bcopy || !yaml) {
		agent_err(err, "out of memory");
		ret = -ENOMEM;
		goto cleanup;
	}
	exists = !stat(target, &st);
	if (exists && !S_ISREG(st.st_mode)) {
		agent_err(err, "%s is not a regular file", target);
		ret = -EINVAL;
		goto cleanup;
	}
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dirname(dcopy), basename(bcopy)) >=
	    (int)sizeof(tmp)) {
		agent_err(err, "%s: path too long", target);
		ret = -ENAMETOOLONG;
		goto cleanup;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = -errno;
		agent_err(err, "creating a temporary file next to %s: %s%s", target, strerror(-ret),
			  hint(-ret));
		goto cleanup;
	}
	made = true;
	/* The file keeps its owner and mode; a new one is 0644, as in /etc. */
	if (fchmod(fd, exists ? st.st_mode & 07777 : 0644) ||
	    (exists && fchown(fd, st.st_uid, st.st_gid))) {
		ret = -errno;
		agent_err(err, "setting the mode of %s: %s", tmp, strerror(-ret));
		goto cleanup;
	}
	/* dump's first line names the pid; a saved file says what it is */
	body = strchr(yaml, '\n');
	body = body ? body + 1 : yaml;
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S %z", localtime(&now));
	{
		char head[512];

		snprintf(head, sizeof(head),
			 "# %s - written by `rlctl config save` on %s from rlagent's\n"
			 "# running state, with the changes made at runtime.  Timed allow/block\n"
			 "# entries are comments; the comments of the previous file are not kept.\n",
			 target, stamp);
		ret = write_all(fd, head, strlen(head));
	}
	if (!ret)
		ret = write_all(fd, body, strlen(body));
	if (!ret && fsync(fd))
		ret = -errno;
	if (ret) {
		agent_err(err, "writing %s: %s", tmp, strerror(-ret));
		goto cleanup;
	}
	close(fd);
	fd = -1;
	ret = agent_check_config(tmp, &n, &e);
	if (ret) {
		agent_err(err, "the running state does not load back (a bug; please report it): %s",
			  e.msg);
		goto cleanup;
	}
	if (rename(tmp, target)) {
		ret = -errno;
		agent_err(err, "renaming %s to %s: %s%s", tmp, target, strerror(-ret), hint(-ret));
		goto cleanup;
	}
	made = false;
	/* the rename itself is durable once the directory is */
	snprintf(dcopy, strlen(target) + 1, "%s", target);
	dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		fsync(dfd);
	snprintf(saved, len, "%s", target);
	ret = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (made)
		unlink(tmp);
	free(yaml);
	free(dcopy);
	free(bcopy);
	free(target);
	return ret;
}
