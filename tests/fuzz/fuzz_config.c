// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_config.c - libFuzzer target for the YAML config loader
 * (lib_config.c).  The input is the file: it is written to an in-memory
 * file (memfd, opened again through /proc/self/fd/N, so nothing is left on
 * disk) and given to rl_config_check, which is what `rlagent
 * --check-config`, `rlctl config check` and every start and reload run:
 * rl_config_load's three passes (libyaml events, the document tree,
 * libcyaml), the conversion of every value by lib_parse.c, rl_rule_validate
 * on each rule and rl_compile of the whole set.
 *
 * Besides the sanitizers it checks: a refusal has a message that is valid
 * UTF-8 (rlctl gets it in JSON); a config that loads has its counts in
 * range and every rule named validly.
 */
#include "fuzz_util.h"

#include <errno.h>

static struct fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_file_open(&file, "rl-fuzz-config");
	return 0;
}

/* The same bytes as a `block import` file (lib_lists.c): all or nothing,
 * a bad line named by number, every entry a valid prefix in file order. */
static void list_file(const uint8_t *data, size_t size)
{
	struct rl_list_entry *l = NULL;
	struct rl_err e = {};
	int n = -1, i, ret;
	FILE *f;

	if (!size)
		return;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return;
	ret = rl_list_read(f, "fuzz.netset", 1000, &l, &n, &e);
	fclose(f);
	if (ret) {
		if (e.line < 1 || l || n)
			fuzz_die("list read failed with line %d, %d entries left", e.line, n);
		fuzz_check_msg("list file", e.msg);
		return;
	}
	for (i = 0; i < n; i++)
		if ((l[i].pfx.family != 4 && l[i].pfx.family != 6) ||
		    l[i].pfx.len > (l[i].pfx.family == 4 ? 32 : 128) ||
		    (i && l[i].expires_ns <= l[i - 1].expires_ns))
			fuzz_die("list entry %d: family %u len %u line %llu", i, l[i].pfx.family,
				 l[i].pfx.len, (unsigned long long)l[i].expires_ns);
	n = rl_list_sort(l, n);
	for (i = 1; i < n; i++)
		if (rl_lpfx_cmp(&l[i - 1].pfx, &l[i].pfx) >= 0)
			fuzz_die("list not sorted and unique at %d", i);
	free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rl_config cfg;
	struct rl_err e = {};
	int i, n = -1, ret;

	list_file(data, size);

	fuzz_file_set(&file, data, size);
	ret = rl_config_check(file.path, &n, &e);
	if (ret) {
		if (ret > 0)
			fuzz_die("rl_config_check returned %d", ret);
		fuzz_check_msg("config check", e.msg);
		return 0;
	}
	if (n < 0 || n > RL_MAX_RULES)
		fuzz_die("rl_config_check: %d rules", n);

	/* what the agent then loads (the file is unchanged) */
	rl_config_defaults(&cfg);
	ret = rl_config_load(file.path, &cfg, &e);
	if (ret)
		fuzz_die("checked config does not load: %s", e.msg);
	if (cfg.n_rules != n || cfg.n_ifaces < 0 || cfg.n_ifaces > RL_MAX_IFACES ||
	    cfg.n_allow < 0 || cfg.n_block < 0 || cfg.n_allow + cfg.n_block > RL_MAX_LIST)
		fuzz_die("loaded config: %d rules (checked %d), %d interfaces, %d + %d list entries",
			 cfg.n_rules, n, cfg.n_ifaces, cfg.n_allow, cfg.n_block);
	for (i = 0; i < cfg.n_rules; i++)
		if (!rl_name_valid(cfg.rules[i].name))
			fuzz_die("loaded rule %d has an invalid name", i);
	rl_config_free(&cfg);
	return 0;
}
