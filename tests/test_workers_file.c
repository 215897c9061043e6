// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests of common/workers_file.c and common/log.c: workers files, endpoint
 * parsing, worker validation, errors and logging. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "sgbpf.h"
#include "common/log.h"
#include "common/workers_file.h"

static const char *argv0;

/* ------------------------------------------------------------------ helpers */

struct capture {
	int count[SG_LOG_DEBUG + 1];
	int total;
	enum sg_log_level last_level;
	size_t last_len;	/* of the whole message, which last may cut */
	char last[8192];
	char all[16384];	/* every message, '|'-separated */
};

static struct capture cap;

static void capture_cb(enum sg_log_level level, const char *msg, void *ctx)
{
	struct capture *c = ctx;
	size_t used = strlen(c->all);

	if ((unsigned int)level <= SG_LOG_DEBUG)
		c->count[level]++;
	c->total++;
	c->last_level = level;
	c->last_len = strlen(msg);
	snprintf(c->last, sizeof(c->last), "%s", msg);
	snprintf(c->all + used, sizeof(c->all) - used, "%s|", msg);
}

#define MAX_TMP 8
static char *tmp_paths[MAX_TMP];

/* A temporary file holding @len bytes of @data, removed by the teardown even if
 * the test fails. */
static const char *tmp_file(const void *data, size_t len)
{
	char *path = strdup("/tmp/sgbpf-workers-XXXXXX");
	const char *p = data;
	int fd, i;
	ssize_t r;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (i = 0; i < MAX_TMP && tmp_paths[i]; i++)
		;
	assert_true(i < MAX_TMP);
	tmp_paths[i] = path;
	while (len) {
		r = write(fd, p, len);
		assert_true(r > 0);
		p += r;
		len -= (size_t)r;
	}
	assert_int_equal(close(fd), 0);
	return path;
}

static const char *tmp_text(const char *text)
{
	return tmp_file(text, strlen(text));
}

static int setup(void **state)
{
	memset(&cap, 0, sizeof(cap));
	sg_set_log(capture_cb, SG_LOG_DEBUG, &cap);
	return 0;
}

static int teardown(void **state)
{
	int i;

	for (i = 0; i < MAX_TMP; i++) {
		if (tmp_paths[i]) {
			unlink(tmp_paths[i]);
			free(tmp_paths[i]);
			tmp_paths[i] = NULL;
		}
	}
	sg_set_log(capture_cb, SG_LOG_DEBUG, &cap);
	return 0;
}

#define assert_str_contains(hay, needle)                                                   \
	do {                                                                               \
		const char *h_ = (hay), *n_ = (needle);                                    \
		if (!strstr(h_, n_))                                                       \
			fail_msg("\"%s\" does not contain \"%s\"", h_, n_);               \
	} while (0)

static void expect_ep(const struct sockaddr_in *a, const char *ip, uint16_t port)
{
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(a->sin_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, ip);
	assert_int_equal(ntohs(a->sin_port), port);
}

static struct sockaddr_in ep(const char *ip, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	a.sin_port = htons(port);
	return a;
}

static struct sockaddr_in *read_ok(const char *path, size_t want_n)
{
	struct sockaddr_in *w = NULL;
	size_t n = 0;
	int err;

	err = sg_workers_file_read(path, &w, &n);
	if (err)
		fail_msg("sg_workers_file_read: %d (%s)", err, sg_errmsg());
	assert_non_null(w);
	assert_int_equal(n, want_n);
	return w;
}

/* Read @path expecting @err; the message must be exactly "<path>:<line>: <what>"
 * (or "<path>: <what>" when @line is 0), it must have been logged at ERROR and
 * the outputs must be untouched. */
static void expect_bad_path(const char *path, int err, unsigned long line, const char *what)
{
	struct sockaddr_in sentinel, *w = &sentinel;
	size_t n = 4242;
	char want[1024];
	int ret;

	cap.count[SG_LOG_ERROR] = 0;
	ret = sg_workers_file_read(path, &w, &n);
	if (ret != err)
		fail_msg("got %d, want %d (%s)", ret, err, sg_errmsg());
	assert_ptr_equal(w, &sentinel);
	assert_int_equal(n, 4242);
	if (line)
		snprintf(want, sizeof(want), "%s:%lu: %s", path, line, what);
	else
		snprintf(want, sizeof(want), "%s: %s", path, what);
	assert_string_equal(sg_errmsg(), want);
	assert_true(cap.count[SG_LOG_ERROR] >= 1);
	assert_string_equal(cap.last, sg_errmsg());
}

