// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sgbpf._sgbpf: the C library as Python types, with no copy on the data path.
 * Vectors are any C-contiguous buffer-protocol object (numpy arrays,
 * bytearray, memoryview, array.array, a torch CPU tensor's .numpy()): the
 * library reads and writes their memory in place, and a non-blocking request
 * holds the buffers until it completes. Blocking calls release the GIL.
 * The friendly layer (names of datatypes and ops, reports) is __init__.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sgbpf.h"

/* A method of any signature in a PyMethodDef (CPython's own idiom). */
#define FN(f) ((PyCFunction)(void (*)(void))(f))

static PyObject *Error;	/* sgbpf.Error, an OSError: errno and the library's message */

static PyObject *fail(int err)
{
	PyObject *args = Py_BuildValue("(is)", -err, sg_errmsg());

	if (args) {
		PyErr_SetObject(Error, args);
		Py_DECREF(args);
	}
	return NULL;
}

/* ---------------------------------------------------------------- buffers */

/* The datatype a buffer's format names (PEP 3118), or -1. */
static int dtype_of_format(const Py_buffer *v)
{
	const char *f = v->format ? v->format : "B";

	if (*f == '@' || *f == '=' || *f == '<')
		f++;
	if (!f[0] || f[1])
		return -1;
	switch (f[0]) {
	case 'b': return SG_INT8;
	case 'B': case 'c': return SG_UINT8;
	case 'h': return SG_INT16;
	case 'H': return SG_UINT16;
	case 'i': case 'l': case 'q':
		return v->itemsize == 4 ? SG_INT32 : v->itemsize == 8 ? SG_INT64 : -1;
	case 'I': case 'L': case 'Q':
		return v->itemsize == 4 ? SG_UINT32 : v->itemsize == 8 ? SG_UINT64 : -1;
	case 'f': return SG_FLOAT32;
	case 'd': return SG_FLOAT64;
	case 'e': return SG_FLOAT16;	/* numpy's float16; bfloat16 has no format: give dtype */
	default: return -1;
	}
}

/* Take @obj's buffer (writable if @writable), C-contiguous. */
static int get_buffer(PyObject *obj, Py_buffer *v, int writable, const char *what)
{
	if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT |
					   (writable ? PyBUF_WRITABLE : 0)) < 0) {
		PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous%s buffer (%s)", what,
			     writable ? ", writable" : "", Py_TYPE(obj)->tp_name);
		return -1;
	}
	return 0;
}

/* The datatype of a vector: @dt if given (>= 0), else its buffer's; and its
 * element count, which must divide the buffer exactly. */
static int vector_geometry(const Py_buffer *v, int dt, int *dt_out, size_t *count)
{
	size_t size;

	if (dt < 0)
		dt = dtype_of_format(v);
	if (dt < 0 || dt >= SG_DATATYPE_COUNT) {
		PyErr_Format(PyExc_TypeError, "cannot tell the datatype of a buffer of format '%s' "
			     "(itemsize %zd): give dtype", v->format ? v->format : "B", v->itemsize);
		return -1;
	}
	size = sg_datatype_size((enum sg_datatype)dt);
	if (v->len % (Py_ssize_t)size) {
		PyErr_Format(PyExc_ValueError, "a buffer of %zd bytes is not a whole number of "
			     "%zu-byte elements", v->len, size);
		return -1;
	}
	*dt_out = dt;
	*count = (size_t)v->len / size;
	return 0;
}

/* A sequence of (IPv4 address, port) as sockaddrs (PyMem_Free them), the
 * @what of each named in the error. */
static int parse_addrs(PyObject *obj, const char *what, struct sockaddr_in **out, Py_ssize_t *n)
{
	PyObject *seq = PySequence_Fast(obj, "expected a sequence of (address, port)");
	struct sockaddr_in *a;

	if (!seq)
		return -1;
	*n = PySequence_Fast_GET_SIZE(seq);
	a = PyMem_Calloc(*n ? (size_t)*n : 1, sizeof(*a));
	if (!a) {
		Py_DECREF(seq);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < *n; i++) {
		const char *ip;
		unsigned int port;

		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "sI", &ip, &port) ||
		    inet_pton(AF_INET, ip, &a[i].sin_addr) != 1 || port == 0 || port > 65535) {
			if (!PyErr_Occurred())
				PyErr_Format(PyExc_ValueError, "%s %zd: not an IPv4 address and port",
					     what, i);
			PyMem_Free(a);
			Py_DECREF(seq);
			return -1;
		}
		a[i].sin_family = AF_INET;
		a[i].sin_port = htons((uint16_t)port);
	}
	Py_DECREF(seq);
	*out = a;
	return 0;
}

