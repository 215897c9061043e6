# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OSU-style text tables from sgbench CSV (awk -F, -f osu.awk results.csv):
# one table per transport, collective and fan-out, one line per size.
# Latency mode: average, p50 and p99 of one collective at a time, and the
# busbw of the p50 (nccl-tests: bytes / p50, x 2(n-1)/n for an allreduce or
# allgather of n = fan-out + 1 ranks; computed here, so older CSVs work too).
# Throughput mode: collectives per second with a window in flight.
# -v label=TEXT is added to every title.
$1 == "impl" { next }
{
	key = $1 SUBSEP $2 SUBSEP $4
	if (!(key in id)) {
		id[key] = ++n
		keys[n] = key
	}
	k = id[key]
	f = ($2 == "allgather" || $2 == "allreduce") ? 2 * $4 / ($4 + 1) : 1
	if ($3 == "latency")
		lat[k, ++nl[k]] = sprintf("%-10s %18.2f %12.2f %12.2f %8d %14.6g", $5, $10, $8, $9, $15,
					  $8 > 0 ? $5 / $8 / 1e3 * f : 0)
	else if ($3 == "throughput")
		tput[k, ++nt[k]] = sprintf("%-10s %18.1f %8d %12.2f %10.2f %8d", $5, $11, $6, $12, $13, $15)
}
END {
	for (i = 1; i <= n; i++) {
		split(keys[i], a, SUBSEP)
		if (nl[i]) {
			printf "# sgbench%s: %s %s, fan-out %s, latency (one collective at a time)\n", label, a[1], a[2], a[3]
			printf "# %-8s %18s %12s %12s %8s %14s\n", "Size", "Avg Latency(us)", "P50", "P99", "Errors", "BusBW(GB/s)"
			for (j = 1; j <= nl[i]; j++)
				print lat[i, j]
			print ""
		}
		if (nt[i]) {
			printf "# sgbench%s: %s %s, fan-out %s, throughput (closed loop, window in flight)\n", label, a[1], a[2], a[3]
			printf "# %-8s %18s %8s %12s %10s %8s\n", "Size", "Coll/s", "Window", "Syscalls", "CPU(us)", "Errors"
			for (j = 1; j <= nt[i]; j++)
				print tput[i, j]
			print ""
		}
	}
}