static void expect_bad(const char *text, int err, unsigned long line, const char *what)
{
	expect_bad_path(tmp_text(text), err, line, what);
}

/* --------------------------------------------------------- good files */

static void test_file_basic(void **state)
{
	struct sockaddr_in *w = read_ok(tmp_text("10.0.0.1:7000\n10.0.0.2:7001\n"), 2);

	expect_ep(&w[0], "10.0.0.1", 7000);
	expect_ep(&w[1], "10.0.0.2", 7001);
	free(w);
}

static void test_file_comments_blanks_spaces(void **state)
{
	const char *text = "# workers of the test\n"
			   "\n"
			   "  \t10.0.0.1:7000  # first\n"
			   "\t\n"
			   "10.0.0.2:7000#second\n"
			   "   # indented comment\n"
			   "#10.0.0.9:7000\n"
			   "\f\v192.168.1.254:1\v\n"
			   "10.0.0.3:65535";	/* no final newline */
	struct sockaddr_in *w = read_ok(tmp_text(text), 4);

	expect_ep(&w[0], "10.0.0.1", 7000);
	expect_ep(&w[1], "10.0.0.2", 7000);
	expect_ep(&w[2], "192.168.1.254", 1);
	expect_ep(&w[3], "10.0.0.3", 65535);
	free(w);
}

static void test_file_crlf(void **state)
{
	struct sockaddr_in *w =
		read_ok(tmp_text("10.0.0.1:7000\r\n# c\r\n\r\n10.0.0.2:1 # x\r\n10.0.0.3:2\r"), 3);

	expect_ep(&w[0], "10.0.0.1", 7000);
	expect_ep(&w[1], "10.0.0.2", 1);
	expect_ep(&w[2], "10.0.0.3", 2);
	free(w);
}

static void test_file_same_addr_other_port(void **state)
{
	struct sockaddr_in *w = read_ok(tmp_text("10.0.0.1:7000\n10.0.0.1:7001\n"), 2);

	free(w);
}

/* A line of exactly SG_WORKERS_LINE_MAX characters, with LF and with CRLF. */
static void test_file_longest_line(void **state)
{
	char text[2 * SG_WORKERS_LINE_MAX + 16];
	struct sockaddr_in *w;
	size_t i;

	strcpy(text, "10.0.0.1:7000 #");
	for (i = strlen(text); i < SG_WORKERS_LINE_MAX; i++)
		text[i] = 'x';
	strcpy(text + i, "\n10.0.0.2:7000\n");
	w = read_ok(tmp_text(text), 2);
	free(w);

	strcpy(text + SG_WORKERS_LINE_MAX, "\r\n10.0.0.2:7000\r\n");
	w = read_ok(tmp_text(text), 2);
	free(w);
}

static char *many_workers(size_t n)
{
	char *text = malloc(n * 24 + 1), *p = text;
	size_t i;

	assert_non_null(text);
	for (i = 0; i < n; i++)
		p += sprintf(p, "10.1.%zu.%zu:%zu\n", i / 250, i % 250 + 1, 7000 + i % 3);
	return text;
}

static void test_file_max_workers(void **state)
{
	char *text = many_workers(SG_MAX_WORKERS_PER_COMM);
	struct sockaddr_in *w = read_ok(tmp_text(text), SG_MAX_WORKERS_PER_COMM);

	expect_ep(&w[1023], "10.1.4.24", 7000);
	assert_int_equal(sg_workers_validate(w, SG_MAX_WORKERS_PER_COMM, "workers"), 0);
	free(w);
	free(text);
}

/* --------------------------------------------------------- bad files */

static void test_file_missing(void **state)
{
	const char *path = "/tmp/sgbpf-no-such-dir/workers.txt";
	struct sockaddr_in sentinel, *w = &sentinel;
	size_t n = 7;

	assert_int_equal(sg_workers_file_read(path, &w, &n), -ENOENT);
	assert_ptr_equal(w, &sentinel);
	assert_int_equal(n, 7);
	assert_string_equal(sg_errmsg(),
			    "cannot open workers file '/tmp/sgbpf-no-such-dir/workers.txt': "
			    "No such file or directory");
}

static void test_file_is_directory(void **state)
{
	struct sockaddr_in sentinel, *w = &sentinel;
	size_t n = 7;

	assert_int_equal(sg_workers_file_read("/tmp", &w, &n), -EISDIR);
	assert_ptr_equal(w, &sentinel);
	assert_str_contains(sg_errmsg(), "/tmp");
}

