#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The Gloo comparison: gloo's ring and halving-doubling allreduce (float32
# SUM) over its TCP transport, every rank in a netlab namespace (the links of
# the sgbpf and Open MPI runs), appended to RESULTS/gloo.csv in the columns of
# mpi.csv (impl gloo_ring, gloo_hd, gloo_ring_chunked; coll allreduce), with algbw/busbw in
# RESULTS/gloo_bw.txt, OSU-style tables in RESULTS/gloo_osu.txt and the ranks'
# output in RESULTS/gloo_log.txt. See bench/gloo/README.md.
#
# usage: bench/gloo/run_gloo.sh RESULTS_DIR [options]
#   --size-workers LIST  fan-outs: workers, ranks = workers + 1 (default 8,32)
#   --sizes LIST         bytes, K/M suffixes allowed (default 4,16,...,64M: powers of 4)
#   --algos LIST         ring,hd,ring_chunked (default ring,hd)
#   --budget-ms MS       target time of one measurement (default 200)
#   --min-iters N        at least N iterations unless --cap-ms passes (default 5)
#   --max-iters N        (default 10000)
#   --cap-ms MS          hard bound of one measurement (default 20000)
#   --nns N              worker namespaces (default 64; workers beyond share them)
#   --timeout S          bound on the run of one fan-out (default 600)
#   --pin R:W            root on CPU R, workers on CPU W (-2: last CPU; default -1:-1)
#
# Needs root (network namespaces). Exits 0 without output when gloo_bench was
# not built (configure found no g++ or no libgloo-dev). Environment:
# GLOO_BENCH, MPILAB override the programs.

set -u

me=run_gloo.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lablib.sh"

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
results=$1
shift

size_workers=8,32
sizes=4,16,64,256,1K,4K,16K,64K,256K,1M,4M,16M,64M
algos=ring,hd
budget=200
min_iters=5
max_iters=10000
cap=20000
nns=64
tmo=600
pin=-1:-1
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case "$1" in
	--size-workers) size_workers=$2 ;;
	--sizes) sizes=$2 ;;
	--algos) algos=$2 ;;
	--budget-ms) budget=$2 ;;
	--min-iters) min_iters=$2 ;;
	--max-iters) max_iters=$2 ;;
	--cap-ms) cap=$2 ;;
	--nns) nns=$2 ;;
	--timeout) tmo=$2 ;;
	--pin) pin=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done

# ---------------------------------------------------------------- programs
find_prog() {	# SUBDIR NAME: $SGBPF_BUILDDIR/bench/SUBDIR, next to this script, ./bench/SUBDIR
	for d in ${SGBPF_BUILDDIR:+"$SGBPF_BUILDDIR/bench/$1"} "$here/../$1" "$PWD/bench/$1"; do
		[ -x "$d/$2" ] && { echo "$d/$2"; return 0; }
	done
	return 1
}
GLOO_BENCH=${GLOO_BENCH:-$(find_prog gloo gloo_bench || true)}
MPILAB=${MPILAB:-$(find_prog mpi mpilab || true)}
if [ -z "$GLOO_BENCH" ]; then
	echo "$me: bench/gloo/gloo_bench not built (configure found no g++ or no gloo:" \
		"install the Debian packages g++ and libgloo-dev, re-run configure and make):" \
		"skipping the Gloo comparison"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ -n "$MPILAB" ] || die "bench/mpi/mpilab not found (run make)"
for a in ${algos//,/ }; do
	case "$a" in ring|hd|ring_chunked) ;; *) die "--algos: ring, hd, ring_chunked" ;; esac
done

mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd)
csv=$results/gloo.csv
log=$results/gloo_log.txt
header="impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors"
if [ -s "$csv" ] && [ "$(head -n1 "$csv")" != "$header" ]; then
	die "$csv exists with other columns; move it away"
fi
start_lines=0
[ -s "$csv" ] && start_lines=$(wc -l < "$csv")

# ---------------------------------------------------------------- lab
ranks=()
stop_ranks() { stop_pids "${ranks[@]}"; ranks=(); }
lab_hook=stop_ranks
lab_init run_gloo
lab_start "$nns" 86400

# Bytes received and sent by the coordinator's sg0: "rx tx".
sg0_bytes() {
	"$MPILAB" exec -c -f "$nsfile" -- cat /proc/net/dev |
		awk '$1 == "sg0:" { print $2, $10 }'
}

