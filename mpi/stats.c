/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* SGBPF_MPI_STATS=1: at MPI_Finalize, rank 0 prints how many calls went
 * through sgbpf and how many to PMPI, and why; the counts are rank 0's
 * (every rank decides alike: the minimum and maximum over the ranks are
 * compared, and a difference is reported), the workers' anomalies are
 * summed, and the kernel's counters of the communicator follow. */
#include <stdio.h>
#include <string.h>

#include "sgmpi.h"

static const char *const why_names[SGMPI_WHY_COUNT] = {
	[SGMPI_WHY_DISABLED] = "disabled", [SGMPI_WHY_COMM] = "comm",
	[SGMPI_WHY_DATATYPE] = "datatype", [SGMPI_WHY_OP] = "op",
	[SGMPI_WHY_FLOAT_PROD] = "float-prod", [SGMPI_WHY_TOO_LONG] = "too-long",
	[SGMPI_WHY_ARGS] = "args",
};

#define NCALLS SGMPI_CALL_COUNT
#define NVALS (3 * NCALLS + SGMPI_WHY_COUNT)

void sgmpi_print_stats(void)
{
	uint64_t v[NVALS], lo[NVALS], hi[NVALS], anomalies[3], sum[3];
	int differ = 0;

	memcpy(v, sgmpi.via_sgbpf, sizeof sgmpi.via_sgbpf);
	memcpy(v + NCALLS, sgmpi.via_pmpi, sizeof sgmpi.via_pmpi);
	memcpy(v + 2 * NCALLS, sgmpi.empty, sizeof sgmpi.empty);
	memcpy(v + 3 * NCALLS, sgmpi.why, sizeof sgmpi.why);
	anomalies[0] = sgmpi.worker_stale;
	anomalies[1] = sgmpi.worker_foreign;
	anomalies[2] = sgmpi.worker_dropped;
	PMPI_Reduce(v, lo, NVALS, MPI_UINT64_T, MPI_MIN, 0, MPI_COMM_WORLD);
	PMPI_Reduce(v, hi, NVALS, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
	PMPI_Reduce(anomalies, sum, 3, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
	if (sgmpi.rank != 0)
		return;
	for (int i = 0; i < NVALS; i++)
		differ |= lo[i] != hi[i];
	fprintf(stderr, "sgbpf-mpi: %d ranks, %s\n", sgmpi.size,
		sgmpi.comm ? sg_transport_name(sg_comm_transport(sgmpi.comm)) : "not on sgbpf");
	for (int c = 0; c < NCALLS; c++)
		fprintf(stderr, "sgbpf-mpi: %s sgbpf=%llu pmpi=%llu empty=%llu\n",
			sgmpi_call_name(c), (unsigned long long)v[c],
			(unsigned long long)v[NCALLS + c], (unsigned long long)v[2 * NCALLS + c]);
	fprintf(stderr, "sgbpf-mpi: pmpi because");
	for (int w = 0; w < SGMPI_WHY_COUNT; w++)
		fprintf(stderr, " %s=%llu", why_names[w], (unsigned long long)v[3 * NCALLS + w]);
	fprintf(stderr, "\n");
	if (differ)
		fprintf(stderr, "sgbpf-mpi: WARNING: the ranks' counts differ (calls of "
				"different datatypes or communicators across ranks)\n");
	fprintf(stderr, "sgbpf-mpi: workers: stale=%llu foreign=%llu dropped=%llu\n",
		(unsigned long long)sum[0], (unsigned long long)sum[1],
		(unsigned long long)sum[2]);
	if (sgmpi.comm) {
		struct sg_comm_stats s;

		if (sg_comm_get_stats(sgmpi.comm, &s) == 0)
			fprintf(stderr, "sgbpf-mpi: rank 0: accepted=%llu duplicate=%llu "
					"stale=%llu malformed=%llu forged=%llu retransmits=%llu\n",
				(unsigned long long)s.rx_accepted,
				(unsigned long long)s.rx_duplicate, (unsigned long long)s.rx_stale,
				(unsigned long long)s.rx_malformed, (unsigned long long)s.rx_forged,
				(unsigned long long)s.retransmits);
	}
}
