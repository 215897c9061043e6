#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# PNG plots of a results folder with gnuplot: bench/plot.sh RESULTS_DIR
#
# Against fan-out (64-byte contributions, log2 x axis, one line per transport,
# per collective): p50 latency, throughput, coordinator syscalls per
# collective, coordinator CPU and whole-machine CPU per collective (solid:
# latency mode, dashed: throughput mode). Against size (fan-out 64,
# scatter-reduce): p50 latency and throughput.
#
# Large vectors (vectors.csv, mpi_vectors.csv, gloo.csv, when present), at
# fan-out 8 and 32, log-log against size, one line per implementation:
# busbw (nccl-tests, from the p50; computed here so that CSVs without the
# bandwidth columns plot too) and coordinator system calls per collective,
# for scatter_reduce vs MPI_Reduce and allgather vs MPI_Allreduce and Gloo.
set -eu

out=${1:?usage: plot.sh RESULTS_DIR}
csv=$out/results.csv
[ -s "$csv" ] || { echo "plot.sh: no $csv" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
dat=$out/plotdata
mkdir -p "$dat"

impls="ebpf io_uring epoll naive"
colls="scatter_reduce allgather bcast"

# Open MPI's rows (mpi.csv, same columns) join the plots of the matching
# collective: MPI_Reduce with scatter_reduce, MPI_Allreduce with allgather.
mpi=$out/mpi.csv
[ -s "$mpi" ] && impls="$impls mpi_tcp mpi_sm"

# extract IMPL COLL MODE XCOL YCOL FIXCOL FIXVAL: "x y" lines of one transport
extract() {
	file=$csv mcoll=$2
	case $1 in
	mpi_*)
		file=$mpi
		case $2 in scatter_reduce) mcoll=reduce ;; allgather) mcoll=allreduce ;; esac
		;;
	esac
	[ -s "$file" ] || return 0
	awk -F, -v impl="$1" -v coll="$mcoll" -v mode="$3" -v xc="$4" -v yc="$5" \
		-v fc="$6" -v fv="$7" \
		'$1 == impl && $2 == coll && $3 == mode && $fc == fv && $yc != "" && !(mode == "throughput" && $6 == 0) { print $xc, $yc }' \
		"$file" | sort -n
}

for coll in $colls; do
	for impl in $impls; do
		for mode in latency throughput; do
			f=$dat/$coll.$impl.$mode
			extract "$impl" "$coll" "$mode" 4 8 5 64 > "$f.p50"
			extract "$impl" "$coll" "$mode" 4 11 5 64 > "$f.tput"
			extract "$impl" "$coll" "$mode" 4 12 5 64 > "$f.sys"
			extract "$impl" "$coll" "$mode" 4 13 5 64 > "$f.cpu"
			extract "$impl" "$coll" "$mode" 4 14 5 64 > "$f.mcpu"
			extract "$impl" "$coll" "$mode" 5 8 4 64 > "$f.size_p50"
			extract "$impl" "$coll" "$mode" 5 11 4 64 > "$f.size_tput"
		done
	done
done

mpi_name() {
	case $1 in scatter_reduce) echo MPI_Reduce ;; allgather) echo MPI_Allreduce ;; *) echo MPI_Bcast ;; esac
}

# plot PNG TITLE XLABEL YLABEL LOGY SUFFIX MODES
plot() {
	png=$1 title=$2 xlabel=$3 ylabel=$4 logy=$5 suffix=$6 modes=$7 coll=$8
	{
		echo "set terminal pngcairo size 1150,650 noenhanced font 'sans,10'"
		echo "set output '$out/$png'"
		echo "set title '$title'"
		echo "set xlabel '$xlabel'"
		echo "set ylabel '$ylabel'"
		echo "set logscale x 2"
		[ "$logy" = 1 ] && echo "set logscale y 10"
		echo "set grid"
		echo "set key outside right top"
		echo "set pointsize 1.2"
		sep="plot"
		i=1
		for impl in $impls; do
			for mode in $modes; do
				f=$dat/$coll.$impl.$mode.$suffix
				[ -s "$f" ] || continue
				dt=1; [ "$mode" = throughput ] && [ "$modes" != throughput ] && dt=2
				label=$impl
				case $impl in mpi_*) label="$impl ($(mpi_name "$coll"))" ;; esac
				[ "$modes" = "latency throughput" ] && label="$label ($mode)"
				echo "$sep '$f' using 1:2 with linespoints lc $i dt $dt pt $((i + 4)) title '$label' \\"
				sep=","
			done
			i=$((i + 1))
		done
		echo
	} > "$dat/$png.gp"
	if grep -q "^plot" "$dat/$png.gp"; then
		gnuplot "$dat/$png.gp"
	fi
}

