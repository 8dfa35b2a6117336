#!/bin/bash
# tests/integration/test_install.sh - `make install` and `make uninstall`
# into DESTDIRs under /tmp (never the real system): what lands where, with
# PREFIX honoured; the installed programs' --version; the man pages (built
# from the docs, rendered by man without a warning, every option of --help
# in them); the systemd unit (systemd-analyze verify, against the installed
# programs and man pages); bash completion; the example config, never
# written over an existing one and kept by uninstall when changed.
# Protocol: tests/run.sh (PASS/FAIL/SKIP lines, non-zero exit on failure).
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUTPUT:-build}
TMP=$(mktemp -d /tmp/rlinst$$.XXXX)
D=$TMP/root            # PREFIX=/usr/local (the default)
D2=$TMP/root-usr       # PREFIX=/usr
fails=0

pass() { echo "PASS install/$1"; }
fail() { echo "FAIL install/$1: $2"; fails=$((fails + 1)); }
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

mk() { make -s --no-print-directory OUTPUT="$OUT" "$@"; }

# ---- make install, default PREFIX
if mk install DESTDIR="$D" >"$TMP/install.out" 2>&1; then
	pass make-install
else
	fail make-install "$(tail -5 "$TMP/install.out")"
	exit 1
fi
want=(
	"755 usr/local/sbin/rlagent" "755 usr/local/sbin/rlctl"
	"644 usr/local/share/man/man8/rlagent.8" "644 usr/local/share/man/man8/rlctl.8"
	"644 usr/local/share/man/man5/rl.yaml.5"
	"644 usr/local/share/bash-completion/completions/rlctl"
	"644 usr/local/share/bash-completion/completions/rlagent"
	"644 usr/local/lib/systemd/system/rlagent.service"
	"644 usr/local/share/doc/rl/rl.yaml.example" "644 etc/rl/rl.yaml"
	"644 usr/local/share/doc/rl/prometheus.yml" "644 usr/local/share/doc/rl/rl-rules.yml"
	"644 usr/local/share/doc/rl/rl.json"
)
missing=""
for w in "${want[@]}"; do
	read -r mode f <<<"$w"
	[[ -f $D/$f && $(stat -c %a "$D/$f") == "$mode" ]] || missing+=" $f($(stat -c %a "$D/$f" 2>&1 | head -c 40))"
done
[[ -z $missing ]] && pass installed-files || fail installed-files "missing or wrong mode:$missing"
extra=$(cd "$D" && find . -type f | sed 's|^\./||' | sort | comm -23 - <(for w in "${want[@]}"; do echo "${w#* }"; done | sort))
[[ -z $extra ]] && pass installed-nothing-else || fail installed-nothing-else "$extra"

# ---- --version of the installed programs: the build's version, exit 0
ver=$(sed -n 's/^#define RL_VERSION "\(.*\)"$/\1/p' "$OUT/rl_version.h")
for p in rlagent rlctl; do
	out=$("$D/usr/local/sbin/$p" --version 2>&1)
	r=$?
	[[ $r == 0 && -n $ver && $out == "$p $ver" ]] && pass "$p-version" || fail "$p-version" "exit $r: '$out' (want '$p $ver')"
	out=$("$D/usr/local/sbin/$p" -V 2>&1)
	[[ $out == "$p $ver" ]] && pass "$p-V" || fail "$p-V" "'$out'"
done

# ---- the example config: the repo's, valid; a second install keeps a
# changed one
cmp -s etc/rl.yaml "$D/etc/rl/rl.yaml" && cmp -s etc/rl.yaml "$D/usr/local/share/doc/rl/rl.yaml.example" \
	&& pass example-config || fail example-config "not etc/rl.yaml"
r=$("$D/usr/local/sbin/rlagent" --check-config "$D/etc/rl/rl.yaml" 2>&1) && pass example-config-checks \
	|| fail example-config-checks "$r"
echo "# mine" >>"$D/etc/rl/rl.yaml"
cp "$D/etc/rl/rl.yaml" "$TMP/mine.yaml"
if mk install DESTDIR="$D" >"$TMP/install2.out" 2>&1 && cmp -s "$TMP/mine.yaml" "$D/etc/rl/rl.yaml" &&
	grep -q "KEEP .*/etc/rl/rl.yaml" "$TMP/install2.out"; then
	pass install-keeps-config
else
	fail install-keeps-config "$(cat "$TMP/install2.out"; diff "$TMP/mine.yaml" "$D/etc/rl/rl.yaml")"
fi

