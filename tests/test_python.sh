#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The Python package from the build tree: python/sgbpf/*.py and the
# uninstalled extension python/.libs/_sgbpf.so put together as a package in
# a temporary folder, then tests/test_python.py and, when Debian's torch is
# there, tests/test_torch.py (the torch.distributed backend against gloo),
# under the Python it was built for (PYTHON, default /usr/bin/python3). A
# sanitizer build's extension needs the sanitizer runtimes loaded first
# (LD_PRELOAD), and CPython's own allocations at exit are not leaks of ours;
# torch is not run under them (its own libraries and the ASan runtime do not
# mix), the plain build runs it.
set -u
srcdir=${srcdir:-.}
builddir=${SGBPF_BUILDDIR:-.}
python=${PYTHON:-/usr/bin/python3}
mod=$builddir/python/.libs/_sgbpf.so

if [ ! -f "$mod" ]; then
	echo "FAIL: $mod not built"
	exit 1
fi
tests=$(cd "$srcdir/tests" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sgbpf-py.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/sgbpf"
cp "$srcdir/python/sgbpf/__init__.py" "$srcdir/python/sgbpf/torch_backend.py" "$mod" \
	"$tmp/sgbpf/"

preload=
if ldd "$mod" | grep -q libasan; then
	for rt in libasan.so libubsan.so; do
		f=$(${CC:-cc} -print-file-name=$rt)
		[ -f "$f" ] && preload="$preload $f"
	done
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	export ASAN_OPTIONS
fi
cd "$tmp" || exit 1
env ${preload:+LD_PRELOAD="$preload"} PYTHONPATH="$tmp" "$python" "$tests/test_python.py" ||
	exit 1
if [ -n "$preload" ]; then
	echo "torch backend: not run in the sanitizer build (see above)"
elif ! "$python" -c 'import torch.distributed' 2>/dev/null; then
	echo "FAIL: $python has no torch.distributed (install the Debian package python3-torch)"
	exit 1
else
	PYTHONPATH="$tmp" "$python" "$tests/test_torch.py" || exit 1
fi
