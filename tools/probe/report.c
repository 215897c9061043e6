// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sgbpf-probe's table of checks, its verdict and its output. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/probe/probe.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "?"
#endif

#define MAX_CHECKS 40

static const char *const st_name[] = { "ok", "missing", "n/a" };

static struct check checks[MAX_CHECKS];
static int nchecks;

struct check *add(const char *group, const char *name, bool required, enum status st,
		  const char *fmt, ...)
{
	static struct check overflow;
	struct check *c = nchecks < MAX_CHECKS ? &checks[nchecks++] : &overflow;
	va_list ap;

	*c = (struct check){ .group = group, .name = name, .st = st, .required = required };
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return c;
}

void set_fix(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
	va_end(ap);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void report_verdict(struct verdict *v)
{
	v->ebpf_ok = true;
	v->reason[0] = 0;
	/* Every required check that ran passed. Missing capabilities come
	 * first as the reason: they explain the rest. */
	for (int i = 0; i < nchecks; i++) {
		if (!checks[i].required || checks[i].st != ST_MISSING)
			continue;
		if (v->ebpf_ok && !strncmp(checks[i].name, "CAP_", 4)) {
			char caps[64] = "";

			/* Every missing one, not just the first. */
			for (int j = i; j < nchecks; j++)
				if (!strncmp(checks[j].name, "CAP_", 4) && checks[j].required &&
				    checks[j].st == ST_MISSING)
					snprintf(caps + strlen(caps), sizeof(caps) - strlen(caps),
						 "%s%s", caps[0] ? ", " : "", checks[j].name);
			snprintf(v->reason, sizeof(v->reason), "missing capabilit%s %s: run as root "
				 "or grant %s with setcap", strchr(caps, ',') ? "ies" : "y", caps,
				 strchr(caps, ',') ? "them" : "it");
		} else if (v->ebpf_ok) {
			snprintf(v->reason, sizeof(v->reason), "%s: %s", checks[i].name,
				 checks[i].detail);
		}
		v->ebpf_ok = false;
	}
	if (!v->ebpf_ok && !v->reason[0])
		snprintf(v->reason, sizeof(v->reason), "see the checks above");
}

void report_json(const struct verdict *v, const struct utsname *u)
{
	printf("{\"probe\":\"sgbpf-probe\",\"version\":");
	json_str(PACKAGE_VERSION);
	printf(",\"kernel\":");
	json_str(u->release);
	printf(",\"machine\":");
	json_str(u->machine);
	printf(",\"uid\":%u,\"checks\":[", (unsigned int)geteuid());
	for (int i = 0; i < nchecks; i++) {
		printf("%s{\"group\":", i ? "," : "");
		json_str(checks[i].group);
		printf(",\"name\":");
		json_str(checks[i].name);
		printf(",\"status\":\"%s\",\"required\":%s,\"detail\":", st_name[checks[i].st],
		       checks[i].required ? "true" : "false");
		json_str(checks[i].detail);
		printf(",\"fix\":");
		if (checks[i].fix[0])
			json_str(checks[i].fix);
		else
			fputs("null", stdout);
		putchar('}');
	}
	printf("],\"ebpf_available\":%s,\"reason\":", v->ebpf_ok ? "true" : "false");
	if (v->ebpf_ok)
		fputs("null", stdout);
	else
		json_str(v->reason);
	printf(",\"attach_tested\":%s,\"fallback\":\"%s\",\"auto_transport\":",
	       attach_tested ? "true" : "false", v->fallback);
	json_str(v->autopick);
	printf(",\"auto_note\":");
	if (v->auto_note[0])
		json_str(v->auto_note);
	else
		fputs("null", stdout);
	/* Ids of the programs and links the probe made (all gone now): the
	 * tests check that none survived. */
	printf(",\"prog_ids\":[");
	for (int i = 0; i < child.nprog_ids; i++)
		printf("%s%u", i ? "," : "", child.prog_ids[i]);
	printf("],\"link_ids\":[");
	for (int i = 0; i < child.nlink_ids; i++)
		printf("%s%u", i ? "," : "", child.link_ids[i]);
	printf("],\"exit_status\":%d}\n", v->status);
}

void report_text(const struct verdict *v, const struct utsname *u, bool quiet)
{
	const char *group = NULL;

	if (!quiet) {
		const char *last_fix = "";

		printf("sgbpf-probe %s: kernel %s %s, euid %u\n", PACKAGE_VERSION, u->release,
		       u->machine, (unsigned int)geteuid());
		for (int i = 0; i < nchecks; i++) {
			const struct check *c = &checks[i];

			if (!group || strcmp(group, c->group))
				printf("\n%s\n", group = c->group);
			printf("  %-40s %-7s %s\n", c->name, st_name[c->st], c->detail);
			/* The same advice again would only be noise. */
			if (c->fix[0])
				printf("  %-40s   fix: %s\n", "",
				       strcmp(c->fix, last_fix) ? c->fix : "the same as above");
			if (c->fix[0])
				last_fix = c->fix;
		}
		putchar('\n');
	}
	if (v->ebpf_ok)
		printf("eBPF transport: available%s\n", attach_tested ? "" :
		       " (attachment not tested: no throw-away namespace)");
	else
		printf("eBPF transport: NOT available — sg_comm_create will fall back to %s (%s)\n",
		       v->fallback, v->reason);
	if (!quiet)
		printf("AUTO transport: %s%s%s%s\n", v->autopick, v->auto_note[0] ? " (" : "",
		       v->auto_note, v->auto_note[0] ? ")" : "");
}
