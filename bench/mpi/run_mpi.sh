#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The Open MPI comparison: MPI_Reduce, MPI_Allreduce and MPI_Bcast over the
# TCP BTL across the netlab namespaces (mpi_tcp) and over shared memory
# (mpi_sm), appended to RESULTS/mpi.csv, with OSU-style tables of this run in
# RESULTS/mpi_osu.txt and mpirun's output in RESULTS/mpi_log.txt.
# See bench/mpi/README.md.
#
# usage: bench/mpi/run_mpi.sh RESULTS_DIR [options]
#   --workers LIST       fan-out sweep at --fanout-size (default 1,2,4,8,16,32,64)
#   --colls LIST         collectives of the fan-out sweep (default reduce,allreduce,bcast)
#   --fanout-size BYTES  contribution of the fan-out sweep (default 64)
#   --size-workers LIST  fan-outs of the size sweep (default 8,32; "none" for none)
#   --size-colls LIST    collectives of the size sweep (default reduce)
#   --sizes LIST         sizes of the size sweep (default 4,16,...,1048576)
#   --impls LIST         tcp,sm (default both)
#   --modes LIST         latency,throughput (default both)
#   --window LIST        throughput mode: collectives in flight, one row per value
#                        (default 16,0; 0: blocking collectives back to back)
#   --budget-ms MS       target time of one measurement (default 200)
#   --min-iters N        (default 10)
#   --nns N              worker namespaces (default 64; workers beyond share them)
#   --timeout S          bound on one mpirun (default 120)
#   --pin R:W            mpi_tcp: root on CPU R, workers on CPU W (-2: last CPU;
#                        default -1:-1, not pinned: see README.md)
#   --dtype T            int32 (default) or float (MPI_FLOAT), op MPI_SUM
#   --csv NAME           CSV in RESULTS_DIR (default mpi.csv); the tables go to
#                        NAME without .csv plus _osu.txt
#
# Needs root for mpi_tcp (network namespaces); without it only mpi_sm runs.
# Exits 0 without output when Open MPI (mpirun, or mpi_bench built by mpicc)
# is missing. Environment: MPIRUN, MPI_BENCH, MPILAB override the programs.

set -u

me=run_mpi.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lablib.sh"
. "$here/mpilablib.sh"

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
results=$1
shift

workers=1,2,4,8,16,32,64
colls=reduce,allreduce,bcast
fanout_size=64
size_workers=8,32
size_colls=reduce
sizes=4,16,64,256,1024,4096,16384,65536,262144,1048576
impls=tcp,sm
modes=latency,throughput
window=16,0
budget=200
min_iters=10
nns=64
tmo=120
pin=-1:-1
dtype=int32
csv_name=mpi.csv
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case "$1" in
	--workers) workers=$2 ;;
	--colls) colls=$2 ;;
	--fanout-size) fanout_size=$2 ;;
	--size-workers) size_workers=$2 ;;
	--size-colls) size_colls=$2 ;;
	--sizes) sizes=$2 ;;
	--impls) impls=$2 ;;
	--modes) modes=$2 ;;
	--window) window=$2 ;;
	--budget-ms) budget=$2 ;;
	--min-iters) min_iters=$2 ;;
	--nns) nns=$2 ;;
	--timeout) tmo=$2 ;;
	--pin) pin=$2 ;;
	--dtype) dtype=$2 ;;
	--csv) csv_name=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done
