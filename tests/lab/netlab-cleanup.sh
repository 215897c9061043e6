#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Delete network namespaces left behind by netlab (tests/lab/netlab.c) after a
# crash: names starting with "sgt" (tests, including the "sgtprobe" probes) or
# "sgdemo" (the demo), plus any prefix given as an argument. Namespaces whose
# creator (the pid in the name) is still running are kept unless -f is given,
# so that this is safe to run while other tests run. Processes still inside a
# deleted namespace are killed (they are test workers).
#
# usage: tests/lab/netlab-cleanup.sh [-f] [-n] [PREFIX...]
#   -f  also delete namespaces of running processes
#   -n  only print what would be done

force=0
dry=0
while [ $# -gt 0 ]; do
	case "$1" in
	-f) force=1 ;;
	-n) dry=1 ;;
	-h|--help) sed -n '3,15p' "$0"; exit 0 ;;
	-*) echo "usage: $0 [-f] [-n] [PREFIX...]" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
# Longest first, so that "sgtprobe123" is read as prefix "sgtprobe", pid 123.
prefixes="sgtprobe sgdemo sgt $*"

if [ "$(id -u)" != 0 ]; then
	echo "$0: must be root" >&2
	exit 1
fi

n=0
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
	match=
	for p in $prefixes; do
		case "$ns" in
		"$p"*) match=$p; break ;;
		esac
	done
	[ -n "$match" ] || continue
	pid=$(printf '%s\n' "${ns#"$match"}" | sed -n 's/^\([0-9][0-9]*\).*/\1/p')
	if [ "$force" = 0 ] && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		echo "keep   $ns (process $pid is running; -f to delete)"
		continue
	fi
	if [ "$dry" = 1 ]; then
		echo "would delete $ns"
		continue
	fi
	for p in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	if ip netns del "$ns"; then
		echo "delete $ns"
		n=$((n + 1))
	fi
done
echo "$n namespace(s) deleted"
