#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The short version of bench/imb (its README.md): the Intel MPI Benchmarks'
# Allreduce, Reduce, Bcast and Barrier (IMB-MPI1, built with -DCHECK by
# make check from the peer suite's tarball) on 2 and 4 ranks in the lab's
# namespaces, sizes 0 to 16 KiB, few repetitions, on Open MPI alone and
# with libsgbpf-mpi preloaded, through bench/imb/run_imb.sh. Checks that
# every run succeeded, that every table is there for both, that every value
# of IMB's `defects` column is 0.00 (IMB checked every result), that the
# library's counters (SGBPF_MPI_STATS=1) show allreduce calls that went
# through sgbpf, and that the lab's namespaces are gone. No timing is
# checked. Without libsgbpf-mpi (mpi/.libs/libsgbpf-mpi.so) it runs Open MPI
# alone and says so. Skipped (77) without root, without mpirun, or when
# IMB-MPI1 could not be built (no tarball, no mpicxx: the reason is printed).

me=test_imb
top_src=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${SGBPF_BUILDDIR:-$(cd "$(dirname "$0")/.." && pwd)}
imb=$top_build/bench/imb/mpi-benchmarks/IMB-MPI1
lib=$top_build/mpi/.libs/libsgbpf-mpi.so
nps="2 4"
benches="Allreduce Reduce Bcast Barrier"

if [ "$(id -u)" != 0 ]; then
	echo "$me: SKIP: needs root (network namespaces; sgbpf's ebpf transport)"
	exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
	echo "$me: SKIP: mpirun not found (Debian package openmpi-bin)"
	exit 77
fi
if [ ! -x "$imb" ]; then
	if [ -s "$top_build/bench/imb/IMB-MPI1.missing" ]; then
		echo "$me: SKIP: IMB-MPI1 not built: $(cat "$top_build/bench/imb/IMB-MPI1.missing")"
	else
		echo "$me: SKIP: $imb not built (make imb-mpi1; make check builds it)"
	fi
	exit 77
fi
if [ ! -x "$top_build/bench/mpi/mpilab" ]; then
	echo "$me: FAIL: bench/mpi/mpilab not built in $top_build" >&2
	exit 1
fi
if [ -f "$lib" ]; then
	impls="ompi sgbpf"
else
	impls=ompi
	echo "$me: $lib not built: Open MPI alone, libsgbpf-mpi not tested"
fi

out=$(mktemp -d /tmp/test_imb.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

SGBPF_BUILDDIR=$top_build SGBPF_MPI_STATS=1 timeout -k 10 600 \
	"$top_src/bench/imb/run_imb.sh" "$out/r" --np 2,4 --msglog 0:14 --iter 20 --time 5 \
	--timeout 120 --impls "$(echo $impls | tr ' ' ,)" >"$out/stdout" 2>&1
rc=$?
cat "$out/stdout"
fail=0
if [ $rc != 0 ]; then
	echo "$me: FAIL: run_imb.sh exited with $rc$([ $rc = 124 ] && echo ' (timed out)')" >&2
	for f in "$out"/r/imb-*.txt; do
		[ -f "$f" ] || continue
		echo "==== $f" >&2
		grep -v '^#' "$f" | grep . | tail -n 30 >&2
	done
	fail=1
fi

# Every table, in the raw output and in the CSV, for both.
for np in $nps; do
	for impl in $impls; do
		f=$out/r/imb-$np-$impl.txt
		if [ ! -s "$f" ]; then
			echo "$me: FAIL: no output $f" >&2
			fail=1
			continue
		fi
		for b in $benches; do
			awk -v b="$b" -v np="$np" '
				$0 ~ "^# Benchmarking " b " *$" { inb = 1; next }
				inb && $0 ~ "^# #processes = " np " *$" { ok = 1 }
				/^# Benchmarking / { inb = 0 }
				END { exit !ok }' "$f" ||
				{ echo "$me: FAIL: no $b table for $np ranks in $f" >&2; fail=1; }
		done
	done
done
csv=$out/r/results.csv
if [ ! -s "$csv" ]; then
	echo "$me: FAIL: no results.csv" >&2
	fail=1
else
	# Columns by name; defects are 0.00 everywhere (empty for Barrier,
	# which IMB does not check); each benchmark has times for each impl.
	awk -F, -v impls="$impls" -v nps="$nps" -v benches="$benches" -v me="$me" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{
			ni = split(impls, im, " ")
			for (k = 1; k <= ni; k++) {
				d = $(col[im[k] "_defects"]); t = $(col[im[k] "_t_avg_us"])
				if ($1 != "Barrier" && d != "0.00") {
					print me ": FAIL: defects " d " (" im[k] "): " $0 > "/dev/stderr"; bad = 1
				}
				if (t != "") seen[$1 "," $2 "," im[k]]++
			}
		}
		END {
			ni = split(impls, im, " "); nn = split(nps, n, " "); nb = split(benches, b, " ")
			for (x = 1; x <= nb; x++) for (y = 1; y <= nn; y++) for (k = 1; k <= ni; k++)
				if (!seen[b[x] "," n[y] "," im[k]]) {
					print me ": FAIL: no " b[x] " times for " n[y] " ranks (" im[k] ") in results.csv" > "/dev/stderr"
					bad = 1
				}
			exit bad
		}' "$csv" || fail=1
fi
# The sgbpf runs really went through sgbpf.
case " $impls " in
*" sgbpf "*)
	for np in $nps; do
		f=$out/r/imb-$np-sgbpf.txt
		n=$(awk '/^sgbpf-mpi:/ && tolower($2) ~ /^(mpi_)?allreduce$/ {
				for (i = 3; i <= NF; i++) if ($i ~ /^sgbpf=/) { sub(/^sgbpf=/, "", $i); print $i + 0; exit } }' \
			"$f" 2>/dev/null)
		if [ -z "$n" ]; then
			echo "$me: FAIL: no 'sgbpf-mpi: [MPI_]allreduce sgbpf=N' line (SGBPF_MPI_STATS=1) in $f" >&2
			fail=1
		elif [ "$n" -le 0 ]; then
			echo "$me: FAIL: no allreduce went through sgbpf on $np ranks: $(grep '^sgbpf-mpi:' "$f" | tr '\n' ';')" >&2
			fail=1
		else
			echo "$me: $np ranks: $n allreduce calls through sgbpf"
		fi
	done
	;;
esac

labs=$(sed -n 's/.*coordinator \(sgtm[0-9]*\)c$/\1/p' "$out/stdout")
if [ "$(echo $labs | wc -w)" != "$(echo $nps | wc -w)" ]; then
	echo "$me: FAIL: run_imb.sh named $(echo $labs | wc -w) labs, not one per number of ranks" >&2
	fail=1
fi
for lab in $labs; do
	if ip netns list | grep -q "^$lab[a-z]"; then
		echo "$me: FAIL: namespaces $lab* left behind" >&2
		fail=1
	fi
done
[ $fail = 0 ] && echo "$me: PASS ($impls)"
exit $fail