for coll in $colls; do
	plot "latency_vs_fanout_$coll.png" "$coll: p50 latency, one collective at a time, 64 B" \
		"fan-out (workers)" "p50 latency (us)" 1 p50 latency "$coll"
	plot "throughput_vs_fanout_$coll.png" "$coll: throughput, closed loop with a window in flight, 64 B" \
		"fan-out (workers)" "collectives per second" 1 tput throughput "$coll"
	plot "syscalls_vs_fanout_$coll.png" "$coll: coordinator system calls per collective, 64 B (dashed: throughput mode)" \
		"fan-out (workers)" "system calls per collective" 1 sys "latency throughput" "$coll"
	plot "cpu_vs_fanout_$coll.png" "$coll: coordinator CPU time per collective, 64 B (dashed: throughput mode)" \
		"fan-out (workers)" "coordinator CPU (us) per collective" 1 cpu "latency throughput" "$coll"
	plot "machine_cpu_vs_fanout_$coll.png" "$coll: whole-machine CPU time per collective, 64 B (dashed: throughput mode)" \
		"fan-out (workers)" "machine CPU (us) per collective" 1 mcpu "latency throughput" "$coll"
done
plot "latency_vs_size_scatter_reduce.png" "scatter_reduce at fan-out 64: p50 latency vs contribution size" \
	"contribution size (bytes)" "p50 latency (us)" 1 size_p50 latency scatter_reduce
plot "throughput_vs_size_scatter_reduce.png" "scatter_reduce at fan-out 64: throughput vs contribution size" \
	"contribution size (bytes)" "collectives per second" 1 size_tput throughput scatter_reduce
# ---- large vectors
# vextract FILE IMPL COLL FANOUT busbw|sys: "bytes y" lines, latency mode
vextract() {
	[ -s "$1" ] || return 0
	awk -F, -v impl="$2" -v coll="$3" -v f="$4" -v what="$5" '
		$1 == impl && $2 == coll && $3 == "latency" && $4 == f && $8 > 0 {
			if (what == "sys") { if ($12 != "") print $5, $12; next }
			k = (coll == "allgather" || coll == "allreduce") ? 2 * f / (f + 1) : 1
			print $5, $5 / $8 / 1e3 * k
		}' "$1" | sort -n
}

# vplot PNG TITLE YLABEL WHAT FANOUT COLL MCOLL: one line per implementation
vplot() {
	png=$1 title=$2 ylabel=$3 what=$4 f=$5 coll=$6 mcoll=$7
	{
		echo "set terminal pngcairo size 1150,650 noenhanced font 'sans,10'"
		echo "set output '$out/$png'"
		echo "set title '$title'"
		echo "set xlabel 'contribution size (bytes)'"
		echo "set ylabel '$ylabel'"
		echo "set logscale x 2"
		echo "set logscale y 10"
		echo "set format x '%.0b%BB'"
		echo "set format y '%g'"
		echo "set grid"
		echo "set key outside right top"
		echo "set pointsize 1.2"
		sep="plot"
		i=1
		for impl in ebpf io_uring epoll naive mpi_tcp mpi_sm gloo_ring gloo_hd; do
			# A colour per implementation, a dash pattern per library.
			case $impl in
			mpi_*) file=$out/mpi_vectors.csv c=$mcoll dt=2 label="$impl ($(mpi_name "$coll"), MPI_FLOAT)" ;;
			gloo_*) file=$out/gloo.csv c=$mcoll dt=3 label="$impl (allreduce)" ;;
			*) file=$out/vectors.csv c=$coll dt=1 label="sgbpf $impl" ;;
			esac
			rgb=$(echo "#7b2cbf #009e73 #0072b2 #e69f00 #d55e00 #cc79a7 #000000 #808080" | cut -d' ' -f$i)
			d=$dat/vec.$what.$f.$coll.$impl
			vextract "$file" "$impl" "$c" "$f" "$what" > "$d"
			if [ -s "$d" ]; then
				echo "$sep '$d' using 1:2 with linespoints lw 1.5 lc rgb '$rgb' dt $dt pt $((i + 4)) title '$label' \\"
				sep=","
			fi
			i=$((i + 1))
		done
		echo
	} > "$dat/$png.gp"
	if grep -q "^plot" "$dat/$png.gp"; then
		gnuplot "$dat/$png.gp"
	fi
}

if [ -s "$out/vectors.csv" ] || [ -s "$out/mpi_vectors.csv" ] || [ -s "$out/gloo.csv" ]; then
	for f in 8 32; do
		for pair in scatter_reduce:reduce allgather:allreduce; do
			coll=${pair%:*} mcoll=${pair#*:}
			vplot "busbw_vs_size_${coll}_f$f.png" \
				"$coll vs $(mpi_name "$coll") at fan-out $f: busbw, float32 SUM, 8-byte requests (p50, one at a time)" \
				"busbw (GB/s, nccl-tests)" busbw "$f" "$coll" "$mcoll"
			vplot "syscalls_vs_size_${coll}_f$f.png" \
				"$coll vs $(mpi_name "$coll") at fan-out $f: coordinator (root) system calls per collective, float32" \
				"system calls per collective" sys "$f" "$coll" "$mcoll"
		done
	done
fi
ls "$out"/*.png 2>/dev/null | wc -l | sed 's/$/ plots/' >&2
