#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Smoke test of the Gloo comparison (bench/gloo/): 2 ranks (1 worker) in the
# netlab namespaces, ring and halving-doubling allreduce at 4 B and 4 KiB,
# through bench/gloo/run_gloo.sh; checks the CSV rows (mpi.csv's columns,
# errors=0, sane values), the traffic on the coordinator's sg0 and that the
# lab's namespaces are gone. Then checks that the result check works: one rank
# sending a wrong value must make gloo_bench exit 3 on every rank.
# Skipped (77) without root or without gloo_bench (no g++ or libgloo-dev).

me=test_gloo_bench
top_src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
run=$top_src/bench/gloo/run_gloo.sh
bench=$top_build/bench/gloo/gloo_bench

if [ "$(id -u)" != 0 ]; then
	echo "$me: SKIP: needs root (network namespaces)"
	exit 77
fi
if [ ! -x "$bench" ]; then
	echo "$me: SKIP: $bench not built (configure found no g++ or no libgloo-dev)"
	exit 77
fi

out=$(mktemp -d /tmp/test_gloo_bench.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

SGBPF_BUILDDIR=$top_build timeout 50 "$run" "$out" --size-workers 1 --sizes 4,4K \
	--budget-ms 30 --min-iters 3 --cap-ms 5000 --nns 2 --timeout 40 >"$out/stdout" 2>&1
rc=$?
cat "$out/stdout"
if [ $rc != 0 ]; then
	echo "$me: FAIL: run_gloo.sh exited with $rc" >&2
	[ -f "$out/gloo_log.txt" ] && tail -n 30 "$out/gloo_log.txt" >&2
	exit 1
fi

fail=0
csv=$out/gloo.csv
if [ "$(head -n1 "$csv")" != "impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors" ]; then
	echo "$me: FAIL: wrong CSV header: $(head -n1 "$csv")" >&2
	fail=1
fi
for impl in gloo_ring gloo_hd; do
	for bytes in 4 4096; do
		row=$(grep "^$impl,allreduce,latency,1,$bytes,1," "$csv")
		if [ -z "$row" ]; then
			echo "$me: FAIL: no row for $impl at $bytes B" >&2
			fail=1
			continue
		fi
		echo "$row" | awk -F, -v me="$me" '
			NF != 15 { print me ": FAIL: " NF " columns: " $0 > "/dev/stderr"; exit 1 }
			$15 != 0 { print me ": FAIL: errors=" $15 ": " $0 > "/dev/stderr"; exit 1 }
			!($7 >= 3 && $8 > 0 && $9 >= $8 && $10 > 0 && $11 > 0) {
				print me ": FAIL: bad measurement: " $0 > "/dev/stderr"; exit 1 }
			$8 > 1e6 { print me ": FAIL: p50 over a second: " $0 > "/dev/stderr"; exit 1 }
			$13 == "" { print me ": FAIL: CPU not counted: " $0 > "/dev/stderr"; exit 1 }
		' || fail=1
	done
done
if ! grep -q "^gloo_ring *2 *4096 " "$out/gloo_bw.txt"; then
	echo "$me: FAIL: no algbw/busbw line in gloo_bw.txt" >&2
	fail=1
fi
if ! grep -q "gloo  1 workers: ok, coordinator sg0 rx [1-9]" "$out/stdout"; then
	echo "$me: FAIL: no traffic on sg0 reported" >&2
	fail=1
fi
coord=$(sed -n 's/.*coordinator \(sgtm[0-9]*\)c$/\1/p' "$out/stdout")
if [ -z "$coord" ]; then
	echo "$me: FAIL: run_gloo.sh did not name its lab" >&2
	fail=1
elif ip netns list | grep -q "^$coord"; then
	echo "$me: FAIL: namespaces $coord* left behind" >&2
	fail=1
fi

# A wrong contribution must be caught: both ranks exit 3 (on loopback, no lab).
mkdir "$out/store"
pids=
for r in 0 1; do
	timeout 30 "$bench" --rank $r --size 2 --store "$out/store" --iface lo --out "$out/bad.csv" \
		--sizes 4K --algos ring --budget-ms 10 --min-iters 2 --corrupt-rank 1 \
		>"$out/bad$r.log" 2>&1 &
	pids="$pids $!"
done
r=0
for p in $pids; do
	wait "$p"
	rc=$?
	if [ $rc != 3 ] || ! grep -q "wrong results" "$out/bad$r.log"; then
		echo "$me: FAIL: rank $r exited $rc on a wrong result (expected 3):" >&2
		cat "$out/bad$r.log" >&2
		fail=1
	fi
	r=$((r + 1))
done
[ $fail = 0 ] && echo "$me: PASS"
exit $fail
