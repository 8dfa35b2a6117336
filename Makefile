# rl - kernel-level rate limiter.  `make` builds build/rlagent, build/rlctl
# and their man pages; `make install` installs them (PREFIX, DESTDIR);
# `make test` runs every test; `make demo` runs the flood demo on a lab it
# builds itself; `make bench` runs the benchmark suite and `make fuzz` the
# libFuzzer targets for FUZZ_RUNS executions each (neither is part of test).
#
# Shape after libbpf-bootstrap: OUTPUT, quiet rules unless V=1, overridable
# CLANG/BPFTOOL, %.bpf.o -> %.skel.h through `bpftool gen skeleton`.

OUTPUT   ?= build
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= gcc
# The kernel's name for this architecture, as libbpf-bootstrap derives it:
# bpf_tracing.h needs __TARGET_ARCH_$(ARCH).
ARCH     ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
              -e 's/ppc64le/powerpc/' -e 's/mips.*/mips/' -e 's/arm.*/arm/' \
              -e 's/riscv64/riscv/' -e 's/loongarch64/loongarch/' -e 's/s390x/s390/')
# The kernel's types for BPF objects come from its BTF, never from libc.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

# Debian packages the build, the tests, the demo and the benchmarks need.
DEPS := clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev libcyaml-dev \
        libyaml-dev libjansson-dev libmicrohttpd-dev pkg-config iproute2 \
        nftables iptables python3 procps prometheus ethtool \
        libsystemd-dev pandoc man-db systemd libxdp-dev libcap-ng-dev xdp-tools \
        libjs-chart.js chromium libhiredis-dev redis-server
BENCH_DEPS := nginx wrk hping3 gnuplot-nox

# make install: DESTDIR/PREFIX as usual; the example config goes to
# $(SYSCONFDIR)/rl/rl.yaml (never over an existing one)
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/rl
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc

