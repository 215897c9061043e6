# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Data-parallel training of an MLP on Fashion-MNIST, one program for three
all-reduce backends: torch.distributed "gloo", torch.distributed "sgbpf"
(import sgbpf.torch_backend) and Open MPI through mpi4py.

Every backend runs the same step, so that only the all-reduce differs:
forward and backward on this rank's batch, every gradient and the batch's
loss flattened into one float32 vector, that vector all-reduced (SUM, timed:
the comm time of the step), divided by the number of ranks, unflattened,
then SGD with momentum. The seed, the initial parameters (torch.manual_seed
before the model is built), the shards (rank r of n: the r-th n-th of a fixed
permutation of the training set, shuffled each epoch by a generator seeded
with (seed, rank)) and the number of steps are the same for every backend.

Rank 0 writes OUT/steps.csv (step, seconds since the start, mean loss of the
step over the ranks, comm seconds, step seconds), OUT/summary.json (final
loss on the whole training set, accuracy on the test set, the transport) and
OUT/params.npy (the flat parameter vector, for comparing backends).

    torch.distributed: RANK, WORLD_SIZE, MASTER_ADDR (sgbpf: each rank's address
    is the one that routes there), MASTER_PORT with env://, or --init file://...
    mpi4py: started by mpirun
    /usr/bin/python3 train.py --backend gloo|sgbpf|mpi --out DIR [options]
"""

import argparse
import datetime
import faulthandler
import gzip
import json
import os
import time

import numpy
import torch

DATA = "/usr/share/datasets/fashion-mnist"     # Debian's dataset-fashion-mnist
MEAN, STD = 0.2860, 0.3530                       # of the training images


def load_idx(path):
    """An idx file (gzipped) as a numpy array: images (N, 784) or labels (N,)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    # A bytearray: torch warns about tensors over read-only memory.
    a = numpy.frombuffer(bytearray(raw), numpy.uint8, offset=4 + 4 * ndim)
    return a.reshape(dims[0], -1) if ndim > 1 else a


def load(data, part):
    x = load_idx(os.path.join(data, f"{part}-images-idx3-ubyte.gz"))
    y = load_idx(os.path.join(data, f"{part}-labels-idx1-ubyte.gz"))
    return x, y


def as_input(x):
    return (torch.from_numpy(x).float().div_(255) - MEAN) / STD


def make_model(seed):
    torch.manual_seed(seed)        # the same initial parameters everywhere
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


class Torch:
    """torch.distributed, blocking all_reduce on the flat vector."""

    def __init__(self, backend, init, timeout):
        import torch.distributed as dist
        if backend == "sgbpf":
            import sgbpf.torch_backend  # noqa: F401  (registers the backend)
        self.dist, self.backend = dist, backend
        dist.init_process_group(backend, init_method=init, rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]),
                                timeout=datetime.timedelta(seconds=timeout))
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    def allreduce(self, flat):
        self.dist.all_reduce(flat)

    def barrier(self):
        self.dist.barrier()

    def transport(self):
        # sgbpf: rank 0's Comm says which transport it runs (ebpf unless it
        # fell back); gloo: its TCP transport.
        pg = self.dist.distributed_c10d._get_default_group()
        comm = getattr(pg, "_comm", None)
        return comm.transport if comm is not None else "tcp"

    def stats(self):
        """sgbpf: rank 0's counters (retransmits, duplicates, ...)."""
        comm = getattr(self.dist.distributed_c10d._get_default_group(), "_comm", None)
        return comm.stats() if comm is not None else None

    def close(self):
        # (the sgbpf backend joins its thread at exit by itself)
        self.dist.destroy_process_group()


class Mpi:
    """mpi4py, Allreduce in place on the numpy view of the flat vector."""

    def __init__(self):
        from mpi4py import MPI
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def allreduce(self, flat):
        self.comm.Allreduce(self.MPI.IN_PLACE, flat.numpy(), op=self.MPI.SUM)

    def barrier(self):
        self.comm.Barrier()

    def transport(self):
        return "tcp (" + self.MPI.Get_library_version().split(",")[0] + ")"

    def stats(self):
        return None

    def close(self):
        pass


