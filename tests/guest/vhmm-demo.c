// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-demo: shared virtual memory with a virtio-hmm device, in one run.
 *
 * A process builds a linked list with malloc(); the device walks it through
 * the process's own virtual addresses (CHASE), faulting pages into its MMU;
 * the list migrates into device memory and the device walks it there; the
 * CPU walks it again, which brings it back to system memory; the device's
 * statistics show what happened. Exit status 0 only if every sum agrees.
 * Written on libvhmm (include/vhmm.h), as an application would be.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "vhmm.h"

#define NODES	20000

struct node {
	struct node *next;
	uint64_t value;
	char payload[48];
};

static unsigned long pagesz;

static void print_stats(struct vhmm_dev *dev, const char *when)
{
	struct vhmm_stats s;

	if (vhmm_get_stats(dev, &s))
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

static unsigned long count_on_device(struct vhmm_dev *dev, uintptr_t lo,
				     unsigned long npages)
{
	uint8_t *m = malloc(npages);
	unsigned long i, n = 0;

	if (!m || vhmm_snapshot(dev, (void *)lo, npages, m)) {
		free(m);
		return 0;
	}
	for (i = 0; i < npages; i++)
		if (m[i] & VHMM_PAGE_DEVICE)
			n++;
	free(m);
	return n;
}

static int chase(struct vhmm_dev *dev, struct node *head, uint64_t expect,
		 const char *what)
{
	struct vhmm_chase_result r = { 0 };
	int ret = vhmm_chase(dev, head, offsetof(struct node, next),
			     offsetof(struct node, value), 8, NODES + 1, &r);

	printf("  device walked %llu nodes %s: sum %llu (expected %llu) %s\n",
	       (unsigned long long)r.nodes, what, (unsigned long long)r.sum,
	       (unsigned long long)expect,
	       !ret && r.sum == expect ? "OK" : "MISMATCH");
	if (ret)
		printf("  CHASE failed: %s\n", vhmm_strerror(ret));
	return !ret && r.sum == expect && r.nodes == NODES;
}

/* The first device, preferring private device memory */
static struct vhmm_dev *open_device(void)
{
	int idx[64], n, i, ret;
	struct vhmm_dev *dev, *any = NULL;

	n = vhmm_list(idx, 64);
	for (i = 0; i < n && i < 64; i++) {
		struct vhmm_info info;

		if (vhmm_open(idx[i], &dev))
			continue;
		ret = vhmm_get_info(dev, &info);
		if (!ret && info.mode == VHMM_MODE_PRIVATE) {
			vhmm_close(any);
			return dev;
		}
		if (!ret && !any)
			any = dev;
		else
			vhmm_close(dev);
	}
	return any;
}

int main(void)
{
	struct node *head = NULL, *n;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	uint64_t expect = 0, sum;
	unsigned long npages, on_dev, i;
	struct vhmm_info info;
	struct vhmm_dev *dev;
	int ret, ok = 1;

	pagesz = sysconf(_SC_PAGESIZE);
	dev = open_device();
	if (!dev) {
		printf("no virtio-hmm device\n");
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
	printf("   list spans %lu pages at %#lx, /dev/virtio_hmm%d (%s)\n",
	       npages, (unsigned long)lo, vhmm_index(dev),
	       vhmm_get_info(dev, &info) ? "?" : vhmm_mode_name(info.mode));
	print_stats(dev, "before");

	printf("2. the device walks it through shared virtual memory (CHASE)\n");
	ok &= chase(dev, head, expect, "in system memory");
	print_stats(dev, "after walk");

	printf("3. the list migrates into device memory (MIGRATE_TO_DEV)\n");
	ret = vhmm_migrate_to_device(dev, (void *)lo, npages, NULL);
	if (ret) {
		printf("   migration failed: %s\n", vhmm_strerror(ret));
		return 1;
	}
	on_dev = count_on_device(dev, lo, npages);
	printf("   %lu of %lu pages now in device memory\n", on_dev, npages);
	ok &= on_dev > 0;
	ok &= chase(dev, head, expect, "in device memory");
	print_stats(dev, "after migration");

	printf("4. the CPU walks the list: its pages come back on touch\n");
	for (sum = 0, n = head; n; n = n->next)
		sum += n->value;
	printf("   CPU sum %llu %s\n", (unsigned long long)sum,
	       sum == expect ? "OK" : "MISMATCH");
	ok &= sum == expect;
	on_dev = count_on_device(dev, lo, npages);
	printf("   %lu pages left in device memory\n", on_dev);
	print_stats(dev, "after CPU walk");
	printf("%s\n", ok ? "demo: OK" : "demo: FAILED");
	vhmm_close(dev);
	return ok ? 0 : 1;
}