[ "$size_workers" = none ] && size_workers=
case "$dtype" in int32|float) ;; *) die "--dtype: int32 or float" ;; esac
case "$csv_name" in */*|'') die "--csv: a file name in RESULTS_DIR" ;; esac

# ---------------------------------------------------------------- programs
find_prog() {	# NAME: $SGBPF_BUILDDIR/bench/mpi, the script's folder, the cwd's bench/mpi
	for d in ${SGBPF_BUILDDIR:+"$SGBPF_BUILDDIR/bench/mpi"} "$here" "$PWD/bench/mpi"; do
		[ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	return 1
}
MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
MPI_BENCH=${MPI_BENCH:-$(find_prog mpi_bench || true)}
MPILAB=${MPILAB:-$(find_prog mpilab || true)}
if [ -z "$MPIRUN" ] || [ ! -x "$MPIRUN" ]; then
	echo "$me: Open MPI's mpirun not found: skipping the MPI comparison" \
		"(install the Debian packages openmpi-bin and libopenmpi-dev, then re-run configure)"
	exit 0
fi
if [ -z "$MPI_BENCH" ]; then
	echo "$me: bench/mpi/mpi_bench not built (configure found no mpicc, or run make):" \
		"skipping the MPI comparison"
	exit 0
fi

use_tcp=0 use_sm=0
for i in ${impls//,/ }; do
	case "$i" in
	tcp) use_tcp=1 ;;
	sm) use_sm=1 ;;
	*) die "--impls: tcp, sm" ;;
	esac
done
if [ $use_tcp = 1 ] && [ "$(id -u)" != 0 ]; then
	echo "$me: mpi_tcp needs root (network namespaces): running mpi_sm only" >&2
	use_tcp=0
fi
if [ $use_tcp = 1 ] && [ -z "$MPILAB" ]; then
	die "bench/mpi/mpilab not found (run make)"
fi

mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd)
csv=$results/$csv_name
log=$results/mpi_log.txt
osu=$results/${csv_name%.csv}_osu.txt
# bench/README.md documents these columns (gloo.csv has them too).
header="impl,coll,mode,fanout,bytes,window,iters,p50_us,p99_us,mean_us,coll_per_s,syscalls_per_coll,cpu_us_per_coll,machine_cpu_us_per_coll,errors,algbw_gbps,busbw_gbps"
if [ -s "$csv" ] && [ "$(head -n1 "$csv")" != "$header" ]; then
	die "$csv exists with other columns; move it away"
fi
start_lines=0
[ -s "$csv" ] && start_lines=$(wc -l < "$csv")

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# ob1 with the BTLs we name (not UCX, which would pick its own transports);
# every process may run on either core (2 cores, many ranks).
mpi_common="--oversubscribe --bind-to none --mca pml ob1 --mca btl_base_warn_component_unused 0"

# ---------------------------------------------------------------- lab
child=
stop_child() { stop_pids $child; child=; mpi_lab_stop_child; }
lab_hook=stop_child
lab_init run_mpi
[ $use_tcp = 1 ] && lab_start "$nns" 3600

# ---------------------------------------------------------------- runs
in_list() { case ",$2," in *",$1,"*) return 0 ;; esac; return 1; }
# colls of $1 not in $2
list_minus() {
	local out= c
	for c in ${1//,/ }; do in_list "$c" "$2" || out=${out:+$out,}$c; done
	echo "$out"
}
fanouts=$(echo "${workers//,/ } ${size_workers//,/ }" | tr ' ' '\n' | grep . | sort -n -u)

# Run one mpirun in the background (a signal reaches the trap at once; the
# child is `timeout`, which mpilab and env exec and which passes SIGTERM on
# to mpirun). Stops early when Open MPI reports a failed TCP connection,
# after which the job hangs. Output in $tmp/out.
launch() {	# IMPL FANOUT BENCH...
	local impl=$1 w=$2 i rc
	shift 2
	if [ "$impl" = tcp ]; then
		# bench/mpi/mpilablib.sh: mpirun in the coordinator's namespace,
		# PMIx listening on its sg0 address (the workers' namespaces
		# cannot reach its loopback), each rank entering its namespace
		# before MPI_Init, the TCP BTL on sg0; the same early stop. One
		# attempt: run_one makes the second.
		mpi_lab_run --np $((w + 1)) --timeout "$tmo" --pin "$pin" --retries 0 \
			--out "$tmp/out" -- "$@"
		return
	fi
	$deathsig timeout -k 5 "$tmo" "$MPIRUN" $mpi_common -np $((w + 1)) \
		--mca btl vader,self "$@" >"$tmp/out" 2>&1 &
	child=$!
	# Bounded: timeout ends the child after $tmo (+5) seconds.
	for i in $(seq $(( (tmo + 10) * 5 ))); do
		kill -0 "$child" 2>/dev/null || break
		if grep -q "failed to TCP connect" "$tmp/out" 2>/dev/null; then
			sleep 1	# let the other ranks' messages in
			kill -TERM "$child" 2>/dev/null
		fi
		sleep 0.2
	done
	wait "$child"
	rc=$?
	child=
	return $rc
}

failures=0
runs=0
t_start=$(date +%s)
run_one() {	# IMPL FANOUT
	local impl=$1 w=$2 plan=() rest out rc rx tx
	if [ -n "$size_workers" ] && in_list "$w" "$size_workers"; then
		plan+=(--run "$size_colls:$sizes")
		if in_list "$w" "$workers"; then
			if in_list "$fanout_size" "$sizes"; then
				rest=$(list_minus "$colls" "$size_colls")
			else
				rest=$colls
			fi
			[ -n "$rest" ] && plan+=(--run "$rest:$fanout_size")
		fi
	else
		plan+=(--run "$colls:$fanout_size")
	fi
	local bench=("$MPI_BENCH" --impl "mpi_$impl" --out "$tmp/run.csv" "${plan[@]}"
		--dtype "$dtype" --modes "$modes" --window "$window" --budget-ms "$budget" --min-iters "$min_iters")
	local attempt
	# A second attempt when Open MPI's TCP BTL fails to connect (it happens
	# when the machine is overloaded: open-mpi/ompi#11508); the rows of a
	# run go to mpi.csv only when the whole run succeeded.
	for attempt in 1 2; do
		echo "== mpi_$impl fanout $w (attempt $attempt): ${plan[*]}" >>"$log"
		rm -f "$tmp/run.csv"
		launch "$impl" "$w" "${bench[@]}"
		rc=$?
		out=$(cat "$tmp/out")
		printf '%s\n' "$out" >>"$log"
		runs=$((runs + 1))
		[ $rc != 0 ] && printf '%s\n' "$out" | grep -q "failed to TCP connect" &&
			[ $attempt = 1 ] && {
			echo "$me: mpi_$impl with $w workers: Open MPI failed to TCP connect; again" >&2
			continue
		}
		break
	done
	if [ $rc != 0 ]; then
		echo "$me: mpi_$impl with $w workers failed (exit $rc$([ $rc = 124 ] && echo ", timed out after ${tmo}s")); see $log" >&2
		printf '%s\n' "$out" | grep -v '^\[' | tail -n 8 >&2
		failures=$((failures + 1))
		return
	fi
	if [ "$impl" = tcp ]; then
		rx=$(printf '%s\n' "$out" | sed -n 's/.*during the measurements: rx \([0-9]*\) bytes.*/\1/p')
		tx=$(printf '%s\n' "$out" | sed -n 's/.*, tx \([0-9]*\) bytes.*/\1/p')
		if [ -z "$rx" ] || [ "$rx" = 0 ] || [ -z "$tx" ] || [ "$tx" = 0 ]; then
			echo "$me: mpi_tcp with $w workers: no traffic on the coordinator's sg0" >&2
			failures=$((failures + 1))
			return
		fi
		echo "$me: mpi_tcp  $w workers: ok, coordinator sg0 rx $rx B, tx $tx B"
	else
		echo "$me: mpi_sm   $w workers: ok"
	fi
	[ -s "$csv" ] || echo "$header" >"$csv"
	grep -v '^impl,' "$tmp/run.csv" >>"$csv"
}

