# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The torch.distributed backend "sgbpf" against gloo, two ranks on loopback.

Each backend runs the same program in two processes (env:// rendezvous,
rank 0 the coordinator on a user-space transport): every operation the
backend offers checked against values computed here (all_reduce SUM, MIN,
MAX and PRODUCT on float32, float64, int32 and int64, async with futures;
broadcast and reduce from either root; all_gather; barrier), unsupported
operations raising a RuntimeError that names them, then a few steps of
DistributedDataParallel training of a small MLP on fixed-seed data, plain
and with a communication hook. The two backends must end with the same
parameters (float tolerance) on both ranks, and a failed collective must
raise on both.
Run by tests/test_python.sh with Debian's torch (/usr/bin/python3).
"""

import datetime
import os
import socket
import subprocess
import sys
import tempfile

import torch
import torch.distributed as dist

STEPS = 5


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ops(rank, size):
    for dt in (torch.float32, torch.float64, torch.int32, torch.int64):
        t = torch.full((1000,), rank + 1, dtype=dt)
        dist.all_reduce(t)
        check(bool((t == sum(range(1, size + 1))).all()), f"all_reduce SUM {dt}")
        for op, want in ((dist.ReduceOp.MIN, 1), (dist.ReduceOp.MAX, size),
                         (dist.ReduceOp.PRODUCT, 2)):
            t = torch.full((300,), rank + 1, dtype=dt)
            if op == dist.ReduceOp.PRODUCT and dt.is_floating_point and \
               dist.get_backend() == "sgbpf":
                try:        # sgbpf has no float product: said before anything is sent
                    dist.all_reduce(t, op=op)
                except RuntimeError as e:
                    check("PRODUCT" in str(e), f"float PRODUCT's error: {e}")
                    continue
                raise AssertionError("float PRODUCT did not raise")
            dist.all_reduce(t, op=op)
            check(bool((t == want).all()), f"all_reduce {op} {dt}")
    # Half precision, over several chunks (256 elements each): SUM rounded
    # once, an infinity, MIN and MAX. Gloo (torch 1.13) has no bfloat16.
    for dt in (torch.float16, torch.bfloat16):
        if dt == torch.bfloat16 and dist.get_backend() == "gloo":
            continue
        t = torch.full((3000,), 0.5 + rank, dtype=dt)
        t[7] = float("inf") if rank == 0 else 1.0
        dist.all_reduce(t)
        want = sum(0.5 + r for r in range(size))
        check(bool((t[8:] == want).all()) and t[7].item() == float("inf"),
              f"all_reduce SUM {dt}: {t[:9]}")
        big = torch.full((10,), 60000.0 if dt == torch.float16 else 3e38, dtype=dt)
        dist.all_reduce(big)    # beyond the type's range: +inf, as float32 does
        check(bool(torch.isinf(big).all()) if size > 1 else True, f"overflow {dt}: {big}")
        for op, want in ((dist.ReduceOp.MIN, -1.0), (dist.ReduceOp.MAX, size - 2.0)):
            t = torch.full((600,), rank - 1.0, dtype=dt)
            dist.all_reduce(t, op=op)
            check(bool((t == want).all()), f"all_reduce {op} {dt}")
    # Async, several in flight, with futures.
    ts = [torch.arange(5000, dtype=torch.float32) * (rank + 1) for _ in range(4)]
    works = [dist.all_reduce(t, async_op=True) for t in ts]
    for w in works:
        w.wait()
    check(all(bool((t == torch.arange(5000) * 3).all()) for t in ts), "async all_reduce")
    t = torch.ones(10) * rank
    fut = dist.all_reduce(t, async_op=True).get_future()
    fut.wait()
    check(bool((t == 1).all()), "future")
    for root in range(size):
        b = torch.arange(100, dtype=torch.float64) if rank == root else torch.zeros(100, dtype=torch.float64)
        b[0] = -0.0 if rank == root else 5
        dist.broadcast(b, src=root)
        check(bool((b[1:] == torch.arange(1, 100)).all()) and str(b[0].item()) == "-0.0",
              f"broadcast from {root}")
        r = torch.full((50,), rank + 10, dtype=torch.int64)
        dist.reduce(r, dst=root)
        if rank == root:    # elsewhere the tensor is undefined (gloo uses it as scratch)
            check(bool((r == sum(k + 10 for k in range(size))).all()), f"reduce to {root}")
    outs = [torch.zeros(3, 7) for _ in range(size)]
    dist.all_gather(outs, torch.full((3, 7), float(rank)))
    check(all(bool((o == r).all()) for r, o in enumerate(outs)), "all_gather")
    dist.barrier()
    if dist.get_backend() == "sgbpf":
        try:
            dist.all_to_all_single(torch.zeros(size), torch.zeros(size))
        except RuntimeError as e:
            check("alltoall" in str(e), f"unsupported op's error: {e}")
        else:
            raise AssertionError("all_to_all_single did not raise")


def train(rank, hook=False):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.01)
    if hook:    # a communication hook: the buckets' futures chained in Python
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
        ddp.register_comm_hook(None, default_hooks.allreduce_hook)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1234 + rank)       # each rank its own shard
    for _ in range(STEPS):
        x = torch.randn(32, 20, generator=g)
        y = torch.randint(0, 3, (32,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def rank_main(backend, out):
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if backend == "sgbpf":
        import sgbpf.torch_backend  # noqa: F401  (registers it)
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=size,
                            timeout=datetime.timedelta(seconds=10))
    ops(rank, size)
    params = train(rank) + train(rank, hook=True)
    torch.save(params, out)
    dist.barrier()
    if backend == "sgbpf":
        # A failed collective raises on every rank: here the ranks disagree
        # on the length, so rank 1's answer is refused (EINVAL) and rank 0
        # times out (ETIMEDOUT) with its report.
        try:
            dist.all_reduce(torch.ones(100 * (rank + 1)))
        except RuntimeError as e:
            check("ETIMEDOUT" in str(e) or "EINVAL" in str(e),
                  f"rank {rank}: the error says what went wrong: {e}")
        else:
            raise AssertionError(f"rank {rank}: a collective that failed did not raise")
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(backend, tmp, size=2):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE=str(size), SGBPF_TRANSPORT=os.environ.get("SG_TRANSPORT", "epoll"))
    if env["SGBPF_TRANSPORT"] in ("", "ebpf", "auto"):
        env["SGBPF_TRANSPORT"] = "epoll"   # loopback: ebpf needs an interface of its own
    procs = [subprocess.Popen([sys.executable, __file__, "--rank", backend,
                               os.path.join(tmp, f"{backend}{r}.pt")],
                              env=dict(env, RANK=str(r))) for r in range(size)]
    for p in procs:
        if p.wait(timeout=300) != 0:
            for q in procs:
                q.kill()
            raise SystemExit(f"FAIL: a {backend} rank exited with {p.returncode}")
    return [torch.load(os.path.join(tmp, f"{backend}{r}.pt")) for r in range(size)]


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--rank":
        rank_main(sys.argv[2], sys.argv[3])
        return
    with tempfile.TemporaryDirectory() as tmp:
        ref = launch("gloo", tmp)
        got = launch("sgbpf", tmp)
    worst = 0.0
    for r in range(len(got)):
        for a, b in zip(got[r], ref[0]):
            worst = max(worst, (a - b).abs().max().item())
            if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
                raise SystemExit(f"FAIL: rank {r}'s parameters differ from gloo's by "
                                 f"{(a - b).abs().max().item():.3g}")
    print(f"ok: every operation checked on both backends; after {STEPS} DDP steps the "
          f"parameters of both ranks match gloo's within {worst:.3g}")


if __name__ == "__main__":
    main()
