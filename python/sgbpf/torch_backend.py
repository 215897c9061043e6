# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A torch.distributed backend on sgbpf (PyTorch 1.13's Python ProcessGroup).

    import sgbpf.torch_backend          # registers the backend "sgbpf"
    torch.distributed.init_process_group("sgbpf", ...)   # env:// or tcp://

Rank 0 is the coordinator (an sgbpf.Comm) and every other rank a worker
(an sgbpf.Worker); all contribute (sg_allreduce() with the coordinator's own
tensor). Addresses and ports go through the process group's store: each rank
uses the address that routes to MASTER_ADDR (or SGBPF_ADDR), rank 0 the
interface that holds its own (or SGBPF_IFNAME), and the transport named by
SGBPF_TRANSPORT (default auto: ebpf when privileged, else user space).

Operations run one at a time, in the order they are called on every rank,
on a thread of the process group, each returning a Work whose future
completes when it is over. all_reduce takes SUM, MIN, MAX and (integers)
PRODUCT;
broadcast, all_gather, barrier and reduce are allreduces on the tensors'
bytes (bitwise OR with zeros elsewhere), exact for every datatype and any
root. Tensors must be CPU and contiguous; float16 and bfloat16 are not
supported yet. Anything else raises RuntimeError naming what is missing.
"""

import atexit
import errno
import fcntl
import os
import queue
import socket
import struct
import sys
import threading
import weakref

import numpy
import torch
import torch.distributed as dist
from torch._C._distributed_c10d import _create_work_from_future

import sgbpf

BACKEND = "sgbpf"

_OPS = {
    dist.ReduceOp.SUM: sgbpf.SUM,
    dist.ReduceOp.MIN: sgbpf.MIN,
    dist.ReduceOp.MAX: sgbpf.MAX,
    dist.ReduceOp.PRODUCT: sgbpf.PROD,
}

_DTYPES = {
    torch.float32: sgbpf.FLOAT32, torch.float64: sgbpf.FLOAT64, torch.int32: sgbpf.INT32,
    torch.int64: sgbpf.INT64, torch.int16: sgbpf.INT16, torch.int8: sgbpf.INT8,
    torch.uint8: sgbpf.UINT8, torch.float16: sgbpf.FLOAT16, torch.bfloat16: sgbpf.BFLOAT16,
}


def _unsupported(what):
    return RuntimeError(f"the sgbpf backend does not support {what}")


def _check_op(op, tensors, what):
    """Raise before anything is sent if sgbpf has no such reduction."""
    if op not in _OPS:
        raise _unsupported(f"{what} with {op}")
    if op == dist.ReduceOp.PRODUCT and any(t.is_floating_point() for t in tensors):
        raise _unsupported(f"{what} PRODUCT on floating-point tensors")


def _local_addr(peer):
    """The IPv4 address this host uses to reach @peer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((peer, 9))        # a UDP connect sends nothing
        return s.getsockname()[0]


def _ifname_of(addr):
    """The interface holding IPv4 address @addr."""
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                req = struct.pack("256s", name.encode()[:15])
                got = socket.inet_ntoa(fcntl.ioctl(s.fileno(), siocgifaddr, req)[20:24])
            except OSError:
                continue
            if got == addr:
                return name
    raise RuntimeError(f"sgbpf backend: no interface holds {addr} (set SGBPF_IFNAME)")


def _free_port(addr):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _vector(t):
    """A CPU contiguous tensor's memory as a numpy view (no copy). numpy has
    no bfloat16: its tensors are seen as int16, and the datatype is passed."""
    if t.device.type != "cpu" or not t.is_contiguous():
        raise _unsupported("tensors that are not contiguous CPU tensors")
    if t.dtype not in _DTYPES:
        raise _unsupported(f"tensors of {t.dtype}")
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().reshape(-1)


def _bytes(t):
    """The same as bytes (uint8), for the byte-wise collectives."""
    if t.device.type != "cpu" or not t.is_contiguous():
        raise _unsupported("tensors that are not contiguous CPU tensors")
    return t.view(-1).view(torch.uint8).numpy() if t.numel() else numpy.zeros(0, numpy.uint8)


class _Work(dist.Work):
    """A collective in flight: its future, and a wait() that raises what it
    raised (the Work of _create_work_from_future() returns quietly)."""

    def __init__(self, fut):
        super().__init__()
        self._fut = fut

    def wait(self, timeout=None):
        self._fut.wait()        # raises the collective's error
        return True

    def is_completed(self):
        return self._fut.done()

    def get_future(self):
        return self._fut


