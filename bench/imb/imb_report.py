#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The tables of IMB-MPI1 (built with -DCHECK) of bench/imb/run_imb.sh, side
# by side: OUT/imb-NP-ompi.txt (Open MPI alone) and OUT/imb-NP-sgbpf.txt
# (with libsgbpf-mpi) into OUT/results.csv, one row per benchmark, number of
# ranks and size, and OUT/results.md, one table per benchmark and number of
# ranks with the ratio sgbpf/ompi of IMB's t_avg. Exits 1 when a file or a
# table is missing, a table has no rows, a table of a benchmark that moves
# data has no `defects` column (IMB not built with -DCHECK), or a value of
# `defects` is not 0.00. See bench/imb/README.md.
#
# usage: imb_report.py OUT [--np 2,8,32] [--impls ompi,sgbpf]
#                          [--benchmarks Allreduce,Reduce,Bcast,Barrier]

import argparse
import csv
import os
import re
import sys

NAMES = {"ompi": "Open MPI", "sgbpf": "sgbpf (libsgbpf-mpi)"}
# Benchmarks whose tables have no size and no check.
NO_DATA = {"barrier"}


def split_list(s):
    return [x for x in re.split(r"[,\s]+", s) if x]


def parse(path):
    """{(benchmark, nprocs): {"cols": [...], "rows": [{col: value}]}} and
    the `sgbpf-mpi:` lines of the file."""
    tables = {}
    stats = []
    bench = nprocs = cols = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("sgbpf-mpi:"):
                stats.append(line)
                continue
            m = re.match(r"^# Benchmarking (\S+)", line)
            if m:
                bench, nprocs, cols = m.group(1), None, None
                continue
            m = re.match(r"^# #processes = (\d+)", line)
            if m and bench:
                nprocs = int(m.group(1))
                continue
            s = line.split()
            if bench and nprocs and s and s[0] in ("#bytes", "#repetitions"):
                cols = [c.lstrip("#").replace("[usec]", "") for c in s]
                tables[(bench, nprocs)] = {"cols": cols, "rows": []}
                continue
            if cols and s and all(re.match(r"^-?[0-9.]+$", x) for x in s):
                if len(s) == len(cols):
                    tables[(bench, nprocs)]["rows"].append(dict(zip(cols, s)))
                continue
            if cols and (not s or line.startswith("#")):
                cols = None
    return tables, stats