/* ------------------------------------------------------------------- Comm */

typedef struct {
	PyObject_HEAD
	sg_comm *comm;
	size_t size;
	unsigned int inflight;	/* Requests not over: close() waits for none */
} Comm;

static int comm_init(Comm *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "ifname", "port", "workers", "local_addr", "transport", "mtu",
				  "busy_poll", NULL };
	const char *ifname, *local_addr = NULL;
	unsigned int port, mtu = 0;
	int transport = SG_TRANSPORT_AUTO, busy_poll = 0, err;
	PyObject *workers;
	struct sockaddr_in *w;
	Py_ssize_t n;
	SG_OPTS_INIT(sg_comm_opts, o);

	if (!PyArg_ParseTupleAndKeywords(args, kw, "sIO|ziIp", kwlist, &ifname, &port, &workers,
					 &local_addr, &transport, &mtu, &busy_poll))
		return -1;
	if (self->comm) {
		PyErr_SetString(PyExc_RuntimeError, "Comm already created");
		return -1;
	}
	if (port == 0 || port > 65535) {
		PyErr_Format(PyExc_ValueError, "port %u is not a UDP port", port);
		return -1;
	}
	if (parse_addrs(workers, "worker", &w, &n) < 0)
		return -1;
	o.ifname = ifname;
	o.local_addr = local_addr;
	o.local_port = (uint16_t)port;
	o.workers = w;
	o.nworkers = (size_t)n;
	o.transport = (enum sg_transport_kind)transport;
	o.mtu = mtu;
	o.busy_poll = busy_poll;
	Py_BEGIN_ALLOW_THREADS
	err = sg_comm_create(&o, &self->comm);
	Py_END_ALLOW_THREADS
	PyMem_Free(w);
	if (err) {
		fail(err);
		return -1;
	}
	self->size = (size_t)n;
	return 0;
}

