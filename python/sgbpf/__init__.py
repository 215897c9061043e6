# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""sgbpf for Python: a thin binding over the C library (sgbpf.h).

Vectors are any C-contiguous object with the buffer protocol -- numpy arrays,
bytearray, memoryview, array.array, or a CPU torch tensor's ``.numpy()`` view --
read and written in place, never copied. The datatype comes from the buffer's
format unless ``dtype`` is given; ops, datatypes, policies and transports may
be given by name ("sum", "float32", "wait_n", "epoll") or as the constants
below. Failures raise ``sgbpf.Error``, an ``OSError`` whose ``errno`` is the
library's and whose ``strerror`` is its message (``sg_errmsg()``); a
collective's error carries its report in ``report``.

Coordinator::

    comm = sgbpf.Comm("eth0", 7000, [("10.0.0.2", 7001), ("10.0.0.3", 7001)])
    grad = numpy.ones(1 << 20, numpy.float32)
    ncontrib, ranks, nmissing = comm.allreduce(grad, grad)   # in place, SUM

Worker::

    w = sgbpf.Worker(port=7001)
    msg = w.recv()                      # a request (MSG_SCATTER)
    w.reply(msg, my_vector)             # msg.count elements of msg.dtype
"""

from . import _sgbpf
from ._sgbpf import Error, Msg, Request, datatype_size  # noqa: F401

__all__ = ["Comm", "Worker", "Request", "Msg", "Error", "datatype_size", "dtype_of",
           "op_of"]

_DTYPES = {
    "int8": _sgbpf.INT8, "uint8": _sgbpf.UINT8, "int16": _sgbpf.INT16,
    "uint16": _sgbpf.UINT16, "int32": _sgbpf.INT32, "uint32": _sgbpf.UINT32,
    "int64": _sgbpf.INT64, "uint64": _sgbpf.UINT64, "float32": _sgbpf.FLOAT32,
    "float64": _sgbpf.FLOAT64, "int32_loc": _sgbpf.INT32_LOC,
    "float32_loc": _sgbpf.FLOAT32_LOC, "int64_loc": _sgbpf.INT64_LOC,
    "float64_loc": _sgbpf.FLOAT64_LOC, "float16": _sgbpf.FLOAT16,
    "bfloat16": _sgbpf.BFLOAT16,
}
_OPS = {
    "sum": _sgbpf.SUM, "prod": _sgbpf.PROD, "min": _sgbpf.MIN, "max": _sgbpf.MAX,
    "band": _sgbpf.BAND, "bor": _sgbpf.BOR, "bxor": _sgbpf.BXOR,
    "maxloc": _sgbpf.MAXLOC, "minloc": _sgbpf.MINLOC,
}
_POLICIES = {"wait_all": _sgbpf.WAIT_ALL, "wait_n": _sgbpf.WAIT_N,
             "wait_any": _sgbpf.WAIT_ANY}
_TRANSPORTS = {"auto": _sgbpf.TRANSPORT_AUTO, "ebpf": _sgbpf.TRANSPORT_EBPF,
               "io_uring": _sgbpf.TRANSPORT_IO_URING, "epoll": _sgbpf.TRANSPORT_EPOLL,
               "naive": _sgbpf.TRANSPORT_NAIVE}

# The constants, by their C names without the prefix: sgbpf.FLOAT32, sgbpf.SUM...
for _name in dir(_sgbpf):
    if _name.isupper():
        globals()[_name] = getattr(_sgbpf, _name)
        __all__.append(_name)


def _lookup(table, what, value):
    if value is None or isinstance(value, int):
        return value
    key = getattr(value, "name", value)     # a numpy dtype has a name
    try:
        return table[str(key).lower()]
    except KeyError:
        raise ValueError(f"unknown {what} {value!r} (one of {', '.join(table)})") from None


def dtype_of(value):
    """The datatype constant of a name, a numpy dtype, or a constant."""
    return _lookup(_DTYPES, "datatype", value)


def op_of(value):
    """The op constant of a name or a constant."""
    return _lookup(_OPS, "op", value)


def _names(kw):
    if "dtype" in kw:
        kw["dtype"] = dtype_of(kw["dtype"])
        if kw["dtype"] is None:
            del kw["dtype"]
    if "op" in kw:
        kw["op"] = op_of(kw["op"])
    if "policy" in kw:
        kw["policy"] = _lookup(_POLICIES, "policy", kw["policy"])
    return kw


class Comm(_sgbpf.Comm):
    """A communicator: sg_comm_create(). ``workers`` is a sequence of
    (IPv4 address, port); ``transport`` a name or constant.

    Reductions take ``result`` (writable), and the keywords ``request``
    (bytes-like, sent to every worker), ``dtype``, ``op`` (default "sum"),
    ``policy`` ("wait_all", "wait_n" with ``n``, "wait_any") and
    ``timeout_ms``; reduce and allreduce also the coordinator's
    ``contribution``, which may be ``result`` itself (in place). Each returns
    the report (ncontributors, contributing ranks, elements missing); the
    i-forms return a Request whose wait()/test() give it. A non-blocking
    call's buffers are held until it is over, and its contribution is read
    when it completes.
    """

    def __init__(self, ifname, port, workers, local_addr=None, transport="auto", mtu=0,
                 busy_poll=False):
        super().__init__(ifname, port, list(workers), local_addr,
                         _lookup(_TRANSPORTS, "transport", transport), mtu, busy_poll)

    def scatter_reduce(self, result, **kw):
        return super().scatter_reduce(result, **_names(kw))

    def iscatter_reduce(self, result, **kw):
        return super().iscatter_reduce(result, **_names(kw))

    def allgather(self, result, **kw):
        return super().allgather(result, **_names(kw))

    def iallgather(self, result, **kw):
        return super().iallgather(result, **_names(kw))

    def reduce(self, contribution, result, **kw):
        return super().reduce(result, contribution=contribution, **_names(kw))

    def ireduce(self, contribution, result, **kw):
        return super().ireduce(result, contribution=contribution, **_names(kw))

    def allreduce(self, contribution, result, **kw):
        return super().allreduce(result, contribution=contribution, **_names(kw))

    def iallreduce(self, contribution, result, **kw):
        return super().iallreduce(result, contribution=contribution, **_names(kw))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Worker(_sgbpf.Worker):
    """A worker: sg_worker_create(). ``coordinators`` is a sequence of
    (IPv4 address, port), or None to trust the first coordinator that
    writes (see sg_worker_create(3)). recv() returns a Msg (its data a copy
    of the message's bytes) or None on timeout; reply(msg, vector) answers a
    request with msg.count elements of msg.dtype, from the vector's memory."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
