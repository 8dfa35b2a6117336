#!/bin/bash
# tests/run.sh - runs every test given on the command line and prints one
# summary line "N passed, N failed, N skipped".
#
# Protocol for a test (binary or script): print one line per case,
#   PASS <name>            FAIL <name>: <why>         SKIP <name>: <why>
# and exit non-zero if any case failed.  A test that exits non-zero without
# printing a FAIL line is counted as one failure.  Under CI=true a SKIP is
# a failure: CI has the privileges, so a skip there hides a broken test.
set -u
pass=0 fail=0 skip=0
failed_names=()
logdir=${OUTPUT:-build}/test-logs
mkdir -p "$logdir"
for t in "$@"; do
	name=$(basename "$t")
	log="$logdir/$name.log"
	echo "== $name"
	if [[ $t == *.sh ]]; then cmd=(bash "$t"); else cmd=("$t"); fi
	timeout --kill-after=10 600 "${cmd[@]}" >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP) ' "$log" | sed 's/^/   /'
	p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
	if [[ $rc -ne 0 && $f -eq 0 ]]; then
		echo "   FAIL $name: exited $rc without a FAIL line; last output:"
		tail -n 15 "$log" | sed 's/^/      /'
		f=1
	fi
	if [[ ${CI:-} == true && $s -gt 0 ]]; then
		echo "   (CI=true: $s skip(s) in $name count as failures)"
		f=$((f + s)); s=0
	fi
	if [[ $f -gt 0 ]]; then
		failed_names+=("$name")
		grep -B2 -A8 '^FAIL ' "$log" | head -40 | sed 's/^/      /'
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
[[ ${#failed_names[@]} -gt 0 ]] && echo "failed: ${failed_names[*]} (logs in $logdir)"
echo "$pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]]