PKGS     := libbpf libxdp libcap-ng libcyaml yaml-0.1 jansson libmicrohttpd libsystemd hiredis
CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Werror -std=gnu11 -Iinclude -Iuser -I$(OUTPUT)
# rlagent --version, rlctl --version, rl_build_info{version=...} on /metrics
RL_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# the man pages' date: the last commit's
RL_DATE    ?= $(shell git log -1 --format=%cs 2>/dev/null)
BPF_CFLAGS := -O2 -g -Wall -Wextra -Werror -target bpf -mcpu=v3 \
              -D__TARGET_ARCH_$(ARCH) -I$(OUTPUT) -Iinclude -Ibpf

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS  := $(wildcard bpf/*.bpf.c) $(wildcard tools/*.bpf.c) $(wildcard tests/bpf/*.bpf.c)
BPF_OBJS  := $(patsubst %.bpf.c,$(OUTPUT)/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS     := $(patsubst %.bpf.o,%.skel.h,$(BPF_OBJS))

LIB_SRCS  := $(wildcard user/lib_*.c)
LIB_OBJS  := $(patsubst user/%.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
AGENT_SRCS:= user/rlagent.c $(wildcard user/agent_*.c)
AGENT_OBJS:= $(patsubst user/%.c,$(OUTPUT)/obj/%.o,$(AGENT_SRCS))
TOOL_SRCS := $(filter-out %.bpf.c,$(wildcard tools/*.c))
TOOLS     := $(patsubst tools/%.c,$(OUTPUT)/%,$(TOOL_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(OUTPUT)/tests/%,$(BPFT_SRCS))

LIBS      = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lelf -lz -lpthread

MANPAGES  := $(OUTPUT)/man/rlagent.8 $(OUTPUT)/man/rlctl.8 $(OUTPUT)/man/rl.yaml.5

.PHONY: all deps bpffs man install uninstall test demo demo-http bench fuzz fuzz-build fuzz-merge clean print-bpf-cflags FORCE
.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(SKELS)

all: deps $(OUTPUT)/rlagent $(OUTPUT)/rlctl $(TOOLS) man

# Install what is missing (fresh CI machines have none of it), once, and
# again when DEPS changes (a build dir made before it lacks the new ones).
deps: $(OUTPUT)/.deps
$(OUTPUT)/.deps: Makefile
	$(Q)mkdir -p $(OUTPUT)
	$(Q)missing=""; for p in $(DEPS) $(EXTRA_DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
		  || { echo "error: apt-get install$$missing failed (need root and the Debian mirror)"; exit 1; }; \
	fi
	$(Q)touch $@

bench-deps:
	$(Q)$(MAKE) --no-print-directory EXTRA_DEPS="$(BENCH_DEPS)" -B $(OUTPUT)/.deps

bpffs:
	$(Q)mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

$(OUTPUT) $(OUTPUT)/obj $(OUTPUT)/tests:
	$(Q)mkdir -p $@

# vmlinux.h: every kernel type a BPF program needs, from the running kernel.
$(OUTPUT)/vmlinux.h: | $(OUTPUT)/.deps $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)test -r $(VMLINUX_BTF) || { echo "error: $(VMLINUX_BTF) missing: the kernel needs CONFIG_DEBUG_INFO_BTF (or set VMLINUX_BTF=FILE)"; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h include/*.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)/.deps $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.bpf.o: tools/%.bpf.c $(wildcard bpf/*.h include/*.h tools/*.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)/.deps $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# programs the tests load beside rl (tests/bpf/*.bpf.c)
$(OUTPUT)/%.bpf.o: tests/bpf/%.bpf.c bpf/rl_bpf.h $(OUTPUT)/vmlinux.h | $(OUTPUT)/.deps $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/obj/%.o: user/%.c $(wildcard user/*.h include/*.h) $(SKELS) | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -c $< -o $@

# What --version and rl_build_info print.  Rewritten only when it changes,
# so a new commit rebuilds just the objects that print it.
$(OUTPUT)/rl_version.h: FORCE | $(OUTPUT)
	$(Q)v='#define RL_VERSION "$(RL_VERSION)"'; \
	[ "$$(cat $@ 2>/dev/null)" = "$$v" ] || echo "$$v" >$@
$(OUTPUT)/obj/agent_metrics.o $(OUTPUT)/obj/rlagent.o $(OUTPUT)/obj/rlctl.o: $(OUTPUT)/rl_version.h
# the dashboard's page and script are built into rlagent (.incbin)
$(OUTPUT)/obj/agent_metrics.o: user/dashboard.html user/dashboard.js

$(OUTPUT)/rlagent: $(AGENT_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

$(OUTPUT)/rlctl: $(OUTPUT)/obj/rlctl.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

$(OUTPUT)/%: tools/%.c $(LIB_OBJS) $(SKELS) $(wildcard include/*.h tools/*.h)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itools $< $(LIB_OBJS) $(LIBS) -lm -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(LIB_OBJS) $(wildcard include/*.h tests/*.h) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -Itools $< $(LIB_OBJS) $(LIBS) -lm -o $@

$(OUTPUT)/tests/%: tests/bpf/%.c $(LIB_OBJS) $(SKELS) $(wildcard include/*.h tests/*.h) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -Itools $< $(LIB_OBJS) $(LIBS) -lm -o $@

# The agent's applies against in-memory maps with fault injection: the real
# agent objects with tests/unit/fake_maps.c instead of libbpf and agent_bpf.c.
CRASH_OBJS := $(patsubst %,$(OUTPUT)/obj/%.o,agent_cmd agent_ctl agent_state agent_journal agent_dir agent_gc agent_save agent_explain agent_cluster) \
              $(filter-out %/lib_loader.o %/lib_xdpdisp.o,$(LIB_OBJS))
$(OUTPUT)/tests/test_crash: tests/unit/test_crash.c tests/unit/fake_maps.c tests/unit/fake_maps.h \
		$(CRASH_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -Itests/unit tests/unit/test_crash.c tests/unit/fake_maps.c \
		$(CRASH_OBJS) $(shell pkg-config --libs jansson libcyaml yaml-0.1 hiredis) -lpthread -o $@

# Man pages from the docs: docs/man/*.md hold NAME, SYNOPSIS, FILES and SEE
# ALSO and pull the rest from docs/RLCTL.md and docs/CONFIG.md
# (docs/man/include.lua), so a page never says what its doc does not.
man: $(MANPAGES)
$(OUTPUT)/man/%: docs/man/%.md docs/man/include.lua docs/RLCTL.md docs/CONFIG.md \
		$(OUTPUT)/rl_version.h | $(OUTPUT)/.deps
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)pandoc -s -f markdown -t man --lua-filter docs/man/include.lua \
		-M footer="rl $(RL_VERSION)" -M date="$(RL_DATE)" $< -o $@

install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/rl
	$(Q)install -m 0755 $(OUTPUT)/rlagent $(OUTPUT)/rlctl $(DESTDIR)$(SBINDIR)/
	$(Q)install -m 0644 $(OUTPUT)/man/rlagent.8 $(OUTPUT)/man/rlctl.8 $(DESTDIR)$(MANDIR)/man8/
	$(Q)install -m 0644 $(OUTPUT)/man/rl.yaml.5 $(DESTDIR)$(MANDIR)/man5/
	$(Q)install -m 0644 deploy/rlctl.bash $(DESTDIR)$(BASHCOMPDIR)/rlctl
	$(Q)install -m 0644 deploy/rlagent.bash $(DESTDIR)$(BASHCOMPDIR)/rlagent
	$(Q)sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/rl\b|$(SYSCONFDIR)/rl|g' \
		deploy/rlagent.service >$(DESTDIR)$(UNITDIR)/rlagent.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/rlagent.service
	$(Q)install -m 0644 etc/rl.yaml $(DESTDIR)$(DOCDIR)/rl.yaml.example
	$(Q)install -m 0644 deploy/prometheus.yml deploy/rl-rules.yml deploy/grafana/rl.json $(DESTDIR)$(DOCDIR)/
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml ]; then \
		echo "  KEEP     $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml (the example is $(DOCDIR)/rl.yaml.example)"; \
	else \
		install -m 0644 etc/rl.yaml $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml; \
	fi
	$(Q)[ -n "$(DESTDIR)" ] || echo "  edit $(SYSCONFDIR)/rl/rl.yaml (interfaces, rules), then:" \
		"systemctl daemon-reload && systemctl enable --now rlagent"

# Removes what install put there; the config stays if it was changed.  The
# pinned datapath is not touched: `systemctl disable --now rlagent` first,
# and `rm -r /sys/fs/bpf/rlagent` (or rlagent --detach-on-exit) unloads it.
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/rlagent $(DESTDIR)$(SBINDIR)/rlctl \
		$(DESTDIR)$(MANDIR)/man8/rlagent.8 $(DESTDIR)$(MANDIR)/man8/rlctl.8 \
		$(DESTDIR)$(MANDIR)/man5/rl.yaml.5 \
		$(DESTDIR)$(BASHCOMPDIR)/rlctl $(DESTDIR)$(BASHCOMPDIR)/rlagent \
		$(DESTDIR)$(UNITDIR)/rlagent.service $(DESTDIR)$(DOCDIR)/rl.yaml.example \
		$(DESTDIR)$(DOCDIR)/prometheus.yml $(DESTDIR)$(DOCDIR)/rl-rules.yml $(DESTDIR)$(DOCDIR)/rl.json
	$(Q)rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	$(Q)if cmp -s etc/rl.yaml $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml ]; then \
		echo "  KEEP     $(DESTDIR)$(SYSCONFDIR)/rl/rl.yaml (changed since install; remove it by hand)"; \
	fi
	$(Q)rmdir $(DESTDIR)$(SYSCONFDIR)/rl 2>/dev/null || true

# tests/run.sh runs every test below it (it ends what a test left running)
$(OUTPUT)/tests/subreaper: tests/subreaper.c | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

# libFuzzer targets (tests/fuzz/README.md): the parsers and their callers,
# compiled again with clang's fuzzer, address and undefined-behaviour
# sanitizers into $(OUTPUT)/fuzz/ (never the normal objects).  fuzz_request
# links the agent's command code with tests/fuzz/fake_agent.c instead of
# libbpf and agent_bpf.c.
FUZZ_CC      ?= $(CLANG)
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -Wall -Wextra -Werror \
                -std=gnu11 -Iinclude -Iuser -I$(OUTPUT) -Itests/fuzz
FUZZ_TARGETS := fuzz_rule fuzz_config fuzz_request
FUZZ_BINS    := $(addprefix $(OUTPUT)/fuzz/,$(FUZZ_TARGETS))
FUZZ_LIB     := $(patsubst user/%.c,$(OUTPUT)/fuzz/obj/%.o,$(filter-out user/lib_loader.c user/lib_xdpdisp.c,$(LIB_SRCS)))
FUZZ_AGENT   := $(patsubst %,$(OUTPUT)/fuzz/obj/%.o,agent_cmd agent_ctl agent_state agent_journal agent_dir agent_gc agent_explain agent_cluster)
# No comparison tracing where there are no words to guess: the per-slot
# loops of the agent's apply and the compiler are hot and only slow it.
FUZZ_NOCMP   := $(patsubst %,$(OUTPUT)/fuzz/obj/%.o,agent_state agent_journal agent_dir agent_gc lib_compile lib_dir)
$(FUZZ_NOCMP): FUZZ_CFLAGS += -fno-sanitize-coverage=trace-cmp
# executions per target, and seconds per target if FUZZ_SECONDS is set
# (whichever comes first)
FUZZ_RUNS    ?= 10000000
FUZZ_SECONDS ?=
FUZZ_JOBS    ?= 1

$(OUTPUT)/fuzz/obj/%.o: user/%.c $(wildcard user/*.h include/*.h) | $(OUTPUT)/.deps
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -c $< -o $@

$(OUTPUT)/fuzz/obj/%.o: tests/fuzz/%.c $(wildcard user/*.h include/*.h tests/fuzz/*.h) | $(OUTPUT)/.deps
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -c $< -o $@

$(OUTPUT)/fuzz/fuzz_rule: $(OUTPUT)/fuzz/obj/fuzz_rule.o $(FUZZ_LIB)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $^ $(shell pkg-config --libs libcyaml yaml-0.1) -o $@

$(OUTPUT)/fuzz/fuzz_config: $(OUTPUT)/fuzz/obj/fuzz_config.o $(FUZZ_LIB)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $^ $(shell pkg-config --libs libcyaml yaml-0.1) -o $@

# rl_config_check is wrapped: `config check FILE` must not read what the
# fuzzer names; it and rl_config_load remember their answer to a text
# (tests/fuzz/fuzz_request.c)
$(OUTPUT)/fuzz/fuzz_request: $(OUTPUT)/fuzz/obj/fuzz_request.o $(OUTPUT)/fuzz/obj/fake_agent.o \
		$(FUZZ_AGENT) $(FUZZ_LIB)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Wl,--wrap=rl_config_check -Wl,--wrap=rl_config_load $^ \
		$(shell pkg-config --libs libcyaml yaml-0.1 jansson hiredis) -lpthread -o $@

fuzz-build: $(FUZZ_BINS)

# what `make fuzz` found that the committed corpora lack, added to them
# (FUZZ_MINIMIZE=1: the corpora minimized again from scratch)
fuzz-merge: fuzz-build
	$(Q)OUTPUT=$(OUTPUT) tests/fuzz/merge.sh $(FUZZ_TARGETS)

fuzz: fuzz-build
	$(Q)OUTPUT=$(OUTPUT) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
		tests/fuzz/run.sh $(FUZZ_TARGETS)

test: all $(UNIT_BINS) $(BPFT_BINS) $(OUTPUT)/tests/subreaper bpffs fuzz-build
	$(Q)OUTPUT=$(OUTPUT) tests/run.sh $(wildcard tests/check/test_*.sh) $(UNIT_BINS) $(BPFT_BINS) $(wildcard tests/integration/test_*.sh)

# What tests/check/test_bpf_deps.sh compiles BPF sources with.
print-bpf-cflags:
	@echo $(CLANG) $(BPF_CFLAGS)

demo: all bpffs
	$(Q)OUTPUT=$(OUTPUT) tools/demo.sh

demo-http: all bench-deps bpffs
	$(Q)OUTPUT=$(OUTPUT) tools/demo_http.sh

bench: all bench-deps bpffs
	$(Q)OUTPUT=$(OUTPUT) tools/bench.sh
	$(Q)OUTPUT=$(OUTPUT) tools/bench_cluster.sh

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)
