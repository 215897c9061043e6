#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# PageRank supersteps (pagerank, README.md) with plain Open MPI and with the
# same binary under libsgbpf-mpi, for each number of ranks and graph scale,
# every rank in its own network namespace of the lab (bench/mpi/mpilablib.sh:
# rank 0 and mpirun in the coordinator's, Open MPI's TCP BTL on sg0).
# Writes OUT/MODE-nRANKS-sSCALE/ (per run: the output of every rank, the
# per-superstep CSV, the check against the reference), OUT/results.md
# (report.py: allreduce time per superstep, median and p99, the ratio
# sgbpf / Open MPI, and where the time goes), OUT/command.txt and
# OUT/machine.txt. See README.md.
#
# usage: examples/pagerank/run.sh OUT_DIR [options]
#   --ranks LIST      numbers of ranks (default 8,32)
#   --scales LIST     graph scales, 2^SCALE vertices (default 16,20)
#   --modes LIST      ompi,sgbpf (default both; sgbpf needs libsgbpf-mpi built)
#   --repeat N        runs of each configuration, alternating the modes; the
#                     supersteps of the runs are pooled (default 3)
#   --iters N         at most N supersteps (default 20)
#   --tol T           or until the L1 change is below T (default 1e-4)
#   --mtu N           MTU of the lab's links (default 1500)
#   --timeout S       bound on one mpirun (default 600)
#   --no-check        do not check the results against the reference
#
# Needs root (namespaces; sgbpf's ebpf transport), Open MPI, and a build
# (SGBPF_BUILDDIR, else this source tree) with examples/pagerank/pagerank,
# bench/mpi/mpilab and, for sgbpf, mpi/.libs/libsgbpf-mpi.so. The sgbpf runs
# have SGBPF_MPI_STATS=1 (the library's counters at the end of the output).
# Environment: PYTHON (default /usr/bin/python3) for report.py.
#
# Time: the generator runs on every rank (about 1.7 s per rank at scale 20
# on the development machine, so 30 s of a 32-rank run on 2 cores); the
# default sweep is 24 runs, about 10 minutes there.

set -u

me=run.sh
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/bench/mpi/mpilablib.sh"

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
results=$1
shift

ranks_list=8,32
scales=16,20
modes=ompi,sgbpf
repeat=3
iters=20
tol=1e-4
mtu=1500
tmo=600
check=1
cmdline="${SGBPF_BUILDDIR:+SGBPF_BUILDDIR=$SGBPF_BUILDDIR }examples/pagerank/run.sh $results $*"
while [ $# -gt 0 ]; do
	case "$1" in
	--no-check) check=0; shift; continue ;;
	esac
	[ $# -ge 2 ] || die "option $1 needs a value"
	case "$1" in
	--ranks) ranks_list=$2 ;;
	--scales) scales=$2 ;;
	--modes) modes=$2 ;;
	--repeat) repeat=$2 ;;
	--iters) iters=$2 ;;
	--tol) tol=$2 ;;
	--mtu) mtu=$2 ;;
	--timeout) tmo=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done

build=${SGBPF_BUILDDIR:-$top}
PYTHON=${PYTHON:-/usr/bin/python3}
pagerank=$build/examples/pagerank/pagerank
[ -x "$pagerank" ] || die "$pagerank not built (configure needs mpicc; then make)"
for n in ${ranks_list//,/ }; do
	[ "$n" -ge 2 ] 2>/dev/null || die "--ranks: numbers >= 2"
done
for s in ${scales//,/ }; do
	[ "$s" -ge 1 ] 2>/dev/null && [ "$s" -le 26 ] || die "--scales: numbers from 1 to 26"
done
for m in ${modes//,/ }; do
	case "$m" in
	ompi) ;;
	sgbpf) [ -f "$PMPI_LIB" ] || die "$PMPI_LIB not built (run make)" ;;
	*) die "--modes: ompi, sgbpf" ;;
	esac
done
[ "$repeat" -ge 1 ] 2>/dev/null || die "--repeat: a number >= 1"
[ "$iters" -ge 1 ] 2>/dev/null || die "--iters: a number >= 1"

mpi_lab_init run_pagerank
mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd)

