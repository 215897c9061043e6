# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Markdown report of a run of examples/pagerank/run.sh, on stdout.

    /usr/bin/python3 report.py OUT

For each OUT/MODE-nRANKS-sSCALE/ (MODE ompi or sgbpf), the supersteps of
every run (steps-K.csv, rank 0's) pooled: the time in MPI_Allreduce per
superstep, median and p99 (nearest rank), and the ratio sgbpf / Open MPI at
the same ranks and scale. Then where the time goes, per configuration:
rank 0's allreduce time against the least over the ranks (the rank that
arrived last waits least: its time is the collective's own), the compute of
the slowest rank, the traffic on the coordinator's link and the machine's
CPU time per superstep (pagerank-costs lines), sgbpf's retransmissions
(SGBPF_MPI_STATS), the lab's drops, and the check against the reference.
"""

import glob
import math
import os
import re
import sys

NAMES = {"ompi": "Open MPI", "sgbpf": "libsgbpf-mpi"}


def pct(v, q):
    """Nearest-rank percentile, as pagerank.c computes it."""
    if not v:
        return float("nan")
    s = sorted(v)
    k = max(1, math.ceil(q * len(s)))
    return s[k - 1]


def fmt_ms(us):
    if us != us:
        return "n/a"
    ms = us / 1000
    return f"{ms:.3g}" if ms < 1000 else f"{ms:.0f}"


def ratio(a, b):
    return f"{a / b:.2f}x" if a == a and b == b and b > 0 else "n/a"


def load(d):
    m = re.match(r"(ompi|sgbpf)-n(\d+)-s(\d+)$", os.path.basename(d))
    if not m:
        return None
    r = {"mode": m.group(1), "ranks": int(m.group(2)), "scale": int(m.group(3)),
         "steps": [], "runs": 0, "supersteps": [], "costs": [], "retransmits": 0,
         "via_sgbpf": 0, "via_pmpi": 0, "transport": "", "drops": [0, 0, 0],
         "check_share": [], "check_fail": 0, "checked": 0, "vector_bytes": 0, "failed": 0}
    for csvf in sorted(glob.glob(os.path.join(d, "steps-*.csv"))):
        k = csvf[len(os.path.join(d, "steps-")):-4]
        log = os.path.join(d, f"run-{k}.log")
        rows = []
        with open(csvf) as f:
            head = f.readline().strip().split(",")
            for line in f:
                c = line.strip().split(",")
                if c and c[0].isdigit():
                    rows.append(dict(zip(head, c)))
        if not rows:
            continue
        r["runs"] += 1
        r["supersteps"].append(len(rows))
        r["steps"] += rows
        text = open(log).read() if os.path.exists(log) else ""
        mv = re.search(r"vector of (\d+) floats \((\d+) bytes\)", text)
        if mv:
            r["vector_bytes"] = int(mv.group(2))
        mc = re.search(r"^pagerank-costs: (.*)$", text, re.M)
        if mc:
            r["costs"].append(dict(w.split("=", 1) for w in mc.group(1).split()))
        mr = re.search(r"retransmits=(\d+)", text)
        if mr:
            r["retransmits"] += int(mr.group(1))
        ma = re.search(r"Allreduce sgbpf=(\d+) pmpi=(\d+)", text)
        if ma:
            r["via_sgbpf"] += int(ma.group(1))
            r["via_pmpi"] += int(ma.group(2))
        mt = re.search(r"^sgbpf-mpi: \d+ ranks, (\S+)", text, re.M)
        if mt:
            r["transport"] = mt.group(1)
        dp = os.path.join(d, f"drops-{k}.txt")
        if os.path.exists(dp):
            md = re.search(r"rx (-?\d+) tx (-?\d+) udp_rcvbuf (-?\d+)", open(dp).read())
            if md:
                r["drops"] = [a + int(b) for a, b in zip(r["drops"], md.groups())]
        ck = os.path.join(d, f"check-{k}.txt")
        if os.path.exists(ck):
            t = open(ck).read()
            ms = re.search(r"largest share of its bound ([0-9.e+-]+)", t)
            r["checked"] += 1
            if ms:
                r["check_share"].append(float(ms.group(1)))
            if "FAIL" in t or not ms:
                r["check_fail"] += 1
    # Runs that wrote no CSV failed.
    r["failed"] = len(glob.glob(os.path.join(d, "run-*.log"))) - r["runs"]
    return r


def col(r, name):
    return [float(s[name]) for s in r["steps"]]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    runs = [x for x in (load(d) for d in sorted(glob.glob(os.path.join(out, "*-n*-s*"))))
            if x]
    if not runs:
        print(f"report.py: no runs in {out}", file=sys.stderr)
        return 1
    by = {(r["scale"], r["ranks"], r["mode"]): r for r in runs}
    configs = sorted({(r["scale"], r["ranks"]) for r in runs})

    p = print
    p("# PageRank supersteps: Open MPI and libsgbpf-mpi\n")
    for name in ("command.txt", "machine.txt"):
        f = os.path.join(out, name)
        if os.path.exists(f):
            p(f"`{name}`:\n\n```\n{open(f).read().strip()}\n```\n")
    p("Times are rank 0's `MPI_Wtime` around each superstep's `MPI_Allreduce` (N + 1 floats,"
      " SUM), in ms, every superstep of every run of the configuration pooled; p99 is the"
      " nearest rank, so with fewer than 100 supersteps it is the largest. \"superstep\" is"
      " rank 0's allreduce plus compute.\n")
    p("## Time per superstep\n")
    p("| scale | vector | ranks | supersteps (runs) | Open MPI allreduce p50 | p99 |"
      " libsgbpf-mpi allreduce p50 | p99 | ratio p50 | ratio p99 |"
      " superstep p50, Open MPI | libsgbpf-mpi | ratio |")
    p("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scale, ranks in configs:
        o, s = by.get((scale, ranks, "ompi")), by.get((scale, ranks, "sgbpf"))
        vb = (o or s)["vector_bytes"]
        vec = f"{vb / 2**20:.2f} MiB" if vb >= 2**20 else f"{vb / 1024:.0f} KiB"

        def stats(r):
            if not r or not r["steps"]:
                return [float("nan")] * 3
            ar = col(r, "allreduce_us")
            st = [a + c for a, c in zip(ar, col(r, "compute_us"))]
            return [pct(ar, 0.5), pct(ar, 0.99), pct(st, 0.5)]

        so, ss = stats(o), stats(s)
        sup = "; ".join(f"{NAMES[r['mode']]} {'/'.join(map(str, sorted(set(r['supersteps']))))}"
                        f" ({r['runs']}{', ' + str(r['failed']) + ' failed' if r['failed'] else ''})"
                        for r in (o, s) if r)
        p(f"| {scale} | {vec} | {ranks} | {sup} | {fmt_ms(so[0])} | {fmt_ms(so[1])} |"
          f" {fmt_ms(ss[0])} | {fmt_ms(ss[1])} | {ratio(ss[0], so[0])} | {ratio(ss[1], so[1])} |"
          f" {fmt_ms(so[2])} | {fmt_ms(ss[2])} | {ratio(ss[2], so[2])} |")

    p("\n## Where the time goes\n")
    p("Per superstep, p50 over the pooled supersteps (ms): rank 0's time in the allreduce;"
      " the least over the ranks (the last rank to arrive waits least, so this is the"
      " collective itself once everyone is in); rank 0's wait for the others is roughly the"
      " difference. Compute: the slowest rank's (contributions and update). Link: bytes and"
      " packets on the coordinator's sg0 (rank 0's namespace) during the supersteps, divided"
      " by the supersteps, received + sent. CPU: the whole machine's CPU time during the"
      " supersteps per superstep (user, system, softirq: the network stack and XDP; idle), from"
      " /proc/stat, other jobs included. Retransmits: sgbpf's coordinator, all runs. Drops:"
      " packets dropped in the lab (rx/tx) and UDP receive-buffer overflows, all runs. Check:"
      " the largest share of its error bound any element reached (1 = at the bound).\n")
    p("| scale | ranks | impl | allreduce rank 0 | least over ranks | compute (slowest) |"
      " link MB/superstep | kpackets/superstep | CPU user | system | softirq | idle |"
      " retransmits | drops rx/tx/udp | check |")
    p("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for scale, ranks in configs:
        for mode in ("ompi", "sgbpf"):
            r = by.get((scale, ranks, mode))
            if not r or not r["steps"]:
                continue
            ar = pct(col(r, "allreduce_us"), 0.5)
            least = pct(col(r, "allreduce_min_us"), 0.5)
            comp = pct(col(r, "compute_max_us"), 0.5)
            nsup = sum(int(c.get("supersteps", 0)) for c in r["costs"]) or 1

            def tot(key):
                return sum(float(c.get(key, 0)) for c in r["costs"])
            link = (tot("rx_bytes") + tot("tx_bytes")) / nsup / 1e6
            pk = (tot("rx_packets") + tot("tx_packets")) / nsup / 1e3
            cpu = [tot(k) / nsup * 1e3 for k in
                   ("cpu_user_s", "cpu_system_s", "cpu_softirq_s", "cpu_idle_s")]
            have_if = any("rx_bytes" in c for c in r["costs"])
            impl = NAMES[mode]
            if mode == "sgbpf":
                impl += f" ({r['transport'] or '?'}"
                impl += f", {r['via_pmpi']} allreduces to PMPI)" if r["via_pmpi"] else ")"
            ck = "not checked"
            if r["checked"]:
                ck = (f"{'FAIL ' if r['check_fail'] else 'ok, '}"
                      f"{max(r['check_share']) if r['check_share'] else float('nan'):.2g}")
            p(f"| {scale} | {ranks} | {impl} | {fmt_ms(ar)} | {fmt_ms(least)} | {fmt_ms(comp)} |"
              f" {f'{link:.3g}' if have_if else 'n/a'} | {f'{pk:.3g}' if have_if else 'n/a'} |"
              f" {cpu[0]:.3g} | {cpu[1]:.3g} | {cpu[2]:.3g} | {cpu[3]:.3g} |"
              f" {r['retransmits'] if mode == 'sgbpf' else '-'} |"
              f" {'/'.join(map(str, r['drops']))} | {ck} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
