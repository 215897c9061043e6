// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Worker lists: endpoint parsing, workers files, validation. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/workers_file.h"

/* Offending text is quoted in messages up to this many bytes. */
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX * 4 + 4)
#define WHY_LEN (QUOTE_BUF + 96)
#define EP_STR_LEN 32

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Copy @len bytes of @s for quoting in a message: control and non-ASCII bytes
 * escaped (a stray NUL or UTF-8 BOM must be visible), long text cut. */
static void quote(char *buf, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len && i < QUOTE_MAX && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		}
	}
	if (i < len && o + 4 <= size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

static void fmt_endpoint(const struct sockaddr_in *a, char *buf, size_t size)
{
	uint32_t ip = ntohl(a->sin_addr.s_addr);

	snprintf(buf, size, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
		 ip & 0xff, ntohs(a->sin_port));
}

/* Dotted quad, exactly four decimal octets; a leading zero is refused because
 * inet_aton() would read it as octal. */
static bool parse_ipv4(const char *s, size_t len, uint32_t *addr)
{
	uint32_t ip = 0;
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned int v = 0, digits = 0;

		if (part) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		for (; i < len && is_digit(s[i]); i++, digits++) {
			if (digits && v == 0)
				return false;
			v = v * 10 + (unsigned int)(s[i] - '0');
			if (v > 255)
				return false;
		}
		if (!digits)
			return false;
		ip = ip << 8 | v;
	}
	if (i != len)
		return false;
	*addr = ip;
	return true;
}

static bool parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		if (v <= 65535)	/* stop growing: no overflow on long digit strings */
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* sg_parse_endpoint() with the reason of a failure written to @why rather than
 * reported, so that the file reader can prefix it with file and line. */