static void comm_dealloc(Comm *self)
{
	sg_comm_destroy(self->comm);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int comm_open(Comm *self)
{
	if (!self->comm) {
		PyErr_SetString(PyExc_ValueError, "the communicator is closed");
		return -1;
	}
	return 0;
}

static PyObject *comm_close(Comm *self, PyObject *unused)
{
	if (self->inflight) {
		PyErr_Format(PyExc_RuntimeError, "%u requests of this communicator are in flight: "
			     "wait for them first", self->inflight);
		return NULL;
	}
	sg_comm_destroy(self->comm);
	self->comm = NULL;
	Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- Request */

/* A collective in flight: it holds its buffers and its report until done. */
typedef struct {
	PyObject_HEAD
	PyObject *comm;			/* kept alive while in flight */
	sg_request *req;
	uint32_t id;
	int bcast;
	Py_buffer request, contribution, result;
	int has_request, has_contribution, has_result;
	struct sg_reduce_params p;
	uint64_t contributors[SG_MAX_WORKERS_PER_COMM / 64];
	PyObject *outcome;		/* the report once done, or NULL */
} Request;

static PyTypeObject RequestType;

static void request_release(Request *r)
{
	if (r->has_request)
		PyBuffer_Release(&r->request);
	if (r->has_contribution)
		PyBuffer_Release(&r->contribution);
	if (r->has_result)
		PyBuffer_Release(&r->result);
	r->has_request = r->has_contribution = r->has_result = 0;
}

/* The report of a finished reduction: (ncontributors, ranks, nmissing). */
static PyObject *report_of(const Request *r, size_t size)
{
	PyObject *ranks;

	if (r->bcast)
		Py_RETURN_NONE;
	ranks = PyList_New(0);
	if (!ranks)
		return NULL;
	for (size_t i = 0; i < size; i++) {
		if (!(r->contributors[i / 64] >> (i % 64) & 1))
			continue;
		PyObject *k = PyLong_FromSize_t(i);

		if (!k || PyList_Append(ranks, k) < 0) {
			Py_XDECREF(k);
			Py_DECREF(ranks);
			return NULL;
		}
		Py_DECREF(k);
	}
	return Py_BuildValue("(INn)", r->p.ncontributors, ranks, (Py_ssize_t)r->p.nmissing);
}

/* The request ended with @err: its report, or the error raised with the
 * report as its report attribute. The buffers are released either way. */
static PyObject *request_finish(Request *r, int err)
{
	size_t size = ((Comm *)r->comm)->size;
	PyObject *rep;

	r->req = NULL;
	((Comm *)r->comm)->inflight--;
	request_release(r);
	rep = report_of(r, size);
	if (!rep)
		return NULL;
	if (err) {
		/* The report rides on the exception: after a timeout it says
		 * whose vectors are in the result and what is missing. */
		PyObject *exc = PyObject_CallFunction(Error, "is", -err, sg_errmsg());

		if (exc && PyObject_SetAttrString(exc, "report", rep) == 0)
			PyErr_SetObject(Error, exc);
		Py_XDECREF(exc);
		Py_DECREF(rep);
		return NULL;
	}
	Py_INCREF(rep);
	r->outcome = rep;
	return rep;
}

static PyObject *request_wait(Request *self, PyObject *unused)
{
	int err;

	if (!self->req) {
		if (self->outcome) {
			Py_INCREF(self->outcome);
			return self->outcome;
		}
		PyErr_SetString(PyExc_ValueError, "the request is over");
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	err = sg_wait(&self->req);
	Py_END_ALLOW_THREADS
	return request_finish(self, err);
}

/* None while in flight, else as wait(). */
static PyObject *request_test(Request *self, PyObject *unused)
{
	int done = 0, err;

	if (!self->req)
		return request_wait(self, NULL);
	err = sg_test(&self->req, &done);
	if (!done)
		Py_RETURN_NONE;
	return request_finish(self, err);
}

static void request_dealloc(Request *self)
{
	/* Dropped in flight: finish it, so that no buffer is written after it
	 * is released. */
	if (self->req) {
		Py_BEGIN_ALLOW_THREADS
		sg_wait(&self->req);
		Py_END_ALLOW_THREADS
		((Comm *)self->comm)->inflight--;
	}
	request_release(self);
	Py_XDECREF(self->outcome);
	Py_XDECREF(self->comm);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *request_id(Request *self, void *unused)
{
	return PyLong_FromUnsignedLong(self->id);
}

static PyObject *request_done(Request *self, void *unused)
{
	return PyBool_FromLong(!self->req);
}

static PyMethodDef request_methods[] = {
	{ "wait", FN(request_wait), METH_NOARGS,
	  "Wait for the collective; return its report (ncontributors, ranks, nmissing), or "
	  "None for a broadcast. Raises sgbpf.Error." },
	{ "test", FN(request_test), METH_NOARGS,
	  "The report if the collective is over (raising as wait() does), else None." },
	{ NULL }
};

static PyGetSetDef request_getset[] = {
	{ "id", (getter)request_id, NULL, "the collective id the workers see", NULL },
	{ "done", (getter)request_done, NULL, "whether it is over", NULL },
	{ NULL }
};

static PyTypeObject RequestType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sgbpf.Request",
	.tp_basicsize = sizeof(Request),
	.tp_dealloc = (destructor)request_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A collective in flight (Comm.i*() methods).",
	.tp_methods = request_methods,
	.tp_getset = request_getset,
};

/* --------------------------------------------------------------- posting */

enum coll { C_SCATTER_REDUCE, C_ALLGATHER, C_REDUCE, C_ALLREDUCE };

/* Post a reduction: the buffers taken, the library called (GIL released),
 * the request returned; or NULL with the error raised. */
static Request *post_reduction(Comm *self, enum coll c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "result", "contribution", "request", "dtype", "op", "policy",
				  "n", "timeout_ms", NULL };
	PyObject *result, *contribution = Py_None, *request = Py_None;
	int dtype = -1, op = SG_OP_SUM, policy = SG_WAIT_ALL, timeout_ms = 0, dt, err;
	unsigned int n = 0;
	size_t count;
	Request *r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOiiiIi", kwlist, &result, &contribution,
					 &request, &dtype, &op, &policy, &n, &timeout_ms))
		return NULL;
	if (comm_open(self))
		return NULL;
	if ((c == C_REDUCE || c == C_ALLREDUCE) != (contribution != Py_None)) {
		PyErr_SetString(PyExc_TypeError, c == C_REDUCE || c == C_ALLREDUCE ?
				"reduce and allreduce take the coordinator's contribution" :
				"scatter_reduce and allgather take no contribution (see allreduce)");
		return NULL;
	}
	r = PyObject_New(Request, &RequestType);
	if (!r)
		return NULL;
	memset((char *)r + sizeof(PyObject), 0, sizeof(*r) - sizeof(PyObject));
	Py_INCREF(self);
	r->comm = (PyObject *)self;
	if (get_buffer(result, &r->result, 1, "result") < 0)
		goto fail;
	r->has_result = 1;
	if (vector_geometry(&r->result, dtype, &dt, &count) < 0)
		goto fail;
	if (contribution != Py_None) {
		if (contribution == result) {
			r->contribution = r->result;	/* in place: one buffer held */
		} else {
			if (get_buffer(contribution, &r->contribution, 0, "contribution") < 0)
				goto fail;
			r->has_contribution = 1;
			if (r->contribution.len != r->result.len) {
				PyErr_Format(PyExc_ValueError, "contribution of %zd bytes for a "
					     "result of %zd", r->contribution.len, r->result.len);
				goto fail;
			}
		}
	}
	if (request != Py_None) {
		if (get_buffer(request, &r->request, 0, "request") < 0)
			goto fail;
		r->has_request = 1;
	}
	r->p = (struct sg_reduce_params){
		.sz = sizeof(r->p),
		.policy = (enum sg_policy)policy,
		.n = n,
		.timeout_ms = timeout_ms,
		.contributors = r->contributors,
		.contributors_words = SG_MAX_WORKERS_PER_COMM / 64,
	};
	{
		const void *rq = r->has_request ? r->request.buf : NULL;
		size_t rl = r->has_request ? (size_t)r->request.len : 0;
		const void *own = contribution == Py_None ? NULL : r->contribution.buf;

		switch (c) {
		case C_SCATTER_REDUCE:
			err = sg_iscatter_reduce(self->comm, rq, rl, r->result.buf, count,
						 (enum sg_datatype)dt, (enum sg_op)op, &r->p, &r->req);
			break;
		case C_ALLGATHER:
			err = sg_iallgather(self->comm, rq, rl, r->result.buf, count,
					    (enum sg_datatype)dt, (enum sg_op)op, &r->p, &r->req);
			break;
		case C_REDUCE:
			err = sg_ireduce(self->comm, rq, rl, own, r->result.buf, count,
					 (enum sg_datatype)dt, (enum sg_op)op, &r->p, &r->req);
			break;
		default:
			err = sg_iallreduce(self->comm, rq, rl, own, r->result.buf, count,
					    (enum sg_datatype)dt, (enum sg_op)op, &r->p, &r->req);
			break;
		}
	}
	if (err) {
		fail(err);
		goto fail;
	}
	r->id = sg_request_id(r->req);
	self->inflight++;
	return r;
fail:
	Py_DECREF(r);
	return NULL;
}

