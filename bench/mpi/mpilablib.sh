# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# MPI programs in the namespaces lab (sourced, bash; builds on
# bench/lablib.sh): one place for the mpirun plumbing of bench/mpi/run_mpi.sh,
# for any MPI program, plain or with libsgbpf-mpi preloaded (the PMPI
# library, mpi/). bench/mpi/labrun.sh is its command line; bench/imb/run_imb.sh
# and bench/mpi/run_mpi.sh use it. See bench/mpi/README.md.
#
# Rank 0 runs in the coordinator's namespace (sg0 10.77.0.1, where mpirun
# runs too), ranks 1..NP-1 in the lab's worker namespaces (10.77.1.x), one
# each when the lab was started for NP ranks; more ranks than namespaces
# share them (bench/mpi/mpilab.c). Open MPI uses the TCP BTL on sg0 only.
#
#   me=myscript.sh; . bench/mpi/mpilablib.sh
#   mpi_lab_init PREFIX             programs, scratch folder $tmp, traps (dies
#                                   without root, mpirun or mpilab)
#   mpi_lab_start [--mtu N] [--hold S] NP
#                                   a lab for NP >= 2 ranks: `mpilab lab -n NP-1`,
#                                   links at MTU N (default: $NETLAB_MTU, else
#                                   1500), held at most S s (default 7200); stops
#                                   a lab this script started before. Prints
#                                   "$me: lab of NP-1 worker namespaces,
#                                   coordinator <name>" on stdout. Sets
#                                   $mpi_lab_np, $mpi_lab_mtu (the sg0 MTU read
#                                   back), $coord, $lab_names, $nsfile.
#   mpi_lab_run [options] -- PROG ARGS...
#                                   one mpirun of PROG in the lab; returns
#                                   mpirun's status (124: timed out), and the
#                                   output (stdout and stderr of every rank
#                                   and of mpirun) is in the --out file.
#       --np N          ranks (default: the lab's NP)
#       --pmpi          preload libsgbpf-mpi into every rank: -x LD_PRELOAD=$PMPI_LIB
#                       -x LD_LIBRARY_PATH=BUILD/.libs, and -x for each of
#                       SGBPF_MPI_STATS, SGBPF_TRANSPORT, SGBPF_LOG and SGBPF_MPI_*
#                       that is set (in the sanitizer build, the library's
#                       libasan goes first in LD_PRELOAD, with detect_leaks=0)
#       --timeout S     bound on the mpirun, through timeout(1) (default 300)
#       --out FILE      the output (default $tmp/mpi_lab_run.out); an attempt
#                       that failed to connect and was repeated is kept in
#                       FILE.attempt1; a run about to time out leaves the
#                       lab's processes and their kernel stacks in FILE.hang
#       --env VAR[=VALUE]  -x VAR[=VALUE] (repeatable)
#       --mca KEY VALUE    one more --mca for mpirun (repeatable)
#       --pin R:W       mpilab exec -p: rank 0 on CPU R, the others on CPU W
#       --retries N     more attempts when Open MPI "failed to TCP connect"
#                       (default 1; open-mpi/ompi#11508 on a loaded machine)
#                       Sets $mpi_lab_attempts.
#   mpi_lab_stop                    stop the lab (mpi_lab_start does, and the
#                                   EXIT trap of lablib.sh)
#   mpi_lab_stop_child              stop a running mpirun: the default
#                                   $lab_hook; a script with a hook of its
#                                   own calls it from there
#
# mpirun (as in run_mpi.sh and examples/ml/run.sh):
#   mpilab exec -c -f $nsfile -- env PMIX_MCA_ptl_base_if_include=sg0 \
#     timeout -k 5 S mpirun --oversubscribe --bind-to none --mca pml ob1 \
#       --mca btl_base_warn_component_unused 0 --mca btl tcp,self \
#       --mca btl_tcp_if_include sg0 --mca oob_tcp_if_include sg0 -np N \
#       mpilab exec -f $nsfile -- PROG ARGS...
# with OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.
#
# Programs: $MPIRUN (default: mpirun in PATH), $MPILAB (default
# BUILD/bench/mpi/mpilab), $PMPI_LIB (default
# BUILD/mpi/.libs/libsgbpf-mpi.so), BUILD being $SGBPF_BUILDDIR, else this
# source tree. mpi_lab_run needs only $MPIRUN, $MPILAB, $tmp and a lab from
# lablib.sh's lab_start (run_mpi.sh calls it without mpi_lab_init).

