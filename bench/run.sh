#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The benchmark suite in one command: the default sweep (under 15 minutes on
# a 2-core machine), the large-vector sweep (float32 SUM from 8-byte
# requests), the Open MPI and Gloo comparisons and the fold cost when they are
# built, then the OSU style tables, the plots and the summary of the targets,
# all in one folder.
#
#   bench/run.sh [RESULTS_DIR]        (default bench/results/<UTC date-time>)
#   make bench                        (the same, from the build directory)
#
# Environment: SGBENCH (the sgbench binary; default <build>/bench/sgbench),
# SGB_ITERS, SGB_CAP (seconds per point), SGB_VEC_CAP (seconds per
# large-vector point), SGB_WINDOW (throughput window), SGB_QUICK=1 (a tiny
# sweep, to check the pipeline in a minute), SGB_JUMBO=0 (no MTU 9000 run).
# Needs root (namespaces, BPF). The lab is removed even when interrupted.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/.." && pwd)
SGBENCH=${SGBENCH:-$srcdir/bench/sgbench}
out=${1:-$srcdir/bench/results/$(date -u +%Y%m%d-%H%M%S)}
iters=${SGB_ITERS:-2000}
cap=${SGB_CAP:-0.5}
window=${SGB_WINDOW:-16}

if [ ! -x "$SGBENCH" ]; then
	echo "run.sh: $SGBENCH not found: build first (make), or set SGBENCH" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: needs root (network namespaces, BPF programs)" >&2
	exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/results.csv" "$out/reflector.csv" "$out/vectors.csv" "$out/sgbench.log"
start=$(date +%s)

all_fanouts=1,2,4,8,16,32,64,128,256,512,1024
sizes=4,16,256,1K,4K,16K,64K,256K,1M   # 64 B comes from the fan-out sweep
reflector_fanouts=64,256
# Large vectors: 4 B, 64 B, then 1 KiB x 4^k up to 64 MiB (the issue's
# range; the library's largest message, which sgbench reports, is 256 MiB,
# and past 1 MiB a vector runs in segments).
max_bytes=$("$SGBENCH" --print-max-bytes)
[ "$max_bytes" -gt 67108864 ] && max_bytes=67108864
vec_sizes=$(awk -v max="$max_bytes" 'BEGIN {
	s = "4,64"; for (b = 1024; b <= max; b *= 4) { s = s "," b; last = b }
	if (last != max) s = s "," max; print s }')
vec_fanouts=8,32
vec_cap=${SGB_VEC_CAP:-1}	# the largest points take 0.1 to 8 s per collective
if [ "${SGB_QUICK:-0}" = 1 ]; then
	iters=50 cap=0.1 all_fanouts=1,8,64 sizes=4,4K reflector_fanouts=8
	vec_sizes=4,65536 vec_fanouts=8 vec_cap=0.1	# bytes: run_mpi.sh takes no suffixes
fi
common="--iters $iters --time-cap $cap --window $window --out $out"
log=$out/sgbench.log

{
	echo "# machine"
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "kernel: $(uname -r)"
	echo "commit: $(git -C "$srcdir" rev-parse HEAD 2>/dev/null || echo unknown)$(
		git -C "$srcdir" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
	echo "command: bench/run.sh $out"
	echo "settings: iters=$iters time_cap_s=$cap window=$window"
	echo "large vectors: sizes=$vec_sizes fan-outs=$vec_fanouts time_cap_s=$vec_cap (max message $max_bytes B)"
	echo
	lscpu
	echo
	free -m 2>/dev/null || true
} > "$out/machine.txt"

step() {
	echo "run.sh: $1 ($(($(date +%s) - start)) s)" | tee -a "$log" >&2
}

status=0
# 1. Fan-out sweep: 64-byte contributions, every transport, collective and mode.
step "fan-out sweep 1..1024, 64 B, host workers"
"$SGBENCH" $common --fanouts "$all_fanouts" --sizes 64 2>> "$log" || status=1

# 2. Size sweep: scatter-reduce at fan-out 64, 4 B .. 1 MiB.
step "size sweep at fan-out 64, scatter_reduce, host workers"
"$SGBENCH" $common --fanouts 64 --colls scatter_reduce --sizes "$sizes" \
	--timeout-ms 3000 2>> "$log" || status=1

# 3. Reflector workers: the coordinator's own cost.
step "reflector workers at fan-out $reflector_fanouts"
"$SGBENCH" $common --fanouts "$reflector_fanouts" --sizes 64 --workers reflector \
	--csv reflector.csv 2>> "$log" || status=1

