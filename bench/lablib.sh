# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The peers' lab, shared by bench/mpi/run_mpi.sh and bench/gloo/run_gloo.sh
# (sourced, bash): an mpilab lab of namespaces held for the script's life,
# and a cleanup that removes it on every exit path. mpilab destroys the lab
# on SIGTERM or when the script dies, netlab's watchdog if mpilab is
# SIGKILLed, and the EXIT trap deletes whatever namespace of ours is still
# there, killing what runs inside.
#
# The caller sets $me (and $MPILAB before lab_start), calls lab_init
# PREFIX, and may set lab_hook to a function the cleanup runs first (to stop
# its own children). die and usage serve the whole script.

die() { echo "$me: $*" >&2; exit 1; }
usage() { sed -n '/^# usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//'; }

# Ranks and launchers (through timeout) get SIGTERM if the script is killed
# outright.
deathsig=
command -v setpriv >/dev/null 2>&1 && deathsig="setpriv --pdeathsig TERM"

stop_pids() {	# PID...: SIGTERM, up to 5 s to go, then SIGKILL
	local p i
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null
	for i in $(seq 50); do
		for p; do kill -0 "$p" 2>/dev/null && break; p=; done
		[ -z "$p" ] && break
		sleep 0.1
	done
	kill -KILL "$@" 2>/dev/null
	wait "$@" 2>/dev/null
}

lab_cleanup() {
	local ns p
	[ -n "${lab_hook:-}" ] && "$lab_hook"
	stop_pids $labpid
	labpid=
	for ns in $lab_names; do
		[ -e "/run/netns/$ns" ] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null && echo "$me: removed leftover namespace $ns" >&2
	done
	rm -rf "$tmp"
}

# A scratch folder $tmp (with $nsfile, the lab's namespace names) and the
# traps; PREFIX names the folder.
lab_init() {	# PREFIX
	tmp=$(mktemp -d "/tmp/$1.XXXXXX") || die "mktemp failed"
	nsfile=$tmp/ns.txt
	labpid=
	lab_names=
	coord=
	trap lab_cleanup EXIT
	trap 'echo "$me: interrupted" >&2; exit 130' INT TERM HUP
}

# Build a lab of NNS worker namespaces (held up to SECONDS) and wait until it
# is ready: sets $labpid, $lab_names and $coord (the coordinator's namespace).
lab_start() {	# NNS SECONDS
	local i
	"$MPILAB" lab -n "$1" -f "$nsfile" -t "$2" </dev/null &
	labpid=$!
	for i in $(seq 300); do
		[ -s "$nsfile" ] && break
		kill -0 "$labpid" 2>/dev/null || { labpid=; die "mpilab could not build the lab"; }
		sleep 0.1
	done
	[ -s "$nsfile" ] || die "the lab was not ready after 30 s"
	lab_names=$(cat "$nsfile")
	coord=$(head -n1 "$nsfile")
	echo "$me: lab of $1 worker namespaces, coordinator $coord"
}
