/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Worker lists: parsing "A.B.C.D:PORT" endpoints, reading workers files and
 * validating arrays of workers. Every failure sets sg_errmsg(). */
#ifndef SG_COLL_WORKERS_FILE_H
#define SG_COLL_WORKERS_FILE_H

#include <stddef.h>
#include <netinet/in.h>

/* Longest line of a workers file, without its line terminator. */
#define SG_WORKERS_LINE_MAX 255

/* Parse exactly @len bytes of @text as "A.B.C.D:PORT" (dotted-quad IPv4
 * literal, no leading zeros in an octet; decimal port 1..65535; no spaces).
 * Fills @out (AF_INET, address and port in network order) and returns 0, or
 * returns -EINVAL and leaves @out untouched. */
int sg_parse_endpoint(const char *text, size_t len, struct sockaddr_in *out);

/* Check an array of workers: 1..SG_MAX_WORKERS_PER_COMM entries (-EINVAL,
 * -E2BIG), each AF_INET with a nonzero port and a unicast address (not
 * 0.0.0.0, multicast or 255.255.255.255), no two equal. @origin (NULL:
 * "workers") names the array in messages: "workers[3] duplicates workers[1]
 * (10.0.0.2:7000)". Returns 0, -EINVAL, -E2BIG or -ENOMEM. */
int sg_workers_validate(const struct sockaddr_in *w, size_t n, const char *origin);

/* Largest workers file sg_workers_file_read() accepts, in bytes. */
#define SG_WORKERS_FILE_MAX (1 << 20)

/* Parse the @len bytes of @text as the contents of a workers file: one
 * "A.B.C.D:PORT" per line; '#' starts a comment; blank lines and surrounding
 * whitespace (including the '\r' of CRLF) are ignored; lines longer than
 * SG_WORKERS_LINE_MAX characters are refused. @text needs no terminating NUL
 * and may hold any byte. Entries are checked as by sg_workers_validate(),
 * errors name @name (NULL: "workers") and the line ("workers.txt:3: invalid
 * port '99999' (1..65535)"). On success *@workers is malloc'd (the caller frees
 * it) and *@nworkers set. Returns 0, -EINVAL (syntax, bad or duplicate entry,
 * no workers), -E2BIG or -ENOMEM; on failure the outputs are untouched. */
int sg_workers_parse(const char *text, size_t len, const char *name,
		     struct sockaddr_in **workers, size_t *nworkers);

/* Read a workers file (at most SG_WORKERS_FILE_MAX bytes) and parse it with
 * sg_workers_parse(), naming it by @path in messages.
 * Returns 0, the errors of sg_workers_parse(), -EFBIG (larger than
 * SG_WORKERS_FILE_MAX) or the negated errno of open/read (-ENOENT, -EACCES,
 * -EISDIR, -EIO...); on failure the outputs are untouched. */
int sg_workers_file_read(const char *path, struct sockaddr_in **workers, size_t *nworkers);

#endif
