#!/bin/sh
# Run the integration tests on one user-space transport (the ebpf transport
# runs them as the plain TESTS entries).
#   usage: on_transport.sh tests/transports/<transport>.transport
# The file names the transport (its basename) and lists the test programs to
# run, one per line, each optionally followed by VAR=value defaults for it.
set -u
list=$1
transport=$(basename "$list" .transport)
builddir=${SGBPF_BUILDDIR:-.}
status=0
skipped=0
ran=0

while read -r prog settings; do
	case "$prog" in ''|'#'*) continue ;; esac
	# A setting applies unless the caller's environment already has the
	# variable (the sanitizer build lowers the loss iterations further).
	env=""
	for kv in ${settings:-}; do
		printenv "${kv%%=*}" >/dev/null || env="$env $kv"
	done
	echo "== $prog on $transport$env"
	# shellcheck disable=SC2086 # VAR=value words
	env SG_TRANSPORT="$transport" $env "$builddir/tests/$prog"
	rc=$?
	case $rc in
	0) ran=$((ran + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) echo "FAIL: $prog on $transport (exit $rc)"; status=1 ;;
	esac
done < "$list"

[ "$status" -ne 0 ] && exit 1
# Everything skipped (no privileges): skip as a whole.
[ "$ran" -eq 0 ] && [ "$skipped" -gt 0 ] && exit 77
exit 0