static PyObject *wait_now(Request *r)
{
	PyObject *rep;

	if (!r)
		return NULL;
	rep = request_wait(r, NULL);
	Py_DECREF(r);
	return rep;
}

#define DEFINE_COLL(name, C)								\
	static PyObject *comm_i##name(Comm *self, PyObject *args, PyObject *kw)		\
	{										\
		return (PyObject *)post_reduction(self, C, args, kw);			\
	}										\
	static PyObject *comm_##name(Comm *self, PyObject *args, PyObject *kw)		\
	{										\
		return wait_now(post_reduction(self, C, args, kw));			\
	}

DEFINE_COLL(scatter_reduce, C_SCATTER_REDUCE)
DEFINE_COLL(allgather, C_ALLGATHER)
DEFINE_COLL(reduce, C_REDUCE)
DEFINE_COLL(allreduce, C_ALLREDUCE)

static Request *post_bcast(Comm *self, PyObject *args)
{
	PyObject *buf;
	Request *r;
	int err;

	if (!PyArg_ParseTuple(args, "O", &buf) || comm_open(self))
		return NULL;
	r = PyObject_New(Request, &RequestType);
	if (!r)
		return NULL;
	memset((char *)r + sizeof(PyObject), 0, sizeof(*r) - sizeof(PyObject));
	Py_INCREF(self);
	r->comm = (PyObject *)self;
	r->bcast = 1;
	if (get_buffer(buf, &r->request, 0, "buf") < 0) {
		Py_DECREF(r);
		return NULL;
	}
	r->has_request = 1;
	err = sg_ibcast(self->comm, r->request.buf, (size_t)r->request.len, &r->req);
	if (err) {
		fail(err);
		Py_DECREF(r);
		return NULL;
	}
	r->id = sg_request_id(r->req);
	self->inflight++;
	return r;
}

