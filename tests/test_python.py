# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The Python package (python/sgbpf) against the C library, over loopback.

A coordinator on 127.0.0.1 (a user-space transport: no privileges) and
workers in threads, each a sgbpf.Worker answering with a vector computed
from its rank and the collective id: every collective, blocking and not, in
place and not, on numpy arrays, bytearray, array.array and memoryview, the
results checked element by element and the buffers written in place; the
report, the stats, errors as sgbpf.Error with the library's errno and
message, a timeout's report. Run by tests/test_python.sh.
"""

import array
import struct
import errno
import os
import sys
import threading
import unittest

import sgbpf

try:
    import numpy
except ImportError:          # the numpy cases are skipped, saying so
    numpy = None

NWORKERS = 4
TRANSPORT = os.environ.get("SG_TRANSPORT", "epoll")
if TRANSPORT in ("", "ebpf", "auto"):
    TRANSPORT = "epoll"      # ebpf needs an interface of its own: the C tests cover it


def contribution(rank, coll_id, count, typecode):
    """Worker @rank's vector: small values, exact in every type. "e" is
    float16 (numpy), "bf" bfloat16 as its bits (the top half of a float32's:
    for positive values, ordered as the values are)."""
    vals = [(rank + 1) * ((i + coll_id) % 7 + 1) for i in range(count)]
    if typecode == "e":
        return numpy.array(vals, numpy.float16)
    if typecode == "bf":
        return array.array("H", [struct.unpack("<I", struct.pack("<f", v))[0] >> 16
                                 for v in vals])
    return array.array(typecode, vals)


class Lab:
    """Workers in threads, one communicator over them."""

    def __init__(self, port, silent=()):
        self.workers = [sgbpf.Worker(addr="127.0.0.1") for _ in range(NWORKERS)]
        self.silent = set(silent)
        self.stop = threading.Event()
        self.results = {}            # rank -> bytes of the last result delivered
        self.threads = [threading.Thread(target=self.serve, args=(r,), daemon=True)
                        for r in range(NWORKERS)]
        for t in self.threads:
            t.start()
        self.comm = sgbpf.Comm("lo", port, [("127.0.0.1", w.port) for w in self.workers],
                               local_addr="127.0.0.1", transport=TRANSPORT)

    def serve(self, rank):
        w = self.workers[rank]
        while not self.stop.is_set():
            m = w.recv(timeout_ms=100)
            if m is None or rank in self.silent:
                continue
            if m.type == sgbpf.MSG_SCATTER:
                code = TYPECODES[m.dtype]
                w.reply(m, contribution(rank, m.coll_id, m.count, code))
            elif m.type == sgbpf.MSG_RESULT:
                self.results[rank] = (m.coll_id, m.data)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.comm.close()
        for w in self.workers:
            w.close()


TYPECODES = {sgbpf.INT32: "i", sgbpf.UINT32: "I", sgbpf.INT64: "q", sgbpf.FLOAT32: "f",
             sgbpf.FLOAT64: "d", sgbpf.UINT8: "B", sgbpf.INT16: "h", sgbpf.FLOAT16: "e",
             sgbpf.BFLOAT16: "bf"}


def expected(coll_id, count, typecode, op="sum", own=None, ranks=range(NWORKERS)):
    vecs = [contribution(r, coll_id, count, typecode) for r in ranks]
    if own is not None:
        vecs.append(own)
    fold = {"sum": lambda a, b: a + b, "max": max, "min": min}[op]
    out = list(vecs[0])
    for v in vecs[1:]:
        out = [fold(a, b) for a, b in zip(out, v)]
    return out


class TestCollectives(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(7800)

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def test_scatter_reduce_array(self):
        res = array.array("i", [0] * 1000)
        report = self.lab.comm.scatter_reduce(res, request=b"go")
        self.assertEqual(report, (NWORKERS, list(range(NWORKERS)), 0))
        coll = self.lab.comm.iscatter_reduce(res, op="max")
        coll.wait()
        self.assertEqual(list(res), expected(coll.id, 1000, "i", "max"))

    def test_every_collective_nonblocking(self):
        for name in ("scatter_reduce", "allgather"):
            res = array.array("q", [0] * 3000)      # several chunks
            req = getattr(self.lab.comm, "i" + name)(res, dtype="int64", op="sum")
            for _ in range(100000):         # bounded: the library's timeout ends it first
                if req.test() is not None:
                    break
                threading.Event().wait(0.0001)
            self.assertTrue(req.done)
            self.assertEqual(list(res), expected(req.id, 3000, "q"))
        own = array.array("q", range(3000))
        res = array.array("q", [0] * 3000)
        req = self.lab.comm.iallreduce(own, res)
        self.assertEqual(req.wait()[0], NWORKERS)
        self.assertEqual(list(res), expected(req.id, 3000, "q", own=list(own)))
        req = self.lab.comm.ireduce(own, own, op="min")   # in place
        req.wait()
        self.assertEqual(list(own), expected(req.id, 3000, "q", "min", own=list(range(3000))))

    def test_allreduce_delivered_to_every_worker(self):
        own = bytearray(range(200))
        res = bytearray(200)
        rep = self.lab.comm.allreduce(own, memoryview(res), dtype="uint8", op="max")
        self.assertEqual(rep[0], NWORKERS)
        # Every worker acknowledged the result; its thread records it just
        # after (bounded wait).
        for _ in range(500):
            got = [self.lab.results.get(r) for r in range(NWORKERS)]
            if all(g is not None and g[1] == bytes(res) for g in got):
                break
            threading.Event().wait(0.01)
        coll_id = got[0][0]
        want = bytes(expected(coll_id, 200, "B", "max", own=list(own)))
        self.assertEqual(bytes(res), want)
        for rank in range(NWORKERS):
            self.assertEqual(self.lab.results[rank], (coll_id, want))

    @unittest.skipIf(numpy is None, "python3-numpy is not installed")
    def test_numpy_in_place_and_float(self):
        grad = numpy.arange(1 << 18, dtype=numpy.float32)    # 1 MiB: the largest segment
        keep = grad.copy()
        req = self.lab.comm.iallreduce(grad, grad)            # in place, SUM, float32
        req.wait()
        want = numpy.array(expected(req.id, 1 << 18, "f", own=list(keep)), numpy.float32)
        self.assertTrue(numpy.array_equal(grad, want))        # small integers: exact
        big = numpy.ones(3 * (1 << 18) + 5, dtype=numpy.float64)   # segmented
        out = numpy.empty_like(big)
        self.lab.comm.allreduce(big, out, op=sgbpf.SUM)
        self.assertEqual(out.dtype, numpy.float64)
        self.assertGreater(out.min(), 1.0)
        # float16 by its buffer format ('e'), SUM exact on small integers;
        # bfloat16 by name, over uint16 bits
        a16 = numpy.full(700, 0.25, dtype=numpy.float16)
        got16 = numpy.empty_like(a16)
        req = self.lab.comm.iallreduce(a16, got16)
        req.wait()
        want = numpy.array(expected(req.id, 700, "e", own=list(a16)), numpy.float16)
        self.assertTrue(numpy.array_equal(got16, want))
        bf = numpy.full(700, 0x3e80, dtype=numpy.uint16)      # bfloat16 0.25
        keep = bf.copy()
        req = self.lab.comm.iallreduce(bf, bf, op="max", dtype="bfloat16")
        req.wait()
        self.assertEqual(list(bf), expected(req.id, 700, "bf", op="max", own=list(keep)))
        h = numpy.zeros(77, dtype=numpy.int16)
        self.lab.comm.scatter_reduce(h, op="max", policy="wait_n", n=2)
        with self.assertRaises(TypeError):
            self.lab.comm.scatter_reduce(numpy.zeros((4, 4))[:, 1])   # not contiguous
        with self.assertRaises(TypeError):
            self.lab.comm.scatter_reduce(numpy.zeros(4).view(numpy.complex128))

    def test_bcast(self):
        self.assertIsNone(self.lab.comm.bcast(b"x" * 5000))
        self.assertIsNone(self.lab.comm.ibcast(bytearray(10)).wait())

    def test_errors(self):
        res = array.array("i", [0] * 10)
        with self.assertRaises(sgbpf.Error) as e:
            self.lab.comm.scatter_reduce(res, policy="wait_n", n=0)
        self.assertEqual(e.exception.errno, errno.EINVAL)
        self.assertIn("SG_WAIT_N", e.exception.strerror)
        with self.assertRaises(sgbpf.Error) as e:
            self.lab.comm.scatter_reduce(res, op="band", dtype="float32")
        self.assertEqual(e.exception.errno, errno.EINVAL)
        self.assertIn("not defined", e.exception.strerror)
        with self.assertRaises(ValueError):
            self.lab.comm.scatter_reduce(res, op="average")
        with self.assertRaises(ValueError):
            self.lab.comm.allreduce(array.array("i", [0] * 9), res)   # lengths differ
        with self.assertRaises(TypeError):
            self.lab.comm.scatter_reduce(b"read-only")              # result not writable
        with self.assertRaises(TypeError):
            self.lab.comm.allreduce(None, res)                      # no contribution
        with self.assertRaises(ValueError):
            self.lab.comm.scatter_reduce(bytearray(7), dtype="int32")  # not whole elements
        self.lab.comm.scatter_reduce(res)                           # still usable
        self.assertEqual(self.lab.comm.stats()["rx_forged"], 0)


class TestTimeout(unittest.TestCase):
    def test_report_of_a_timeout(self):
        lab = Lab(7810, silent={2})
        try:
            res = array.array("i", [0] * 100)
            with self.assertRaises(sgbpf.Error) as e:
                lab.comm.scatter_reduce(res, timeout_ms=500)
            self.assertEqual(e.exception.errno, errno.ETIMEDOUT)
            ncontrib, ranks, nmissing = e.exception.report
            self.assertEqual((ncontrib, ranks), (3, [0, 1, 3]))
            self.assertEqual(nmissing, 0)
        finally:
            lab.close()

    def test_bad_communicator(self):
        with self.assertRaises(sgbpf.Error) as e:
            sgbpf.Comm("no-such-if0", 7820, [("127.0.0.1", 9)], transport="epoll")
        self.assertEqual(e.exception.errno, errno.ENODEV)
        with self.assertRaises(ValueError):
            sgbpf.Comm("lo", 7821, [("not an address", 1)], transport="epoll")


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=2))
