# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Markdown table of a run of examples/ml/run.sh, on stdout.

    /usr/bin/python3 report.py OUT [--warmup N] [--check --loss-tol X --param-tol Y]

For each OUT/BACKEND-RANKS/: final loss (whole training set), test accuracy,
the largest |parameter - gloo's parameter| at the same number of ranks, and
the p50/p99 of the step time and of the comm time (rank 0's, steps from
--warmup on). Then, per number of ranks, whether sgbpf's comm time per step
is below gloo's and Open MPI's with the same accuracy.

--check (tests/test_train.sh): exit 1 unless every number of ranks has a
gloo run and at least one other, and every other backend's final loss and
parameters are within the tolerances of gloo's.
"""

import argparse
import csv
import glob
import json
import os
import sys

import numpy

ORDER = {"gloo": 0, "sgbpf": 1, "mpi": 2}
NAMES = {"gloo": "gloo (torch.distributed)", "sgbpf": "sgbpf (torch.distributed)",
         "mpi": "Open MPI (mpi4py)"}
SAME_ACCURACY = 0.005       # "equal accuracy": within half a point


def load_runs(out, warmup):
    runs = {}
    for d in sorted(glob.glob(os.path.join(out, "*-*"))):
        sj = os.path.join(d, "summary.json")
        if not os.path.isfile(sj):
            continue
        with open(sj) as f:
            s = json.load(f)
        with open(os.path.join(d, "steps.csv")) as f:
            rows = list(csv.DictReader(f))
        use = rows[warmup:] if len(rows) > warmup else rows
        s["step_ms"] = numpy.array([float(r["step_s"]) * 1e3 for r in use])
        s["comm_ms"] = numpy.array([float(r["comm_s"]) * 1e3 for r in use])
        s["vec"] = numpy.load(os.path.join(d, "params.npy"))
        runs[(s["backend"], s["ranks"])] = s
    return runs


def pct(a, q):
    return float(numpy.percentile(a, q)) if len(a) else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--warmup", type=int, default=10, help="first steps left out of the times")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--loss-tol", type=float, default=1e-4)
    ap.add_argument("--param-tol", type=float, default=1e-4)
    a = ap.parse_args()

    runs = load_runs(a.out, a.warmup)
    if not runs:
        sys.exit(f"report.py: no runs in {a.out}")
    keys = sorted(runs, key=lambda k: (k[1], ORDER.get(k[0], 9)))
    any_run = runs[keys[0]]
    print(f"# Data-parallel MLP on Fashion-MNIST: gloo, sgbpf and Open MPI\n")
    print(f"{any_run['steps']} steps, batch {any_run['batch']} per rank, SGD lr "
          f"{any_run['lr']} momentum {any_run['momentum']}, seed {any_run['seed']}; "
          f"MLP 784-256-128-10, {any_run['params']} parameters: one all-reduce of "
          f"{any_run['bytes_per_allreduce']} bytes (float32) per step. Times are rank 0's, "
          f"steps {a.warmup} on, in ms.\n")
    print("| backend | ranks | transport | final loss | test accuracy | max \\|param - gloo\\| "
          "| step p50 | step p99 | comm p50 | comm p99 | total s |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    bad = []
    for k in keys:
        s = runs[k]
        ref = runs.get(("gloo", k[1]))
        diff = float(numpy.abs(s["vec"] - ref["vec"]).max()) if ref is not None else float("nan")
        s["diff"] = diff
        print(f"| {NAMES.get(k[0], k[0])} | {k[1]} | {s['transport']} | "
              f"{s['final_train_loss']:.5f} | {100 * s['test_accuracy']:.2f}% | {diff:.3g} | "
              f"{pct(s['step_ms'], 50):.2f} | {pct(s['step_ms'], 99):.2f} | "
              f"{pct(s['comm_ms'], 50):.2f} | {pct(s['comm_ms'], 99):.2f} | "
              f"{s['seconds']:.1f} |")
        if ref is None:
            bad.append(f"{k[0]} on {k[1]} ranks: no gloo run to compare with")
        elif k[0] != "gloo":
            dl = abs(s["final_train_loss"] - ref["final_train_loss"])
            if dl > a.loss_tol:
                bad.append(f"{k[0]} on {k[1]} ranks: final loss {dl:.3g} from gloo's")
            if not diff <= a.param_tol:
                bad.append(f"{k[0]} on {k[1]} ranks: parameters {diff:.3g} from gloo's")

    print("\n## Targets: sgbpf's comm time per step below gloo's and Open MPI's, same accuracy\n")
    for n in sorted({k[1] for k in keys}):
        s = runs.get(("sgbpf", n))
        if s is None:
            continue
        parts = []
        for other in ("gloo", "mpi"):
            o = runs.get((other, n))
            if o is None:
                continue
            c, oc = pct(s["comm_ms"], 50), pct(o["comm_ms"], 50)
            same = abs(s["test_accuracy"] - o["test_accuracy"]) <= SAME_ACCURACY
            parts.append(f"vs {other}: comm p50 {c:.2f} ms vs {oc:.2f} ms "
                         f"({'below' if c < oc else 'NOT below'}, x{oc / c:.2f}), "
                         f"accuracy {100 * s['test_accuracy']:.2f}% vs "
                         f"{100 * o['test_accuracy']:.2f}% "
                         f"({'same' if same else 'NOT the same'})")
        print(f"- {n} ranks: " + "; ".join(parts))
        m = runs.get(("mpi", n))
        if m is not None:
            print(f"  - max |sgbpf param - Open MPI param|: "
                  f"{float(numpy.abs(s['vec'] - m['vec']).max()):.3g}")
        st = s.get("comm_stats")
        if st:
            print(f"  - sgbpf rank 0: {st['completed']} collectives completed in the kernel, "
                  f"{st['retransmits']} retransmitted requests, {st['rx_duplicate']} duplicate and "
                  f"{st['rx_stale']} stale chunks of {st['rx_accepted']} folded")
    if a.check:
        for n in sorted({k[1] for k in keys}):
            if ("gloo", n) not in runs or sum(1 for k in keys if k[1] == n) < 2:
                bad.append(f"{n} ranks: gloo and at least one other backend needed")
        for b in bad:
            print(f"report.py: FAIL: {b}", file=sys.stderr)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