# Packets dropped anywhere in the lab (every interface of every namespace,
# the bridge's included) and UDP datagrams dropped for a full socket
# buffer: "rx_dropped tx_dropped udp_rcvbuf_errors" (as examples/ml/run.sh).
lab_drops() {
	local ns
	for ns in $lab_names "${coord%c}s"; do
		ip netns exec "$ns" cat /proc/net/dev /proc/net/snmp 2>/dev/null
	done | awk '$1 ~ /:$/ && NF >= 17 { rx += $5; tx += $13 }
		$1 == "Udp:" && $2 ~ /^[0-9]+$/ { rcvbuf += $6 }
		END { print rx + 0, tx + 0, rcvbuf + 0 }'
}

failures=0
nrun=0
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

run_one() {	# MODE RANKS SCALE REP
	local mode=$1 n=$2 s=$3 k=$4 dir=$results/$1-n$2-s$3 rc d0 d1 pm= t0 keep=()
	mkdir -p "$dir"
	[ "$mode" = sgbpf ] && pm=--pmpi
	[ $check = 1 ] && keep=(--out "$dir/result-$k.txt")
	nrun=$((nrun + 1))
	d0=($(lab_drops))
	t0=$(date +%s)
	SGBPF_MPI_STATS=1 mpi_lab_run --np "$n" $pm --timeout "$tmo" --out "$dir/run-$k.log" -- \
		"$pagerank" --scale "$s" --iters "$iters" --tol "$tol" --csv="$dir/steps-$k.csv" \
		"${keep[@]}"
	rc=$?
	d1=($(lab_drops))
	echo "lab drops: rx $((d1[0] - d0[0])) tx $((d1[1] - d0[1])) udp_rcvbuf $((d1[2] - d0[2]))" \
		>"$dir/drops-$k.txt"
	if [ $rc != 0 ]; then
		echo "$me: $mode, $n ranks, scale $s, run $k failed (exit $rc$([ $rc = 124 ] &&
			echo ", timed out after ${tmo}s"))" >&2
		tail -n 20 "$dir/run-$k.log" >&2
		failures=$((failures + 1))
		return
	fi
	echo "$me: $mode, $n ranks, scale $s, run $k: $(($(date +%s) - t0)) s;" \
		"$(sed -n 's/^pagerank: per superstep, us: //p' "$dir/run-$k.log")"
	if [ $check = 1 ]; then
		# The single-process reference of the same graph and supersteps,
		# with the float32 bound (README.md); the values are not kept.
		if ! "$pagerank" --check "$dir/result-$k.txt" >"$dir/check-$k.txt" 2>&1; then
			echo "$me: $mode, $n ranks, scale $s, run $k: beyond the error bound:" >&2
			cat "$dir/check-$k.txt" >&2
			failures=$((failures + 1))
		fi
		rm -f "$dir/result-$k.txt"
	fi
}

for n in ${ranks_list//,/ }; do
	mpi_lab_start --mtu "$mtu" "$n" || die "no lab for $n ranks"
	for s in ${scales//,/ }; do
		for k in $(seq "$repeat"); do
			# Alternate which mode goes first, so that a slow phase of
			# the shared machine does not always hit the same one.
			ms=${modes//,/ }
			[ $((k % 2)) = 0 ] && ms=$(echo $ms | tr ' ' '\n' | tac | tr '\n' ' ')
			for m in $ms; do
				run_one "$m" "$n" "$s" "$k"
			done
		done
	done
done
mpi_lab_stop
echo "$me: $nrun runs, $failures failed, $(( $(date +%s) - t_start )) s"

# ---------------------------------------------------------------- report
echo "$cmdline" >"$results/command.txt"
{
	echo "date: $(date -u '+%F %T') UTC"
	echo "load average (1, 5, 15 min): $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "kernel: $(uname -r)"
	echo "cpu: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
	echo "memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "mpi: $("$MPIRUN" --version 2>/dev/null | head -n1)"
	echo "sgbpf: build $build, source $top at $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "(not git)")$(git -C "$top" diff --quiet HEAD -- 2>/dev/null || echo " (with uncommitted changes)")"
	echo "libsgbpf-mpi: $PMPI_LIB"
	echo "lab: veth pairs and a bridge (bench/mpi/mpilab), MTU $mtu, one namespace per rank"
	echo "pagerank: --iters $iters --tol $tol, $repeat run(s) per configuration"
} >"$results/machine.txt"
"$PYTHON" "$here/report.py" "$results" >"$results/results.md" || failures=$((failures + 1))
echo "$me: $results/results.md"
[ $failures = 0 ]
