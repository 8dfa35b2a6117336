// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_floor_lookup_1m.bpf.c - floor-lookup with a 1M-entry hash, as large
 * as rl's state tables in the default config: the bench's columns up to
 * 1M sources compare rl with this one (tools/bench.sh size_entries).
 */
#define FLOOR_ENTRIES 1048576
#include "xdp_floor_lookup.bpf.c"
