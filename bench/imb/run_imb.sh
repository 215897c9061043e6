#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The Intel MPI Benchmarks (IMB-MPI1, built with -DCHECK from the peer
# suite's tarball by `make imb-mpi1` or `make check`) on Open MPI alone
# ("ompi") and with libsgbpf-mpi preloaded ("sgbpf"), for each number of
# ranks, both in the same lab of network namespaces (bench/mpi/mpilablib.sh:
# rank 0 in the coordinator's namespace, one worker namespace per other
# rank, Open MPI's TCP BTL on sg0). Writes OUT/imb-NP-ompi.txt and
# OUT/imb-NP-sgbpf.txt (IMB's raw output; the sgbpf run's with the
# library's `sgbpf-mpi:` counters, SGBPF_MPI_STATS=1), OUT/results.csv and
# OUT/results.md (imb_report.py: the tables side by side, the ratio
# sgbpf/ompi of IMB's t_avg), OUT/runs.txt, OUT/command.txt and
# OUT/machine.txt. See bench/imb/README.md.
#
# usage: bench/imb/run_imb.sh OUT [options]
#   --np LIST          numbers of ranks (default 2,8,32)
#   --msglog A:B       sizes 0 and 2^A..2^B bytes (IMB's -msglog; default 0:20)
#   --iter N           IMB's -iter: at most N repetitions per size (default
#                      IMB's: 1000, fewer for large messages)
#   --time S           IMB's -time: at most about S s per size (default IMB's, 10)
#   --benchmarks LIST  (default Allreduce,Reduce,Bcast,Barrier)
#   --impls LIST       ompi,sgbpf (default both)
#   --timeout S        bound on one IMB run (default 1800)
#   --mtu N            MTU of the lab's links (default: $NETLAB_MTU, else 1500)
#
# Exits 1 if a run failed or timed out, a table is missing, or any value
# of IMB's `defects` column is not 0.00 (the report is written anyway).
# Needs root and a build (SGBPF_BUILDDIR, else this source tree) with
# bench/mpi/mpilab, bench/imb/mpi-benchmarks/IMB-MPI1 and, for sgbpf,
# mpi/.libs/libsgbpf-mpi.so. Environment: IMB_MPI1, PYTHON (default
# /usr/bin/python3), MPIRUN, MPILAB, PMPI_LIB override the programs;
# SGBPF_TRANSPORT, SGBPF_LOG and SGBPF_MPI_* reach the sgbpf runs.

set -u

me=run_imb.sh
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/bench/mpi/mpilablib.sh"

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
results=$1
shift

np_list=2,8,32
msglog=0:20
iter=
imb_time=
benchmarks=Allreduce,Reduce,Bcast,Barrier
impls=ompi,sgbpf
tmo=1800
mtu=
cmdline="${SGBPF_BUILDDIR:+SGBPF_BUILDDIR=$SGBPF_BUILDDIR }bench/imb/run_imb.sh $results $*"
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case "$1" in
	--np) np_list=$2 ;;
	--msglog) msglog=$2 ;;
	--iter) iter=$2 ;;
	--time) imb_time=$2 ;;
	--benchmarks) benchmarks=$2 ;;
	--impls) impls=$2 ;;
	--timeout) tmo=$2 ;;
	--mtu) mtu=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done
for n in ${np_list//,/ }; do
	[ "$n" -ge 2 ] 2>/dev/null || die "--np: numbers >= 2"
done
[[ "$msglog" =~ ^[0-9]+:[0-9]+$ ]] || die "--msglog: A:B"
[ -z "$iter" ] || [ "$iter" -ge 1 ] 2>/dev/null || die "--iter: a number >= 1"
[ -z "$imb_time" ] || [ "$imb_time" -ge 1 ] 2>/dev/null || die "--time: seconds >= 1"
run_impls=
for i in ${impls//,/ }; do
	case "$i" in ompi|sgbpf) run_impls="$run_impls $i" ;; *) die "--impls: ompi, sgbpf" ;; esac
done
[ -n "$run_impls" ] || die "--impls: ompi, sgbpf"

