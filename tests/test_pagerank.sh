#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The PageRank example (examples/pagerank/README.md) at a small size: the
# Kronecker graph of scale 12 (4096 vertices, 65536 edges) on 4 ranks in the
# lab's namespaces (bench/mpi/mpilablib.sh), with plain Open MPI and with
# libsgbpf-mpi preloaded (when configure built it, i.e. when
# mpi/libsgbpf-mpi.la exists, it is required). Each run, once with the
# example's parameters (20 supersteps or L1 change below 1e-4) and once to
# L1 1e-6, must
#   - have every rank end with the same vector (pagerank's "ranks agree");
#   - be within the float32 error bound of the single-process double
#     reference of the same graph and supersteps, element by element
#     (pagerank --check);
#   - be within the a-posteriori bound of networkx's pagerank on the same
#     MultiDiGraph (check.py), as must the reference run to L1 1e-13;
#     skipped, with a message, when networkx or scipy is not installed.
# With libsgbpf-mpi, its statistics must show the allreduces went through
# sgbpf. No namespace may be left. No time is asserted.
# Skipped (77) without root, mpirun, the pagerank binary or the lab.

me=test_pagerank
top_src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-/usr/bin/python3}
pagerank=$top_build/examples/pagerank/pagerank
scale=12
np=4

skip() { echo "$me: SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
command -v mpirun >/dev/null 2>&1 || skip "no mpirun (Debian: openmpi-bin)"
[ -x "$pagerank" ] || skip "$pagerank not built (configure found no mpicc)"
[ -x "$top_build/bench/mpi/mpilab" ] || skip "$top_build/bench/mpi/mpilab not built"
[ -f "$top_src/bench/mpi/mpilablib.sh" ] || skip "no bench/mpi/mpilablib.sh"

modes=ompi
if [ -f "$top_build/mpi/libsgbpf-mpi.la" ]; then
	[ -f "$top_build/mpi/.libs/libsgbpf-mpi.so" ] || {
		echo "$me: FAIL: mpi/libsgbpf-mpi.la but no mpi/.libs/libsgbpf-mpi.so" >&2
		exit 1
	}
	modes="ompi sgbpf"
else
	echo "$me: libsgbpf-mpi not built: Open MPI only"
fi

SGBPF_BUILDDIR=$top_build
. "$top_src/bench/mpi/mpilablib.sh"
mpi_lab_init test_pagerank
out=$tmp

fail=0
failed() { echo "$me: FAIL: $*" >&2; fail=1; }

# The reference to L1 1e-13 and the edge list, for networkx (no MPI).
"$pagerank" --reference --scale $scale --tol 1e-13 --iters 1000 \
	--out "$out/ref.txt" --edges "$out/edges.txt" 2>&1 || failed "the reference failed"

mpi_lab_start $np || exit 1
lab=$coord
for mode in $modes; do
	for kind in default tight; do
		args=(--scale $scale --csv --out "$out/$mode-$kind.txt")
		[ $kind = tight ] && args+=(--tol 1e-6 --iters 200)
		pm=
		[ $mode = sgbpf ] && pm=--pmpi
		SGBPF_MPI_STATS=1 mpi_lab_run --np $np $pm --timeout 60 --out "$out/$mode-$kind.log" \
			-- "$pagerank" "${args[@]}"
		rc=$?
		echo "--- $mode, $kind: mpirun exit $rc"
		cat "$out/$mode-$kind.log"
		if [ $rc != 0 ]; then
			failed "$mode $kind: mpirun exited with $rc$([ $rc = 124 ] && echo ' (timed out)')"
			continue
		fi
		grep -q "^pagerank: ranks agree: yes ($np ranks" "$out/$mode-$kind.log" ||
			failed "$mode $kind: the ranks' vectors differ"
		"$pagerank" --check "$out/$mode-$kind.txt" ||
			failed "$mode $kind: beyond the float32 bound of the reference"
		if [ $mode = sgbpf ] &&
			! grep -Eq "^sgbpf-mpi: (MPI_)?Allreduce sgbpf=[1-9]" "$out/$mode-$kind.log"; then
			failed "$mode $kind: no allreduce went through sgbpf (sgbpf-mpi statistics above)"
		fi
	done
done
mpi_lab_stop
if ip netns list | grep -q "^$lab"; then
	failed "namespaces ${lab%c}* left behind"
fi

results=("$out/ref.txt")
for f in "$out"/*-default.txt "$out"/*-tight.txt; do
	[ -f "$f" ] && results+=("$f")
done
"$python" "$top_src/examples/pagerank/check.py" "$out/edges.txt" "${results[@]}"
case $? in
0) ;;
77) echo "$me: networkx or scipy missing (Debian: python3-networkx python3-scipy):" \
	"the networkx comparison is skipped" ;;
*) failed "networkx disagrees (above)" ;;
esac

[ $fail = 0 ] && echo "$me: PASS"
exit $fail