class ProcessGroupSgbpf(dist.ProcessGroup):
    def __init__(self, store, rank, size, timeout):
        super().__init__(rank, size)
        self._rank, self._size = rank, size
        self._timeout_ms = int(timeout.total_seconds() * 1000) if timeout else 0
        master = os.environ.get("MASTER_ADDR", "127.0.0.1")
        addr = os.environ.get("SGBPF_ADDR") or _local_addr(master)
        transport = os.environ.get("SGBPF_TRANSPORT", "auto")
        self._comm = self._worker = None
        if rank == 0:
            port = _free_port(addr)
            store.set("sgbpf/coordinator", f"{addr}:{port}")
            workers = []
            for r in range(1, size):
                ip, wport = store.get(f"sgbpf/worker/{r}").decode().split(":")
                workers.append((ip, int(wport)))
            ifname = os.environ.get("SGBPF_IFNAME") or _ifname_of(addr)
            self._comm = sgbpf.Comm(ifname, port, workers, local_addr=addr, transport=transport)
        else:
            ip, cport = store.get("sgbpf/coordinator").decode().split(":")
            self._worker = sgbpf.Worker(addr=addr, coordinators=[(ip, int(cport))])
            store.set(f"sgbpf/worker/{rank}", f"{addr}:{self._worker.port}")
        # Every rank is ready before any collective: rank 0's requests must
        # find the workers' sockets bound.
        store.add("sgbpf/ready", 1)
        waited, limit = 0.0, (timeout.total_seconds() if timeout else 1800.0)
        while int(store.add("sgbpf/ready", 0)) < size:
            if waited > limit:
                raise RuntimeError(f"sgbpf backend: not every rank of {size} was ready "
                                   f"within {limit:.0f} s")
            threading.Event().wait(0.01)
            waited += 0.01
        self._jobs = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sgbpf-pg", daemon=True)
        self._thread.start()
        # torch 1.13 never calls shutdown(): left running into the
        # interpreter's teardown, the thread made it abort now and then
        # ("terminate called without an active exception").
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    def getBackendName(self):
        return BACKEND

    # -------------------------------------------------------------- engine

    def _run(self):
        while True:
            job, fut = self._jobs.get()
            if job is None:
                return
            try:
                fut.set_result(job())
            except sgbpf.Error as e:    # torch's distributed errors are RuntimeErrors
                err = RuntimeError(f"sgbpf backend: {e.strerror} "
                                   f"({errno.errorcode.get(e.errno, e.errno)})")
                err.__cause__ = e
                fut.set_exception(err)
            except Exception as e:      # the future carries it to wait()
                fut.set_exception(e)

    def _submit(self, job, result):
        fut = torch.futures.Future()

        def run():
            job()
            return result

        self._jobs.put((run, fut))
        # torch 1.13's Work of a future returns quietly from wait() when the
        # future failed, so the Python API (dist.all_reduce() and the rest,
        # which call wait() in Python) gets a Work whose wait() raises. C++
        # callers (DDP's parameter checks) wait on the C++ Work, which a
        # Python subclass does not reach: they get torch's, and DDP's reducer
        # reads the future's value, which raises.
        if sys._getframe(2).f_globals.get("__name__") == "torch.distributed.distributed_c10d":
            return _Work(fut)
        return _create_work_from_future(fut)

    def _allreduce_vec(self, own, out, op, dtype=None):
        """Every rank ends with op over every rank's @own in @out (numpy; its
        datatype @dtype, or its format's)."""
        if self._comm is not None:
            self._comm.allreduce(own, out, dtype=dtype, op=op, timeout_ms=self._timeout_ms)
            return
        w = self._worker
        while True:
            m = w.recv(timeout_ms=self._timeout_ms or -1)
            if m is None:
                raise RuntimeError("sgbpf backend: no request from rank 0 in time")
            if m.type == sgbpf.MSG_SCATTER:
                w.reply(m, own)
                coll_id = m.coll_id
                break
        while True:
            m = w.recv(timeout_ms=self._timeout_ms or -1)
            if m is None:
                raise RuntimeError("sgbpf backend: no result from rank 0 in time")
            if m.type == sgbpf.MSG_RESULT and m.coll_id == coll_id:
                out[...] = numpy.frombuffer(m.data, dtype=out.dtype).reshape(out.shape)
                return

    def _reduce_to_0(self, own, out, op, dtype=None):
        """Rank 0 ends with op over every rank's @own; the others send theirs."""
        if self._comm is not None:
            self._comm.reduce(own, out, dtype=dtype, op=op, timeout_ms=self._timeout_ms)
            return
        while True:
            m = self._worker.recv(timeout_ms=self._timeout_ms or -1)
            if m is None:
                raise RuntimeError("sgbpf backend: no request from rank 0 in time")
            if m.type == sgbpf.MSG_SCATTER:
                self._worker.reply(m, own)
                return

    # ---------------------------------------------------------- operations

    def allreduce(self, tensors, opts=None):
        op = getattr(opts, "reduceOp", dist.ReduceOp.SUM)
        _check_op(op, tensors, "all_reduce")
        vecs = [(_vector(t), _DTYPES[t.dtype]) for t in tensors]

        def job():
            for v, dt in vecs:
                self._allreduce_vec(v, v, _OPS[op], dt)

        return self._submit(job, tensors)

    def broadcast(self, tensors, opts=None):
        root = getattr(opts, "rootRank", 0)
        if getattr(opts, "rootTensor", 0):
            raise _unsupported("broadcast of a list with rootTensor != 0")
        views = [_bytes(t) for t in tensors]

        def job():
            for b in views:
                own = b if self._rank == root else numpy.zeros_like(b)
                self._allreduce_vec(own, b, sgbpf.BOR)

        return self._submit(job, tensors)

    def allgather(self, output_tensors, input_tensors, opts=None):
        if len(input_tensors) != 1 or len(output_tensors) != 1:
            raise _unsupported("all_gather of several tensors per rank")
        inp, outs = input_tensors[0], output_tensors[0]
        if len(outs) != self._size:
            raise RuntimeError(f"all_gather: {len(outs)} output tensors for {self._size} ranks")
        src = _bytes(inp)
        n = src.size
        outs_b = [_bytes(o) for o in outs]
        if any(o.size != n for o in outs_b):
            raise RuntimeError("all_gather: output tensors differ in size from the input")

        def job():
            whole = numpy.zeros(n * self._size, numpy.uint8)
            whole[self._rank * n:(self._rank + 1) * n] = src
            self._allreduce_vec(whole, whole, sgbpf.BOR)
            for r, o in enumerate(outs_b):
                o[...] = whole[r * n:(r + 1) * n]

        return self._submit(job, output_tensors)

    def _allgather_base(self, output, input, opts=None):
        return self.allgather([list(output.chunk(self._size))], [input], opts)

    def barrier(self, opts=None):
        one = numpy.zeros(1, numpy.uint8)

        def job():
            self._allreduce_vec(one, one, sgbpf.BOR)

        return self._submit(job, [])

    def reduce(self, tensors, opts=None):
        op = getattr(opts, "reduceOp", dist.ReduceOp.SUM)
        root = getattr(opts, "rootRank", 0)
        _check_op(op, tensors, "reduce")
        vecs = [(_vector(t), _DTYPES[t.dtype]) for t in tensors]

        def job():
            for v, dt in vecs:
                if root == 0:
                    self._reduce_to_0(v, v, _OPS[op], dt)
                else:   # through an allreduce: the others keep their input
                    out = v if self._rank == root else v.copy()
                    self._allreduce_vec(v, out, _OPS[op], dt)

        return self._submit(job, tensors)

    def _unsupported_op(name):
        def op(self, *args, **kw):
            raise _unsupported(name)
        return op

    alltoall = _unsupported_op("alltoall")
    alltoall_base = _unsupported_op("alltoall_base")
    gather = _unsupported_op("gather")
    scatter = _unsupported_op("scatter")
    reduce_scatter = _unsupported_op("reduce_scatter")
    _reduce_scatter_base = _unsupported_op("reduce_scatter")
    send = _unsupported_op("send")
    recv = _unsupported_op("recv")
    recv_anysource = _unsupported_op("recv from any source")
    allreduce_coalesced = _unsupported_op("allreduce_coalesced")
    allgather_coalesced = _unsupported_op("allgather_coalesced")

    def shutdown(self):
        """Finish the queued collectives, stop the thread, close the
        communicator or worker (again: nothing)."""
        if self._thread is not None:
            self._jobs.put((None, None))
            self._thread.join()
            self._thread = None
        if self._comm is not None:
            self._comm.close()
            self._comm = None
        if self._worker is not None:
            self._worker.close()
            self._worker = None


def _shutdown_at_exit(ref):
    pg = ref()
    if pg is not None:
        pg.shutdown()


def _create(store, rank, size, timeout):
    return ProcessGroupSgbpf(store, rank, size, timeout)


if BACKEND not in dist.Backend.__dict__.values() and not hasattr(dist.Backend, BACKEND.upper()):
    dist.Backend.register_backend(BACKEND, _create)