static PyObject *comm_ibcast(Comm *self, PyObject *args)
{
	return (PyObject *)post_bcast(self, args);
}

static PyObject *comm_bcast(Comm *self, PyObject *args)
{
	return wait_now(post_bcast(self, args));
}

static PyObject *comm_stats(Comm *self, PyObject *unused)
{
	struct sg_comm_stats st;
	int err;

	if (comm_open(self))
		return NULL;
	err = sg_comm_get_stats(self->comm, &st);
	if (err)
		return fail(err);
	return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsK}", "rx_accepted", st.rx_accepted,
			     "rx_duplicate", st.rx_duplicate, "rx_stale", st.rx_stale, "rx_late",
			     st.rx_late, "rx_unknown_src", st.rx_unknown_src, "rx_malformed",
			     st.rx_malformed, "completed", st.completed, "tx_fanout", st.tx_fanout,
			     "retransmits", st.retransmits, "rx_forged", st.rx_forged);
}

static PyObject *comm_size(Comm *self, void *unused)
{
	return PyLong_FromSize_t(self->size);
}

static PyObject *comm_transport(Comm *self, void *unused)
{
	if (comm_open(self))
		return NULL;
	return PyUnicode_FromString(sg_transport_name(sg_comm_transport(self->comm)));
}

static PyObject *comm_fileno(Comm *self, PyObject *unused)
{
	int fd;

	if (comm_open(self))
		return NULL;
	fd = sg_comm_fd(self->comm);
	return fd < 0 ? fail(fd) : PyLong_FromLong(fd);
}

#define COLL_DOC(what) what " Keywords: result (writable buffer), contribution, request " \
	"(buffer), dtype (default: from result's format), op, policy, n, timeout_ms."

static PyMethodDef comm_methods[] = {
	{ "scatter_reduce", FN(comm_scatter_reduce), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("sg_scatter_reduce(): the workers' vectors reduced into result.") },
	{ "iscatter_reduce", FN(comm_iscatter_reduce), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("Non-blocking scatter_reduce: a Request.") },
	{ "allgather", FN(comm_allgather), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("sg_allgather(): scatter_reduce, the result then sent to every worker.") },
	{ "iallgather", FN(comm_iallgather), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("Non-blocking allgather: a Request.") },
	{ "reduce", FN(comm_reduce), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("sg_reduce(): the workers' vectors and contribution reduced into result.") },
	{ "ireduce", FN(comm_ireduce), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("Non-blocking reduce: a Request; contribution is read when it completes.") },
	{ "allreduce", FN(comm_allreduce), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("sg_allreduce(): reduce, the result then sent to every worker.") },
	{ "iallreduce", FN(comm_iallreduce), METH_VARARGS | METH_KEYWORDS,
	  COLL_DOC("Non-blocking allreduce: a Request.") },
	{ "bcast", FN(comm_bcast), METH_VARARGS, "sg_bcast(buf)." },
	{ "ibcast", FN(comm_ibcast), METH_VARARGS, "Non-blocking bcast: a Request." },
	{ "stats", FN(comm_stats), METH_NOARGS, "sg_comm_get_stats() as a dict." },
	{ "fileno", FN(comm_fileno), METH_NOARGS,
	  "sg_comm_fd(): readable when a collective may have completed." },
	{ "close", FN(comm_close), METH_NOARGS,
	  "sg_comm_destroy(); requests in flight must be over." },
	{ NULL }
};

