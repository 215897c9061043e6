#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The Python package from the build tree: python/sgbpf/__init__.py and the
# uninstalled extension python/.libs/_sgbpf.so put together as a package in
# a temporary folder, then tests/test_python.py under the Python it was built
# for (PYTHON, default /usr/bin/python3). A sanitizer build's extension needs
# the sanitizer runtimes loaded first (LD_PRELOAD), and CPython's own
# allocations at exit are not leaks of ours.
set -u
srcdir=${srcdir:-.}
builddir=${SGBPF_BUILDDIR:-.}
python=${PYTHON:-/usr/bin/python3}
mod=$builddir/python/.libs/_sgbpf.so

if [ ! -f "$mod" ]; then
	echo "FAIL: $mod not built"
	exit 1
fi
test_py=$(cd "$srcdir/tests" && pwd)/test_python.py
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sgbpf-py.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/sgbpf"
cp "$srcdir/python/sgbpf/__init__.py" "$mod" "$tmp/sgbpf/"

preload=
if ldd "$mod" | grep -q libasan; then
	for rt in libasan.so libubsan.so; do
		f=$(${CC:-cc} -print-file-name=$rt)
		[ -f "$f" ] && preload="$preload $f"
	done
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	export ASAN_OPTIONS
fi
cd "$tmp" && env ${preload:+LD_PRELOAD="$preload"} PYTHONPATH="$tmp" \
	"$python" "$test_py"
