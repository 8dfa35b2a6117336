#!/bin/bash
# tests/fuzz/merge.sh TARGET... - what `make fuzz-merge` runs: the inputs of
# the working corpus $OUTPUT/fuzz/corpus/TARGET (what `make fuzz` found)
# that reach an edge the committed corpus tests/fuzz/corpus/TARGET does not
# are added to it (libFuzzer -merge=1 -use_counters=0: hit counts would
# keep thousands of inputs); what is there stays, so the diff is small.
# With FUZZ_MINIMIZE=1 the committed corpus is instead rebuilt as the
# smallest set of both that covers the same edges, except that inputs named
# regress-* (reproducers of fixed bugs) always stay.  New files are named
# by the SHA-1 of their content, as libFuzzer names them.
set -u
cd "$(dirname "$0")/../.." || exit 2
OUT=${OUTPUT:-build}

[[ $# -gt 0 ]] || { echo "usage: $0 TARGET..." >&2; exit 2; }
for t in "$@"; do
	bin=$OUT/fuzz/$t dst=tests/fuzz/corpus/$t
	[[ -x $bin ]] || { echo "fuzz-merge: $bin missing (make fuzz-build)" >&2; exit 2; }
	mkdir -p "$OUT/fuzz/corpus/$t" "$dst"
	tmp=$(mktemp -d "$OUT/fuzz/merge-$t.XXXX") || exit 2
	mkdir "$tmp/new"
	# what is in the first directory stays
	if [[ ${FUZZ_MINIMIZE:-0} == 1 ]]; then
		cp "$dst"/regress-* "$tmp/new/" 2>/dev/null
	else
		cp "$dst"/* "$tmp/new/" 2>/dev/null
	fi
	if ! "$bin" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$tmp/new" "$dst" \
		"$OUT/fuzz/corpus/$t" >"$tmp/log" 2>&1; then
		echo "fuzz-merge: $t: merge failed:"
		tail -n 20 "$tmp/log"
		rm -rf "$tmp"
		exit 1
	fi
	before=$(ls "$dst" | wc -l)
	find "$dst" -maxdepth 1 -type f -delete
	cp "$tmp/new"/* "$dst/" 2>/dev/null
	echo "$t: $before -> $(ls "$dst" | wc -l) files, $(du -s --apparent-size -k "$dst" | cut -f1) KB"
	rm -rf "$tmp"
done