static void test_file_empty(void **state)
{
	expect_bad("", -EINVAL, 0, "no workers (only blank lines and comments)");
	expect_bad("# nothing\n\n   \n\t# here\r\n", -EINVAL, 0,
		   "no workers (only blank lines and comments)");
}

static void test_file_bad_port(void **state)
{
	expect_bad("# header\n10.0.0.1:7000\n10.0.0.2:99999\n", -EINVAL, 3,
		   "invalid port '99999' (1..65535)");
	expect_bad("10.0.0.1:0\n", -EINVAL, 1, "invalid port '0' (1..65535)");
	expect_bad("10.0.0.1:65536\n", -EINVAL, 1, "invalid port '65536' (1..65535)");
	expect_bad("\n10.0.0.1:http\n", -EINVAL, 2, "invalid port 'http' (1..65535)");
	expect_bad("10.0.0.1:-1\n", -EINVAL, 1, "invalid port '-1' (1..65535)");
	expect_bad("10.0.0.1:12345678901234567890123\n", -EINVAL, 1,
		   "invalid port '12345678901234567890123' (1..65535)");
}

static void test_file_not_endpoint(void **state)
{
	expect_bad("10.0.0.1:1\n10.0.0.2:1\n10.0.0.3:1\n\nfoo\n", -EINVAL, 5,
		   "expected IPv4:port, got 'foo'");
	expect_bad("10.0.0.1\n", -EINVAL, 1, "expected IPv4:port, got '10.0.0.1'");
	expect_bad("10.0.0.1:\n", -EINVAL, 1, "expected IPv4:port, got '10.0.0.1:'");
	expect_bad(":7000\n", -EINVAL, 1, "expected IPv4:port, got ':7000'");
	expect_bad("10.0.0.1:7000 10.0.0.2:7000\n", -EINVAL, 1,
		   "expected IPv4:port, got '10.0.0.1:7000 10.0.0.2:7000'");
	expect_bad("10.0.0.1 : 7000\n", -EINVAL, 1, "expected IPv4:port, got '10.0.0.1 : 7000'");
}

static void test_file_bad_address(void **state)
{
	expect_bad("10.0.0.256:7000\n", -EINVAL, 1, "invalid IPv4 address '10.0.0.256'");
	expect_bad("10.0.0:7000\n", -EINVAL, 1, "invalid IPv4 address '10.0.0'");
	expect_bad("10.0.0.1.2:7000\n", -EINVAL, 1, "invalid IPv4 address '10.0.0.1.2'");
	expect_bad("10.0.0.01:7000\n", -EINVAL, 1, "invalid IPv4 address '10.0.0.01'");
	expect_bad("fe80::1:7000\n", -EINVAL, 1,
		   "invalid IPv4 address 'fe80::1' (host names are not resolved)");
	expect_bad("worker1.local:7000\n", -EINVAL, 1,
		   "invalid IPv4 address 'worker1.local' (host names are not resolved)");
}

static void test_file_unusable_address(void **state)
{
	expect_bad("10.0.0.1:7000\n0.0.0.0:7000\n", -EINVAL, 2,
		   "invalid worker address 0.0.0.0:7000 (unspecified)");
	expect_bad("255.255.255.255:7000\n", -EINVAL, 1,
		   "invalid worker address 255.255.255.255:7000 (broadcast)");
	expect_bad("224.0.0.1:7000\n", -EINVAL, 1,
		   "invalid worker address 224.0.0.1:7000 (multicast)");
	expect_bad("239.255.255.255:7000\n", -EINVAL, 1,
		   "invalid worker address 239.255.255.255:7000 (multicast)");
}

static void test_file_duplicate(void **state)
{
	expect_bad("10.0.0.1:7000\n"
		   "10.0.0.2:7000\n"
		   "10.0.0.3:7000\n"
		   "# comment\n"
		   "\n"
		   "10.0.0.4:7000\n"
		   "10.0.0.2:7000   # again\n",
		   -EINVAL, 7, "duplicate of line 2 (10.0.0.2:7000)");
	/* Several duplicates: the first duplicate line in the file is named. */
	expect_bad("10.0.0.9:1\n10.0.0.1:1\n10.0.0.1:1\n10.0.0.9:1\n10.0.0.1:1\n", -EINVAL, 3,
		   "duplicate of line 2 (10.0.0.1:1)");
}

static void test_file_too_many(void **state)
{
	char *text = many_workers(SG_MAX_WORKERS_PER_COMM + 1);

	expect_bad(text, -E2BIG, SG_MAX_WORKERS_PER_COMM + 1, "more than 1024 workers");
	free(text);
}