static PyGetSetDef comm_getset[] = {
	{ "size", (getter)comm_size, NULL, "number of workers", NULL },
	{ "transport", (getter)comm_transport, NULL, "the transport's name", NULL },
	{ NULL }
};

static PyTypeObject CommType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sgbpf.Comm",
	.tp_basicsize = sizeof(Comm),
	.tp_dealloc = (destructor)comm_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Comm(ifname, port, workers, local_addr=None, transport=0, mtu=0, "
		  "busy_poll=False): sg_comm_create(); workers is a sequence of "
		  "(IPv4 address, port).",
	.tp_methods = comm_methods,
	.tp_getset = comm_getset,
	.tp_init = (initproc)comm_init,
	.tp_new = PyType_GenericNew,
};

/* ----------------------------------------------------------------- Worker */

typedef struct {
	PyObject_HEAD
	sg_worker *w;
} Worker;

/* A message a worker received: its header, and a copy of its bytes. */
typedef struct {
	PyObject_HEAD
	struct sg_msg msg;	/* data set to NULL: the bytes are in data */
	PyObject *data;
} Msg;

static PyTypeObject MsgType;

static int worker_init(Worker *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "port", "addr", "coordinators", "reply_cache_bytes", NULL };
	unsigned int port = 0;
	const char *addr = NULL;
	PyObject *coords = Py_None;
	Py_ssize_t cache = 0, n = 0;
	struct sockaddr_in *c = NULL;
	SG_OPTS_INIT(sg_worker_opts, o);
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|IzOn", kwlist, &port, &addr, &coords, &cache))
		return -1;
	if (self->w) {
		PyErr_SetString(PyExc_RuntimeError, "Worker already created");
		return -1;
	}
	if (port > 65535 || cache < 0) {
		PyErr_SetString(PyExc_ValueError, "port must be 0..65535, reply_cache_bytes >= 0");
		return -1;
	}
	if (coords != Py_None && parse_addrs(coords, "coordinator", &c, &n) < 0)
		return -1;
	o.addr = addr;
	o.port = (uint16_t)port;
	o.coordinators = c;
	o.ncoordinators = (size_t)n;
	o.reply_cache_bytes = (size_t)cache;
	err = sg_worker_create(&o, &self->w);
	PyMem_Free(c);
	if (err) {
		fail(err);
		return -1;
	}
	return 0;
}

