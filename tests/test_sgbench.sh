#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Smoke test of the benchmark driver: a tiny sweep (2 transports, every
# collective and mode, fan-outs 1 and 4, 20 collectives per point) and checks
# that the CSV has exactly the expected rows, each with errors=0 and sane
# numbers. No timing is asserted. Skips (77) without root or namespaces.
set -u

build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
sgbench=$build/bench/sgbench
if [ ! -x "$sgbench" ]; then
	echo "test_sgbench: $sgbench is not built" >&2
	exit 99
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# timeout bounds a hang; it is not a performance assertion.
timeout -k 5 25 "$sgbench" --impls ebpf,epoll --fanouts 1,4 --sizes 64 --iters 20 \
	--warmup 2 --time-cap 1 --window 4 --out "$tmp" --quiet
rc=$?
if [ "$rc" = 77 ]; then
	echo "test_sgbench: skipped (cannot build a lab here)"
	exit 77
fi
if [ "$rc" != 0 ]; then
	echo "test_sgbench: sgbench exited with $rc" >&2
	exit 1
fi

awk -F, '
NR == 1 {
	want = "impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors"
	if ($0 != want) { print "bad header: " $0; bad = 1 }
	next
}
{
	rows++
	key = $1 "/" $2 "/" $3 "/" $4
	if (key in seen) { print "duplicate row " key; bad = 1 }
	seen[key] = 1
	if (NF != 15) { print key ": " NF " fields"; bad = 1 }
	if ($1 != "ebpf" && $1 != "epoll") { print key ": impl " $1; bad = 1 }
	if ($5 != 64) { print key ": bytes " $5; bad = 1 }
	if ($6 != ($3 == "throughput" ? 4 : 1)) { print key ": window " $6; bad = 1 }
	if ($7 < 1 || $7 > 20) { print key ": iters " $7; bad = 1 }
	if (!($8 > 0) || $9 < $8 || !($10 > 0)) { print key ": latency " $8 " " $9 " " $10; bad = 1 }
	if (!($11 > 0)) { print key ": coll_per_s " $11; bad = 1 }
	if ($12 == "" || $12 < 1) { print key ": syscalls_per_coll " $12; bad = 1 }
	if ($13 < 0 || ($14 != "" && $14 < 0)) { print key ": cpu " $13 " " $14; bad = 1 }
	if ($15 != 0) { print key ": " $15 " errors"; bad = 1 }
}
END {
	if (rows != 24) { print rows " rows, want 24 (2 impls x 3 colls x 2 modes x 2 fan-outs)"; bad = 1 }
	exit bad
}' "$tmp/results.csv"
if [ $? != 0 ]; then
	echo "test_sgbench: bad CSV:" >&2
	cat "$tmp/results.csv" >&2
	exit 1
fi
echo "test_sgbench: 24 rows, no errors"