# ---------------------------------------------------------------- programs
PYTHON=${PYTHON:-/usr/bin/python3}
IMB_MPI1=${IMB_MPI1:-$mpi_lab_build/bench/imb/mpi-benchmarks/IMB-MPI1}
if [ ! -x "$IMB_MPI1" ]; then
	why=
	[ -s "$mpi_lab_build/bench/imb/IMB-MPI1.missing" ] &&
		why=": $(cat "$mpi_lab_build/bench/imb/IMB-MPI1.missing")"
	die "$IMB_MPI1 not built (make imb-mpi1)$why"
fi
case " $run_impls " in
*" sgbpf "*) [ -f "$PMPI_LIB" ] || die "$PMPI_LIB not built (run make; or --impls ompi)" ;;
esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 5))' 2>/dev/null ||
	die "no python3 at $PYTHON (for imb_report.py)"

mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd)
mpi_lab_init run_imb

# ---------------------------------------------------------------- runs
imb_args=(${benchmarks//,/ } -msglog "$msglog" ${iter:+-iter "$iter"} ${imb_time:+-time "$imb_time"})
failures=0
nrun=0
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$results/runs.txt"
run_one() {	# NP IMPL
	local np=$1 impl=$2 f=$results/imb-$1-$2.txt t0 rc secs
	local pmpi=()
	[ "$impl" = sgbpf ] && pmpi=(--pmpi)
	t0=$(date +%s)
	nrun=$((nrun + 1))
	SGBPF_MPI_STATS=${SGBPF_MPI_STATS:-1} mpi_lab_run --np "$np" "${pmpi[@]}" --timeout "$tmo" \
		--out "$f" -- "$IMB_MPI1" "${imb_args[@]}" -npmin "$np"
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	echo "$impl $np ranks: exit $rc, $secs s, $mpi_lab_attempts attempt(s)" >>"$results/runs.txt"
	if [ $rc != 0 ]; then
		echo "$me: $impl on $np ranks failed (exit $rc$([ $rc = 124 ] && echo ", timed out after ${tmo}s")); see $f$([ -s "$f.hang" ] && echo " and $f.hang (the lab's processes before the timeout)")" >&2
		grep -v '^#' "$f" | grep . | tail -n 15 >&2
		failures=$((failures + 1))
		return
	fi
	echo "$me: $impl on $np ranks: ok in $secs s"
	grep '^sgbpf-mpi:' "$f"
}

for np in ${np_list//,/ }; do
	mpi_lab_start ${mtu:+--mtu "$mtu"} "$np"
	for impl in $run_impls; do
		run_one "$np" "$impl"
	done
	mpi_lab_stop
done
echo "$me: $nrun runs, $failures failed, $(( $(date +%s) - t_start )) s"

# ---------------------------------------------------------------- report
echo "$cmdline" >"$results/command.txt"
{
	echo "date: $(date -u '+%F %T') UTC"
	echo "elapsed: $(( $(date +%s) - t_start )) s"
	echo "load average (1, 5, 15 min): $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "kernel: $(uname -r)"
	echo "cpu: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
	echo "memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "mpi: $("$MPIRUN" --version 2>/dev/null | head -n1)"
	echo "imb: $IMB_MPI1 ($(grep -h -m1 'Intel(R) MPI Benchmarks' "$results"/imb-*.txt 2>/dev/null | head -n1 | sed 's/^# *//'), built with -DCHECK from $(cat "$(dirname "$IMB_MPI1")/tarball.txt" 2>/dev/null || echo "?"))"
	echo "sgbpf: build $mpi_lab_build, source $top at $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "(not git)")"
	case " $run_impls " in
	*" sgbpf "*) echo "libsgbpf-mpi: $PMPI_LIB" ;;
	esac
	envs=$(env | grep -E '^(SGBPF_|NETLAB_MTU=)' | sort | tr '\n' ' ')
	echo "environment: ${envs:-no SGBPF_* and no NETLAB_MTU}; the sgbpf runs with SGBPF_MPI_STATS=${SGBPF_MPI_STATS:-1}"
	echo "lab: veth pairs and a bridge (bench/mpi/mpilab), MTU ${mpi_lab_mtu:-?}, rank 0 in the coordinator's namespace, one worker namespace per other rank, Open MPI's TCP BTL on sg0 (pml ob1)"
} >"$results/machine.txt"
"$PYTHON" "$here/imb_report.py" "$results" --np "$np_list" --impls "${run_impls# }" \
	--benchmarks "$benchmarks" || failures=$((failures + 1))
echo "$me: $results/results.md"
[ $failures = 0 ]