mpi_lab_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
declare -F lab_start >/dev/null || . "$mpi_lab_top/bench/lablib.sh"
mpi_lab_build=${SGBPF_BUILDDIR:-$mpi_lab_top}
PMPI_LIB=${PMPI_LIB:-$mpi_lab_build/mpi/.libs/libsgbpf-mpi.so}
mpi_lab_child=
mpi_lab_np=
mpi_lab_mtu=
mpi_lab_attempts=0
# ob1 with the BTLs named, not UCX, which picks its own transports; every
# process may run on either core (2 cores, many ranks); TCP on sg0 only.
mpi_lab_mpirun_opts="--oversubscribe --bind-to none --mca pml ob1 --mca btl_base_warn_component_unused 0
	--mca btl tcp,self --mca btl_tcp_if_include sg0 --mca oob_tcp_if_include sg0"

mpi_lab_stop_child() {
	stop_pids $mpi_lab_child
	mpi_lab_child=
}

mpi_lab_init() {	# PREFIX
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
	MPILAB=${MPILAB:-$mpi_lab_build/bench/mpi/mpilab}
	[ -n "$MPIRUN" ] && [ -x "$MPIRUN" ] ||
		die "Open MPI's mpirun not found (Debian: openmpi-bin and libopenmpi-dev, then configure)"
	[ -x "$MPILAB" ] || die "$MPILAB not built (run make; configure needs mpicc)"
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	lab_hook=${lab_hook:-mpi_lab_stop_child}
	lab_init "$1"
}

# Kill whatever still runs in the lab's namespaces (ranks that outlived a
# killed mpirun).
mpi_lab_kill_leftovers() {
	local ns p
	for ns in $lab_names; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
	done
}

# What runs in the lab's namespaces, and where each process waits: taken
# just before --timeout ends a run, into FILE.hang.
mpi_lab_snapshot() {
	local ns p t
	echo "# $(date -u '+%F %T') UTC: the processes of the lab before the timeout"
	for ns in $lab_names; do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			echo "== namespace $ns"
			ps -o pid,ppid,stat,wchan:32,etime,time,args -p "$p" | tail -n +2
			for t in /proc/$p/task/*; do
				echo "-- thread ${t##*/}: $(cat "$t/comm" 2>/dev/null), $(cat "$t/wchan" 2>/dev/null)"
				cat "$t/stack" 2>/dev/null | head -n 12
			done
		done
	done
}

mpi_lab_stop() {
	local ns
	mpi_lab_stop_child
	mpi_lab_kill_leftovers
	stop_pids $labpid
	labpid=
	for ns in $lab_names; do
		[ -e "/run/netns/$ns" ] || continue
		ip netns del "$ns" 2>/dev/null && echo "$me: removed leftover namespace $ns" >&2
	done
	lab_names=
	coord=
	mpi_lab_np=
	rm -f "$nsfile"
}

mpi_lab_start() {	# [--mtu N] [--hold S] NP
	local mtu=${NETLAB_MTU:-} hold=7200 np
	while [ $# -gt 1 ]; do
		case "$1" in
		--mtu) mtu=$2 ;;
		--hold) hold=$2 ;;
		*) die "mpi_lab_start: unknown option $1" ;;
		esac
		shift 2
	done
	np=${1:-}
	[ "$np" -ge 2 ] 2>/dev/null || die "mpi_lab_start: NP must be a number >= 2"
	[ -z "$mtu" ] || [ "$mtu" -ge 576 ] 2>/dev/null || die "--mtu: a number >= 576"
	[ -n "$labpid" ] && mpi_lab_stop
	if [ -n "$mtu" ]; then
		NETLAB_MTU=$mtu lab_start $((np - 1)) "$hold"
	else
		lab_start $((np - 1)) "$hold"
	fi
	mpi_lab_np=$np
	mpi_lab_mtu=$(ip -n "$coord" -o link show dev sg0 2>/dev/null | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
	[ -n "$mtu" ] && [ "$mpi_lab_mtu" != "$mtu" ] &&
		die "the lab's sg0 has MTU ${mpi_lab_mtu:-?}, not $mtu"
	return 0
}

