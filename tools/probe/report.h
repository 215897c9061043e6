/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sgbpf-probe's table of checks, the verdict drawn from it, and its output as
 * text or JSON (report.c). Every check adds one line with add().
 */
#ifndef SGBPF_PROBE_REPORT_H
#define SGBPF_PROBE_REPORT_H

#include <stdbool.h>
#include <sys/utsname.h>

enum status { ST_OK, ST_MISSING, ST_NA };

struct check {
	const char *group;
	const char *name;
	enum status st;
	bool required;		/* for the eBPF transport */
	char detail[320];
	char fix[400];
};

/* Append a check to the table (printf-style detail); returns it for set_fix(). */
struct check *add(const char *group, const char *name, bool required, enum status st,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* What to do about a check that failed (printf-style). */
void set_fix(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the probe concludes and prints last. */
struct verdict {
	bool ebpf_ok;		/* every required check that ran passed */
	char reason[400];	/* if not, why: missing capabilities come first */
	const char *fallback;	/* the transport the library falls back to */
	const char *autopick;	/* the transport sg_comm_create would use */
	char auto_note[160];	/* why autopick is not SG_TRANSPORT_AUTO's choice */
	int status;		/* the exit status */
};

/* Set v->ebpf_ok and v->reason from the table. */
void report_verdict(struct verdict *v);
/* Print the table and the verdict: one JSON object, or text (with @quiet
 * only the verdict line). */
void report_json(const struct verdict *v, const struct utsname *u);
void report_text(const struct verdict *v, const struct utsname *u, bool quiet);

#endif /* SGBPF_PROBE_REPORT_H */
