#!/bin/bash
# tests/check/test_fuzz_smoke.sh - a short run of each libFuzzer target
# (tests/fuzz/, built by `make fuzz-build`): its committed corpus, the
# reproducers of fixed bugs included, then new inputs up to FUZZ_SMOKE_RUNS
# executions (default 2000) or 10 seconds.  A crash, leak, undefined
# behaviour or a finding of the target's own checks fails it.  The long
# runs are `make fuzz`.  New inputs go to a scratch directory, never into
# the committed corpus.
# Protocol: tests/run.sh (PASS/FAIL/SKIP lines, non-zero exit on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUTPUT:-build}
RUNS=${FUZZ_SMOKE_RUNS:-2000}
fails=0

TMP=$(mktemp -d /tmp/rlfuzz$$.XXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM

for t in fuzz_rule fuzz_config fuzz_request; do
	bin=$OUT/fuzz/$t
	if [[ ! -x $bin ]]; then
		echo "SKIP fuzz-smoke/$t: $bin is not built (make fuzz-build)"
		continue
	fi
	n=$(ls "tests/fuzz/corpus/$t" 2>/dev/null | wc -l)
	if [[ $n -eq 0 ]]; then
		echo "FAIL fuzz-smoke/$t: tests/fuzz/corpus/$t is empty"
		fails=$((fails + 1))
		continue
	fi
	mkdir -p "$TMP/$t/new" "$TMP/$t/art"
	"$bin" -runs="$RUNS" -max_total_time=10 -seed=1 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -dict="tests/fuzz/$t.dict" -artifact_prefix="$TMP/$t/art/" \
		"$TMP/$t/new" "tests/fuzz/corpus/$t" >"$TMP/$t/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/$t/log")
	if [[ $rc -eq 0 && -n $execs ]]; then
		echo "PASS fuzz-smoke/$t ($n corpus inputs, $execs executions)"
	else
		echo "FAIL fuzz-smoke/$t: exit $rc; the input is in the log:"
		grep -E 'FUZZ FINDING|ERROR: |SUMMARY: |^0x|^Base64' "$TMP/$t/log" | head -n 10 | sed 's/^/    /'
		fails=$((fails + 1))
	fi
done
echo "fuzz-smoke: $fails failure(s)"
[[ $fails -eq 0 ]]