def fnum(x):
    return "" if x is None or x == "" else x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--np", default="2,8,32")
    ap.add_argument("--impls", default="ompi,sgbpf")
    ap.add_argument("--benchmarks", default="Allreduce,Reduce,Bcast,Barrier")
    a = ap.parse_args()
    nps = [int(x) for x in split_list(a.np)]
    impls = split_list(a.impls)
    benches = split_list(a.benchmarks)
    errors = []
    data = {}
    stats = {}
    for np_ in nps:
        for impl in impls:
            path = os.path.join(a.out, "imb-%d-%s.txt" % (np_, impl))
            if not os.path.exists(path):
                errors.append("%s: missing" % path)
                continue
            tables, st = parse(path)
            stats[(np_, impl)] = st
            for b in benches:
                t = tables.get((b, np_))
                name = "%s, %d ranks, %s" % (b, np_, impl)
                if t is None:
                    errors.append("%s: no table in %s" % (name, path))
                    continue
                if not t["rows"]:
                    errors.append("%s: the table has no rows" % name)
                if b.lower() not in NO_DATA and "defects" not in t["cols"]:
                    errors.append("%s: no defects column (IMB-MPI1 not built with -DCHECK?)" % name)
                for r in t["rows"]:
                    d = r.get("defects")
                    if d is not None and float(d) != 0.0:
                        errors.append("%s, %s bytes: defects %s" % (name, r.get("bytes", "-"), d))
                data[(b, np_, impl)] = t["rows"]

    # results.csv: one row per benchmark, ranks and size, the impls side by side.
    fields = ["repetitions", "t_min", "t_max", "t_avg", "defects"]
    header = ["benchmark", "np", "bytes"]
    for impl in impls:
        header += ["%s_%s%s" % (impl, f, "_us" if f.startswith("t_") else "") for f in fields]
    both = "ompi" in impls and "sgbpf" in impls
    if both:
        header.append("ratio_t_avg_sgbpf_ompi")
    lines = []
    for b in benches:
        for np_ in nps:
            sizes = []
            for impl in impls:
                for r in data.get((b, np_, impl), []):
                    if r.get("bytes", "") not in sizes:
                        sizes.append(r.get("bytes", ""))
            for size in sizes:
                row = {"benchmark": b, "np": np_, "bytes": size}
                for impl in impls:
                    r = next((r for r in data.get((b, np_, impl), [])
                              if r.get("bytes", "") == size), {})
                    for f in fields:
                        k = "%s_%s%s" % (impl, f, "_us" if f.startswith("t_") else "")
                        row[k] = fnum(r.get(f))
                if both:
                    o, s = row["ompi_t_avg_us"], row["sgbpf_t_avg_us"]
                    row["ratio_t_avg_sgbpf_ompi"] = (
                        "%.3f" % (float(s) / float(o)) if o and s and float(o) > 0 else "")
                lines.append(row)
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(lines)

    # results.md
    def read(name):
        try:
            with open(os.path.join(a.out, name)) as f:
                return f.read().strip()
        except OSError:
            return ""

    md = ["# IMB-MPI1: %s" % (" and ".join(NAMES.get(i, i) for i in impls)), ""]
    md += ["Command: `%s`" % read("command.txt"), ""]
    mt = read("machine.txt")
    if mt:
        md += ["```", mt, "```", ""]
    runs = read("runs.txt")
    if runs:
        md += ["Runs (exit status, wall time):", "", "```", runs, "```", ""]
    md += [
        "How to read: for each size IMB times `#repetitions` calls on every rank; each",
        "rank's mean time per call, then the minimum (`t_min`), maximum (`t_max`) and mean",
        "(`t_avg`) of those over the ranks, in microseconds. IMB reports no percentiles",
        "(no p50): the ratio is sgbpf's `t_avg` / Open MPI's `t_avg`, the times IMB",
        "reports; below 1, the sgbpf run was faster. `defects`: IMB's check of every",
        "result (-DCHECK), ompi/sgbpf, must be 0.00. Barrier has no size and no check.",
        "Reductions are MPI_FLOAT MPI_SUM, so the smallest sizes are 0 and 4 bytes.",
        "",
    ]
    if errors:
        md += ["**FAILED** (%d):" % len(errors), ""] + ["- " + e for e in errors] + [""]
    else:
        nd = sum(1 for r in lines for i in impls if r.get("%s_defects" % i, "") != "")
        md += ["IMB's check: all %d values of `defects` are 0.00." % nd, ""]
    for np_ in nps:
        md += ["## %d ranks" % np_, ""]
        if (np_, "sgbpf") in stats:
            st = stats[(np_, "sgbpf")]
            md += ["libsgbpf-mpi's counters (SGBPF_MPI_STATS, rank 0):", ""]
            md += ["```"] + (st or ["(none printed)"]) + ["```", ""]
        for b in benches:
            rows = [r for r in lines if r["benchmark"] == b and r["np"] == np_]
            md += ["### %s, %d ranks" % (b, np_), ""]
            if not rows:
                md += ["(no data)", ""]
                continue
            h = ["bytes"]
            for i in impls:
                h += ["%s reps" % i, "%s t_min" % i, "%s t_avg" % i, "%s t_max" % i]
            if both:
                h.append("t_avg sgbpf/ompi")
            h.append("defects")
            md.append("| " + " | ".join(h) + " |")
            md.append("|" + "---:|" * len(h))
            for r in rows:
                c = [r["bytes"] or "-"]
                for i in impls:
                    c += [r["%s_repetitions" % i] or "-"] + \
                        [r["%s_%s_us" % (i, f)] or "-" for f in ("t_min", "t_avg", "t_max")]
                if both:
                    c.append(r["ratio_t_avg_sgbpf_ompi"] or "-")
                c.append("/".join(r["%s_defects" % i] or "-" for i in impls))
                md.append("| " + " | ".join(c) + " |")
            md.append("")
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md))

    for e in errors:
        print("imb_report: " + e, file=sys.stderr)
    print("imb_report: %d rows in %s; %s" % (
        len(lines), os.path.join(a.out, "results.csv"),
        "%d problems" % len(errors) if errors else "every check 0.00"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
