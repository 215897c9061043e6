#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Smoke test of the Open MPI comparison (bench/mpi/): MPI_Reduce over the TCP
# BTL across the netlab namespaces with 2 and 8 workers, one size, few
# iterations, through bench/mpi/run_mpi.sh; checks the CSV rows (every column,
# errors=0, nccl-tests' bandwidths), that the traffic went over the
# coordinator's sg0 (run_mpi.sh fails otherwise), and that the lab's
# namespaces are gone afterwards. Then MPI_FLOAT reduce and allreduce with 2
# workers into another CSV (--dtype float --csv), every result checked exactly.
# Skipped (77) without root or without Open MPI.

me=test_mpi_bench
top_src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
run=$top_src/bench/mpi/run_mpi.sh

if [ "$(id -u)" != 0 ]; then
	echo "$me: SKIP: needs root (network namespaces for the TCP runs)"
	exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
	echo "$me: SKIP: mpirun not found (Debian package openmpi-bin)"
	exit 77
fi
if [ ! -x "$top_build/bench/mpi/mpi_bench" ] || [ ! -x "$top_build/bench/mpi/mpilab" ]; then
	echo "$me: FAIL: bench/mpi/mpi_bench or mpilab not built in $top_build" >&2
	exit 1
fi

out=$(mktemp -d /tmp/test_mpi_bench.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

SGBPF_BUILDDIR=$top_build "$run" "$out" --impls tcp --workers 2,8 --size-workers none \
	--colls reduce --fanout-size 64 --modes latency,throughput --window 4 \
	--budget-ms 30 --min-iters 5 --nns 4 --timeout 60 >"$out/stdout" 2>&1
rc=$?
cat "$out/stdout"
if [ $rc != 0 ]; then
	echo "$me: FAIL: run_mpi.sh exited with $rc" >&2
	[ -f "$out/mpi_log.txt" ] && tail -n 30 "$out/mpi_log.txt" >&2
	exit 1
fi

fail=0
csv=$out/mpi.csv
header=impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors,algbw_gbps,busbw_gbps
if [ "$(head -n1 "$csv")" != "$header" ]; then
	echo "$me: FAIL: wrong CSV header: $(head -n1 "$csv")" >&2
	fail=1
fi
for w in 2 8; do
	for m in latency throughput; do
		row=$(grep "^mpi_tcp,reduce,$m,$w,64," "$csv")
		if [ -z "$row" ]; then
			echo "$me: FAIL: no row for mpi_tcp reduce $m with $w workers" >&2
			fail=1
			continue
		fi
		echo "$row" | awk -F, -v me="$me" '
			NF != 17 { print me ": FAIL: " NF " columns: " $0 > "/dev/stderr"; exit 1 }
			$16 < $5 / ($8 + 0.005) / 1e3 * 0.999 || $16 > $5 / ($8 - 0.005) / 1e3 * 1.001 ||
			$17 != $16 {
				print me ": FAIL: bandwidths: " $0 > "/dev/stderr"; exit 1 }
			$15 != 0 { print me ": FAIL: errors=" $15 ": " $0 > "/dev/stderr"; exit 1 }
			!($7 > 0 && $8 > 0 && $10 > 0 && $11 > 0) {
				print me ": FAIL: empty measurement: " $0 > "/dev/stderr"; exit 1 }
			$12 == "" || $13 == "" { print me ": FAIL: costs not counted: " $0 > "/dev/stderr"; exit 1 }
		' || fail=1
	done
	if ! grep -q "mpi_tcp  $w workers: ok, coordinator sg0 rx [1-9]" "$out/stdout"; then
		echo "$me: FAIL: no traffic on sg0 reported for $w workers" >&2
		fail=1
	fi
done
coord=$(sed -n 's/.*coordinator \(sgtm[0-9]*\)c$/\1/p' "$out/stdout")
if [ -z "$coord" ]; then
	echo "$me: FAIL: run_mpi.sh did not name its lab" >&2
	fail=1
elif ip netns list | grep -q "^$coord"; then
	echo "$me: FAIL: namespaces $coord* left behind" >&2
	fail=1
fi

SGBPF_BUILDDIR=$top_build "$run" "$out" --impls tcp --workers 2 --size-workers none \
	--colls reduce,allreduce --fanout-size 4096 --modes latency --dtype float \
	--csv mpi_float.csv --budget-ms 30 --min-iters 5 --nns 2 --timeout 60 >"$out/stdout" 2>&1 ||
	{ echo "$me: FAIL: run_mpi.sh --dtype float:" >&2; cat "$out/stdout" >&2; fail=1; }
# allreduce of 3 ranks: busbw = algbw x 2(3-1)/3.
awk -F, -v h="$header" 'NR == 1 { if ($0 != h) bad = 1; next }
	{ rows++; f = $2 == "allreduce" ? 4 / 3 : 1
	  if ($1 != "mpi_tcp" || $4 != 2 || $5 != 4096 || $15 != 0 || !($7 > 0) ||
	      $17 < $16 * f * 0.999 || $17 > $16 * f * 1.001) bad = 1 }
	END { exit bad || rows != 2 }' "$out/mpi_float.csv" ||
	{ echo "$me: FAIL: bad MPI_FLOAT rows:" >&2; cat "$out/mpi_float.csv" >&2; fail=1; }
[ -s "$out/mpi_float_osu.txt" ] || { echo "$me: FAIL: no mpi_float_osu.txt" >&2; fail=1; }
[ $fail = 0 ] && echo "$me: PASS"
exit $fail
