# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The issue's targets computed from sgbench CSV files:
#   awk -F, -f summary.awk results.csv [reflector.csv] [mpi.csv] [vectors.csv]
#       [mpi_vectors.csv] [gloo.csv]
# (files are told apart by name). Every target line ends in MET or MISSED
# (or NO DATA). Targets, at fan-out 64 and 256 with 64-byte contributions:
#   eBPF throughput >= 2x the best user-space transport (same run);
#   eBPF unloaded p50 <= 0.6x the best user-space transport;
#   eBPF coordinator syscalls per collective <= 2, independent of fan-out;
#   at 8 and 32 workers, eBPF scatter-reduce >= 1.5x Open MPI MPI_Reduce over
#   TCP, in throughput and in latency.
# Then, for reference, the large vectors (float32 SUM): busbw per size at 8
# and 32 workers against MPI_FLOAT and Gloo, computed from p50 here so that
# files without the bandwidth columns work too.
function src(f) {
	if (f ~ /reflector[^\/]*$/) return "reflector"
	if (f ~ /mpi_vectors[^\/]*$/) return "mpi_vec"
	if (f ~ /gloo[^\/]*$/) return "gloo"
	if (f ~ /vectors[^\/]*$/) return "vec"
	if (f ~ /mpi[^\/]*$/) return "mpi"
	return "host"
}
# nccl-tests' busbw (bench/README.md) of this row, from its p50.
function busbw(    f) {
	f = ($2 == "allgather" || $2 == "allreduce") ? 2 * $4 / ($4 + 1) : 1
	return $8 > 0 ? $5 / $8 / 1e3 * f : -1
}
function have(k) { return (k in v) }
function fmt(x) { return sprintf("%.2f", x) }
function verdict(ok) { return ok ? "MET" : "MISSED" }
$1 == "impl" { next }
{
	s = src(FILENAME)
	k = s SUBSEP $1 SUBSEP $2 SUBSEP $3 SUBSEP $4 SUBSEP $5
	# Several rows of one point (Open MPI's blocking back-to-back run has
	# window 0 beside the windowed one): keep each window's throughput.
	tputw[k, $6] = $11; havew[k, $6] = 1
	errs[s] += $15; rows[s]++
	if ((s == "vec" || s == "mpi_vec" || s == "gloo") && $3 == "latency") {
		vbw[$1, $2, $4, $5] = busbw()
		vsize[$4, $5] = 1
		vimpl[$1] = 1
	}
	if ($15 > 0)
		bad[++nbad] = sprintf("%s %s %s %s fan-out %s, %s B, window %s: %s errors of %s", s, $1, $2, $3, $4, $5, $6, $15, $7)
	if (s == "mpi" && $3 == "throughput" && (k in v) && $6 != win[k])
		next	# the first row of a point is the one compared by default
	v[k] = 1; p50[k] = $8; tput[k] = $11; sys[k] = $12; cpu[k] = $13; mcpu[k] = $14
	win[k] = $6
	if ($1 == "ebpf" && $5 == 64 && $12 != "") {
		sk = s SUBSEP $2 SUBSEP $3
		if (!(sk in smin) || $12 + 0 < smin[sk]) smin[sk] = $12 + 0
		if (!(sk in smax) || $12 + 0 > smax[sk]) smax[sk] = $12 + 0
		srange[sk] = 1
	}
}
# Best user-space value of @field at a point: max throughput or min p50.
function best_user(s, coll, mode, f, what,    i, impl, k, b, x) {
	b = -1; best_impl = ""
	for (i = 1; i <= 3; i++) {
		impl = user[i]
		k = s SUBSEP impl SUBSEP coll SUBSEP mode SUBSEP f SUBSEP 64
		if (!have(k)) continue
		x = (what == "tput") ? tput[k] + 0 : p50[k] + 0
		if (b < 0 || (what == "tput" && x > b) || (what == "p50" && x < b)) { b = x; best_impl = impl }
	}
	return b
}
function targets(s, coll, title,    fi, f, k, e, b) {
	printf "\n## %s: %s, 64 B\n", title, coll
	for (fi = 1; fi <= 2; fi++) {
		f = fans[fi]
		k = s SUBSEP "ebpf" SUBSEP coll SUBSEP "throughput" SUBSEP f SUBSEP 64
		b = best_user(s, coll, "throughput", f, "tput")
		if (!have(k) || b <= 0)
			printf "fan-out %4d  throughput ebpf / best user-space >= 2x: NO DATA\n", f
		else {
			e = tput[k] / b
			printf "fan-out %4d  throughput ebpf / best user-space (%s) = %.0f / %.0f coll/s = %sx (target >= 2x): %s\n", f, best_impl, tput[k], b, fmt(e), verdict(e >= 2)
		}
		k = s SUBSEP "ebpf" SUBSEP coll SUBSEP "latency" SUBSEP f SUBSEP 64
		b = best_user(s, coll, "latency", f, "p50")
		if (!have(k) || b <= 0)
			printf "fan-out %4d  p50 ebpf / best user-space <= 0.6x: NO DATA\n", f
		else {
			e = p50[k] / b
			printf "fan-out %4d  p50 latency ebpf / best user-space (%s) = %.1f / %.1f us = %sx (target <= 0.6x): %s\n", f, best_impl, p50[k], b, fmt(e), verdict(e <= 0.6)
		}
		for (mi = 1; mi <= 2; mi++) {
			k = s SUBSEP "ebpf" SUBSEP coll SUBSEP modes[mi] SUBSEP f SUBSEP 64
			if (!have(k) || sys[k] == "")
				printf "fan-out %4d  ebpf syscalls per collective (%s) <= 2: NO DATA\n", f, modes[mi]
			else
				printf "fan-out %4d  ebpf syscalls per collective (%s mode) = %s (target <= 2): %s\n", f, modes[mi], fmt(sys[k]), verdict(sys[k] <= 2)
		}
	}
	for (mi = 1; mi <= 2; mi++) {
		k64 = s SUBSEP "ebpf" SUBSEP coll SUBSEP modes[mi] SUBSEP 64 SUBSEP 64
		k256 = s SUBSEP "ebpf" SUBSEP coll SUBSEP modes[mi] SUBSEP 256 SUBSEP 64
		sk = s SUBSEP coll SUBSEP modes[mi]
		if (!have(k64) || !have(k256) || sys[k64] == "" || sys[k256] == "") {
			printf "ebpf syscalls independent of fan-out (%s): NO DATA\n", modes[mi]
			continue
		}
		d = sys[k256] - sys[k64]; if (d < 0) d = -d
		printf "ebpf syscalls independent of fan-out (%s mode): %s at 64, %s at 256 (difference <= 0.25): %s", modes[mi], fmt(sys[k64]), fmt(sys[k256]), verdict(d <= 0.25)
		if (sk in srange) printf "; whole sweep %s..%s", fmt(smin[sk]), fmt(smax[sk])
		printf "\n"
	}
}
function mpi_targets(    fi, f, ke, km, r) {
	printf "\n## eBPF scatter_reduce vs Open MPI MPI_Reduce over TCP (mpi_tcp), 64 B\n"
	for (fi = 1; fi <= 2; fi++) {
		f = mfans[fi]
		ke = "host" SUBSEP "ebpf" SUBSEP "scatter_reduce" SUBSEP "throughput" SUBSEP f SUBSEP 64
		km = "mpi" SUBSEP "mpi_tcp" SUBSEP "reduce" SUBSEP "throughput" SUBSEP f SUBSEP 64
		# The same window as the eBPF run.
		if (!have(ke) || !((km, win[ke]) in havew) || tputw[km, win[ke]] <= 0)
			printf "%2d workers  throughput ebpf / mpi_tcp (same window) >= 1.5x: NO DATA\n", f
		else {
			r = tput[ke] / tputw[km, win[ke]]
			printf "%2d workers  throughput ebpf / mpi_tcp, window %d = %.0f / %.0f coll/s = %sx (target >= 1.5x): %s\n", f, win[ke], tput[ke], tputw[km, win[ke]], fmt(r), verdict(r >= 1.5)
		}
		if (have(ke) && ((km, 0) in havew) && tputw[km, 0] > 0)
			printf "%2d workers  (for reference, not a target) mpi_tcp blocking MPI_Reduce back to back (window 0): %.0f coll/s; ebpf / that = %sx\n", f, tputw[km, 0], fmt(tput[ke] / tputw[km, 0])
		ke = "host" SUBSEP "ebpf" SUBSEP "scatter_reduce" SUBSEP "latency" SUBSEP f SUBSEP 64
		km = "mpi" SUBSEP "mpi_tcp" SUBSEP "reduce" SUBSEP "latency" SUBSEP f SUBSEP 64
		if (!have(ke) || !have(km) || p50[ke] <= 0)
			printf "%2d workers  p50 latency mpi_tcp / ebpf >= 1.5x: NO DATA\n", f
		else {
			r = p50[km] / p50[ke]
			printf "%2d workers  p50 latency mpi_tcp / ebpf = %.1f / %.1f us = %sx (target >= 1.5x): %s\n", f, p50[km], p50[ke], fmt(r), verdict(r >= 1.5)
		}
		km = "mpi" SUBSEP "mpi_sm" SUBSEP "reduce" SUBSEP "latency" SUBSEP f SUBSEP 64
		if (have(km) && p50[ke] > 0)
			printf "%2d workers  (for reference, shared memory, not a target) p50 mpi_sm / ebpf = %.1f / %.1f us = %sx\n", f, p50[km], p50[ke], fmt(p50[km] / p50[ke])
	}
}
# busbw per size at fan-out @f: sgbpf's @coll beside Open MPI's and Gloo's @mcoll.
function vector_table(f, coll, mcoll,    n, i, j, t, b, x, cols, ncols, sz, c, k, all) {
	n = 0
	for (k in vsize) { split(k, x, SUBSEP); if (x[1] == f) sz[++n] = x[2] + 0 }
	if (!n) return
	for (i = 2; i <= n; i++)	# insertion sort by size
		for (j = i; j > 1 && sz[j - 1] > sz[j]; j--) { t = sz[j]; sz[j] = sz[j - 1]; sz[j - 1] = t }
	ncols = 0
	split("ebpf io_uring epoll naive mpi_tcp mpi_sm gloo_ring gloo_hd", all, " ")
	for (i = 1; i <= 8; i++) {
		c = all[i] ~ /^(mpi|gloo)/ ? mcoll : coll
		for (j = 1; j <= n; j++)
			if ((all[i], c, f, sz[j]) in vbw) { cols[++ncols] = all[i]; break }
	}
	printf "\n## Large vectors, fan-out %d: %s busbw (GB/s), float32 SUM, p50, vs %s\n", f, coll, mcoll
	printf "%-10s", "bytes"
	for (i = 1; i <= ncols; i++) printf " %12s", cols[i]
	printf "\n"
	for (j = 1; j <= n; j++) {
		printf "%-10d", sz[j]
		for (i = 1; i <= ncols; i++) {
			c = cols[i] ~ /^(mpi|gloo)/ ? mcoll : coll
			b = ((cols[i], c, f, sz[j]) in vbw) ? vbw[cols[i], c, f, sz[j]] : -1
			if (b < 0) printf " %12s", "-"
			else printf " %12.4g", b
		}
		printf "\n"
	}
}
function syscall_table(s, f,    i, c, mi, k, impl) {
	printf "\n## Coordinator syscalls per collective at fan-out %d, 64 B (%s workers)\n", f, s
	printf "%-10s", "impl"
	for (c = 1; c <= 3; c++) for (mi = 1; mi <= 2; mi++) printf " %22s", colls[c] "/" substr(modes[mi], 1, 3)
	printf "\n"
	for (i = 1; i <= 4; i++) {
		impl = impls[i]
		printf "%-10s", impl
		for (c = 1; c <= 3; c++) for (mi = 1; mi <= 2; mi++) {
			k = s SUBSEP impl SUBSEP colls[c] SUBSEP modes[mi] SUBSEP f SUBSEP 64
			printf " %22s", (have(k) && sys[k] != "") ? fmt(sys[k]) : "-"
		}
		printf "\n"
	}
}
END {
	split("io_uring epoll naive", user, " ")
	split("ebpf io_uring epoll naive", impls, " ")
	split("scatter_reduce allgather bcast", colls, " ")
	split("latency throughput", modes, " ")
	fans[1] = 64; fans[2] = 256; mfans[1] = 8; mfans[2] = 32
	print "# sgbench summary: the issue's targets (MET / MISSED per line)"
	printf "rows: %d host-worker points with %d errors", rows["host"], errs["host"]
	if (rows["reflector"]) printf "; %d reflector points with %d errors", rows["reflector"], errs["reflector"]
	if (rows["mpi"]) printf "; %d MPI points with %d errors", rows["mpi"], errs["mpi"]
	if (rows["vec"]) printf "; %d large-vector points with %d errors", rows["vec"], errs["vec"]
	if (rows["mpi_vec"]) printf "; %d MPI_FLOAT points with %d errors", rows["mpi_vec"], errs["mpi_vec"]
	if (rows["gloo"]) printf "; %d Gloo points with %d errors", rows["gloo"], errs["gloo"]
	printf "\n"
	for (i = 1; i <= nbad; i++)
		printf "  errors at: %s\n", bad[i]
	targets("host", "scatter_reduce", "Targets (host workers)")
	if (rows["mpi"]) mpi_targets()
	else printf "\n## eBPF vs Open MPI: NO DATA (no mpi.csv)\n"
	syscall_table("host", 64)
	if (rows["reflector"]) {
		targets("reflector", "scatter_reduce", "Reflector workers (coordinator cost only)")
		syscall_table("reflector", 64)
	}
	printf "\n# Other collectives (same targets, for reference)\n"
	targets("host", "allgather", "host workers")
	targets("host", "bcast", "host workers")
	if (rows["vec"]) {
		printf "\n# Large vectors (for reference, no target): 8-byte requests, float32 SUM\n"
		for (fi = 1; fi <= 2; fi++) {
			vector_table(mfans[fi], "scatter_reduce", "reduce")
			vector_table(mfans[fi], "allgather", "allreduce")
		}
	}
}
