#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Run every libFuzzer target of tests/fuzz/ on a copy of its seed corpus, each
# for at most FUZZ_RUNS inputs (default 200000; 0: no limit) and FUZZ_TIME
# seconds (default 40), one after the other. Fails if any of them finds a
# crash, a leak, a timeout or an invariant violation; the input that caused it
# is kept as tests/fuzz/<target>-crash-<sha1> (build tree) for reproduction:
#   tests/fuzz/<target> tests/fuzz/<target>-crash-<sha1>
# Run by `make check` (from the build tree, srcdir set); by hand:
#   srcdir=. tests/fuzz/run_fuzzers.sh [target...]
set -u

srcdir=${srcdir:-.}
runs=${FUZZ_RUNS:-200000}
[ "$runs" = 0 ] && runs=-1	# libFuzzer's "no limit"
time=${FUZZ_TIME:-40}
targets=${*:-fuzz_workers_file fuzz_wire fuzz_worker_recv}

for t in $targets; do
	if [ ! -x "tests/fuzz/$t" ]; then
		echo "SKIP: tests/fuzz/$t not built (configure found no libFuzzer:" \
			"install the Debian package libclang-rt-14-dev and rerun configure)"
		exit 77
	fi
	if [ ! -d "$srcdir/tests/fuzz/corpus/$t" ]; then
		echo "FAIL: no seed corpus $srcdir/tests/fuzz/corpus/$t"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sgbpf-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP PIPE

# Quiet the library's default logger; make sanitizer reports complete.
SGBPF_LOG=error
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SGBPF_LOG ASAN_OPTIONS UBSAN_OPTIONS

status=0
start=$(date +%s)
for t in $targets; do
	mkdir "$tmp/$t" "$tmp/$t.artifacts" || exit 1
	cp "$srcdir/tests/fuzz/corpus/$t/"* "$tmp/$t/" || exit 1
	seeds=$(ls "$tmp/$t" | wc -l)
	case $t in
	# Room for several full datagrams of 1064 bytes.
	fuzz_worker_recv) max_len=8192 ;;
	# Room for more than SG_MAX_WORKERS_PER_COMM short lines.
	fuzz_workers_file) max_len=16384 ;;
	*) max_len=4096 ;;
	esac
	t0=$(date +%s)
	"tests/fuzz/$t" -runs="$runs" -max_total_time="$time" -max_len="$max_len" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$tmp/$t.artifacts/" "$tmp/$t" >"$tmp/$t.log" 2>&1
	rc=$?
	t1=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$tmp/$t.log")
	cov=$(grep -E '^#[0-9]+.* cov: ' "$tmp/$t.log" | tail -n 1 |
		sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/cov \1, features \2, corpus \3/p')
	if [ "$rc" -eq 0 ]; then
		echo "PASS: $t: ${execs:-?} inputs in $((t1 - t0)) s (${speed:-?}/s)," \
			"${cov:-?}, from $seeds seeds"
		continue
	fi
	status=1
	echo "FAIL: $t exited with $rc after $((t1 - t0)) s:"
	# From the first report (sanitizer, invariant, libFuzzer's own).
	first=$(grep -n -m 1 -E 'ERROR:|invariant failed|runtime error|==[0-9]+==' \
		"$tmp/$t.log" | cut -d: -f1)
	if [ -n "$first" ]; then
		sed -n "$((first > 3 ? first - 3 : 1)),\$p" "$tmp/$t.log" | head -n 60
	else
		tail -n 60 "$tmp/$t.log"
	fi
	for a in "$tmp/$t.artifacts"/*; do
		[ -f "$a" ] || continue
		keep="tests/fuzz/$t-$(basename "$a")"
		cp "$a" "$keep"
		echo "input kept as $keep ($(wc -c <"$keep") bytes):"
		od -A d -t x1 "$keep" | head -n 40
	done
done
echo "fuzzing took $(($(date +%s) - start)) s"
exit $status