static void test_file_line_too_long(void **state)
{
	char text[SG_WORKERS_LINE_MAX + 64];
	char *huge;
	size_t i;

	/* 256 characters: one too many, even as a comment. */
	strcpy(text, "10.0.0.1:7000\n#");
	for (i = strlen(text); i < 14 + SG_WORKERS_LINE_MAX + 1; i++)
		text[i] = 'x';
	strcpy(text + i, "\n");
	expect_bad(text, -EINVAL, 2, "line longer than 255 characters");

	/* 256 characters then CR LF. */
	strcpy(text + i, "\r\n");
	expect_bad(text, -EINVAL, 2, "line longer than 255 characters");

	/* A megabyte without a newline. */
	huge = malloc(1 << 20);
	assert_non_null(huge);
	memset(huge, ' ', 1 << 20);
	expect_bad_path(tmp_file(huge, 1 << 20), -EINVAL, 1, "line longer than 255 characters");
	free(huge);
}

static void test_file_control_bytes(void **state)
{
	static const char nul[] = "10.0.0.1:7000\n10.0.0.2:70\0000\n";
	static const char bom[] = "\xef\xbb\xbf" "10.0.0.1:7000\n";

	expect_bad_path(tmp_file(nul, sizeof(nul) - 1), -EINVAL, 2,
			"invalid port '70\\x000' (1..65535)");
	expect_bad_path(tmp_file(bom, sizeof(bom) - 1), -EINVAL, 1,
			"invalid IPv4 address '\\xef\\xbb\\xbf10.0.0.1'");
}

static void test_file_null_args(void **state)
{
	struct sockaddr_in *w = NULL;
	size_t n = 0;
	const char *path = tmp_text("10.0.0.1:7000\n");

	assert_int_equal(sg_workers_file_read(NULL, &w, &n), -EINVAL);
	assert_int_equal(sg_workers_file_read(path, NULL, &n), -EINVAL);
	assert_int_equal(sg_workers_file_read(path, &w, NULL), -EINVAL);
	assert_null(w);
}

/* --------------------------------------------------------- sg_parse_endpoint */

static void test_parse_endpoint_good(void **state)
{
	static const struct {
		const char *text;
		const char *ip;
		uint16_t port;
	} good[] = {
		{ "1.2.3.4:5", "1.2.3.4", 5 },
		{ "0.0.0.0:1", "0.0.0.0", 1 },	/* syntax only: validation refuses it */
		{ "255.255.255.254:65535", "255.255.255.254", 65535 },
		{ "10.0.0.1:007000", "10.0.0.1", 7000 },
		{ "100.200.10.0:80", "100.200.10.0", 80 },
	};
	struct sockaddr_in a;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&a, 0xaa, sizeof(a));
		assert_int_equal(sg_parse_endpoint(good[i].text, strlen(good[i].text), &a), 0);
		expect_ep(&a, good[i].ip, good[i].port);
		assert_memory_equal(a.sin_zero, "\0\0\0\0\0\0\0\0", 8);
	}
	/* Only len bytes are read. */
	assert_int_equal(sg_parse_endpoint("10.0.0.1:80xyz", 11, &a), 0);
	expect_ep(&a, "10.0.0.1", 80);
	assert_int_equal(sg_parse_endpoint("10.0.0.1:8099", 10, &a), 0);
	expect_ep(&a, "10.0.0.1", 8);
}

static void test_parse_endpoint_bad(void **state)
{
	static const char *const bad[] = {
		"", ":", "1.2.3.4", "1.2.3.4:", ":80", "1.2.3.4:0", "1.2.3.4:65536",
		"1.2.3.4:99999999999999999999", "1.2.3:80", "1.2.3.4.5:80", "1.2.3.04:80",
		"256.1.1.1:80", "1.2.3.1000:80", " 1.2.3.4:80", "1.2.3.4:80 ", "1.2.3.4:+80",
		"1.2.3.4: 80", "[::1]:80", "::1:80", "1..3.4:80", "1.2.3.4:8a", "1.2.3.4::80",
		".1.2.3:80", "1.2.3.:80", "-1.2.3.4:80", "0x1.2.3.4:80", "1.2.3.4:80\n",
		"localhost:80", "1.2.3.4:8\r",
	};
	struct sockaddr_in a, before;
	size_t i;

	memset(&a, 0x5a, sizeof(a));
	before = a;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sg_parse_endpoint(bad[i], strlen(bad[i]), &a) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_memory_equal(&a, &before, sizeof(a));
		assert_true(sg_errmsg()[0] != '\0');
	}
	/* len cuts a valid endpoint short. */
	assert_int_equal(sg_parse_endpoint("1.2.3.4:80", 8, &a), -EINVAL);
	assert_string_equal(sg_errmsg(), "expected IPv4:port, got '1.2.3.4:'");
	assert_int_equal(sg_parse_endpoint("1.2.3.4:99999", 13, &a), -EINVAL);
	assert_string_equal(sg_errmsg(), "invalid port '99999' (1..65535)");
	assert_int_equal(sg_parse_endpoint(NULL, 0, &a), -EINVAL);
	assert_int_equal(sg_parse_endpoint("1.2.3.4:80", 10, NULL), -EINVAL);
}