# ---- man pages: man renders each without a warning, the content comes
# from the docs, and every option --help names is in its page
MAN=$D/usr/local/share/man
for page in man8/rlagent.8 man8/rlctl.8 man5/rl.yaml.5; do
	name=$(basename "$page")
	w=$(MANWIDTH=80 man -l --warnings "$MAN/$page" 2>&1 >/dev/null; groff -man -t -ww -z "$MAN/$page" 2>&1)
	[[ -z $w ]] && pass "man-no-warnings/$name" || fail "man-no-warnings/$name" "$(head -5 <<<"$w")"
	# as text: headings one a line, and all of it on one line for phrases
	MANWIDTH=80 man -l "$MAN/$page" 2>/dev/null | col -bx | tr -s ' ' >"$TMP/$name.txt"
	tr '\n' ' ' <"$TMP/$name.txt" | tr -s ' ' >"$TMP/$name.flat"
done
if grep -q '^NAME' "$TMP/rlagent.8.txt" && grep -q '^SYNOPSIS' "$TMP/rlagent.8.txt" &&
	grep -q '^METRICS' "$TMP/rlagent.8.txt" && grep -q 'rl_config_reload_success' "$TMP/rlagent.8.txt" &&
	grep -q '^SEE ALSO' "$TMP/rlagent.8.txt" && grep -q 'the agent adopts them' "$TMP/rlagent.8.flat"; then
	pass man-rlagent-content
else
	fail man-rlagent-content "$(head -40 "$TMP/rlagent.8.txt")"
fi
if grep -q '^ *Exit codes' "$TMP/rlctl.8.txt" && grep -q 'The write is atomic' "$TMP/rlctl.8.flat" &&
	grep -q '^JSON' "$TMP/rlctl.8.txt" && grep -q 'burst 64kb' "$TMP/rlctl.8.flat"; then
	pass man-rlctl-content
else
	fail man-rlctl-content "$(head -40 "$TMP/rlctl.8.txt")"
fi
if grep -q '^DEFAULTS' "$TMP/rl.yaml.5.txt" && grep -q 'sources the per-source state tables are sized for' "$TMP/rl.yaml.5.flat" &&
	grep -q '^EXAMPLE' "$TMP/rl.yaml.5.txt" && grep -q 'tcp-flags: syn' "$TMP/rl.yaml.5.txt"; then
	pass man-rl.yaml-content
else
	fail man-rl.yaml-content "$(head -40 "$TMP/rl.yaml.5.txt")"
fi
# man finds them by name below the installed MANPATH
[[ $(MANPATH=$MAN man -w rlctl 2>&1) == "$MAN/man8/rlctl.8" && $(MANPATH=$MAN man -w 5 rl.yaml 2>&1) == "$MAN/man5/rl.yaml.5" ]] \
	&& pass man-by-name || fail man-by-name "$(MANPATH=$MAN man -w rlctl 2>&1)"
