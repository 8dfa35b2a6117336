/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rl_cmds.h - the one table of rlctl's commands (user/lib_cmds.c).  It
 * drives rlctl's grammar check and help text, the agent's dispatch and its
 * read-only/root split of the control socket, and the bash completion
 * (`rlctl __complete`, called by deploy/rlctl.bash).  A command is an
 * object and, for most objects, a verb: `rule add`, `allow list`, `stats`.
 */
#ifndef RL_CMDS_H
#define RL_CMDS_H

#include <stdbool.h>
#include <stdio.h>
#include "rl_model.h"

enum rl_cmd_id {
	RL_CMD_RULE_ADD,
	RL_CMD_RULE_CHANGE,
	RL_CMD_RULE_DEL,
	RL_CMD_RULE_LIST,
	RL_CMD_LIST_ADD,          /* allow and block share these             */
	RL_CMD_LIST_DEL,
	RL_CMD_LIST_SHOW,
	RL_CMD_LIST_IMPORT,
	RL_CMD_LIST_FLUSH,
	RL_CMD_EVENTS,
	RL_CMD_STATS,
	RL_CMD_TOP,
	RL_CMD_EXPLAIN,
	RL_CMD_STATUS,
	RL_CMD_CONFIG_RELOAD,
	RL_CMD_CONFIG_DUMP,
	RL_CMD_CONFIG_SAVE,
	RL_CMD_CONFIG_CHECK,
	RL_CMD_PING,
	__RL_CMD_MAX,
};

#define RL_CMD_CHANGES  0x1       /* changes what runs: root only            */
#define RL_CMD_LOCAL    0x2       /* rlctl answers it alone (config check)   */
#define RL_CMD_HIDDEN   0x4       /* not in help or completion (ping)        */
#define RL_CMD_DEFAULT  0x8       /* the verb may be left out (`allow`)      */

/* What a position completes to (rl_cmd_complete). */
#define RL_COMPLETE_RULES "@rules"    /* the running agent's rule names   */
#define RL_COMPLETE_FILES "@files"    /* a file name                      */

struct rl_cmd {
	const char *obj;          /* "rule"; "allow|block" for both lists     */
	const char *verb;         /* NULL: the object alone takes the words  */
	const char *alias;        /* another name of the verb, or NULL        */
	const char *args;         /* the words after obj [verb], for help     */
	const char *help;         /* one line: what it does                   */
	enum rl_cmd_id id;
	unsigned flags;           /* RL_CMD_*                                 */
	const char *first;        /* completion of the first word after obj
				   * [verb]: RL_COMPLETE_*, keywords, or NULL */
	const char *words;        /* keywords of the later words, or NULL     */
	/*
	 * The grammar of argv[0..argc) (the object first), without the agent:
	 * 0, or 1 with err set (a bad value), or 2 with err set (a bad shape:
	 * rlctl prints the object's help too).
	 */
	int (*check)(const struct rl_cmd *c, int argc, char **argv, struct rl_err *err);
};

extern const struct rl_cmd rl_cmds[];
extern const size_t rl_n_cmds;

/*
 * The command argv[0..argc) names.  NULL with err set when it names none:
 * the unknown object or verb and what would be known there.
 */
const struct rl_cmd *rl_cmd_find(int argc, char **argv, struct rl_err *err);

/* rl_cmd_find, then the command's grammar: 0, 1 or 2 as check above. */
int rl_cmd_parse(int argc, char **argv, const struct rl_cmd **cmd, struct rl_err *err);

/* Whether obj is an object of the table (for `OBJECT help`). */
bool rl_cmd_is_object(const char *obj);

/*
 * The help text: every command (obj NULL) or one object's, each as
 * "  OBJ VERB ARGS" (with prog: "usage: PROG OBJ VERB ARGS", then
 * "       PROG ...") and its line, then the notes that go with them.
 */
void rl_cmd_usage(FILE *f, const char *obj, const char *prog);

/*
 * The candidates for the word after words[0..n) (the words typed so far,
 * options left out), one per call of emit: keywords, or RL_COMPLETE_RULES /
 * RL_COMPLETE_FILES for the caller to expand.
 */
void rl_cmd_complete(int n, char **words, void (*emit)(const char *word, void *ctx), void *ctx);

#endif /* RL_CMDS_H */
