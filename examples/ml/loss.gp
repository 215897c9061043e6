# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Loss against time, and comm time per step, of one number of ranks of an
# examples/ml/run.sh run: gnuplot -e "dir='OUT'; n=8" loss.gp writes
# OUT/loss-8.png (pngcairo, else png; OUT/loss-8.svg with neither).
set datafile separator ","
if (strstrt(GPVAL_TERMINALS, "pngcairo")) {
	set terminal pngcairo size 900,800 noenhanced; ext = "png"
} else { if (strstrt(GPVAL_TERMINALS, " png ")) {
	set terminal png size 900,800 noenhanced; ext = "png"
} else {
	set terminal svg size 900,800 noenhanced; ext = "svg"
} }
set output sprintf("%s/loss-%d.%s", dir, n, ext)
f(b) = sprintf("%s/%s-%d/steps.csv", dir, b, n)
# Only the backends that ran (mpi is skipped without mpi4py).
runs = ""
do for [b in "gloo sgbpf mpi"] {
	if (system(sprintf("test -s '%s' && echo 1 || echo 0", f(b))) eq "1") { runs = runs . " " . b }
}
set multiplot layout 2,1 title sprintf("MLP on Fashion-MNIST, data parallel on %d ranks", n)
set grid
set key top right
set xlabel "seconds since the first step"
set ylabel "training loss (mean over the ranks)"
plot for [b in runs] f(b) using 2:3 skip 1 with lines lw 1.5 title b
set xlabel "step"
set ylabel "comm time of the step, ms (rank 0)"
set logscale y
plot for [b in runs] f(b) using 1:($4 * 1000) skip 1 with lines title b
unset multiplot