for p in rlagent rlctl; do
	miss=""
	for o in $("$D/usr/local/sbin/$p" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		grep -q -- "$o" "$TMP/$p.8.flat" || miss+=" $o"
	done
	[[ -z $miss ]] && pass "man-$p-has-every-option" || fail "man-$p-has-every-option" "not in $p(8):$miss"
done

# ---- the systemd unit: systemd-analyze verify, on a copy whose programs
# are the installed ones and with the installed man pages on MANPATH (its
# Documentation= is checked with man).  Every complaint counts: verify
# exits 0 after "ignoring" a bad line.
UNIT=$D/usr/local/lib/systemd/system/rlagent.service
if ! command -v systemd-analyze >/dev/null && [[ $(id -u) == 0 ]] &&
	apt-cache policy systemd 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null 2>&1
fi
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/unit"
	sed "s|/usr/local/sbin/|$D/usr/local/sbin/|g" "$UNIT" >"$TMP/unit/rlagent.service"
	v=$(MANPATH=$MAN systemd-analyze verify "$TMP/unit/rlagent.service" 2>&1)
	r=$?
	[[ $r == 0 && -z $v ]] && pass unit-verify || fail unit-verify "exit $r: $v"
	# a broken line is caught (the check above can fail)
	sed 's/^Type=notify/Type=notifyy/' "$TMP/unit/rlagent.service" >"$TMP/unit/bad.service"
	v=$(MANPATH=$MAN systemd-analyze verify "$TMP/unit/bad.service" 2>&1)
	[[ -n $v ]] && pass unit-verify-catches-errors || fail unit-verify-catches-errors "no complaint about Type=notifyy"
else
	echo "SKIP install/unit-verify: systemd-analyze is missing and the systemd package could not be installed"
fi
if grep -qx 'Type=notify' "$UNIT" && grep -qx 'ExecStart=/usr/local/sbin/rlagent --config /etc/rl/rl.yaml --foreground' "$UNIT" &&
	grep -qx 'ExecReload=/usr/local/sbin/rlctl config reload' "$UNIT" &&
	grep -q '^CapabilityBoundingSet=.*CAP_BPF.*CAP_NET_ADMIN.*CAP_SYS_ADMIN' "$UNIT" &&
	grep -qx 'ReadWritePaths=/sys/fs/bpf /run/rlagent -/etc/rl' "$UNIT" && grep -qx 'ProtectSystem=strict' "$UNIT"; then
	pass unit-content
else
	fail unit-content "$(grep -E '^(Type|Exec|Capab|ReadWrite|Protect)' "$UNIT")"
fi

# ---- bash completion, from the installed files, in a clean bash
comp() {
	PATH=$D/usr/local/sbin:$PATH bash --norc --noprofile -c '
		source "$1"; source "$2"; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
		"_$1"; printf "%s\n" "${COMPREPLY[*]}"' _ \
		"$D/usr/local/share/bash-completion/completions/rlctl" \
		"$D/usr/local/share/bash-completion/completions/rlagent" "$@"
}
ok=1
[[ $(comp rlctl "") == "rule allow block stats top explain events status config help" ]] || ok=0
[[ $(comp rlctl block im) == "import" ]] || ok=0
[[ $(comp rlctl events "") == "-n" ]] || ok=0
[[ $(comp rlctl explain 192.0.2.1 "") == "proto dport syn" ]] || ok=0
[[ $(comp rlctl explain 192.0.2.1 proto u) == "udp" ]] || ok=0
[[ $(comp rlagent --chart) == "--chartjs" ]] || ok=0
[[ $(comp rlctl -S /nonexistent rule add x al) == "algo" ]] || ok=0
[[ $(comp rlctl rule add x algo sl) == "sliding-window sliding-log" ]] || ok=0
[[ $(comp rlctl config s) == "save" ]] || ok=0
[[ $(comp rlctl --pre) == "--pretty" ]] || ok=0
[[ $(comp rlagent --xdp-mode "") == "auto native generic" ]] || ok=0
[[ $(comp rlagent --vers) == "--version" ]] || ok=0
[[ $ok == 1 ]] && pass bash-completion || fail bash-completion "rlctl '' -> '$(comp rlctl "")', algo sl -> '$(comp rlctl rule add x algo sl)'"

# ---- PREFIX and SYSCONFDIR are honoured, the unit follows them
if mk install DESTDIR="$D2" PREFIX=/usr SYSCONFDIR=/opt/etc >"$TMP/install3.out" 2>&1 &&
	[[ -x $D2/usr/sbin/rlagent && -f $D2/usr/share/man/man8/rlctl.8 && -f $D2/opt/etc/rl/rl.yaml &&
	   -f $D2/usr/share/bash-completion/completions/rlctl ]] &&
	grep -qx 'ExecStart=/usr/sbin/rlagent --config /opt/etc/rl/rl.yaml --foreground' "$D2/usr/lib/systemd/system/rlagent.service" &&
	grep -qx 'ExecReload=/usr/sbin/rlctl config reload' "$D2/usr/lib/systemd/system/rlagent.service" &&
	grep -qx 'ReadWritePaths=/sys/fs/bpf /run/rlagent -/opt/etc/rl' "$D2/usr/lib/systemd/system/rlagent.service"; then
	pass install-prefix
else
	fail install-prefix "$(cat "$TMP/install3.out"; cd "$D2" && find . -type f)"
fi

# ---- make uninstall: everything goes, but a changed config stays
if mk uninstall DESTDIR="$D" >"$TMP/uninstall.out" 2>&1 && [[ $(cd "$D" && find . -type f) == "./etc/rl/rl.yaml" ]] &&
	cmp -s "$TMP/mine.yaml" "$D/etc/rl/rl.yaml" && grep -q "KEEP .*changed" "$TMP/uninstall.out"; then
	pass uninstall-keeps-changed-config
else
	fail uninstall-keeps-changed-config "$(cat "$TMP/uninstall.out"; cd "$D" && find . -type f)"
fi
if mk uninstall DESTDIR="$D2" PREFIX=/usr SYSCONFDIR=/opt/etc >"$TMP/uninstall2.out" 2>&1 &&
	[[ -z $(cd "$D2" && find . -type f) && ! -e $D2/opt/etc/rl && ! -e $D2/usr/share/doc/rl ]]; then
	pass uninstall-removes-all
else
	fail uninstall-removes-all "$(cat "$TMP/uninstall2.out"; cd "$D2" && find . -type f)"
fi

echo "install: $fails failure(s)"
[[ $fails -eq 0 ]]