# ---------------------------------------------------------------- runs
# One run per fan-out: every rank is started here, in its namespace (mpilab
# exec -r), and they meet through a FileStore in $tmp (the namespaces share
# the file system). The first rank to fail stops the others.
failures=0
t_start=$(date +%s)
run_one() {	# WORKERS
	local w=$1 n=$(($1 + 1)) r rc=0 done_pid before after
	local store=$tmp/store.$w
	mkdir -p "$store"
	rm -f "$tmp/run.csv"
	echo "== gloo, $w workers ($n ranks), sizes $sizes, algos $algos" >>"$log"
	before=$(sg0_bytes)
	ranks=()
	for r in $(seq 0 $((n - 1))); do
		$deathsig timeout -k 5 "$tmo" "$MPILAB" exec -f "$nsfile" -r "$r:$n" -p "$pin" -- \
			"$GLOO_BENCH" --rank "$r" --size "$n" --store "$store" --prefix "w$w" \
			--out "$tmp/run.csv" --algos "$algos" --sizes "$sizes" \
			--budget-ms "$budget" --min-iters "$min_iters" --max-iters "$max_iters" \
			--cap-ms "$cap" >"$tmp/rank$r.log" 2>&1 &
		ranks+=($!)
	done
	while [ ${#ranks[@]} -gt 0 ]; do
		wait -n -p done_pid "${ranks[@]}"
		r=$?
		ranks=($(printf '%s\n' "${ranks[@]}" | grep -vx "$done_pid"))
		if [ $r != 0 ] && [ $rc = 0 ]; then
			rc=$r
			stop_pids "${ranks[@]}"
			ranks=()
		fi
	done
	after=$(sg0_bytes)
	for r in $(seq 0 $((n - 1))); do
		sed "s/^/[rank $r] /" "$tmp/rank$r.log" >>"$log"
	done
	if [ $rc != 0 ]; then
		echo "$me: gloo with $w workers failed (exit $rc$([ $rc = 124 ] && echo ", timed out after ${tmo}s")); see $log" >&2
		cat "$tmp"/rank*.log | sort -u | tail -n 8 >&2
		failures=$((failures + 1))
		return
	fi
	# The proof that the ranks talked over the lab's links.
	local rx=0 tx=0
	if [ -n "$before" ] && [ -n "$after" ]; then
		rx=$(( ${after% *} - ${before% *} )) tx=$(( ${after#* } - ${before#* } ))
	fi
	if [ "$rx" -le 0 ] || [ "$tx" -le 0 ]; then
		echo "$me: gloo with $w workers: no traffic on the coordinator's sg0" >&2
		failures=$((failures + 1))
		return
	fi
	echo "$me: gloo  $w workers: ok, coordinator sg0 rx $rx B, tx $tx B"
	[ -s "$csv" ] || echo "$header" >"$csv"
	grep -v '^impl,' "$tmp/run.csv" >>"$csv"
}

for w in ${size_workers//,/ }; do
	run_one "$w"
done
echo "$me: $failures of the fan-outs failed, $(( $(date +%s) - t_start )) s"

# ---------------------------------------------------------------- tables
new_rows() { tail -n +$((start_lines + 1)) "$csv" | grep -v '^impl,'; }
if [ -s "$csv" ] && [ -n "$(new_rows)" ]; then
	new_rows | awk -F, -v label=" (gloo)" -f "$here/../osu.awk" >"$results/gloo_osu.txt"
	# algbw and busbw as nccl-tests define them (its PERFORMANCE.md): algbw =
	# bytes / time, allreduce busbw = algbw * 2(n-1)/n for n ranks; from the
	# mean time (nccl-tests' choice) and from the p50.
	{
		echo "# Gloo allreduce, float32 SUM over TCP, $(uname -r), $(nproc) CPUs, $(date -u '+%F %T') UTC"
		echo "# algbw = bytes / time, busbw = algbw * 2(n-1)/n (nccl-tests), GB/s = 1e9 B/s"
		printf "# %-15s %5s %10s %12s %12s %11s %11s %11s %11s %6s\n" impl ranks bytes \
			p50_us mean_us algbw_p50 busbw_p50 algbw_mean busbw_mean errors
		new_rows | sort -t, -k1,1 -k4,4n -k5,5n | awk -F, '
		{
			n = $4 + 1; f = 2 * (n - 1) / n
			a50 = $8 > 0 ? $5 / ($8 * 1e3) : 0; am = $10 > 0 ? $5 / ($10 * 1e3) : 0
			printf "%-17s %5d %10d %12.2f %12.2f %11.4f %11.4f %11.4f %11.4f %6d\n",
				$1, n, $5, $8, $10, a50, a50 * f, am, am * f, $15
		}'
	} >"$results/gloo_bw.txt"
	echo "$me: $(new_rows | wc -l) rows appended to $csv; tables in $results/gloo_osu.txt, $results/gloo_bw.txt"
fi
[ $failures = 0 ] || exit 1
exit 0
