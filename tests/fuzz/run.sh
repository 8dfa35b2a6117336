#!/bin/bash
# tests/fuzz/run.sh TARGET... - what `make fuzz` runs: each libFuzzer target
# of $OUTPUT/fuzz for FUZZ_RUNS executions (default 10000000) or, if it is
# set, FUZZ_SECONDS seconds, whichever comes first; one after the other.
# tests/fuzz/TARGET.options, if there is one, holds more libFuzzer flags.
# FUZZ_JOBS=N (default 1) runs a target as N processes at once, each for
# FUZZ_RUNS/N executions, on the same working corpus (libFuzzer reloads it,
# so each worker picks up what the others found); their executions add up.
#
# A target starts from its committed corpus, tests/fuzz/corpus/TARGET (read,
# never written), and from its working corpus $OUTPUT/fuzz/corpus/TARGET,
# where the inputs it finds go and stay for the next run; `make fuzz-merge`
# minimizes both into the committed one.  A crash, a leak, undefined
# behaviour, an input slower than FUZZ_TIMEOUT seconds (default 10) or over
# 2 GB of memory stops the target; the input is saved under
# $OUTPUT/fuzz/artifacts/TARGET/ and its log is $OUTPUT/fuzz/logs/TARGET.log.
# A reproducer goes into the committed corpus (tests/fuzz/README.md).
#
# Prints per target its executions, executions per second and crashes
# (0 or 1: libFuzzer stops at the first), then a total; exits 1 if any
# target crashed, 2 on a usage or setup error.
set -u
cd "$(dirname "$0")/../.." || exit 2
OUT=${OUTPUT:-build}
RUNS=${FUZZ_RUNS:-10000000}
SECS=${FUZZ_SECONDS:-}
TIMEOUT=${FUZZ_TIMEOUT:-10}
JOBS=${FUZZ_JOBS:-1}

[[ $# -gt 0 ]] || { echo "usage: $0 TARGET..." >&2; exit 2; }
[[ $JOBS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[0-9]+$ ]] ||
	{ echo "fuzz: FUZZ_JOBS must be a positive integer, FUZZ_RUNS a count" >&2; exit 2; }
limit=(-runs="$(((RUNS + JOBS - 1) / JOBS))")
what="$RUNS executions"
[[ $JOBS -gt 1 ]] && what="$what in $JOBS workers of $(((RUNS + JOBS - 1) / JOBS))"
if [[ -n $SECS ]]; then
	limit+=(-max_total_time="$SECS")
	what="$what or $SECS s"
fi

crashed=0 total=0
for t in "$@"; do
	bin=$OUT/fuzz/$t
	[[ -x $bin ]] || { echo "fuzz: $bin missing (make fuzz-build)" >&2; exit 2; }
	work=$OUT/fuzz/corpus/$t art=$OUT/fuzz/artifacts/$t/ log=$OUT/fuzz/logs/$t.log
	mkdir -p "$work" "$art" "$(dirname "$log")"
	opts=()
	[[ -f tests/fuzz/$t.options ]] && read -r -a opts < <(grep -v '^#' "tests/fuzz/$t.options" | tr '\n' ' ')
	echo "== $t: $what (log $log)"
	pids=() wlogs=()
	for ((w = 0; w < JOBS; w++)); do
		wlog=$log
		[[ $JOBS -gt 1 ]] && wlog=${log%.log}.$w.log
		wlogs+=("$wlog")
		"$bin" "${limit[@]}" "${opts[@]}" -seed=$((RANDOM * 32768 + RANDOM + w)) \
			-timeout="$TIMEOUT" -rss_limit_mb=2048 -print_final_stats=1 \
			-dict="tests/fuzz/$t.dict" -artifact_prefix="$art" \
			"$work" "tests/fuzz/corpus/$t" >"$wlog" 2>&1 &
		pids+=($!)
	done
	n=0 execs=0 rates=()
	for ((w = 0; w < JOBS; w++)); do
		wait "${pids[w]}"
		rc=$?
		wlog=${wlogs[w]}
		e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$wlog" | tail -n 1)
		r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$wlog" | tail -n 1)
		# after a crash there are no final stats: the last status line has the count
		[[ -n $e ]] || e=$(grep -oE '^#[0-9]+' "$wlog" | tail -n 1 | tr -d '#')
		execs=$((execs + ${e:-0}))
		rates+=("${r:-?}")
		if [[ $rc -ne 0 ]]; then
			n=$((n + 1))
			grep -E 'FUZZ FINDING|ERROR: |SUMMARY: |Test unit written to' "$wlog" | head -n 8 | sed 's/^/    /'
		fi
	done
	rate=$(IFS=+; echo "${rates[*]}")
	crashed=$((crashed + n))
	total=$((total + execs))
	printf '%s: %s executions, %s exec/s, %d crashes\n' "$t" "$execs" "$rate" "$n"
done
echo "fuzz: $# targets, $total executions, $crashed crashed"
[[ $crashed -eq 0 ]] || exit 1
