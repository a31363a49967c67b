// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-demo: shared virtual memory with a virtio-hmm device, in one run.
 *
 * A process builds a linked list with malloc(); the device walks it through
 * the process's own virtual addresses (CHASE), faulting pages into its MMU;
 * the list migrates into device memory and the device walks it there; the
 * CPU walks it again, which brings it back to system memory; the device's
 * statistics show what happened. Exit status 0 only if every sum agrees.
 */
#include <stddef.h>
#include <stdlib.h>
#include "vhmm_test.h"

#define NODES	20000

struct node {
	struct node *next;
	uint64_t value;
	char payload[48];
};

static unsigned long pagesz;

static void print_stats(int fd, const char *when)
{
	struct virtio_hmm_ioc_stats s;

	if (vhmm_stats(fd, &s))
		return;
	printf("  stats %s: device faults %llu in %llu batches, migrated %llu pages to device / %llu back, CPU faults on device memory %llu, invalidations %llu, device pages in use %llu\n",
	       when, (unsigned long long)s.faults,
	       (unsigned long long)s.fault_batches,
	       (unsigned long long)s.pages_to_dev,
	       (unsigned long long)s.pages_to_sys,
	       (unsigned long long)s.cpu_faults,
	       (unsigned long long)s.invalidations,
	       (unsigned long long)s.devmem_used);
}

static unsigned long count_on_device(int fd, uintptr_t lo, unsigned long npages)
{
	unsigned char *m = malloc(npages);
	unsigned long i, n = 0;

	if (!m || vhmm_dmirror(fd, HMM_DMIRROR_SNAPSHOT, (void *)lo, m, npages,
			       NULL))
		return 0;
	for (i = 0; i < npages; i++)
		if ((m[i] & 0xf0) == HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL ||
		    (m[i] & 0xf0) == HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL)
			n++;
	free(m);
	return n;
}

static int chase(int fd, struct node *head, uint64_t expect, const char *what)
{
	uint64_t sum = 0, nodes = 0;
	int ret = vhmm_job_chase(fd, head, offsetof(struct node, value), 8,
				 NODES + 1, &sum, &nodes);

	printf("  device walked %llu nodes %s: sum %llu (expected %llu) %s\n",
	       (unsigned long long)nodes, what, (unsigned long long)sum,
	       (unsigned long long)expect,
	       !ret && sum == expect ? "OK" : "MISMATCH");
	if (ret)
		printf("  CHASE failed: %s\n", strerror(-ret));
	return !ret && sum == expect && nodes == NODES;
}

int main(void)
{
	struct node *head = NULL, *n;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	uint64_t expect = 0, sum;
	unsigned long npages, on_dev, i;
	struct hmm_dmirror_cmd cmd;
	void *bounce;
	int idx, fd, ok = 1;

	pagesz = sysconf(_SC_PAGESIZE);
	idx = vhmm_find("private", 0);
	if (idx < 0)
		idx = vhmm_find("coherent", 0);
	if (idx < 0) {
		printf("no virtio-hmm device\n");
		return 1;
	}
	fd = vhmm_open_index(idx);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	printf("1. the CPU builds a linked list of %d nodes with malloc()\n", NODES);
	for (i = 0; i < NODES; i++) {
		n = malloc(sizeof(*n));
		if (!n)
			return 1;
		n->value = i * i + 1;
		n->next = head;
		head = n;
		expect += n->value;
		lo = (uintptr_t)n < lo ? (uintptr_t)n : lo;
		hi = (uintptr_t)n + sizeof(*n) > hi ? (uintptr_t)n + sizeof(*n) : hi;
	}
	lo &= ~(pagesz - 1);
	hi = (hi + pagesz - 1) & ~(pagesz - 1);
	npages = (hi - lo) / pagesz;
	printf("   list spans %lu pages at %#lx, /dev/virtio_hmm%d\n", npages,
	       (unsigned long)lo, idx);
	print_stats(fd, "before");

	printf("2. the device walks it through shared virtual memory (CHASE)\n");
	ok &= chase(fd, head, expect, "in system memory");
	print_stats(fd, "after walk");

	printf("3. the list migrates into device memory (MIGRATE_TO_DEV)\n");
	bounce = malloc(npages * pagesz);
	if (!bounce || vhmm_dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, (void *)lo,
				    bounce, npages, &cmd)) {
		printf("   migration failed: %s\n", strerror(errno));
		return 1;
	}
	on_dev = count_on_device(fd, lo, npages);
	printf("   %lu of %lu pages now in device memory\n", on_dev, npages);
	ok &= on_dev > 0;
	ok &= chase(fd, head, expect, "in device memory");
	print_stats(fd, "after migration");

	printf("4. the CPU walks the list: its pages come back on touch\n");
	for (sum = 0, n = head; n; n = n->next)
		sum += n->value;
	printf("   CPU sum %llu %s\n", (unsigned long long)sum,
	       sum == expect ? "OK" : "MISMATCH");
	ok &= sum == expect;
	on_dev = count_on_device(fd, lo, npages);
	printf("   %lu pages left in device memory\n", on_dev);
	print_stats(fd, "after CPU walk");
	printf("%s\n", ok ? "demo: OK" : "demo: FAILED");
	close(fd);
	return ok ? 0 : 1;
}
