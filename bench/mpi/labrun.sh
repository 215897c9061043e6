#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# One MPI program under mpirun in a lab of network namespaces built for it
# (bench/mpi/mpilablib.sh): rank 0 in the coordinator's namespace (sg0
# 10.77.0.1), ranks 1..NP-1 one per worker namespace (10.77.1.x), Open MPI
# over its TCP BTL on sg0; with --pmpi, every rank with libsgbpf-mpi
# preloaded, so that its collectives go through sgbpf. The lab is removed
# on every exit path. See bench/mpi/README.md.
#
# usage: bench/mpi/labrun.sh [options] -- PROG ARGS...
#   --np N            ranks (default 2; the lab has N-1 worker namespaces)
#   --pmpi            preload libsgbpf-mpi (BUILD/mpi/.libs/libsgbpf-mpi.so,
#                     with BUILD/.libs in LD_LIBRARY_PATH) and pass on
#                     SGBPF_MPI_STATS, SGBPF_TRANSPORT, SGBPF_LOG, SGBPF_MPI_*
#                     when they are set
#   --timeout S       bound on the mpirun (default 300)
#   --mtu N           MTU of the lab's links (default: $NETLAB_MTU, else 1500)
#   --env VAR[=VAL]   pass VAR to every rank (mpirun -x; repeatable)
#   --out FILE        keep the output in FILE too (and, after a timeout, the
#                     lab's processes and their kernel stacks just before it
#                     in FILE.hang; without --out they go to stderr)
#
# Prints the program's output (every rank's stdout and stderr, and
# mpirun's) on stdout once it has ended, the lab's messages on stderr, and
# exits with mpirun's status: the program's (the first rank's that failed),
# 124 when --timeout ended it, 1 when the lab could not be built. A run
# whose Open MPI "failed to TCP connect" is repeated once.
#
# Needs root. BUILD is $SGBPF_BUILDDIR, else this source tree; $MPIRUN,
# $MPILAB and $PMPI_LIB override the programs (mpilablib.sh). PROG is
# looked up in PATH, or relative to the current folder.

set -u

me=labrun.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mpilablib.sh"

np=2
pmpi=
tmo=300
mtu=
keep=
envs=()
while [ $# -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	--pmpi) pmpi=--pmpi; shift; continue ;;
	esac
	[ $# -ge 2 ] || { usage >&2; exit 2; }
	case "$1" in
	--np) np=$2 ;;
	--timeout) tmo=$2 ;;
	--mtu) mtu=$2 ;;
	--env) envs+=(--env "$2") ;;
	--out) keep=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done
[ $# -ge 1 ] || { usage >&2; exit 2; }
[ "$np" -ge 2 ] 2>/dev/null || die "--np: a number >= 2"

mpi_lab_init labrun
mpi_lab_start ${mtu:+--mtu "$mtu"} "$np" >&2
mpi_lab_run --np "$np" $pmpi --timeout "$tmo" --out "$tmp/out" "${envs[@]}" -- "$@"
rc=$?
cat "$tmp/out"
[ -n "$keep" ] && { cp "$tmp/out" "$keep" || echo "$me: cannot write $keep" >&2; }
if [ $rc = 124 ]; then
	echo "$me: timed out after ${tmo}s" >&2
	if [ -s "$tmp/out.hang" ] && [ -n "$keep" ]; then
		cp "$tmp/out.hang" "$keep.hang" && echo "$me: the lab's processes before the timeout: $keep.hang" >&2
	elif [ -s "$tmp/out.hang" ]; then
		echo "$me: the lab's processes before the timeout:" >&2
		cat "$tmp/out.hang" >&2
	fi
fi
exit $rc