for w in $fanouts; do
	[ $use_tcp = 1 ] && run_one tcp "$w"
	[ $use_sm = 1 ] && run_one sm "$w"
done
echo "$me: $runs mpirun runs, $failures configurations failed, $(( $(date +%s) - t_start )) s"

# ---------------------------------------------------------------- OSU tables
new_rows() { tail -n +$((start_lines + 1)) "$csv" | grep -v '^impl,'; }
if [ -s "$csv" ]; then
	{
		echo "# Open MPI $("$MPIRUN" --version 2>/dev/null | sed -n '1s/.*) //p'), $(uname -r), $(nproc) CPUs, $(date -u '+%F %T') UTC"
		echo "# Latency: one collective at a time at the root; throughput: window of"
		echo "# non-blocking collectives (bench/mpi/README.md). $dtype SUM."
		new_rows | sort -t, -k1,1 -k2,2 -k3,3 -k4,4n -k5,5n | awk -F, '
		function coll(c) { return c == "reduce" ? "MPI_Reduce" : c == "allreduce" ? "MPI_Allreduce" : "MPI_Bcast" }
		{
			key = $1 "," $2 "," $3 "," $4
			if (key != last) {
				print ""
				if ($3 == "latency") {
					printf "# %s %s latency, %s workers (%s ranks)\n", coll($2), $1, $4, $4 + 1
					printf "# %-10s %15s %15s %15s %10s %6s\n", "Size", "Avg Latency(us)", "P50 Latency(us)", "P99 Latency(us)", "Iterations", "Errors"
				} else {
					printf "# %s %s throughput, %s workers (%s ranks), window %s\n", coll($2), $1, $4, $4 + 1, $6
					printf "# %-10s %15s %15s %15s %10s %6s\n", "Size", "Coll/s", "Avg Latency(us)", "P99 Latency(us)", "Iterations", "Errors"
				}
				last = key
			}
			if ($3 == "latency")
				printf "%-12s %15s %15s %15s %10s %6s\n", $5, $10, $8, $9, $7, $15
			else
				printf "%-12s %15s %15s %15s %10s %6s\n", $5, $11, $10, $9, $7, $15
		}'
	} >"$osu"
	echo "$me: $(new_rows | wc -l) rows appended to $csv; tables in $osu"
fi
[ $failures = 0 ] || exit 1
exit 0