/* --------------------------------------------------------- sg_workers_validate */

static void test_validate_ok(void **state)
{
	struct sockaddr_in w[3] = { ep("10.0.0.1", 1), ep("10.0.0.1", 2), ep("10.0.0.2", 1) };

	assert_int_equal(sg_workers_validate(w, 3, "workers"), 0);
	assert_int_equal(sg_workers_validate(w, 1, NULL), 0);
}

static void test_validate_count(void **state)
{
	struct sockaddr_in w[1] = { ep("10.0.0.1", 1) };
	struct sockaddr_in *many = calloc(SG_MAX_WORKERS_PER_COMM + 1, sizeof(*many));

	assert_non_null(many);
	assert_int_equal(sg_workers_validate(w, 0, "workers"), -EINVAL);
	assert_string_equal(sg_errmsg(), "workers: no workers");
	assert_int_equal(sg_workers_validate(NULL, 0, NULL), -EINVAL);
	assert_int_equal(sg_workers_validate(many, SG_MAX_WORKERS_PER_COMM + 1, "opts.workers"),
			 -E2BIG);
	assert_string_equal(sg_errmsg(), "opts.workers: 1025 workers, at most 1024");
	assert_int_equal(sg_workers_validate(NULL, 3, "workers"), -EINVAL);
	free(many);
}

static void test_validate_bad_entry(void **state)
{
	struct sockaddr_in w[3] = { ep("10.0.0.1", 1), ep("10.0.0.2", 1), ep("10.0.0.3", 1) };

	w[2].sin_family = AF_INET6;
	assert_int_equal(sg_workers_validate(w, 3, "workers"), -EINVAL);
	assert_string_equal(sg_errmsg(), "workers[2]: address family 10 is not AF_INET");
	w[2] = ep("10.0.0.3", 0);
	assert_int_equal(sg_workers_validate(w, 3, "workers"), -EINVAL);
	assert_string_equal(sg_errmsg(), "workers[2]: invalid worker address 10.0.0.3:0 (port 0)");
	w[2] = ep("0.0.0.0", 9);
	assert_int_equal(sg_workers_validate(w, 3, "workers"), -EINVAL);
	assert_string_equal(sg_errmsg(),
			    "workers[2]: invalid worker address 0.0.0.0:9 (unspecified)");
	w[1] = ep("255.255.255.255", 9);
	assert_int_equal(sg_workers_validate(w, 3, NULL), -EINVAL);
	assert_string_equal(sg_errmsg(),
			    "workers[1]: invalid worker address 255.255.255.255:9 (broadcast)");
	w[0] = ep("230.1.2.3", 9);
	assert_int_equal(sg_workers_validate(w, 3, "w"), -EINVAL);
	assert_string_equal(sg_errmsg(), "w[0]: invalid worker address 230.1.2.3:9 (multicast)");
}

