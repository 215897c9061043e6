// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* libFuzzer target: the workers-file parser (sg_workers_parse), the endpoint
 * parser (sg_parse_endpoint) and sg_workers_validate, on arbitrary bytes.
 *
 * Invariants checked (any violation aborts, which libFuzzer reports):
 *  - sg_workers_parse succeeds with 1..SG_MAX_WORKERS_PER_COMM entries, each
 *    AF_INET with a nonzero port and a unicast address, no two equal, which
 *    sg_workers_validate() accepts and which parse again to the same array
 *    when written back as text; or fails with -EINVAL, -E2BIG or -ENOMEM, a
 *    message naming the input, and its outputs untouched;
 *  - sg_parse_endpoint accepts only canonical "A.B.C.D:PORT" (the address
 *    written back is the text before the last ':');
 *  - sg_workers_validate on the input read as an array of sockaddr_in agrees
 *    with an independent check of the same rules. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgbpf.h"
#include "common/workers_file.h"

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s (errmsg '%s')\n",     \
				__FILE__, __LINE__, #cond, sg_errmsg());                   \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void quiet(enum sg_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sg_set_log(quiet, SG_LOG_ERROR, NULL);
	return 0;
}

static uint64_t key(const struct sockaddr_in *a)
{
	return (uint64_t)ntohl(a->sin_addr.s_addr) << 16 | ntohs(a->sin_port);
}

static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

/* The rules of sg_workers_validate(), written independently: 1 if @w is a
 * valid array of workers. */
static int valid_workers(const struct sockaddr_in *w, size_t n)
{
	uint64_t *k;
	size_t i;
	int ok = 1;

	if (n < 1 || n > SG_MAX_WORKERS_PER_COMM)
		return 0;
	for (i = 0; i < n; i++) {
		uint32_t ip = ntohl(w[i].sin_addr.s_addr);

		if (w[i].sin_family != AF_INET || w[i].sin_port == 0 || ip == 0 ||
		    ip == 0xffffffffu || (ip & 0xf0000000u) == 0xe0000000u)
			return 0;
	}
	k = malloc(n * sizeof(*k));
	CHECK(k);
	for (i = 0; i < n; i++)
		k[i] = key(&w[i]);
	qsort(k, n, sizeof(*k), cmp_u64);
	for (i = 1; i < n; i++)
		ok &= k[i] != k[i - 1];
	free(k);
	return ok;
}

static void check_failure(int err, const char *name)
{
	const char *m = sg_errmsg();

	CHECK(err == -EINVAL || err == -E2BIG || err == -ENOMEM);
	CHECK(m && m[0]);
	CHECK(strncmp(m, name, strlen(name)) == 0);
}

static void fuzz_parse(const char *text, size_t len)
{
	struct sockaddr_in sentinel, *w = &sentinel, *w2 = &sentinel;
	size_t n = 4242, n2 = 4242, i;
	char *out, *p;
	int err;

	err = sg_workers_parse(text, len, "fuzz.txt", &w, &n);
	if (err) {
		check_failure(err, "fuzz.txt");
		CHECK(w == &sentinel && n == 4242);
		return;
	}
	CHECK(n >= 1 && n <= SG_MAX_WORKERS_PER_COMM);
	CHECK(valid_workers(w, n));
	for (i = 0; i < n; i++) {
		static const unsigned char zero[sizeof(w[i].sin_zero)];

		CHECK(memcmp(w[i].sin_zero, zero, sizeof(zero)) == 0);
	}
	CHECK(sg_workers_validate(w, n, "parsed") == 0);

	/* Written back as text, the workers read the same. */
	out = malloc(n * 24 + 1);
	CHECK(out);
	for (p = out, i = 0; i < n; i++) {
		uint32_t ip = ntohl(w[i].sin_addr.s_addr);

		p += sprintf(p, "%u.%u.%u.%u:%u\n", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
			     ip & 0xff, ntohs(w[i].sin_port));
	}
	CHECK(sg_workers_parse(out, (size_t)(p - out), NULL, &w2, &n2) == 0);
	CHECK(n2 == n && memcmp(w2, w, n * sizeof(*w)) == 0);
	free(w2);
	free(out);
	free(w);
}

static void fuzz_endpoint(const char *text, size_t len)
{
	struct sockaddr_in sentinel, a;
	char ipbuf[INET_ADDRSTRLEN];
	size_t colon, i;
	unsigned long port = 0;
	int err;

	memset(&sentinel, 0xa5, sizeof(sentinel));
	a = sentinel;
	err = sg_parse_endpoint(text, len, &a);
	if (err) {
		CHECK(err == -EINVAL);
		CHECK(sg_errmsg()[0]);
		CHECK(memcmp(&a, &sentinel, sizeof(a)) == 0);
		return;
	}
	CHECK(a.sin_family == AF_INET && a.sin_port != 0);
	for (colon = len; colon > 0 && text[colon - 1] != ':'; colon--)
		;
	CHECK(colon > 0);
	CHECK(inet_ntop(AF_INET, &a.sin_addr, ipbuf, sizeof(ipbuf)));
	CHECK(strlen(ipbuf) == colon - 1 && memcmp(ipbuf, text, colon - 1) == 0);
	CHECK(colon < len);
	for (i = colon; i < len; i++) {
		CHECK(text[i] >= '0' && text[i] <= '9');
		if (port <= 65535)
			port = port * 10 + (unsigned long)(text[i] - '0');
	}
	CHECK(port == ntohs(a.sin_port));
}

static void fuzz_validate(const uint8_t *data, size_t size)
{
	size_t n = size / sizeof(struct sockaddr_in);
	struct sockaddr_in *w;
	int err, want;

	/* A copy, so that the array is aligned and exactly as large as n. */
	w = malloc(n ? n * sizeof(*w) : 1);
	CHECK(w);
	memcpy(w, data, n * sizeof(*w));
	err = sg_workers_validate(n ? w : NULL, n, "fuzz");
	want = valid_workers(w, n);
	if (want) {
		CHECK(err == 0);
	} else {
		CHECK(err == -EINVAL || err == -E2BIG || err == -ENOMEM);
		CHECK(strncmp(sg_errmsg(), "fuzz", 4) == 0);
	}
	free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse((const char *)data, size);
	if (size <= 64)
		fuzz_endpoint((const char *)data, size);
	fuzz_validate(data, size);
	return 0;
}
