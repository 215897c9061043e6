#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Data-parallel training of an MLP on Fashion-MNIST (train.py) with the
# all-reduce of torch.distributed's gloo, of the sgbpf torch backend and of
# Open MPI (mpi4py), for each number of ranks, every rank in its own network
# namespace of the lab bench/mpi/mpilab builds (the links of the benchmarks).
# Writes OUT/BACKEND-RANKS/ (steps.csv, summary.json, params.npy, the ranks'
# logs), OUT/results.md (report.py), OUT/loss-RANKS.png (loss.gp, when
# gnuplot is there), OUT/machine.txt and OUT/command.txt. See README.md.
#
# usage: examples/ml/run.sh OUT_DIR [options]
#   --ranks LIST      numbers of ranks (default 2,4,8)
#   --backends LIST   gloo,sgbpf,mpi (default all three; mpi is skipped with a
#                     message when mpirun or mpi4py is missing)
#   --steps N         training steps (default 300)
#   --batch N         samples per rank and step (default 64)
#   --timeout S       bound on one training run (default 300)
#   --mtu N           MTU of the lab's links (default 1500)
#
# Needs root (namespaces; sgbpf's default transport, ebpf), Debian's
# python3-torch and dataset-fashion-mnist, and a build (SGBPF_BUILDDIR, else
# this source tree): its bench/mpi/mpilab and python/.libs/_sgbpf.so.
# Environment: PYTHON (default /usr/bin/python3, the one torch runs under),
# MPIRUN, MPILAB override the programs.

set -u

me=run.sh
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/bench/lablib.sh"

[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
results=$1
shift

ranks_list=2,4,8
backends=gloo,sgbpf,mpi
steps=300
batch=64
tmo=300
mtu=1500
cmdline="${SGBPF_BUILDDIR:+SGBPF_BUILDDIR=$SGBPF_BUILDDIR }examples/ml/run.sh $results $*"
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case "$1" in
	--ranks) ranks_list=$2 ;;
	--backends) backends=$2 ;;
	--steps) steps=$2 ;;
	--batch) batch=$2 ;;
	--timeout) tmo=$2 ;;
	--mtu) mtu=$2 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift 2
done

# ---------------------------------------------------------------- programs
build=${SGBPF_BUILDDIR:-$top}
PYTHON=${PYTHON:-/usr/bin/python3}
MPILAB=${MPILAB:-$build/bench/mpi/mpilab}
MPIRUN=${MPIRUN:-$(command -v mpirun || true)}
train=$here/train.py
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, the ebpf transport)"
[ -x "$MPILAB" ] || die "$MPILAB not built (run make; it needs mpicc or g++ with libgloo-dev)"
"$PYTHON" -c 'import torch.distributed' 2>/dev/null ||
	die "$PYTHON has no torch.distributed (install the Debian package python3-torch)"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
	die "no Fashion-MNIST (install the Debian package dataset-fashion-mnist)"
maxranks=0
for n in ${ranks_list//,/ }; do
	[ "$n" -ge 2 ] 2>/dev/null || die "--ranks: numbers >= 2"
	[ "$n" -gt $maxranks ] && maxranks=$n
done
run_backends=
for b in ${backends//,/ }; do
	case "$b" in
	gloo) ;;
	sgbpf)
		[ -f "$build/python/.libs/_sgbpf.so" ] ||
			die "$build/python/.libs/_sgbpf.so not built (configure found no python3-dev?)"
		;;
	mpi)
		if [ -z "$MPIRUN" ] || ! "$PYTHON" -c 'import mpi4py' 2>/dev/null; then
			echo "$me: no mpirun or no mpi4py (Debian: openmpi-bin, python3-mpi4py): skipping mpi"
			continue
		fi
		;;
	*) die "--backends: gloo, sgbpf, mpi" ;;
	esac
	run_backends="$run_backends $b"
done

mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd)

