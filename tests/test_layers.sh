#!/bin/sh
# The library's layers, from the bottom (docs/design.md, "Layers"):
#   include    the public API and the wire format
#   bpf        the kernel programs and the headers they share with user space
#   common     logging, clock, options, codec, workers file, UDP helpers
#   transport  how bytes move (transport.h is its interface)
#   coll       collective semantics
# A file may include its own layer and the layers below it; coll sees only
# transport/transport.h of the transport layer. This test reads every
# #include "..." of the library's sources and fails on any other edge, so an
# upward dependency cannot come back unnoticed. libsgbpf-mpi (mpi/) sees only
# the public API.
set -eu
src=${srcdir:-.}
cd "$src"

# rank LAYER: position from the bottom.
rank() {
	case $1 in
	include) echo 0 ;; bpf) echo 1 ;; common) echo 2 ;; transport) echo 3 ;; coll) echo 4 ;;
	*) echo 99 ;;
	esac
}

# layer_of INCLUDING_DIR NAME: the layer an #include "NAME" resolves to.
layer_of() {
	case $2 in
	sgbpf.h | sgbpf/*) echo include ;;
	sgbpf.skel.h) echo bpf ;;
	*/*) echo "${2%%/*}" ;;
	*) echo "$1" ;;	# relative to the including file
	esac
}

bad=0 edges=0
for f in include/*.h include/sgbpf/*.h bpf/*.h bpf/*.c common/*.[ch] transport/*.[ch] coll/*.[ch]; do
	[ -f "$f" ] || continue
	dir=${f%%/*}
	for name in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		to=$(layer_of "$dir" "$name")
		edges=$((edges + 1))
		if [ "$(rank "$to")" -gt "$(rank "$dir")" ]; then
			echo "FAIL: $f includes $name: $dir may not depend on $to (a layer above it)"
			bad=$((bad + 1))
		elif [ "$(rank "$to")" -eq 99 ]; then
			echo "FAIL: $f includes $name from outside the library ($to)"
			bad=$((bad + 1))
		elif [ "$dir" = coll ] && [ "$to" = transport ] && [ "$name" != transport/transport.h ]; then
			echo "FAIL: $f includes $name: coll/ sees only the transport interface (transport/transport.h)"
			bad=$((bad + 1))
		fi
	done
done
# libsgbpf-mpi (mpi/) is a client of the library: the public API only.
for f in mpi/*.[ch]; do
	[ -f "$f" ] || continue
	for name in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		edges=$((edges + 1))
		case $name in
		sgbpf.h | sgmpi.h) ;;
		*)
			echo "FAIL: $f includes $name: mpi/ uses only the public API (sgbpf.h)"
			bad=$((bad + 1)) ;;
		esac
	done
done
if [ "$edges" -lt 50 ]; then
	echo "FAIL: only $edges includes found: is srcdir ($src) right?"
	exit 1
fi
echo "$edges includes checked, $bad against the layering"
[ "$bad" -eq 0 ]