static void test_validate_duplicates(void **state)
{
	struct sockaddr_in w[5] = {
		ep("10.0.0.1", 7000), ep("10.0.0.2", 7000), ep("10.0.0.3", 7000),
		ep("10.0.0.2", 7000), ep("10.0.0.1", 7000),
	};
	struct sockaddr_in *many;
	size_t i;

	assert_int_equal(sg_workers_validate(w, 5, "workers"), -EINVAL);
	assert_string_equal(sg_errmsg(), "workers[3] duplicates workers[1] (10.0.0.2:7000)");

	/* sin_zero is not part of an endpoint's identity. */
	w[3] = ep("10.0.0.4", 7000);
	w[4].sin_zero[0] = 1;
	assert_int_equal(sg_workers_validate(w, 5, "workers"), -EINVAL);
	assert_string_equal(sg_errmsg(), "workers[4] duplicates workers[0] (10.0.0.1:7000)");

	/* The largest array, with the duplicate at its end. */
	many = calloc(SG_MAX_WORKERS_PER_COMM, sizeof(*many));
	assert_non_null(many);
	for (i = 0; i < SG_MAX_WORKERS_PER_COMM; i++) {
		many[i].sin_family = AF_INET;
		many[i].sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)(i * 7919 % 65521) + 1);
		many[i].sin_port = htons(7000);
	}
	assert_int_equal(sg_workers_validate(many, SG_MAX_WORKERS_PER_COMM, "workers"), 0);
	many[SG_MAX_WORKERS_PER_COMM - 1] = many[17];
	assert_int_equal(sg_workers_validate(many, SG_MAX_WORKERS_PER_COMM, "workers"), -EINVAL);
	assert_str_contains(sg_errmsg(), "workers[1023] duplicates workers[17] (");
	free(many);
}

/* --------------------------------------------------------- errors and helpers */

