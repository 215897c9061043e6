#!/bin/sh
# Install the build dependencies (Debian 12, as root), build sgbpf, then run
# the demo ("demo") or the whole test suite ("check": the tests, the unit tests
# under valgrind, then the tests again in a build with ASan and UBSan).
set -eu
what=${1:-check}
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	autoconf automake libtool pkg-config make gcc libc6-dev \
	clang llvm libclang-rt-14-dev libbpf-dev libelf-dev zlib1g-dev bpftool \
	libhwloc-dev libcmocka-dev liburing-dev iproute2 valgrind \
	openmpi-bin libopenmpi-dev g++ libgloo-dev libcap2-bin groff-base man-db \
	python3-dev python3-numpy python3-torch python3-mpi4py dataset-fashion-mnist \
	libopenblas0-serial gnuplot-nox python3-networkx python3-scipy

autoreconf -fi
./configure
make -j"$(nproc)"

case "$what" in
demo)
	./examples/demo
	;;
check)
	run_check() {
		if ! make -j"$(nproc)" "$@"; then
			# Show why, since CI keeps only this output.
			for log in tests/*.log tests/fuzz/*.log; do
				[ -f "$log" ] || continue
				grep -q -E '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null || continue
				echo "==== $log"
				tail -n 80 "$log"
			done
			exit 1
		fi
	}
	run_check check
	make check-valgrind
	# The sanitizer build runs the suite again, with fewer loss iterations
	# (ASan slows every packet path).
	make distclean
	./configure --enable-sanitizers --disable-fuzzing
	make -j"$(nproc)"
	export SGBPF_LOSS_ITERS=1000 SGBPF_LOSS_ITERS_BIG=50 SGBPF_LOSS_ITERS_HUGE=0 SGBPF_TEST_HUGE=0
	run_check check
	;;
*)
	echo "usage: $0 demo|check" >&2
	exit 2
	;;
esac
