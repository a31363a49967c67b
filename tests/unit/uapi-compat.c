// SPDX-License-Identifier: GPL-2.0
/*
 * uapi-compat: include/linux/virtio_hmm_ioctl.h must stay a superset of the
 * kernel's lib/test_hmm_uapi.h, so that the unmodified hmm-tests binary
 * drives /dev/virtio_hmm<N>. The two headers are compiled in two separate
 * translation units (uapi-compat/test-hmm-side.c, virtio-hmm-side.c); this
 * one compares what they saw. Prints TAP.
 */
#include <stdio.h>
#include <string.h>
#include "uapi-compat/uapi-desc.h"

extern const unsigned long uapi_virtio_hmm_extra[];
extern const unsigned int uapi_virtio_hmm_nr_extra;

static int test_nr;
static int failed;

static void check(int ok, const char *name)
{
	test_nr++;
	printf("%sok %d %s\n", ok ? "" : "not ", test_nr, name);
	if (!ok)
		failed++;
}

static const char *const ioctl_names[UAPI_NR_IOCTLS] = {
	"READ", "WRITE", "MIGRATE_TO_DEV", "MIGRATE_TO_SYS", "SNAPSHOT",
	"EXCLUSIVE", "CHECK_EXCLUSIVE", "RELEASE",
};

static const char *const prot_names[UAPI_NR_PROT] = {
	"ERROR", "NONE", "READ", "WRITE", "PMD", "PUD", "ZERO",
	"DEV_PRIVATE_LOCAL", "DEV_PRIVATE_REMOTE", "DEV_COHERENT_LOCAL",
	"DEV_COHERENT_REMOTE",
};

int main(void)
{
	const struct uapi_desc *a = &uapi_test_hmm, *b = &uapi_virtio_hmm;
	char name[96];
	unsigned int i, j;
	int distinct = 1;

	printf("1..%d\n", UAPI_NR_IOCTLS + UAPI_NR_PROT + 5);
	for (i = 0; i < UAPI_NR_IOCTLS; i++) {
		snprintf(name, sizeof(name), "HMM_DMIRROR_%s number (%#lx vs %#lx)",
			 ioctl_names[i], a->ioctls[i], b->ioctls[i]);
		check(a->ioctls[i] == b->ioctls[i], name);
	}
	snprintf(name, sizeof(name), "struct hmm_dmirror_cmd size (%zu vs %zu)",
		 a->cmd_size, b->cmd_size);
	check(a->cmd_size == b->cmd_size, name);
	check(a->off_addr == b->off_addr && a->off_ptr == b->off_ptr &&
	      a->off_npages == b->off_npages && a->off_cpages == b->off_cpages &&
	      a->off_faults == b->off_faults,
	      "struct hmm_dmirror_cmd field offsets");
	check(a->sz_addr == b->sz_addr && a->sz_ptr == b->sz_ptr &&
	      a->sz_npages == b->sz_npages && a->sz_cpages == b->sz_cpages &&
	      a->sz_faults == b->sz_faults,
	      "struct hmm_dmirror_cmd field sizes");
	for (i = 0; i < UAPI_NR_PROT; i++) {
		snprintf(name, sizeof(name), "HMM_DMIRROR_PROT_%s (%#lx vs %#lx)",
			 prot_names[i], (unsigned long)a->prot[i],
			 (unsigned long)b->prot[i]);
		check(a->prot[i] == b->prot[i], name);
	}
	check(a->mem_private == b->mem_private &&
	      a->mem_coherent == b->mem_coherent,
	      "HMM_DMIRROR_MEMORY_DEVICE_{PRIVATE,COHERENT}");
	for (i = 0; i < uapi_virtio_hmm_nr_extra; i++)
		for (j = 0; j < UAPI_NR_IOCTLS; j++)
			if ((uapi_virtio_hmm_extra[i] & 0xffff) ==
			    (a->ioctls[j] & 0xffff))
				distinct = 0;
	check(distinct, "virtio-hmm ioctls do not reuse a dmirror number");
	return failed ? 1 : 0;
}
