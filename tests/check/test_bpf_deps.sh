#!/bin/bash
# tests/check/test_bpf_deps.sh - no BPF object may depend on a glibc header.
#
# Everything built with -target bpf (bpf/, tools/ and tests/bpf/*.bpf.c) takes its kernel
# types from vmlinux.h.  A <linux/...> UAPI header such as linux/if.h pulls
# in sys/socket.h and so glibc's gnu/stubs.h, which on x86-64 wants the
# 32-bit stubs-32.h: a fresh machine without it cannot build rl at all, and
# a machine that happens to have it hides the defect.  So this test lists
# each object's dependencies with `clang -M` and the build's own flags and
# fails on any header under the multiarch include dir, features.h or
# gnu/stubs*, whether or not this machine could compile it.
set -u
cd "$(dirname "$0")/../.."
OUTPUT=${OUTPUT:-build}
flags=$(make -s --no-print-directory OUTPUT="$OUTPUT" print-bpf-cflags) || {
	echo "FAIL bpf_deps: make print-bpf-cflags failed"; exit 1; }
make -s --no-print-directory OUTPUT="$OUTPUT" "$OUTPUT/vmlinux.h" >/dev/null || {
	echo "FAIL bpf_deps: cannot generate $OUTPUT/vmlinux.h"; exit 1; }
multiarch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
bad_re="/usr/include/$multiarch/|/features\\.h|gnu/stubs"
rc=0 n=0
for src in bpf/*.bpf.c tools/*.bpf.c tests/bpf/*.bpf.c; do
	n=$((n + 1))
	# -MG: a header missing on this machine is still listed, not an error
	deps=$($flags -M -MG "$src" 2>&1) || {
		echo "FAIL bpf_deps $src: clang -M failed: $(echo "$deps" | head -3)"; rc=1; continue; }
	bad=$(echo "$deps" | tr ' \\' '\n\n' | grep -E "$bad_re" | sort -u)
	if [[ -n $bad ]]; then
		echo "FAIL bpf_deps $src: reaches libc headers: $(echo $bad)"
		rc=1
	else
		echo "PASS bpf_deps $src"
	fi
done
[[ $n -gt 0 ]] || { echo "FAIL bpf_deps: no BPF sources found"; exit 1; }
# the arch is derived, not hard-coded
if grep -q -- '-D__TARGET_ARCH_x86' Makefile; then
	echo "FAIL bpf_deps: Makefile hard-codes -D__TARGET_ARCH_x86"; rc=1
else
	echo "PASS bpf_deps target arch derived ($(echo "$flags" | grep -o '__TARGET_ARCH_[a-z0-9]*'))"
fi
exit $rc