# 4. Large vectors, the ML/graph pattern: a few bytes of request, float32
# contributions of 4 B .. the largest message, SUM, at the fan-outs of the
# MPI and Gloo comparison, one collective at a time, on the eBPF transport
# and the user-space transport with the lowest p50 of the fan-out sweep
# (scatter-reduce, fan-out 64, 64 B).
best_user=$(awk -F, '$2 == "scatter_reduce" && $3 == "latency" && $4 == 64 && $5 == 64 &&
	$1 != "ebpf" && $8 > 0 && (b == "" || $8 < p) { b = $1; p = $8 } END { print b }' \
	"$out/results.csv" 2>/dev/null || true)
best_user=${best_user:-io_uring}
step "large vectors: float32 SUM, 8-byte requests, fan-out $vec_fanouts, ebpf and $best_user"
"$SGBENCH" --iters "$iters" --time-cap "$vec_cap" --out "$out" --csv vectors.csv \
	--impls "ebpf,$best_user" --colls scatter_reduce,allgather --modes latency \
	--fanouts "$vec_fanouts" --sizes "$vec_sizes" --dtype float32 --request small \
	--timeout-ms 300000 2>> "$log" || status=1

# 5. Open MPI over the same kind of lab, when it was built (mpicc found): the
# default comparison (int32), then MPI_FLOAT at the large-vector points.
mpi_args= mpi_vec_args="--impls tcp"
[ "${SGB_QUICK:-0}" = 1 ] && mpi_args="--workers 8 --size-workers none --modes latency" \
	mpi_vec_args="--impls tcp --budget-ms 50 --min-iters 3"
builddir=$(cd "$(dirname "$SGBENCH")/.." && pwd)
if [ -x "$srcdir/bench/mpi/run_mpi.sh" ] && [ -x "$builddir/bench/mpi/mpi_bench" ]; then
	export MPI_BENCH=${MPI_BENCH:-$builddir/bench/mpi/mpi_bench}
	export MPILAB=${MPILAB:-$builddir/bench/mpi/mpilab}
	step "Open MPI (bench/mpi/run_mpi.sh)"
	"$srcdir/bench/mpi/run_mpi.sh" "$out" $mpi_args >> "$log" 2>&1 ||
		echo "run.sh: the MPI comparison failed (see $log)" >&2
	step "Open MPI, large vectors: MPI_FLOAT reduce and allreduce, $vec_fanouts workers"
	"$srcdir/bench/mpi/run_mpi.sh" "$out" --csv mpi_vectors.csv --dtype float \
		--workers "$vec_fanouts" --colls reduce,allreduce --fanout-size 4 \
		--size-workers "$vec_fanouts" --size-colls reduce,allreduce --sizes "$vec_sizes" \
		--nns "${vec_fanouts##*,}" --modes latency --timeout 300 $mpi_vec_args \
		>> "$log" 2>&1 ||
		echo "run.sh: the MPI large-vector comparison failed (see $log)" >&2
else
	step "Open MPI not built (no bench/mpi/run_mpi.sh or mpi_bench): comparison skipped"
fi

# 6. Gloo's allreduce (float32 SUM) at the same points, when it was built.
if [ -x "$srcdir/bench/gloo/run_gloo.sh" ] && [ -x "$builddir/bench/gloo/gloo_bench" ]; then
	step "Gloo, large vectors (bench/gloo/run_gloo.sh)"
	GLOO_BENCH=${GLOO_BENCH:-$builddir/bench/gloo/gloo_bench} \
	MPILAB=${MPILAB:-$builddir/bench/mpi/mpilab} \
	"$srcdir/bench/gloo/run_gloo.sh" "$out" --size-workers "$vec_fanouts" \
		--sizes "$vec_sizes" --timeout 300 >> "$log" 2>&1 ||
		echo "run.sh: the Gloo comparison failed (see $log)" >&2
else
	step "Gloo not built (no bench/gloo/run_gloo.sh or gloo_bench): comparison skipped"
fi

# 6b. The same large vectors on jumbo frames (every link of the lab at MTU
# 9000), fan-out 8, sgbpf against Open MPI and Gloo on those links: workers
# answer with up to 8 chunks per datagram there. In $out/jumbo/, unless
# SGB_JUMBO=0.
if [ "${SGB_JUMBO:-1}" = 1 ]; then
	jumbo=$out/jumbo
	mkdir -p "$jumbo"
	echo "lab MTU: 9000 (NETLAB_MTU)" > "$jumbo/machine.txt"
	step "jumbo frames (MTU 9000): large vectors at fan-out 8, sgbpf, Open MPI, Gloo"
	NETLAB_MTU=9000 "$SGBENCH" --iters "$iters" --time-cap "$vec_cap" --out "$jumbo" \
		--csv vectors.csv --impls "ebpf,$best_user" --colls scatter_reduce,allgather \
		--modes latency --fanouts 8 --sizes "$vec_sizes" --dtype float32 --request small \
		--timeout-ms 300000 2>> "$log" || status=1
	if [ -x "$builddir/bench/mpi/mpi_bench" ]; then
		NETLAB_MTU=9000 "$srcdir/bench/mpi/run_mpi.sh" "$jumbo" --csv mpi_vectors.csv \
			--dtype float --workers 8 --colls reduce,allreduce --fanout-size 4 \
			--size-workers 8 --size-colls reduce,allreduce --sizes "$vec_sizes" \
			--nns 8 --modes latency --timeout 300 $mpi_vec_args >> "$log" 2>&1 ||
			echo "run.sh: the jumbo MPI comparison failed (see $log)" >&2
	fi
	if [ -x "$builddir/bench/gloo/gloo_bench" ]; then
		GLOO_BENCH=${GLOO_BENCH:-$builddir/bench/gloo/gloo_bench} \
		MPILAB=${MPILAB:-$builddir/bench/mpi/mpilab} NETLAB_MTU=9000 \
		"$srcdir/bench/gloo/run_gloo.sh" "$jumbo" --size-workers 8 --sizes "$vec_sizes" \
			--nns 8 --timeout 300 >> "$log" 2>&1 ||
			echo "run.sh: the jumbo Gloo comparison failed (see $log)" >&2
	fi
fi

# 7. What the kernel's fold costs per byte and datatype (make bench-fold).
if [ -x "$builddir/bench/foldcost" ]; then
	step "fold cost per datatype (bench/foldcost)"
	fold_batches=
	[ "${SGB_QUICK:-0}" = 1 ] && fold_batches=1
	"$builddir/bench/foldcost" $fold_batches > "$out/foldcost.txt" 2>> "$log" ||
		echo "run.sh: bench/foldcost failed (see $log)" >&2
fi

# 8. Where the time goes: a whole-machine perf profile of the eBPF transport
# and of io_uring on the same point (scatter-reduce, fan-out 64, 64 B,
# throughput mode), unless SGB_PROFILE=0 or perf is missing.
if [ "${SGB_PROFILE:-1}" = 1 ] && command -v perf >/dev/null 2>&1; then
	for impl in ebpf io_uring; do
		step "perf profile of $impl, scatter_reduce, fan-out 64"
		pdir=$out/profile
		mkdir -p "$pdir"
		if perf record -a -g -q -o "$pdir/$impl.perf.data" -- "$SGBENCH" --impls "$impl" \
			--colls scatter_reduce --modes throughput --fanouts 64 --sizes 64 \
			--iters 100000 --time-cap 3 --window "$window" --out "$pdir" \
			--csv profiled.csv >> "$log" 2>&1; then
			{
				echo "# perf record -a -g: whole machine while sgbench ran $impl"
				echo "# scatter_reduce, fan-out 64, 64 B, throughput mode, 3 s"
				echo "# (lab and communicator set-up included; the workers' process is also 'sgbench')"
				echo "# ---- by process"
				perf report -i "$pdir/$impl.perf.data" --no-children --sort comm \
					--stdio -g none 2>/dev/null | grep '%' | head -10
				echo "# ---- sgbench (coordinator and workers) by kernel / user space"
				perf report -i "$pdir/$impl.perf.data" --no-children --sort comm,dso \
					--stdio -g none 2>/dev/null | grep '%' | grep sgbench | head -12
				echo "# ---- hottest symbols of sgbench"
				perf report -i "$pdir/$impl.perf.data" --no-children --sort comm,sym \
					--stdio -g none 2>/dev/null | grep '%' | grep sgbench | head -40
			} > "$out/profile_$impl.txt"
			rm -f "$pdir/$impl.perf.data.old"
		else
			echo "run.sh: perf record failed (see $log)" >&2
		fi
	done
fi

step "tables, plots, summary"
awk -F, -f "$here/osu.awk" "$out/results.csv" > "$out/osu.txt"
if [ -s "$out/reflector.csv" ]; then
	{ echo; echo "# ---- reflector workers (XDP on the worker side) ----"
	  awk -F, -v label=" reflector" -f "$here/osu.awk" "$out/reflector.csv"; } >> "$out/osu.txt"
fi
if [ -s "$out/vectors.csv" ]; then
	{ echo; echo "# ---- large vectors: float32 SUM, 8-byte requests ----"
	  awk -F, -v label=" float32" -f "$here/osu.awk" "$out/vectors.csv"; } >> "$out/osu.txt"
fi
for f in mpi mpi_vectors gloo jumbo/vectors jumbo/mpi_vectors jumbo/gloo; do
	[ -s "$out/$f.csv" ] || continue
	{ echo; echo "# ---- $f.csv ----"
	  awk -F, -f "$here/osu.awk" "$out/$f.csv"; } >> "$out/osu.txt"
done
"$here/plot.sh" "$out" || echo "run.sh: plotting failed (is gnuplot installed?)" >&2
awk -F, -f "$here/summary.awk" "$out/results.csv" \
	$( [ -s "$out/reflector.csv" ] && echo "$out/reflector.csv" ) \
	$(for f in mpi vectors mpi_vectors gloo; do [ -s "$out/$f.csv" ] && echo "$out/$f.csv"; done) \
	> "$out/summary.txt"
elapsed=$(($(date +%s) - start))
echo "elapsed: $elapsed s" >> "$out/machine.txt"
cat "$out/summary.txt"
echo "run.sh: results in $out ($elapsed s)"
exit $status
