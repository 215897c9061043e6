#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Smoke test of the benchmark driver: a tiny sweep (2 transports, every
# collective and mode, fan-outs 1 and 4, 20 collectives per point) and checks
# that the CSV has exactly the expected rows, each with errors=0 and sane
# numbers, bandwidths included. Then the large-vector pattern at a small
# size: float32 SUM from 8-byte requests (--dtype float32 --request small),
# whose every result must be checked and right, and the same with a wrong
# expectation (--check-fanout), whose every result must be caught.
# No timing is asserted. Skips (77) without root or namespaces.
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
	want = "impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors,algbw_gbps,busbw_gbps"
	if ($0 != want) { print "bad header: " $0; bad = 1 }
	next
}
{
	rows++
	key = $1 "/" $2 "/" $3 "/" $4
	if (key in seen) { print "duplicate row " key; bad = 1 }
	seen[key] = 1
	if (NF != 17) { print key ": " NF " fields"; bad = 1 }
	if ($1 != "ebpf" && $1 != "epoll") { print key ": impl " $1; bad = 1 }
	if ($5 != 64) { print key ": bytes " $5; bad = 1 }
	if ($6 != ($3 == "throughput" ? 4 : 1)) { print key ": window " $6; bad = 1 }
	if ($7 < 1 || $7 > 20) { print key ": iters " $7; bad = 1 }
	if (!($8 > 0) || $9 < $8 || !($10 > 0)) { print key ": latency " $8 " " $9 " " $10; bad = 1 }
	if (!($11 > 0)) { print key ": coll_per_s " $11; bad = 1 }
	if ($12 == "" || $12 < 1) { print key ": syscalls_per_coll " $12; bad = 1 }
	if ($13 < 0 || ($14 != "" && $14 < 0)) { print key ": cpu " $13 " " $14; bad = 1 }
	if ($15 != 0) { print key ": " $15 " errors"; bad = 1 }
	# nccl-tests: algbw = bytes / p50; busbw x 2(n-1)/n for an allreduce
	# (allgather), n = fan-out + 1 ranks.
	# (the CSV rounds p50 to 0.01 us; the bandwidths come from the exact one)
	f = $2 == "allgather" ? 2 * $4 / ($4 + 1) : 1
	if ($16 < $5 / ($8 + 0.005) / 1e3 * 0.999 || $16 > $5 / ($8 - 0.005) / 1e3 * 1.001) {
		print key ": algbw " $16 ", want " $5 / $8 / 1e3; bad = 1 }
	if ($17 < $16 * f * 0.999 || $17 > $16 * f * 1.001) { print key ": busbw " $17; bad = 1 }
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

# float32 from 8-byte requests: 2 impls x 2 colls x 2 modes at fan-out 4, 4 KiB.
f32() {	# CSV [OPTIONS]: stderr of the run in $tmp/$1.err
	csv=$1
	shift
	timeout -k 5 25 "$sgbench" --impls ebpf,epoll --colls scatter_reduce,allgather \
		--fanouts 4 --sizes 4K --dtype float32 --request small --iters 20 --warmup 2 \
		--time-cap 1 --window 4 --out "$tmp" --csv "$csv" "$@" 2> "$tmp/$csv.err"
}
f32 f32.csv
rc=$?
# Every measured collective was checked (one line per point says how many).
if [ "$rc" != 0 ] || [ "$(grep -c ' float32 .* 0 errors' "$tmp/f32.csv.err")" != 8 ] ||
	grep ' float32 ' "$tmp/f32.csv.err" | grep -q ' 0 checked'; then
	echo "test_sgbench: float32 run failed (exit $rc):" >&2
	cat "$tmp/f32.csv.err" "$tmp/f32.csv" >&2
	exit 1
fi
awk -F, 'NR > 1 { rows++; if ($5 != 4096 || $15 != 0 || !($7 > 0)) bad = 1 }
	END { exit bad || rows != 8 }' "$tmp/f32.csv" || {
	echo "test_sgbench: bad float32 CSV:" >&2
	cat "$tmp/f32.csv" >&2
	exit 1
}
# The same expecting 5 workers' sums: every checked result must be an error.
f32 wrong.csv --check-fanout 5 --modes latency
awk -F, 'NR > 1 { rows++; if ($15 != $7 || !($7 > 0)) bad = 1 }
	END { exit bad || rows != 4 }' "$tmp/wrong.csv" || {
	echo "test_sgbench: a wrong float32 sum went unnoticed:" >&2
	cat "$tmp/wrong.csv.err" "$tmp/wrong.csv" >&2
	exit 1
}
echo "test_sgbench: float32 SUM from 8-byte requests checked, wrong sums caught"