static void worker_dealloc(Worker *self)
{
	sg_worker_destroy(self->w);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int worker_open(Worker *self)
{
	if (!self->w) {
		PyErr_SetString(PyExc_ValueError, "the worker is closed");
		return -1;
	}
	return 0;
}

/* The next message, or None when none came within timeout_ms. */
static PyObject *worker_recv(Worker *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout_ms", NULL };
	int timeout_ms = -1, err;
	struct sg_msg m;
	Msg *msg;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kwlist, &timeout_ms) || worker_open(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	err = sg_worker_recv(self->w, &m, timeout_ms);
	Py_END_ALLOW_THREADS
	if (err == -EAGAIN || err == -ETIMEDOUT)
		Py_RETURN_NONE;
	if (err)
		return fail(err);
	msg = PyObject_New(Msg, &MsgType);
	if (!msg)
		return NULL;
	msg->msg = m;
	msg->msg.data = NULL;
	msg->data = NULL;
	msg->data = PyBytes_FromStringAndSize(m.data, (Py_ssize_t)m.len);
	if (!msg->data) {
		Py_DECREF(msg);
		return NULL;
	}
	return (PyObject *)msg;
}

static PyObject *worker_reply(Worker *self, PyObject *args)
{
	PyObject *msg, *data;
	Py_buffer v;
	int err;

	if (!PyArg_ParseTuple(args, "O!O", &MsgType, &msg, &data) || worker_open(self))
		return NULL;
	if (get_buffer(data, &v, 0, "data") < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	err = sg_worker_reply(self->w, &((Msg *)msg)->msg, v.buf, (size_t)v.len);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&v);
	if (err)
		return fail(err);
	Py_RETURN_NONE;
}

static PyObject *worker_stats(Worker *self, PyObject *unused)
{
	SG_OPTS_INIT(sg_worker_stats, st);
	int err;

	if (worker_open(self))
		return NULL;
	err = sg_worker_get_stats(self->w, &st);
	if (err)
		return fail(err);
	return Py_BuildValue("{sKsKsKsKsKsKsK}", "rx_delivered", st.rx_delivered, "rx_foreign",
			     st.rx_foreign, "rx_malformed", st.rx_malformed, "rx_duplicate",
			     st.rx_duplicate, "rx_evicted", st.rx_evicted, "tx_resent",
			     st.tx_resent, "tx_gso_sends", st.tx_gso_sends);
}

static PyObject *worker_port(Worker *self, void *unused)
{
	if (worker_open(self))
		return NULL;
	return PyLong_FromLong(sg_worker_port(self->w));
}

static PyObject *worker_fileno(Worker *self, PyObject *unused)
{
	if (worker_open(self))
		return NULL;
	return PyLong_FromLong(sg_worker_fd(self->w));
}

static PyObject *worker_close(Worker *self, PyObject *unused)
{
	sg_worker_destroy(self->w);
	self->w = NULL;
	Py_RETURN_NONE;
}

static PyMethodDef worker_methods[] = {
	{ "recv", FN(worker_recv), METH_VARARGS | METH_KEYWORDS,
	  "recv(timeout_ms=-1): the next Msg, or None if none came in time." },
	{ "reply", FN(worker_reply), METH_VARARGS,
	  "reply(msg, data): answer a SCATTER message with its count elements." },
	{ "stats", FN(worker_stats), METH_NOARGS, "sg_worker_get_stats() as a dict." },
	{ "fileno", FN(worker_fileno), METH_NOARGS, "the worker's socket" },
	{ "close", FN(worker_close), METH_NOARGS, "sg_worker_destroy()." },
	{ NULL }
};

static PyGetSetDef worker_getset[] = {
	{ "port", (getter)worker_port, NULL, "the bound UDP port", NULL },
	{ NULL }
};

static PyTypeObject WorkerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sgbpf.Worker",
	.tp_basicsize = sizeof(Worker),
	.tp_dealloc = (destructor)worker_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Worker(port=0, addr=None, coordinators=None, reply_cache_bytes=0): "
		  "sg_worker_create().",
	.tp_methods = worker_methods,
	.tp_getset = worker_getset,
	.tp_init = (initproc)worker_init,
	.tp_new = PyType_GenericNew,
};

static void msg_dealloc(Msg *self)
{
	Py_XDECREF(self->data);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *msg_get(Msg *self, void *which)
{
	char ip[INET_ADDRSTRLEN];

	switch ((intptr_t)which) {
	case 0: return PyLong_FromLong(self->msg.type);
	case 1: return PyLong_FromUnsignedLong(self->msg.coll_id);
	case 2: return PyLong_FromLong(self->msg.dtype);
	case 3: return PyLong_FromLong(self->msg.op);
	case 4: return PyLong_FromSize_t(self->msg.count);
	case 5:
		Py_INCREF(self->data);
		return self->data;
	default:
		inet_ntop(AF_INET, &self->msg.from.sin_addr, ip, sizeof(ip));
		return Py_BuildValue("(si)", ip, ntohs(self->msg.from.sin_port));
	}
}

static PyGetSetDef msg_getset[] = {
	{ "type", (getter)msg_get, NULL, "MSG_SCATTER, MSG_BCAST or MSG_RESULT", (void *)0 },
	{ "coll_id", (getter)msg_get, NULL, "collective id", (void *)1 },
	{ "dtype", (getter)msg_get, NULL, "datatype of the reduction", (void *)2 },
	{ "op", (getter)msg_get, NULL, "op of the reduction", (void *)3 },
	{ "count", (getter)msg_get, NULL, "elements the reply must have", (void *)4 },
	{ "data", (getter)msg_get, NULL, "the request, broadcast or result (bytes)", (void *)5 },
	{ "sender", (getter)msg_get, NULL, "the coordinator (address, port)", (void *)6 },
	{ NULL }
};

static PyTypeObject MsgType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sgbpf.Msg",
	.tp_basicsize = sizeof(Msg),
	.tp_dealloc = (destructor)msg_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A message a Worker received.",
	.tp_getset = msg_getset,
};

/* ----------------------------------------------------------------- module */