# mpi_pmpi_args ARRAY: append to ARRAY the mpirun -x options that preload
# libsgbpf-mpi ($PMPI_LIB) into every rank, with the build's libsgbpf on the
# library path and the SGBPF_* variables that are set. For mpirun inside or
# outside the lab.
mpi_pmpi_args() {
	local -n _xs=$1
	local v preload asan
	[ -f "$PMPI_LIB" ] || die "$PMPI_LIB not built (run make)"
	preload=$PMPI_LIB
	# The sanitizer build's library needs the ASan runtime loaded
	# first; Open MPI's allocations at exit are not ours to report.
	asan=$(ldd "$PMPI_LIB" 2>/dev/null | awk '$1 ~ /^libasan\.so/ && $3 ~ /^\// { print $3; exit }')
	if [ -n "$asan" ]; then
		preload=$asan:$preload
		_xs+=(-x "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
	fi
	_xs+=(-x "LD_PRELOAD=$preload"
		-x "LD_LIBRARY_PATH=$mpi_lab_build/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
	for v in $(compgen -e); do
		case "$v" in
		SGBPF_MPI*|SGBPF_TRANSPORT|SGBPF_LOG) _xs+=(-x "$v") ;;
		esac
	done
}

mpi_lab_run() {	# [options] -- PROG ARGS...
	local np=${mpi_lab_np:-} pmpi=0 tmo=300 out= pin= retries=1 xs=() mca=()
	local attempt rc i t0 snap
	while [ $# -gt 0 ]; do
		case "$1" in
		--pmpi) pmpi=1; shift; continue ;;
		--) shift; break ;;
		--mca)
			[ $# -ge 3 ] || die "mpi_lab_run: --mca KEY VALUE"
			mca+=(--mca "$2" "$3"); shift 3; continue ;;
		esac
		[ $# -ge 2 ] || die "mpi_lab_run: option $1 needs a value"
		case "$1" in
		--np) np=$2 ;;
		--timeout) tmo=$2 ;;
		--out) out=$2 ;;
		--env) xs+=(-x "$2") ;;
		--pin) pin=$2 ;;
		--retries) retries=$2 ;;
		*) die "mpi_lab_run: unknown option $1" ;;
		esac
		shift 2
	done
	[ $# -gt 0 ] || die "mpi_lab_run: no program (-- PROG ARGS...)"
	[ -n "$labpid" ] && [ -s "$nsfile" ] || die "mpi_lab_run: no lab (mpi_lab_start first)"
	[ "$np" -ge 1 ] 2>/dev/null || die "mpi_lab_run: --np: a number >= 1"
	[ "$tmo" -ge 1 ] 2>/dev/null || die "mpi_lab_run: --timeout: seconds >= 1"
	[ "$retries" -ge 0 ] 2>/dev/null || die "mpi_lab_run: --retries: a number >= 0"
	out=${out:-$tmp/mpi_lab_run.out}
	[ $pmpi = 1 ] && mpi_pmpi_args xs
	mpi_lab_attempts=0
	for attempt in $(seq $((retries + 1))); do
		mpi_lab_attempts=$attempt
		# mpirun in the coordinator's namespace; PMIx listens on its sg0
		# address (the workers' namespaces cannot reach its loopback);
		# each rank enters its namespace before MPI_Init. In the
		# background, so that a signal reaches the script's trap at once;
		# the child is timeout(1) (mpilab and env exec), which passes
		# SIGTERM on to mpirun.
		"$MPILAB" exec -c -f "$nsfile" -- env PMIX_MCA_ptl_base_if_include=sg0 \
			$deathsig timeout -k 5 "$tmo" "$MPIRUN" $mpi_lab_mpirun_opts -np "$np" \
			"${xs[@]}" "${mca[@]}" \
			"$MPILAB" exec -f "$nsfile" ${pin:+-p "$pin"} -- "$@" \
			>"$out" 2>&1 </dev/null &
		mpi_lab_child=$!
		t0=$SECONDS
		snap=0
		# Bounded: timeout ends the child after $tmo (+5) seconds. Open
		# MPI hangs after a failed TCP connection: stop it early.
		for i in $(seq $(( (tmo + 10) * 5 ))); do
			kill -0 "$mpi_lab_child" 2>/dev/null || break
			if [ $snap = 0 ] && [ $((SECONDS - t0)) -ge $((tmo - 2)) ]; then
				snap=1
				mpi_lab_snapshot >"$out.hang" 2>&1
			fi
			if grep -q "failed to TCP connect" "$out" 2>/dev/null; then
				sleep 1	# let the other ranks' messages in
				kill -TERM "$mpi_lab_child" 2>/dev/null
			fi
			sleep 0.2
		done
		wait "$mpi_lab_child"
		rc=$?
		mpi_lab_child=
		[ $rc = 0 ] && break
		mpi_lab_kill_leftovers
		grep -q "failed to TCP connect" "$out" 2>/dev/null || break
		[ "$attempt" -le "$retries" ] || break
		echo "$me: Open MPI failed to TCP connect ($np ranks: $*); again" >&2
		mv -f "$out" "$out.attempt$attempt"
	done
	return $rc
}
