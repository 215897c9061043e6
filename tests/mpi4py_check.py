# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""mpi4py's buffer collectives on numpy arrays, checked against values every
rank computes for itself; run under mpirun, with libsgbpf-mpi preloaded by
tests/test_mpi_pmpi.sh (and without). mpi4py initializes MPI with
MPI_Init_thread(MPI_THREAD_MULTIPLE), which the library interposes too.
Prints "mpi4py_check: N checks, 0 failed" on rank 0; exits 1 on a failure."""

import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
failed = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failed.append(what)
        print(f"mpi4py_check: rank {rank}: {what}", file=sys.stderr)


def contribution(r, n, dtype):
    i = np.arange(n, dtype=np.int64)
    return (((r * 31 + i * 7) % 13) + 1).astype(dtype)


everyone = range(size)
for n in (1, 1000, 300_000):        # 300k float64: 2.4 MB, more than one segment
    for dtype, op, fold in ((np.float64, MPI.SUM, np.sum), (np.float32, MPI.SUM, np.sum),
                            (np.int32, MPI.MAX, np.max), (np.int64, MPI.MIN, np.min),
                            (np.uint8, MPI.BXOR, np.bitwise_xor.reduce)):
        mine = contribution(rank, n, dtype)
        want = fold(np.stack([contribution(r, n, dtype) for r in everyone]), axis=0).astype(dtype)
        out = np.empty_like(mine)
        comm.Allreduce(mine, out, op=op)
        check(np.array_equal(out, want), f"Allreduce {np.dtype(dtype).name} {op} n={n}")
        inplace = mine.copy()
        comm.Allreduce(MPI.IN_PLACE, inplace, op=op)
        check(np.array_equal(inplace, want), f"Allreduce in place {np.dtype(dtype).name} n={n}")

# Reduce to the last rank, Bcast from rank 0 and from the last rank
v = contribution(rank, 5000, np.float64)
out = np.zeros_like(v) if rank == size - 1 else None
comm.Reduce(v, out, op=MPI.SUM, root=size - 1)
if rank == size - 1:
    check(np.array_equal(out, sum(contribution(r, 5000, np.float64) for r in everyone)),
          "Reduce to the last rank")
for root in (0, size - 1):
    b = np.arange(70_000, dtype=np.int32) * (root + 3) if rank == root else np.zeros(70_000, np.int32)
    comm.Bcast(b, root=root)
    check(np.array_equal(b, np.arange(70_000, dtype=np.int32) * (root + 3)), f"Bcast from {root}")

# non-blocking, two in flight
x = contribution(rank, 2000, np.float64)
y = np.empty_like(x)
z = np.empty_like(x)
x2 = x * 2      # a send buffer must live until the request completes
r1 = comm.Iallreduce(x, y, op=MPI.SUM)
r2 = comm.Iallreduce(x2, z, op=MPI.MAX)
MPI.Request.Waitall([r1, r2])
check(np.array_equal(y, sum(contribution(r, 2000, np.float64) for r in everyone)), "Iallreduce SUM")
check(np.array_equal(z, 2 * np.max(np.stack([contribution(r, 2000, np.float64) for r in everyone]), axis=0)),
      "Iallreduce MAX")
comm.Barrier()

nfailed = comm.allreduce(len(failed))
if rank == 0:
    print(f"mpi4py_check: {size} ranks, {checks} checks per rank, {nfailed} failed")
sys.exit(1 if nfailed else 0)
