#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The short version of examples/ml (its README.md): 20 steps of data-parallel
# training of the Fashion-MNIST MLP on 2 ranks in the lab's namespaces, with
# torch.distributed's gloo, the sgbpf backend on its default transport and,
# when mpirun and mpi4py are there, Open MPI through mpi4py, all through
# examples/ml/run.sh. Every backend's final loss and parameters must match
# gloo's (report.py --check), and the lab's namespaces must be gone.
# Skipped (77) without root, without Debian's torch or Fashion-MNIST, without
# bench/mpi/mpilab (built when configure finds mpicc or gloo), and in the
# sanitizer build (torch is not run under ASan, as in tests/test_python.sh).

me=test_train
top_src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-/usr/bin/python3}

if [ "$(id -u)" != 0 ]; then
	echo "$me: SKIP: needs root (network namespaces, the ebpf transport)"
	exit 77
fi
if ! "$python" -c 'import torch.distributed' 2>/dev/null; then
	echo "$me: SKIP: $python has no torch.distributed (install the Debian package python3-torch)"
	exit 77
fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	echo "$me: SKIP: no Fashion-MNIST (install the Debian package dataset-fashion-mnist)"
	exit 77
fi
if [ ! -x "$top_build/bench/mpi/mpilab" ]; then
	echo "$me: SKIP: $top_build/bench/mpi/mpilab not built (configure found neither mpicc nor gloo)"
	exit 77
fi

if ldd "$top_build/python/.libs/_sgbpf.so" 2>/dev/null | grep -q libasan; then
	# As tests/test_python.sh: torch and the ASan runtime do not mix.
	echo "$me: SKIP: the sanitizer build's extension cannot be loaded under torch"
	exit 77
fi

out=$(mktemp -d /tmp/test_train.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

SGBPF_BUILDDIR=$top_build PYTHON=$python timeout -k 10 400 \
	"$top_src/examples/ml/run.sh" "$out" --ranks 2 --steps 20 --timeout 120 >"$out/stdout" 2>&1
rc=$?
cat "$out/stdout"
fail=0
if [ $rc != 0 ]; then
	echo "$me: FAIL: run.sh exited with $rc$([ $rc = 124 ] && echo ' (timed out)')" >&2
	fail=1
fi

want="gloo sgbpf"
if command -v mpirun >/dev/null 2>&1 && "$python" -c 'import mpi4py' 2>/dev/null; then
	want="$want mpi"
else
	echo "$me: no mpirun or mpi4py (Debian: openmpi-bin, python3-mpi4py): Open MPI not compared"
fi
for b in $want; do
	if [ ! -s "$out/$b-2/summary.json" ]; then
		echo "$me: FAIL: no result for $b" >&2
		fail=1
	fi
done
if [ -s "$out/sgbpf-2/summary.json" ]; then
	echo "$me: sgbpf transport: $(sed -n 's/.*"transport": "\(.*\)".*/\1/p' "$out/sgbpf-2/summary.json")"
fi
# Float sums in other orders (sgbpf: to 2^-22 of the magnitudes) over 20
# steps stay far inside these bounds; a wrong reduction does not.
if [ -s "$out/gloo-2/summary.json" ] &&
	! "$python" "$top_src/examples/ml/report.py" "$out" --warmup 0 --check \
		--loss-tol 1e-4 --param-tol 1e-4; then
	echo "$me: FAIL: the backends disagree (above)" >&2
	fail=1
fi

lab=$(sed -n 's/.*coordinator \(sgtm[0-9]*\)c$/\1/p' "$out/stdout")
if [ -z "$lab" ]; then
	echo "$me: FAIL: run.sh did not name its lab" >&2
	fail=1
elif ip netns list | grep -q "^$lab"; then
	echo "$me: FAIL: namespaces $lab* left behind" >&2
	fail=1
fi
[ $fail = 0 ] && echo "$me: PASS"
exit $fail
