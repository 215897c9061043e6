#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# libsgbpf-mpi (mpi/README.md): MPI programs, unchanged, on sgbpf through
# the profiling interface. In one lab of 4 ranks (bench/mpi/mpilablib.sh):
#   - tests/mpi_check (every mapped datatype and op, roots, in place,
#     non-blocking, the PMPI paths, an error through the handler) plain, then
#     with the library on the default transport, which must be ebpf (root),
#     and on epoll; with the library the counts (SGBPF_MPI_STATS) must show
#     the collectives on sgbpf and each kind of fallback;
#   - tests/mpi4py_check.py (numpy arrays through mpi4py) plain and with it.
# Then, without the lab, every rank in one namespace: the library must say
# it takes a user-space transport, and SGBPF_MPI=0 must send everything to
# PMPI; both still correct. The lab's namespaces must be gone at the end.
# Plain Open MPI runs with its op/avx component off: Open MPI 4.1.4's AVX
# SUM of MPI_UINT8_T and MPI_UINT16_T saturates instead of wrapping (255,
# not (200 * 4) mod 256): docs in mpi/README.md.
# Skipped (77) without root or without Open MPI and the library.

me=test_mpi_pmpi.sh
top_src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-/usr/bin/python3}

if [ "$(id -u)" != 0 ]; then
	echo "$me: SKIP: needs root (network namespaces, the ebpf transport)"
	exit 77
fi
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$top_build/tests/mpi_check" ] ||
	[ ! -f "$top_build/mpi/.libs/libsgbpf-mpi.so" ]; then
	echo "$me: SKIP: no mpirun, tests/mpi_check or mpi/.libs/libsgbpf-mpi.so (configure found no mpicc: install openmpi-bin libopenmpi-dev)"
	exit 77
fi

SGBPF_BUILDDIR=$top_build
. "$top_src/bench/mpi/mpilablib.sh"
mpi_lab_init test_mpi_pmpi
out=$tmp
fail=0
failed() { echo "$me: FAIL: $*" >&2; fail=1; }

# run NAME [mpi_lab_run options] -- PROG...: the program must print "0 failed"
run() {
	local name=$1 rc
	shift
	mpi_lab_run --timeout 180 --out "$out/$name.out" "$@"
	rc=$?
	grep -E "checks per rank|^sgbpf-mpi:" "$out/$name.out" | sed "s/^/  $name: /"
	if [ $rc != 0 ] || ! grep -q "checks per rank, 0 failed" "$out/$name.out"; then
		failed "$name (exit $rc)"
		grep -v '^\[' "$out/$name.out" | tail -n 15 >&2
		return 1
	fi
}

# stat NAME KEY: the count KEY=N of the library's lines in NAME's output
stat() {
	sed -n "s/^sgbpf-mpi: .*[ ]$2=\([0-9]*\).*/\1/p" "$out/$1.out" | head -n1
}
stat_line() {	# NAME CALL FIELD
	sed -n "s/^sgbpf-mpi: $2 .*$3=\([0-9]*\).*/\1/p" "$out/$1.out" | head -n1
}

mpi_lab_start 4
check=$top_build/tests/mpi_check

run plain --mca op ^avx -- "$check"
export SGBPF_MPI_STATS=1
if run sgbpf --pmpi -- "$check" --sgbpf; then
	grep -q "^sgbpf-mpi: 4 ranks, ebpf" "$out/sgbpf.out" ||
		failed "the library did not run on the ebpf transport as root"
	for c in MPI_Allreduce MPI_Reduce MPI_Bcast MPI_Barrier MPI_Iallreduce MPI_Ireduce MPI_Ibcast; do
		n=$(stat_line sgbpf $c sgbpf)
		[ -n "$n" ] && [ "$n" -gt 0 ] || failed "$c: no call went through sgbpf ($n)"
	done
	for why in comm datatype op float-prod; do
		n=$(stat sgbpf "$why")
		[ "$n" = 1 ] || failed "fallback '$why' counted $n times, not once"
	done
	for k in foreign dropped; do
		n=$(stat sgbpf "$k")
		[ "$n" = 0 ] || failed "workers counted $k=$n requests: none is sent in the lab but rank 0's"
	done
	n=$(stat sgbpf accepted)
	[ -n "$n" ] && [ "$n" -gt 0 ] || failed "the kernel folded no chunk (accepted=$n)"
fi
if run epoll --pmpi --env SGBPF_TRANSPORT=epoll -- "$check" --sgbpf 50000; then
	grep -q "^sgbpf-mpi: 4 ranks, epoll" "$out/epoll.out" || failed "SGBPF_TRANSPORT=epoll not taken"
fi

if "$python" -c 'import mpi4py, numpy' 2>/dev/null; then
	run mpi4py-plain -- "$python" "$top_src/tests/mpi4py_check.py"
	if run mpi4py --pmpi -- "$python" "$top_src/tests/mpi4py_check.py"; then
		n=$(stat_line mpi4py MPI_Allreduce sgbpf)
		[ -n "$n" ] && [ "$n" -gt 0 ] || failed "mpi4py: no Allreduce went through sgbpf"
	fi
else
	failed "no mpi4py or numpy for $python (Debian: python3-mpi4py python3-numpy)"
fi
lab=$coord
mpi_lab_stop
for ns in $lab_names; do
	[ -e "/run/netns/$ns" ] && failed "namespace $ns left behind"
done

# Every rank in this namespace: one host, no lab.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
onehost() {	# NAME MPIRUN_ARGS... -- CHECK_ARGS...: mpi_check with the library, 3 ranks
	local name=$1 rc margs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do margs+=("$1"); shift; done
	shift
	mpi_pmpi_args margs
	timeout -k 5 120 mpirun --oversubscribe --bind-to none --mca btl tcp,self \
		--mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -np 3 \
		"${margs[@]}" "$check" "$@" >"$out/$name.out" 2>&1
	rc=$?
	grep -E "checks per rank|^sgbpf-mpi: (3 ranks|not on|some ranks)" "$out/$name.out" | sed "s/^/  $name: /"
	if [ $rc != 0 ] || ! grep -q "checks per rank, 0 failed" "$out/$name.out"; then
		failed "$name (exit $rc)"
		tail -n 15 "$out/$name.out" >&2
		return 1
	fi
}
if onehost onehost -- --sgbpf 20000; then
	grep -q "user-space transport" "$out/onehost.out" ||
		failed "one host: the library did not say it leaves the kernel path"
fi
# (plain Open MPI underneath: its op/avx off, and no NULL buffer check)
if onehost disabled -x SGBPF_MPI=0 --mca op ^avx -- 20000; then
	grep -q "not on sgbpf (SGBPF_MPI=0)" "$out/disabled.out" || failed "SGBPF_MPI=0 not said"
	n=$(stat_line disabled MPI_Allreduce sgbpf)
	[ "$n" = 0 ] || failed "SGBPF_MPI=0: $n Allreduce calls on sgbpf"
fi

[ $fail = 0 ] && echo "$me: PASS"
exit $fail