# ---------------------------------------------------------------- lab
ranks=()
stop_ranks() { stop_pids "${ranks[@]}"; ranks=(); }
lab_hook=stop_ranks
lab_init run_ml
# The sgbpf package from the build tree, as tests/test_python.sh assembles it
# (the Python files of the build's own source when it has them).
mkdir "$tmp/py" "$tmp/py/sgbpf"
pysrc=$build/python/sgbpf
[ -f "$pysrc/__init__.py" ] || pysrc=$top/python/sgbpf
if [ -f "$build/python/.libs/_sgbpf.so" ]; then
	cp "$pysrc"/*.py "$build/python/.libs/_sgbpf.so" "$tmp/py/sgbpf/" ||
		die "cannot copy the sgbpf package"
fi
NETLAB_MTU=$mtu lab_start $((maxranks - 1)) 7200
# The ranks meet through a FileStore in $tmp (the namespaces share the file
# system); MASTER_ADDR, rank 0's sg0 address, is what the sgbpf backend picks
# each rank's address by, so every byte of every backend stays on the lab's
# links.
master=$("$MPILAB" exec -c -f "$nsfile" -- ip -4 -o addr show dev sg0 |
	awk '{ sub("/.*", "", $4); print $4; exit }')
[ -n "$master" ] || die "no address on the coordinator's sg0"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Bytes received and sent by the coordinator's sg0: "rx tx".
sg0_bytes() {
	"$MPILAB" exec -c -f "$nsfile" -- cat /proc/net/dev | awk '$1 == "sg0:" { print $2, $10 }'
}

# Packets dropped anywhere in the lab (every interface of every namespace,
# the bridge's included) and UDP datagrams dropped for a full socket buffer:
# "rx_dropped tx_dropped udp_rcvbuf_errors". The switch namespace is the
# coordinator's name ending in s (tests/lab/netlab.h).
lab_drops() {
	local ns
	for ns in $lab_names "${coord%c}s"; do
		ip netns exec "$ns" cat /proc/net/dev /proc/net/snmp 2>/dev/null
	done | awk '$1 ~ /:$/ && NF >= 17 { rx += $5; tx += $13 }
		$1 == "Udp:" && $2 ~ /^[0-9]+$/ { rcvbuf += $6 }
		END { print rx + 0, tx + 0, rcvbuf + 0 }'
}

# Wait for every pid in ${ranks[@]}; the first to fail stops the others.
# Bounded: each is under `timeout`. Returns the first failure's status.
wait_ranks() {
	local rc=0 r done_pid
	while [ ${#ranks[@]} -gt 0 ]; do
		wait -n -p done_pid "${ranks[@]}"
		r=$?
		ranks=($(printf '%s\n' "${ranks[@]}" | grep -vx "$done_pid"))
		if [ $r != 0 ] && [ $rc = 0 ]; then
			rc=$r
			stop_ranks
		fi
	done
	return $rc
}

# One training run: BACKEND on N ranks into OUT.
launch() {	# BACKEND N OUT
	local b=$1 n=$2 out=$3 r
	local args=(--backend "$b" --out "$out" --steps "$steps" --batch "$batch")
	ranks=()
	if [ "$b" = mpi ]; then
		# As bench/mpi/run_mpi.sh: mpirun in the coordinator's namespace,
		# PMIx and the TCP BTL on sg0, each rank entering its namespace
		# before MPI_Init; ob1 with the BTLs named, not UCX.
		"$MPILAB" exec -c -f "$nsfile" -- env PMIX_MCA_ptl_base_if_include=sg0 \
			$deathsig timeout -k 5 "$tmo" "$MPIRUN" --oversubscribe --bind-to none \
			--mca pml ob1 --mca btl_base_warn_component_unused 0 -np "$n" \
			--mca btl tcp,self --mca btl_tcp_if_include sg0 --mca oob_tcp_if_include sg0 \
			"$MPILAB" exec -f "$nsfile" -- "$PYTHON" "$train" "${args[@]}" \
			>"$out/rank0.log" 2>&1 &
		ranks+=($!)
	else
		for r in $(seq 0 $((n - 1))); do
			$deathsig timeout -k 5 "$tmo" "$MPILAB" exec -f "$nsfile" -r "$r:$n" -- \
				env RANK=$r WORLD_SIZE=$n MASTER_ADDR="$master" \
				GLOO_SOCKET_IFNAME=sg0 PYTHONPATH="$tmp/py" \
				"$PYTHON" "$train" "${args[@]}" --init "file://$tmp/store.$nrun" \
				>"$out/rank$r.log" 2>&1 &
			ranks+=($!)
		done
	fi
	wait_ranks
}

failures=0
nrun=0
t_start=$(date +%s)
# Anything else running shares the two cores: the load says so.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
run_one() {	# BACKEND N
	local b=$1 n=$2 out=$results/$1-$2 rc attempt before after d0 d1
	rm -rf "$out"
	mkdir -p "$out"
	for attempt in 1 2; do
		nrun=$((nrun + 1))
		before=$(sg0_bytes) d0=($(lab_drops))
		launch "$b" "$n" "$out"
		rc=$?
		after=$(sg0_bytes) d1=($(lab_drops))
		# Open MPI's TCP BTL sometimes fails to connect on an overloaded
		# machine (open-mpi/ompi#11508): a second attempt, as run_mpi.sh.
		[ $rc != 0 ] && [ $attempt = 1 ] && grep -q "failed to TCP connect" "$out"/rank*.log &&
			{ echo "$me: $b $n ranks: Open MPI failed to TCP connect; again" >&2; continue; }
		break
	done
	if [ $rc != 0 ]; then
		echo "$me: $b on $n ranks failed (exit $rc$([ $rc = 124 ] && echo ", timed out after ${tmo}s"))" >&2
		tail -n 20 "$out"/rank*.log >&2
		failures=$((failures + 1))
		return
	fi
	grep -h "ranks:.*steps in" "$out/rank0.log"
	echo "$me: $b $n ranks: coordinator sg0 rx $(( ${after% *} - ${before% *} )) B," \
		"tx $(( ${after#* } - ${before#* } )) B; dropped in the lab: rx" \
		"$((d1[0] - d0[0])), tx $((d1[1] - d0[1])) packets, UDP buffers full" \
		"$((d1[2] - d0[2]))" | tee "$out/traffic.txt"
}

for n in ${ranks_list//,/ }; do
	for b in $run_backends; do
		run_one "$b" "$n"
	done
done
echo "$me: $nrun runs, $failures failed, $(( $(date +%s) - t_start )) s"

# ---------------------------------------------------------------- report
echo "$cmdline" >"$results/command.txt"
{
	echo "date: $(date -u '+%F %T') UTC"
	echo "load average (1, 5, 15 min): $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "kernel: $(uname -r)"
	echo "cpu: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
	echo "memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "python: $("$PYTHON" -c 'import sys, torch, numpy; print(sys.version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__)')"
	echo "mpi: $([ -n "$MPIRUN" ] && "$MPIRUN" --version 2>/dev/null | head -n1)," \
		"mpi4py $("$PYTHON" -c 'import mpi4py; print(mpi4py.__version__)' 2>/dev/null)"
	echo "blas: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
	echo "sgbpf: build $build, source $top at $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "(not git)")"
	echo "lab: veth pairs and a bridge (bench/mpi/mpilab), MTU $mtu, one namespace per rank"
} >"$results/machine.txt"
"$PYTHON" "$here/report.py" "$results" >"$results/results.md" || failures=$((failures + 1))
if command -v gnuplot >/dev/null 2>&1; then
	for n in ${ranks_list//,/ }; do
		gnuplot -e "dir='$results'; n=$n" "$here/loss.gp" ||
			echo "$me: gnuplot failed for $n ranks" >&2
	done
else
	echo "$me: no gnuplot (Debian: gnuplot-nox): no plots"
fi
echo "$me: $results/results.md"
[ $failures = 0 ]