static PyObject *mod_datatype_size(PyObject *m, PyObject *args)
{
	int dt;

	if (!PyArg_ParseTuple(args, "i", &dt))
		return NULL;
	if (dt < 0 || dt >= SG_DATATYPE_COUNT) {
		PyErr_Format(PyExc_ValueError, "unknown datatype %d", dt);
		return NULL;
	}
	return PyLong_FromSize_t(sg_datatype_size((enum sg_datatype)dt));
}

static PyMethodDef module_methods[] = {
	{ "datatype_size", mod_datatype_size, METH_VARARGS, "sg_datatype_size(dt)" },
	{ NULL }
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_sgbpf", "The sgbpf C library (use the sgbpf package).", -1,
	module_methods,
};

PyMODINIT_FUNC PyInit__sgbpf(void)
{
	static const struct { const char *name; long value; } consts[] = {
		{ "INT8", SG_INT8 }, { "UINT8", SG_UINT8 }, { "INT16", SG_INT16 },
		{ "UINT16", SG_UINT16 }, { "INT32", SG_INT32 }, { "UINT32", SG_UINT32 },
		{ "INT64", SG_INT64 }, { "UINT64", SG_UINT64 }, { "FLOAT32", SG_FLOAT32 },
		{ "FLOAT64", SG_FLOAT64 }, { "FLOAT16", SG_FLOAT16 }, { "BFLOAT16", SG_BFLOAT16 }, { "INT32_LOC", SG_INT32_LOC },
		{ "FLOAT32_LOC", SG_FLOAT32_LOC }, { "INT64_LOC", SG_INT64_LOC },
		{ "FLOAT64_LOC", SG_FLOAT64_LOC },
		{ "SUM", SG_OP_SUM }, { "PROD", SG_OP_PROD }, { "MIN", SG_OP_MIN },
		{ "MAX", SG_OP_MAX }, { "BAND", SG_OP_BAND }, { "BOR", SG_OP_BOR },
		{ "BXOR", SG_OP_BXOR }, { "MAXLOC", SG_OP_MAXLOC }, { "MINLOC", SG_OP_MINLOC },
		{ "WAIT_ALL", SG_WAIT_ALL }, { "WAIT_N", SG_WAIT_N }, { "WAIT_ANY", SG_WAIT_ANY },
		{ "TRANSPORT_AUTO", SG_TRANSPORT_AUTO }, { "TRANSPORT_EBPF", SG_TRANSPORT_EBPF },
		{ "TRANSPORT_IO_URING", SG_TRANSPORT_IO_URING },
		{ "TRANSPORT_EPOLL", SG_TRANSPORT_EPOLL }, { "TRANSPORT_NAIVE", SG_TRANSPORT_NAIVE },
		{ "MSG_SCATTER", SG_MSG_SCATTER }, { "MSG_BCAST", SG_MSG_BCAST },
		{ "MSG_RESULT", SG_MSG_RESULT },
		{ "MAX_MESSAGE_BYTES", SG_MAX_MESSAGE_BYTES },
		{ "MAX_WORKERS_PER_COMM", SG_MAX_WORKERS_PER_COMM },
	};
	PyObject *m;

	if (PyType_Ready(&CommType) < 0 || PyType_Ready(&WorkerType) < 0 ||
	    PyType_Ready(&RequestType) < 0 || PyType_Ready(&MsgType) < 0)
		return NULL;
	m = PyModule_Create(&module);
	if (!m)
		return NULL;
	Error = PyErr_NewExceptionWithDoc("sgbpf.Error",
					  "A failed sgbpf call: errno, and the library's message as "
					  "strerror (sg_errmsg()).", PyExc_OSError, NULL);
	if (!Error || PyModule_AddObjectRef(m, "Error", Error) < 0 ||
	    PyModule_AddObjectRef(m, "Comm", (PyObject *)&CommType) < 0 ||
	    PyModule_AddObjectRef(m, "Worker", (PyObject *)&WorkerType) < 0 ||
	    PyModule_AddObjectRef(m, "Request", (PyObject *)&RequestType) < 0 ||
	    PyModule_AddObjectRef(m, "Msg", (PyObject *)&MsgType) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0) {
			Py_DECREF(m);
			return NULL;
		}
	return m;
}