static void test_strerror(void **state)
{
	assert_string_equal(sg_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(sg_strerror(ENOENT), "No such file or directory");
	assert_string_equal(sg_strerror(-EINVAL), "Invalid argument");
	assert_string_equal(sg_strerror(-ETIMEDOUT), "Connection timed out");
	assert_string_equal(sg_strerror(-99999), "unknown error -99999");
	assert_string_equal(sg_strerror(4242), "unknown error 4242");
	assert_string_equal(sg_strerror(INT_MIN), "unknown error -2147483648");
	assert_string_equal(sg_strerror(INT_MAX), "unknown error 2147483647");
	assert_non_null(sg_strerror(0));
}

static void test_datatype_size(void **state)
{
	assert_int_equal(sg_datatype_size(SG_INT8), 1);
	assert_int_equal(sg_datatype_size(SG_UINT8), 1);
	assert_int_equal(sg_datatype_size(SG_INT16), 2);
	assert_int_equal(sg_datatype_size(SG_UINT16), 2);
	assert_int_equal(sg_datatype_size(SG_INT32), 4);
	assert_int_equal(sg_datatype_size(SG_UINT32), 4);
	assert_int_equal(sg_datatype_size(SG_INT64), 8);
	assert_int_equal(sg_datatype_size(SG_UINT64), 8);
	assert_int_equal(sg_datatype_size(SG_DATATYPE_COUNT), 0);
	assert_int_equal(sg_datatype_size((enum sg_datatype)-1), 0);
	assert_int_equal(sg_datatype_size((enum sg_datatype)100), 0);
}

static void test_fail(void **state)
{
	char big[3000];

	errno = EAGAIN;
	assert_int_equal(sg_fail(-EINVAL, "local_port is %d", 0), -EINVAL);
	assert_int_equal(errno, EAGAIN);
	assert_string_equal(sg_errmsg(), "local_port is 0");
	assert_int_equal(cap.count[SG_LOG_ERROR], 1);
	assert_int_equal(cap.last_level, SG_LOG_ERROR);
	assert_string_equal(cap.last, "local_port is 0");

	/* A failure is never returned as success or as a positive value. */
	assert_int_equal(sg_fail(ENOENT, "positive"), -ENOENT);
	assert_int_equal(sg_fail(0, "zero"), -EINVAL);

	/* Wrapping the previous message. */
	sg_fail(-ENOENT, "inner %s", "cause");
	assert_int_equal(sg_fail(-ENOENT, "outer: %s", sg_errmsg()), -ENOENT);
	assert_string_equal(sg_errmsg(), "outer: inner cause");

	/* Long messages are cut, visibly. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sg_fail(-E2BIG, "%s", big);
	assert_true(strlen(sg_errmsg()) < sizeof(big) - 1);
	assert_true(strlen(sg_errmsg()) >= 512);
	assert_string_equal(sg_errmsg() + strlen(sg_errmsg()) - 3, "...");
}

static void *errmsg_thread(void *arg)
{
	const char **out = arg;

	out[0] = strdup(sg_errmsg());
	sg_fail(-EIO, "from the thread");
	out[1] = strdup(sg_errmsg());
	return NULL;
}

static void test_errmsg_per_thread(void **state)
{
	const char *out[2] = { NULL, NULL };
	pthread_t t;

	sg_fail(-EINVAL, "main thread");
	assert_int_equal(pthread_create(&t, NULL, errmsg_thread, out), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(out[0]);
	assert_non_null(out[1]);
	assert_string_equal(out[0], "");
	assert_string_equal(out[1], "from the thread");
	assert_string_equal(sg_errmsg(), "main thread");
	free((void *)out[0]);
	free((void *)out[1]);
}

static void test_log_levels(void **state)
{
	sg_set_log(capture_cb, SG_LOG_WARN, &cap);
	assert_true(sg_log_enabled(SG_LOG_ERROR));
	assert_true(sg_log_enabled(SG_LOG_WARN));
	assert_false(sg_log_enabled(SG_LOG_INFO));
	assert_false(sg_log_enabled(SG_LOG_DEBUG));
	sg_log(SG_LOG_ERROR, "e%d", 1);
	sg_log(SG_LOG_WARN, "w%d\n", 2);
	sg_log(SG_LOG_INFO, "i%d", 3);
	sg_log(SG_LOG_DEBUG, "d%d", 4);
	assert_string_equal(cap.all, "e1|w2|");
	assert_int_equal(cap.count[SG_LOG_INFO] + cap.count[SG_LOG_DEBUG], 0);

	memset(&cap, 0, sizeof(cap));
	sg_set_log(capture_cb, SG_LOG_ERROR, &cap);
	sg_log(SG_LOG_WARN, "w");
	sg_fail(-EINVAL, "still logged");
	assert_string_equal(cap.all, "still logged|");

	memset(&cap, 0, sizeof(cap));
	sg_set_log(capture_cb, SG_LOG_DEBUG, &cap);
	sg_log(SG_LOG_DEBUG, "multi\nline\n\n");
	sg_log(SG_LOG_INFO, "\n");	/* nothing left to say: not delivered */
	assert_string_equal(cap.all, "multi\nline|");
	assert_int_equal(cap.last_level, SG_LOG_DEBUG);

	/* Out-of-range levels are clamped. */
	memset(&cap, 0, sizeof(cap));
	sg_set_log(capture_cb, (enum sg_log_level)99, &cap);
	sg_log(SG_LOG_DEBUG, "d");
	assert_string_equal(cap.all, "d|");
	sg_set_log(capture_cb, (enum sg_log_level)-5, &cap);
	sg_log(SG_LOG_WARN, "w");
	sg_log(SG_LOG_ERROR, "e");
	assert_string_equal(cap.all, "d|e|");
}

static void test_log_long_message(void **state)
{
	char *big = malloc(100000);

	assert_non_null(big);
	memset(big, 'v', 99999);
	big[99999] = '\0';
	sg_log(SG_LOG_WARN, "%s!", big);
	/* Longer than any stack buffer (verifier logs are): delivered whole. */
	assert_int_equal(cap.total, 1);
	assert_int_equal(cap.last_len, 100000);
	assert_int_equal(cap.last[sizeof(cap.last) - 2], 'v');
	free(big);
}

static int reentries;

static void reentrant_cb(enum sg_log_level level, const char *msg, void *ctx)
{
	/* A callback may log or replace itself without deadlocking. */
	if (reentries++ == 0)
		sg_log(SG_LOG_ERROR, "nested %s", msg);
	else
		sg_set_log(capture_cb, SG_LOG_DEBUG, &cap);
}

static void test_log_reentrant(void **state)
{
	reentries = 0;
	sg_set_log(reentrant_cb, SG_LOG_DEBUG, NULL);
	sg_log(SG_LOG_INFO, "outer");
	assert_int_equal(reentries, 2);
	sg_log(SG_LOG_INFO, "after");
	assert_string_equal(cap.all, "after|");
}

static void test_log_libbpf(void **state)
{
	struct bpf_object *obj;
	const char *path = "/tmp/sgbpf-no-such-dir/prog.bpf.o";

	sg_log_install_libbpf();
	sg_log_install_libbpf();
	obj = bpf_object__open_file(path, NULL);
	assert_null(obj);
	assert_true(cap.count[SG_LOG_WARN] >= 1);
	assert_str_contains(cap.all, "libbpf: ");
	assert_str_contains(cap.all, path);

	/* libbpf's messages are filtered like the library's own. */
	memset(&cap, 0, sizeof(cap));
	sg_set_log(capture_cb, SG_LOG_ERROR, &cap);
	obj = bpf_object__open_file(path, NULL);
	assert_null(obj);
	assert_int_equal(cap.total, 0);
}

/* ---------------------------------------------- default logger, SGBPF_LOG */

/* Runs in a fresh process (this binary re-executed), so that SGBPF_LOG is
 * read at its first use there. */
static int log_child(const char *mode)
{
	if (!strcmp(mode, "levels")) {
		sg_log(SG_LOG_ERROR, "msg-error");
		sg_log(SG_LOG_WARN, "msg-warn %d", 2);
		sg_log(SG_LOG_INFO, "msg-info");
		sg_log(SG_LOG_DEBUG, "msg-debug\n");
		sg_log(SG_LOG_ERROR, "first\nsecond\n");
		sg_fail(-EINVAL, "failed %s", "here");
	} else if (!strcmp(mode, "restore")) {
		sg_set_log(capture_cb, SG_LOG_DEBUG, &cap);
		sg_log(SG_LOG_ERROR, "captured");
		sg_set_log(NULL, SG_LOG_INFO, &cap);
		sg_log(SG_LOG_INFO, "restored-info");
		sg_log(SG_LOG_DEBUG, "restored-debug");
		if (strcmp(cap.all, "captured|"))
			return 2;
	} else {
		return 3;
	}
	return 0;
}

/* Run log_child(@mode) with SGBPF_LOG=@env (NULL: unset); its stderr into @out. */
static void run_child(const char *env, const char *mode, char *out, size_t size)
{
	char *const args[] = { (char *)argv0, "--log-child", (char *)mode, NULL };
	size_t used = 0;
	int fds[2], status;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (env)
			setenv("SGBPF_LOG", env, 1);
		else
			unsetenv("SGBPF_LOG");
		execv(argv0, args);
		_exit(127);
	}
	close(fds[1]);
	while ((r = read(fds[0], out + used, size - 1 - used)) > 0)
		used += (size_t)r;
	out[used] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_default_logger_env(void **state)
{
	char out[4096];

	run_child(NULL, "levels", out, sizeof(out));
	assert_string_equal(out, "sgbpf: error: msg-error\n"
				 "sgbpf: warn: msg-warn 2\n"
				 "sgbpf: error: first\n"
				 "sgbpf: error: second\n"
				 "sgbpf: error: failed here\n");

	run_child("debug", "levels", out, sizeof(out));
	assert_string_equal(out, "sgbpf: error: msg-error\n"
				 "sgbpf: warn: msg-warn 2\n"
				 "sgbpf: info: msg-info\n"
				 "sgbpf: debug: msg-debug\n"
				 "sgbpf: error: first\n"
				 "sgbpf: error: second\n"
				 "sgbpf: error: failed here\n");

	run_child("ERROR", "levels", out, sizeof(out));
	assert_string_equal(out, "sgbpf: error: msg-error\n"
				 "sgbpf: error: first\n"
				 "sgbpf: error: second\n"
				 "sgbpf: error: failed here\n");

	run_child("info", "levels", out, sizeof(out));
	assert_str_contains(out, "sgbpf: info: msg-info\n");
	assert_null(strstr(out, "msg-debug"));

	run_child("loud", "levels", out, sizeof(out));
	assert_str_contains(out, "SGBPF_LOG='loud' is not one of error, warn, info, debug");
	assert_str_contains(out, "sgbpf: warn: msg-warn 2\n");
	assert_null(strstr(out, "msg-info"));
}

static void test_default_logger_restore(void **state)
{
	char out[4096];

	run_child("error", "restore", out, sizeof(out));
	assert_string_equal(out, "sgbpf: info: restored-info\n");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_file_basic),
		T(test_file_comments_blanks_spaces),
		T(test_file_crlf),
		T(test_file_same_addr_other_port),
		T(test_file_longest_line),
		T(test_file_max_workers),
		T(test_file_missing),
		T(test_file_is_directory),
		T(test_file_empty),
		T(test_file_bad_port),
		T(test_file_not_endpoint),
		T(test_file_bad_address),
		T(test_file_unusable_address),
		T(test_file_duplicate),
		T(test_file_too_many),
		T(test_file_line_too_long),
		T(test_file_control_bytes),
		T(test_file_null_args),
		T(test_parse_endpoint_good),
		T(test_parse_endpoint_bad),
		T(test_validate_ok),
		T(test_validate_count),
		T(test_validate_bad_entry),
		T(test_validate_duplicates),
		T(test_strerror),
		T(test_datatype_size),
		T(test_fail),
		T(test_errmsg_per_thread),
		T(test_log_levels),
		T(test_log_long_message),
		T(test_log_reentrant),
		T(test_log_libbpf),
		T(test_default_logger_env),
		T(test_default_logger_restore),
#undef T
	};

	argv0 = argv[0];
	if (argc == 3 && !strcmp(argv[1], "--log-child"))
		return log_child(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