static int parse_endpoint(const char *s, size_t len, struct sockaddr_in *out, char *why,
			  size_t whylen)
{
	char q[QUOTE_BUF];
	size_t colon, i;
	bool alpha = false;
	uint32_t ip;
	uint16_t port;

	for (colon = len; colon > 0 && s[colon - 1] != ':'; colon--)
		;
	for (i = 0; i < len; i++) {
		if (is_space(s[i]))
			break;
	}
	if (!colon || i < len || colon == 1 || colon == len) {
		quote(q, sizeof(q), s, len);
		snprintf(why, whylen, "expected IPv4:port, got '%s'", q);
		return -EINVAL;
	}
	colon--;	/* index of the last ':' */
	if (!parse_ipv4(s, colon, &ip)) {
		for (i = 0; i < colon; i++)
			alpha |= (s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z';
		quote(q, sizeof(q), s, colon);
		snprintf(why, whylen, "invalid IPv4 address '%s'%s", q,
			 alpha ? " (host names are not resolved)" : "");
		return -EINVAL;
	}
	if (!parse_port(s + colon + 1, len - colon - 1, &port)) {
		quote(q, sizeof(q), s + colon + 1, len - colon - 1);
		snprintf(why, whylen, "invalid port '%s' (1..65535)", q);
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_addr.s_addr = htonl(ip);
	out->sin_port = htons(port);
	return 0;
}

int sg_parse_endpoint(const char *text, size_t len, struct sockaddr_in *out)
{
	char why[WHY_LEN];

	if (!text || !out)
		return sg_fail(-EINVAL, "endpoint: NULL argument");
	if (parse_endpoint(text, len, out, why, sizeof(why)))
		return sg_fail(-EINVAL, "%s", why);
	return 0;
}

/* The checks of one worker that do not involve the others. */
static int check_worker(const struct sockaddr_in *a, char *why, size_t whylen)
{
	char ep[EP_STR_LEN];
	uint32_t ip = ntohl(a->sin_addr.s_addr);
	const char *bad = NULL;

	if (a->sin_family != AF_INET) {
		snprintf(why, whylen, "address family %d is not AF_INET", a->sin_family);
		return -EINVAL;
	}
	if (ip == 0)
		bad = "unspecified";
	else if (ip == 0xffffffffu)
		bad = "broadcast";
	else if ((ip >> 28) == 0xe)
		bad = "multicast";
	else if (a->sin_port == 0)
		bad = "port 0";
	if (bad) {
		fmt_endpoint(a, ep, sizeof(ep));
		snprintf(why, whylen, "invalid worker address %s (%s)", ep, bad);
		return -EINVAL;
	}
	return 0;
}

struct ep_key {
	uint64_t key;
	size_t idx;
};

static int cmp_key(const void *pa, const void *pb)
{
	const struct ep_key *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Find, in O(n log n), the first entry (by index) equal to an earlier one:
 * *@second is its index and *@first that of the earliest equal entry.
 * Returns 1 if found, 0 if all are distinct, -ENOMEM. */
static int find_dup(const struct sockaddr_in *w, size_t n, size_t *first, size_t *second)
{
	struct ep_key *k;
	bool found = false;
	size_t i;

	if (n < 2)
		return 0;
	k = malloc(n * sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		k[i].key = (uint64_t)ntohl(w[i].sin_addr.s_addr) << 16 | ntohs(w[i].sin_port);
		k[i].idx = i;
	}
	qsort(k, n, sizeof(*k), cmp_key);
	/* Within a run of equal keys indices ascend: the run's first two are
	 * the first occurrence and the first duplicate of that endpoint. */
	for (i = 1; i < n; i++) {
		if (k[i].key != k[i - 1].key || (i >= 2 && k[i - 2].key == k[i].key))
			continue;
		if (!found || k[i].idx < *second) {
			*first = k[i - 1].idx;
			*second = k[i].idx;
			found = true;
		}
	}
	free(k);
	return found;
}

int sg_workers_validate(const struct sockaddr_in *w, size_t n, const char *origin)
{
	const char *o = origin ? origin : "workers";
	char why[WHY_LEN], ep[EP_STR_LEN];
	size_t i, a, b;
	int err;

	if (n == 0)
		return sg_fail(-EINVAL, "%s: no workers", o);
	if (n > SG_MAX_WORKERS_PER_COMM)
		return sg_fail(-E2BIG, "%s: %zu workers, at most %u", o, n,
			       SG_MAX_WORKERS_PER_COMM);
	if (!w)
		return sg_fail(-EINVAL, "%s: NULL array of %zu workers", o, n);
	for (i = 0; i < n; i++) {
		if (check_worker(&w[i], why, sizeof(why)))
			return sg_fail(-EINVAL, "%s[%zu]: %s", o, i, why);
	}
	err = find_dup(w, n, &a, &b);
	if (err < 0)
		return sg_fail(err, "%s: out of memory checking %zu workers", o, n);
	if (err) {
		fmt_endpoint(&w[b], ep, sizeof(ep));
		return sg_fail(-EINVAL, "%s[%zu] duplicates %s[%zu] (%s)", o, b, o, a, ep);
	}
	return 0;
}

int sg_workers_parse(const char *text, size_t len, const char *name,
		     struct sockaddr_in **workers, size_t *nworkers)
{
	const char *nm = name ? name : "workers";
	char why[WHY_LEN], ep_str[EP_STR_LEN];
	struct sockaddr_in *w = NULL, ep;
	unsigned long lineno = 0, *lines = NULL;
	const char *p = text, *end = len ? text + len : text, *eol, *s, *e, *hash;
	size_t n = 0, cap = 0, a, b;
	int err;

	if ((!text && len) || !workers || !nworkers)
		return sg_fail(-EINVAL, "%s: NULL argument", nm);

	/* Lines end at '\n'; a last line without one counts, an empty one
	 * after the final '\n' does not. */
	for (; p < end; p = eol ? eol + 1 : end) {
		lineno++;
		eol = memchr(p, '\n', (size_t)(end - p));
		s = p;
		e = eol ? eol : end;
		if (e > s && e[-1] == '\r')
			e--;
		if ((size_t)(e - s) > SG_WORKERS_LINE_MAX) {
			err = sg_fail(-EINVAL, "%s:%lu: line longer than %d characters", nm,
				      lineno, SG_WORKERS_LINE_MAX);
			goto out;
		}

		hash = memchr(s, '#', (size_t)(e - s));
		if (hash)
			e = hash;
		while (s < e && is_space(*s))
			s++;
		while (e > s && is_space(e[-1]))
			e--;
		if (s == e)
			continue;

		if (parse_endpoint(s, (size_t)(e - s), &ep, why, sizeof(why)) ||
		    check_worker(&ep, why, sizeof(why))) {
			err = sg_fail(-EINVAL, "%s:%lu: %s", nm, lineno, why);
			goto out;
		}
		if (n == SG_MAX_WORKERS_PER_COMM) {
			err = sg_fail(-E2BIG, "%s:%lu: more than %u workers", nm, lineno,
				      SG_MAX_WORKERS_PER_COMM);
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct sockaddr_in *nw;
			unsigned long *nl;

			nw = realloc(w, ncap * sizeof(*w));
			if (nw)
				w = nw;
			nl = nw ? realloc(lines, ncap * sizeof(*lines)) : NULL;
			if (nl)
				lines = nl;
			if (!nw || !nl) {
				err = sg_fail(-ENOMEM, "%s:%lu: out of memory", nm, lineno);
				goto out;
			}
			cap = ncap;
		}
		w[n] = ep;
		lines[n] = lineno;
		n++;
	}

	if (n == 0) {
		err = sg_fail(-EINVAL, "%s: no workers (only blank lines and comments)", nm);
		goto out;
	}
	err = find_dup(w, n, &a, &b);
	if (err < 0) {
		err = sg_fail(err, "%s: out of memory checking %zu workers", nm, n);
		goto out;
	}
	if (err) {
		fmt_endpoint(&w[b], ep_str, sizeof(ep_str));
		err = sg_fail(-EINVAL, "%s:%lu: duplicate of line %lu (%s)", nm, lines[b],
			      lines[a], ep_str);
		goto out;
	}

	*workers = w;
	*nworkers = n;
	w = NULL;
out:
	free(w);
	free(lines);
	return err;
}

int sg_workers_file_read(const char *path, struct sockaddr_in **workers, size_t *nworkers)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	ssize_t r;
	int fd, err;

	if (!path || !workers || !nworkers)
		return sg_fail(-EINVAL, "workers file: NULL argument");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		return sg_fail(err, "cannot open workers file '%s': %s", path, sg_strerror(err));
	}

	/* Read at most one byte more than allowed: a huge file (or /dev/zero)
	 * is refused without being read to its end. */
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;

			if (ncap > SG_WORKERS_FILE_MAX + 1)
				ncap = SG_WORKERS_FILE_MAX + 1;
			nb = realloc(buf, ncap);
			if (!nb) {
				err = sg_fail(-ENOMEM, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno ? -errno : -EIO;
			err = sg_fail(err, "%s: read error: %s", path, sg_strerror(err));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > SG_WORKERS_FILE_MAX) {
			err = sg_fail(-EFBIG, "%s: file larger than %d bytes", path,
				      SG_WORKERS_FILE_MAX);
			goto out;
		}
	}
	err = sg_workers_parse(buf, len, path, workers, nworkers);
out:
	close(fd);
	free(buf);
	return err;
}
