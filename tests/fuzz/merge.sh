#!/bin/bash
# tests/fuzz/merge.sh TARGET... - what `make fuzz-merge` runs: the committed
# corpus tests/fuzz/corpus/TARGET becomes the smallest set of its own inputs
# and of the working corpus $OUTPUT/fuzz/corpus/TARGET (what `make fuzz`
# found) that covers the edges all of them cover (libFuzzer -merge=1
# -use_counters=0: hit counts would keep thousands of inputs).  Inputs
# named regress-* (reproducers of fixed bugs) stay whatever they cover.
# Files are named by the SHA-1 of their content, as libFuzzer names them.
set -u
cd "$(dirname "$0")/../.." || exit 2
OUT=${OUTPUT:-build}

[[ $# -gt 0 ]] || { echo "usage: $0 TARGET..." >&2; exit 2; }
for t in "$@"; do
	bin=$OUT/fuzz/$t dst=tests/fuzz/corpus/$t
	[[ -x $bin ]] || { echo "fuzz-merge: $bin missing (make fuzz-build)" >&2; exit 2; }
	mkdir -p "$OUT/fuzz/corpus/$t" "$dst"
	tmp=$(mktemp -d "$OUT/fuzz/merge-$t.XXXX") || exit 2
	# what is in the first directory stays: the reproducers
	mkdir "$tmp/new"
	cp "$dst"/regress-* "$tmp/new/" 2>/dev/null
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
