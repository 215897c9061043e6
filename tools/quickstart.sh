#!/bin/sh
# Install the build dependencies (Debian 12, as root), build sgbpf, then run
# the demo ("demo") or the whole test suite ("check").
set -eu
what=${1:-check}
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	autoconf automake libtool pkg-config make gcc libc6-dev \
	clang llvm libclang-rt-14-dev libbpf-dev libelf-dev zlib1g-dev bpftool \
	libhwloc-dev libcmocka-dev iproute2

autoreconf -fi
./configure
make -j"$(nproc)"

case "$what" in
demo)
	./examples/demo
	;;
check)
	if ! make -j"$(nproc)" check; then
		# Show why, since CI keeps only this output.
		for log in tests/*.log; do
			grep -q -E '^(FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null || continue
			echo "==== $log"
			tail -n 80 "$log"
		done
		exit 1
	fi
	;;
*)
	echo "usage: $0 demo|check" >&2
	exit 2
	;;
esac