def evaluate(model, x, y, chunk=10000):
    """Mean cross-entropy and accuracy of @model on all of (x, y)."""
    loss, right = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y), chunk):
            out = model(as_input(x[i:i + chunk]))
            t = torch.from_numpy(y[i:i + chunk].astype(numpy.int64))
            loss += torch.nn.functional.cross_entropy(out, t, reduction="sum").item()
            right += (out.argmax(1) == t).sum().item()
    return loss / len(y), right / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("gloo", "sgbpf", "mpi"), required=True)
    ap.add_argument("--out", required=True, help="folder for rank 0's files")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64, help="samples per rank and step")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--timeout", type=float, default=60, help="seconds for one collective")
    # run.sh gives a FileStore: the worker ranks of torch 1.13's TCPStore run
    # a thread that sometimes aborts the process when the store is destroyed
    # ("terminate called without an active exception").
    ap.add_argument("--init", default="env://", help="torch.distributed init_method")
    a = ap.parse_args()
    faulthandler.enable()       # a rank that aborts says where, in its log

    # Two cores shared by up to eight ranks: one thread each.
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    xs, ys = load(a.data, "train")
    comm = Mpi() if a.backend == "mpi" else Torch(a.backend, a.init, a.timeout)
    rank, size = comm.rank, comm.size

    shard_len = len(ys) // size
    shard = numpy.random.default_rng(a.seed).permutation(len(ys))[rank * shard_len:
                                                                   (rank + 1) * shard_len]
    order_rng = numpy.random.default_rng([a.seed, rank])
    order, pos = order_rng.permutation(shard), 0

    model = make_model(a.seed)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum)
    nparams = sum(p.numel() for p in params)
    flat = torch.zeros(nparams + 1, dtype=torch.float32)   # gradients, then the loss

    rows = []
    comm.barrier()              # every rank starts the clock together
    t0 = time.perf_counter()
    for step in range(a.steps):
        ts = time.perf_counter()
        if pos + a.batch > len(order):
            order, pos = order_rng.permutation(shard), 0
        idx = order[pos:pos + a.batch]
        pos += a.batch
        opt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(
            model(as_input(xs[idx])), torch.from_numpy(ys[idx].astype(numpy.int64)))
        loss.backward()
        torch.cat([p.grad.view(-1) for p in params], out=flat[:nparams])
        flat[nparams] = loss.detach()
        tc = time.perf_counter()
        comm.allreduce(flat)
        comm_s = time.perf_counter() - tc
        flat.div_(size)
        off = 0
        for p in params:
            p.grad.copy_(flat[off:off + p.numel()].view_as(p))
            off += p.numel()
        opt.step()
        te = time.perf_counter()
        rows.append((step, te - t0, flat[nparams].item(), comm_s, te - ts))
    total = time.perf_counter() - t0

    if rank == 0:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "steps.csv"), "w") as f:
            f.write("step,time_s,loss,comm_s,step_s\n")
            for r in rows:
                f.write("%d,%.6f,%.6f,%.9f,%.9f\n" % r)
        xt, yt = load(a.data, "t10k")
        train_loss, train_acc = evaluate(model, xs, ys)
        _, test_acc = evaluate(model, xt, yt)
        vec = torch.nn.utils.parameters_to_vector(params).detach().numpy()
        numpy.save(os.path.join(a.out, "params.npy"), vec)
        summary = dict(backend=a.backend, ranks=size, steps=a.steps, batch=a.batch,
                       lr=a.lr, momentum=a.momentum, seed=a.seed, params=nparams,
                       bytes_per_allreduce=flat.numel() * 4, transport=comm.transport(),
                       final_train_loss=train_loss, train_accuracy=train_acc,
                       test_accuracy=test_acc, last_step_loss=rows[-1][2],
                       seconds=total, torch=torch.__version__, comm_stats=comm.stats())
        with open(os.path.join(a.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(f"{a.backend} {size} ranks: {a.steps} steps in {total:.1f} s, "
              f"loss {train_loss:.4f}, test accuracy {test_acc:.4f}, "
              f"transport {summary['transport']}", flush=True)
    comm.barrier()              # rank 0's evaluation is over before anyone leaves
    comm.close()


if __name__ == "__main__":
    main()
