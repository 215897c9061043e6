#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""PageRank results of examples/pagerank/pagerank against networkx.

usage: check.py EDGES RESULT... [--tol-nx T] [--max-iter N]

EDGES is the edge list `pagerank --edges` wrote ("src dst" lines after a
"# kronecker ... n=N m=M" header), RESULT a file `pagerank --out` wrote (MPI
float32 or --reference float64) for the same graph. The graph is a networkx
MultiDiGraph on the vertices 0..N-1 with every listed edge, duplicates and
self loops included (networkx sums parallel edges into the weight of the
link; a self loop is an ordinary edge), and nx.pagerank(alpha=d, tol=T,
max_iter=N) runs once on it.

Each result passes if max_v |result[v] - networkx[v]| is within

    (d * l1_last + delta_l1) / (1 - d)     the result to the fixed point x*
  + (d * N * T + delta_nx) / (1 - d)       networkx's answer to x*

(README.md, "Against networkx"): d is the damping, l1_last the L1 change of
the result's last superstep and delta_l1 the bound on one superstep's
rounding error in L1, both from the result's header; networkx stops when its
L1 change is below N * T, and delta_nx bounds its own double rounding per
step. Both terms hold because the PageRank map is a contraction of factor d
in L1. The bound is of the L1 distance, so a fortiori of the largest
element's.

Exit status: 0 all pass, 1 a result fails, 2 usage or input error,
77 networkx (or scipy) is not installed.
"""

import argparse
import sys

try:
    import numpy as np
    import networkx as nx
    import scipy  # noqa: F401  (networkx's pagerank runs on scipy)
except ImportError as e:
    print(f"check.py: {e} (Debian: python3-networkx python3-scipy)", file=sys.stderr)
    sys.exit(77)


def read_header(path):
    with open(path) as f:
        first = f.readline()
    if not first.startswith("#"):
        raise ValueError(f"{path}: no header")
    kv = dict(w.split("=", 1) for w in first[1:].split() if "=" in w)
    return first, kv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("edges")
    ap.add_argument("results", nargs="+")
    ap.add_argument("--tol-nx", type=float, default=1e-14,
                    help="networkx's tol (it stops when the L1 change < N * tol)")
    ap.add_argument("--max-iter", type=int, default=10000)
    a = ap.parse_args()

    try:
        _, eh = read_header(a.edges)
        n, m = int(eh["n"]), int(eh["m"])
        edges = np.loadtxt(a.edges, dtype=np.int64, comments="#", ndmin=2)
    except (OSError, ValueError, KeyError) as e:
        print(f"check.py: {a.edges}: {e}", file=sys.stderr)
        return 2
    if edges.shape != (m, 2):
        print(f"check.py: {a.edges}: {edges.shape[0]} edges, the header says {m}", file=sys.stderr)
        return 2

    results = []
    for path in a.results:
        try:
            first, kv = read_header(path)
            vals = np.loadtxt(path, dtype=np.float64, comments="#", ndmin=1)
        except (OSError, ValueError) as e:
            print(f"check.py: {path}: {e}", file=sys.stderr)
            return 2
        for k in ("scale", "seed", "scramble", "edgefactor"):
            if kv.get(k) != eh.get(k):
                print(f"check.py: {path}: {k}={kv.get(k)}, the edges have {k}={eh.get(k)}",
                      file=sys.stderr)
                return 2
        if vals.shape != (n,):
            print(f"check.py: {path}: {vals.shape[0]} values, {n} expected", file=sys.stderr)
            return 2
        results.append((path, kv, vals))
    damping = {float(kv["damping"]) for _, kv, _ in results}
    if len(damping) != 1:
        print("check.py: the results have different damping factors", file=sys.stderr)
        return 2
    d = damping.pop()

    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(map(tuple, edges.tolist()))
    try:
        pr = nx.pagerank(g, alpha=d, tol=a.tol_nx, max_iter=a.max_iter)
    except nx.PowerIterationFailedConvergence:
        print(f"check.py: networkx did not converge to tol {a.tol_nx} in {a.max_iter} iterations",
              file=sys.stderr)
        return 2
    ref = np.array([pr[v] for v in range(n)])
    # networkx's own rounding per step, in L1 (a sparse product of at most m
    # terms in double, and a few operations per element): as pagerank.c's
    # bound on the double reference, generously.
    delta_nx = (m + 10) * 2.0 ** -52
    nx_term = (d * n * a.tol_nx + delta_nx) / (1 - d)
    print(f"check.py: networkx {nx.__version__} pagerank on a MultiDiGraph of {n} vertices and "
          f"{g.number_of_edges()} edges ({sum(1 for u, v in edges.tolist() if u == v)} self loops),"
          f" alpha {d}, tol {a.tol_nx}: sum {ref.sum():.12f}")

    fail = 0
    for path, kv, vals in results:
        l1_last, delta = float(kv["l1_last"]), float(kv["delta_l1"])
        bound = (d * l1_last + delta) / (1 - d) + nx_term
        diff = np.abs(vals - ref)
        worst = int(diff.argmax())
        ok = diff.max() <= bound
        fail |= not ok
        print(f"check.py: {path}: {kv['precision']}, {kv['ranks']} ranks, {kv['iters']} supersteps,"
              f" last L1 change {l1_last:.3g}: max |result - networkx| {diff.max():.3g} at vertex"
              f" {worst} ({vals[worst]:.9g} vs {ref[worst]:.9g}), L1 {diff.sum():.3g}; bound"
              f" {bound:.3g}: {'ok' if ok else 'FAIL'}")
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
