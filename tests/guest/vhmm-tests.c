// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-tests: what the upstream hmm-tests do not cover of a virtio-hmm
 * device: its execution engine (fill, copy, atomics, pointer chasing) on
 * shared virtual memory, device fault batching, the CPU fault window, a
 * working set larger than device memory, isolation between processes, fork
 * after migration, fault resolution shared fairly between processes and
 * stopped by SIGKILL, and unbinding the driver with data in device memory.
 *
 * Needs the driver loaded and, for every variant, a device of that mode
 * (the one with the most memory); oversubscribe uses the private device
 * with the least memory (the suite boots one with 4 MiB). Unbind rebinds
 * the device afterwards.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "vhmm_test.h"

#define MiB		(1024UL * 1024)

FIXTURE(vhmm)
{
	int fd;
	int index;
	unsigned long page_size;
	struct virtio_hmm_info info;
};

FIXTURE_VARIANT(vhmm)
{
	const char *mode;
};

FIXTURE_VARIANT_ADD(vhmm, private)
{
	.mode = "private",
};

FIXTURE_VARIANT_ADD(vhmm, coherent)
{
	.mode = "coherent",
};

FIXTURE_SETUP(vhmm)
{
	self->page_size = sysconf(_SC_PAGESIZE);
	self->index = vhmm_find(variant->mode, 0);
	if (self->index < 0)
		SKIP(return, "no %s virtio-hmm device", variant->mode);
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(ioctl(self->fd, VIRTIO_HMM_IOC_INFO, &self->info), 0);
	ASSERT_EQ(self->info.page_size, self->page_size);
}

FIXTURE_TEARDOWN(vhmm)
{
	if (self->index >= 0)
		close(self->fd);
}

/* The device fills untouched memory: every word has the pattern. */
TEST_F(vhmm, fill)
{
	size_t size = 2 * MiB, i;
	uint64_t *p = vhmm_map_anon(size), faults = 0;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(vhmm_job_fill(self->fd, p, size, 0x1122334455667788ULL, &faults), 0);
	ASSERT_GE(faults, 1);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], 0x1122334455667788ULL);

	/* unaligned start and length, the neighbours untouched */
	memset(p, 0, size);
	ASSERT_EQ(vhmm_job_fill(self->fd, (char *)p + 8, 3 * self->page_size, 7,
			    NULL), 0);
	ASSERT_EQ(p[0], 0);
	ASSERT_EQ(p[1], 7);
	ASSERT_EQ(p[3 * self->page_size / 8], 7);
	ASSERT_EQ(p[3 * self->page_size / 8 + 1], 0);
	munmap(p, size);
}

/* A FILL on a read-only mapping is refused, memory unchanged. */
TEST_F(vhmm, fill_readonly)
{
	size_t size = 4 * self->page_size;
	uint64_t *p = vhmm_map_anon(size);

	ASSERT_NE(p, NULL);
	p[0] = 5;
	ASSERT_EQ(mprotect(p, size, PROT_READ), 0);
	ASSERT_EQ(vhmm_job_fill(self->fd, p, size, 9, NULL), -EPERM);
	ASSERT_EQ(p[0], 5);
	munmap(p, size);
}

/* Device copy between two CPU buffers. */
TEST_F(vhmm, copy)
{
	size_t size = 1 * MiB, i;
	uint32_t *src = vhmm_map_anon(size), *dst = vhmm_map_anon(size);

	ASSERT_NE(src, NULL);
	ASSERT_NE(dst, NULL);
	for (i = 0; i < size / 4; i++)
		src[i] = i * 2654435761u;
	ASSERT_EQ(vhmm_job_copy(self->fd, dst, src, size), 0);
	ASSERT_EQ(memcmp(dst, src, size), 0);
	munmap(src, size);
	munmap(dst, size);
}

/* Each atomic op and size, on CPU-written memory. */
TEST_F(vhmm, atomics)
{
	uint64_t *p = vhmm_map_anon(self->page_size), old = 0;
	uint32_t *w = (uint32_t *)(p + 4);

	ASSERT_NE(p, NULL);
	p[0] = 40;
	ASSERT_EQ(vhmm_job_atomic(self->fd, &p[0], VIRTIO_HMM_OP_FETCH_ADD, 8, 2, 0,
			      &old), 0);
	ASSERT_EQ(old, 40);
	ASSERT_EQ(p[0], 42);

	ASSERT_EQ(vhmm_job_atomic(self->fd, &p[0], VIRTIO_HMM_OP_XCHG, 8, 7, 0,
			      &old), 0);
	ASSERT_EQ(old, 42);
	ASSERT_EQ(p[0], 7);

	/* compare fails: unchanged */
	ASSERT_EQ(vhmm_job_atomic(self->fd, &p[0], VIRTIO_HMM_OP_CMPXCHG, 8, 99, 8,
			      &old), 0);
	ASSERT_EQ(old, 7);
	ASSERT_EQ(p[0], 7);
	ASSERT_EQ(vhmm_job_atomic(self->fd, &p[0], VIRTIO_HMM_OP_CMPXCHG, 8, 99, 7,
			      &old), 0);
	ASSERT_EQ(old, 7);
	ASSERT_EQ(p[0], 99);

	/* 4 bytes, wrapping, neighbour untouched */
	w[0] = 0xffffffffu;
	w[1] = 0x5555;
	ASSERT_EQ(vhmm_job_atomic(self->fd, w, VIRTIO_HMM_OP_FETCH_ADD, 4, 2, 0,
			      &old), 0);
	ASSERT_EQ(old, 0xffffffffu);
	ASSERT_EQ(w[0], 1);
	ASSERT_EQ(w[1], 0x5555);

	/* misaligned */
	ASSERT_EQ(vhmm_job_atomic(self->fd, (char *)p + 4, VIRTIO_HMM_OP_XCHG, 8, 1,
			      0, NULL), -EINVAL);
	munmap(p, self->page_size);
}

/* Device atomics on memory that migrated into device memory. */
TEST_F(vhmm, atomics_in_device_memory)
{
	unsigned long npages = 4;
	size_t size = npages * self->page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size), old = 0;

	ASSERT_NE(p, NULL);
	memset(p, 0, size);
	p[1] = 100;
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
			       npages, NULL), 0);
	ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);
	ASSERT_EQ(vhmm_job_atomic(self->fd, &p[1], VIRTIO_HMM_OP_FETCH_ADD, 8, 5,
				  0, &old), 0);
	ASSERT_EQ(old, 100);
	ASSERT_EQ(vhmm_job_atomic(self->fd, &p[1], VIRTIO_HMM_OP_CMPXCHG, 8, 7,
				  105, &old), 0);
	ASSERT_EQ(old, 105);
	/* the device sees it, then the CPU */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, buf, npages,
			       NULL), 0);
	ASSERT_EQ(buf[1], 7);
	ASSERT_EQ(buf[0], 0);
	ASSERT_EQ(p[1], 7);
	free(buf);
	munmap(p, size);
}

#define RACE_ITERS	300

struct race {
	uint64_t *counter;
	uint64_t *cpu_word;	/* same page, plain CPU stores */
	int fd;
	int err;
};

static void *device_adder(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < RACE_ITERS && !r->err; i++)
		r->err = vhmm_job_atomic(r->fd, r->counter,
				     VIRTIO_HMM_OP_FETCH_ADD, 8, 1, 0, NULL);
	return NULL;
}

/*
 * Device atomics race with CPU atomics and CPU stores to the same page from
 * another thread: no increment is lost and the stores stay.
 */
TEST_F(vhmm, atomics_race_cpu)
{
	uint64_t *p = vhmm_map_anon(self->page_size);
	struct race r = { .fd = self->fd };
	pthread_t t;
	int i;

	ASSERT_NE(p, NULL);
	r.counter = &p[0];
	r.cpu_word = &p[8];
	p[0] = 0;
	ASSERT_EQ(pthread_create(&t, NULL, device_adder, &r), 0);
	for (i = 0; i < RACE_ITERS; i++) {
		__atomic_fetch_add(r.counter, 1, __ATOMIC_SEQ_CST);
		*(volatile uint64_t *)r.cpu_word = i;
	}
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(r.err, 0);
	ASSERT_EQ(p[0], 2 * RACE_ITERS);
	ASSERT_EQ(p[8], RACE_ITERS - 1);
	munmap(p, self->page_size);
}

struct node {
	struct node *next;
	uint32_t value;
	uint32_t pad;
	char payload[48];
};

/* The device walks a malloc'd linked list in the process's memory. */
TEST_F(vhmm, chase)
{
	struct node *head = NULL, *n;
	uint64_t sum = 0, expect = 0, nodes = 0;
	int i;

	for (i = 0; i < 2000; i++) {
		n = malloc(sizeof(*n));
		ASSERT_NE(n, NULL);
		n->value = i * 7 + 1;
		n->next = head;
		head = n;
		expect += n->value;
	}
	ASSERT_EQ(vhmm_job_chase(self->fd, head, offsetof(struct node, value), 4,
			     100000, &sum, &nodes), 0);
	ASSERT_EQ(nodes, 2000);
	ASSERT_EQ(sum, expect);

	/* max_nodes stops the walk */
	ASSERT_EQ(vhmm_job_chase(self->fd, head, offsetof(struct node, value), 4,
			     10, &sum, &nodes), 0);
	ASSERT_EQ(nodes, 10);
	while (head) {
		n = head->next;
		free(head);
		head = n;
	}
}

/* A list that leads into unmapped memory: the job fails, the device goes on. */
TEST_F(vhmm, chase_bad_pointer)
{
	size_t size = 2 * self->page_size;
	struct node *a = vhmm_map_anon(size), *hole;
	uint64_t sum = 0, nodes = 0;

	ASSERT_NE(a, NULL);
	hole = vhmm_map_anon(self->page_size);
	ASSERT_NE(hole, NULL);
	ASSERT_EQ(munmap(hole, self->page_size), 0);
	a[0].value = 1;
	a[0].next = &a[1];
	a[1].value = 2;
	a[1].next = hole;
	ASSERT_EQ(vhmm_job_chase(self->fd, a, offsetof(struct node, value), 4,
				 100, &sum, &nodes), -EFAULT);
	/* the list fixed, the same file works */
	a[1].next = NULL;
	ASSERT_EQ(vhmm_job_chase(self->fd, a, offsetof(struct node, value), 4,
				 100, &sum, &nodes), 0);
	ASSERT_EQ(nodes, 2);
	ASSERT_EQ(sum, 3);
	munmap(a, size);
}

/*
 * The device fills a new buffer of @size, which is then unmapped; @a and
 * @b receive the statistics before and after the munmap(). Returns the
 * buffer's (now free) address, or NULL.
 */
static void *used_then_freed(int fd, size_t size, uint64_t pattern,
			     struct virtio_hmm_ioc_stats *a,
			     struct virtio_hmm_ioc_stats *b)
{
	uint64_t *p = vhmm_map_anon(size);

	if (!p || vhmm_job_fill(fd, p, size, pattern, NULL) ||
	    p[0] != pattern || vhmm_stats(fd, a) || munmap(p, size) ||
	    vhmm_stats(fd, b))
		return NULL;
	return p;
}

/* A new anonymous mapping at @p, which must be free. */
static uint64_t *remap_anon(void *p, size_t size)
{
	void *q = mmap(p, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return q == p ? q : NULL;
}

/*
 * munmap() and a new mapping at the same address: the device must not
 * reach the old pages through stale translations.
 */
TEST_F(vhmm, remap_invalidates)
{
	unsigned long npages = 16, i;
	size_t size = npages * self->page_size;
	uint64_t *p, *q, *buf = malloc(size);
	struct virtio_hmm_ioc_stats a, b;

	p = used_then_freed(self->fd, size, 0xdead, &a, &b);
	ASSERT_NE(p, NULL);
	ASSERT_GT(b.invalidations, a.invalidations);
	q = remap_anon(p, size);
	ASSERT_NE(q, NULL);
	for (i = 0; i < size / 8; i++)
		q[i] = i;
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, q, buf, npages,
			       NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(buf[i], i);
	free(buf);
	munmap(q, size);
}

/*
 * The invalidation bounds shrink: once a freed buffer's translations are
 * gone, a new mapping at its address that the device never used is
 * unmapped without an UNMAP request; one the device used again is
 * unmapped with one.
 */
TEST_F(vhmm, invalidation_bounds)
{
	unsigned long npages = 16, i;
	size_t size = npages * self->page_size;
	struct virtio_hmm_ioc_stats a, b;
	uint64_t *p, *q;

	p = used_then_freed(self->fd, size, 0xbeef, &a, &b);
	ASSERT_NE(p, NULL);
	ASSERT_GT(b.invalidations, a.invalidations);

	/* CPU only: nothing of it was ever translated */
	q = remap_anon(p, size);
	ASSERT_NE(q, NULL);
	for (i = 0; i < size / 8; i++)
		q[i] = i;
	ASSERT_EQ(munmap(q, size), 0);
	ASSERT_EQ(vhmm_stats(self->fd, &a), 0);
	EXPECT_EQ(a.invalidations, b.invalidations);

	/* used by the device again: the bounds grow back */
	q = remap_anon(p, size);
	ASSERT_NE(q, NULL);
	ASSERT_EQ(vhmm_job_fill(self->fd, q, size, 0xcafe, NULL), 0);
	ASSERT_EQ(q[size / 8 - 1], 0xcafe);
	ASSERT_EQ(munmap(q, size), 0);
	ASSERT_EQ(vhmm_stats(self->fd, &b), 0);
	EXPECT_GT(b.invalidations, a.invalidations);
}

/* The debugfs statistics are this device's and follow the ioctl's. */
TEST_F(vhmm, debugfs_stats)
{
	struct virtio_hmm_ioc_stats st;
	unsigned long long faults = ~0ULL, batches = ~0ULL;
	char path[96], line[96];
	FILE *f;

	ASSERT_EQ(vhmm_stats(self->fd, &st), 0);
	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/virtio_hmm/virtio_hmm%d/stats", self->index);
	f = fopen(path, "r");
	ASSERT_NE(f, NULL);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "faults: %llu", &faults);
		sscanf(line, "fault_batches: %llu", &batches);
	}
	fclose(f);
	/* nothing runs on this device meanwhile */
	ASSERT_EQ(faults, st.faults);
	ASSERT_EQ(batches, st.fault_batches);

	/* the device's own counters: at least this open's CREATE_AS */
	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/virtio_hmm/virtio_hmm%d/device_stats",
		 self->index);
	f = fopen(path, "r");
	ASSERT_NE(f, NULL);
	faults = 0;
	batches = 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "requests: %llu", &faults);
		sscanf(line, "address_spaces: %llu", &batches);
	}
	fclose(f);
	ASSERT_GT(faults, 0);
	ASSERT_GE(batches, 1);
}

/* The list migrates into device memory; the device still walks it. */
TEST_F(vhmm, chase_in_device_memory)
{
	size_t size = 64 * self->page_size;
	struct node *arena = vhmm_map_anon(size);
	unsigned long i, count = size / sizeof(struct node);
	uint64_t sum = 0, expect = 0, nodes = 0;
	void *m = malloc(size);

	ASSERT_NE(arena, NULL);
	/* a shuffled order across the pages */
	for (i = 0; i < count; i++) {
		unsigned long j = (i * 97) % count, k = ((i + 1) * 97) % count;

		arena[j].value = i;
		arena[j].next = i + 1 < count ? &arena[k] : NULL;
		expect += i;
	}
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, arena, m,
			       64, NULL), 0);
	ASSERT_EQ(vhmm_count_local(self->fd, arena, 64), 64);
	ASSERT_EQ(vhmm_job_chase(self->fd, &arena[0], offsetof(struct node, value),
			     4, count, &sum, &nodes), 0);
	ASSERT_EQ(nodes, count);
	ASSERT_EQ(sum, expect);
	/* the CPU sees the same list */
	for (i = 0, sum = 0; i < count; i++)
		sum += arena[i].value;
	ASSERT_EQ(sum, expect);
	free(m);
	munmap(arena, size);
}

/* Jobs that fault together are resolved in batches (STATS). */
TEST_F(vhmm, fault_batching)
{
	struct virtio_hmm_ioc_stats a, b;
	size_t size = 8 * MiB;
	int round;

	ASSERT_EQ(vhmm_stats(self->fd, &a), 0);
	for (round = 0; round < 4; round++) {
		uint64_t *p = vhmm_map_anon(size), faults = 0;

		ASSERT_NE(p, NULL);
		ASSERT_EQ(vhmm_job_fill(self->fd, p, size, round, &faults), 0);
		ASSERT_GE(faults, 2);
		ASSERT_EQ(p[size / 8 - 1], round);
		munmap(p, size);
	}
	ASSERT_EQ(vhmm_stats(self->fd, &b), 0);
	TH_LOG("faults %llu in %llu batches",
	       (unsigned long long)(b.faults - a.faults),
	       (unsigned long long)(b.fault_batches - a.fault_batches));
	ASSERT_GT(b.fault_batches, a.fault_batches);
	/* more faults than batches: some batch had several */
	ASSERT_GT(b.faults - a.faults, b.fault_batches - a.fault_batches);
}

/* CPU access brings migrated data back (private) or reads it in place. */
TEST_F(vhmm, migrate_and_touch)
{
	unsigned long npages = 256, i;
	size_t size = npages * self->page_size;
	struct virtio_hmm_ioc_stats a, b;
	uint32_t *p = vhmm_map_anon(size);
	void *mirror = malloc(size);
	struct hmm_dmirror_cmd cmd;

	ASSERT_NE(p, NULL);
	for (i = 0; i < size / 4; i++)
		p[i] = i ^ 0xabcd;
	ASSERT_EQ(vhmm_stats(self->fd, &a), 0);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, mirror,
			       npages, &cmd), 0);
	ASSERT_EQ(cmd.cpages, npages);
	for (i = 0; i < size / 4; i++)
		ASSERT_EQ(((uint32_t *)mirror)[i], i ^ 0xabcd);
	ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);
	ASSERT_EQ(vhmm_stats(self->fd, &b), 0);
	ASSERT_GE(b.pages_to_dev - a.pages_to_dev, npages);
	ASSERT_GE(b.devmem_used, npages);

	for (i = 0; i < size / 4; i++)
		ASSERT_EQ(p[i], i ^ 0xabcd);
	ASSERT_EQ(vhmm_stats(self->fd, &a), 0);
	if (!strcmp(variant->mode, "private")) {
		ASSERT_EQ(vhmm_count_local(self->fd, p, npages), 0);
		ASSERT_GE(a.cpu_faults - b.cpu_faults, 1);
		ASSERT_GE(a.pages_to_sys - b.pages_to_sys, npages);
	} else {
		/* coherent memory is read in place */
		ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);
		ASSERT_EQ(a.cpu_faults, b.cpu_faults);
	}
	free(mirror);
	munmap(p, size);
}

#define CPU_FAULT_PAGES "/sys/module/virtio_hmm/parameters/cpu_fault_pages"

static long read_param(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_param(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "%ld", v);
	if (write(fd, buf, strlen(buf)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * A CPU touch of one private device page brings back the aligned window of
 * cpu_fault_pages pages around it, clipped to the vma, and nothing else;
 * the parameter takes powers of two from 1 to 512 only. Coherent memory is
 * read in place whatever the window. Every word keeps its value.
 */
TEST_F(vhmm, cpu_fault_window)
{
	static const long windows[] = { 1, 16, 512 };
	static const long bad[] = { 0, 3, 1024 };
	unsigned long npages = 1024, touch = 700, i, w;
	size_t size = npages * self->page_size;
	long saved = read_param(CPU_FAULT_PAGES);
	void *mirror = malloc(size);
	struct hmm_dmirror_cmd cmd;
	uint32_t *p;

	ASSERT_GT(saved, 0);
	ASSERT_NE(mirror, NULL);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(write_param(CPU_FAULT_PAGES, bad[i]), -EINVAL);
		EXPECT_EQ(read_param(CPU_FAULT_PAGES), saved);
	}
	for (w = 0; w < ARRAY_SIZE(windows); w++) {
		unsigned long win = windows[w], lo, hi, back;
		uintptr_t addr, wstart;

		/* the buffer's start is not aligned to the window: clipped */
		p = vhmm_map_anon(size);
		ASSERT_NE(p, NULL);
		for (i = 0; i < size / 4; i++)
			p[i] = i ^ (win << 20);
		ASSERT_EQ(write_param(CPU_FAULT_PAGES, win), 0);
		ASSERT_EQ(read_param(CPU_FAULT_PAGES), (long)win);
		ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p,
				       mirror, npages, &cmd), 0);
		ASSERT_EQ(cmd.cpages, npages);
		ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);

		addr = (uintptr_t)p + touch * self->page_size;
		ASSERT_EQ(p[touch * self->page_size / 4],
			  (touch * self->page_size / 4) ^ (win << 20));
		wstart = addr & ~(win * self->page_size - 1);
		lo = wstart < (uintptr_t)p ? 0 :
		     (wstart - (uintptr_t)p) / self->page_size;
		hi = (wstart - (uintptr_t)p) / self->page_size + win;
		if ((long)hi > (long)npages)
			hi = npages;
		if (wstart < (uintptr_t)p)
			hi = (wstart + win * self->page_size - (uintptr_t)p) /
			     self->page_size;
		back = npages - vhmm_count_local(self->fd, p, npages);
		if (!strcmp(variant->mode, "private")) {
			EXPECT_EQ(back, hi - lo) TH_LOG("window %lu: pages %lu..%lu",
						      win, lo, hi);
		} else {
			EXPECT_EQ(back, 0);
		}
		for (i = 0; i < size / 4; i++)
			if (p[i] != (i ^ (win << 20)))
				break;
		EXPECT_EQ(i, size / 4) TH_LOG("window %lu: word %lu", win, i);
		munmap(p, size);
	}
	ASSERT_EQ(write_param(CPU_FAULT_PAGES, saved), 0);
	free(mirror);
}

#define FAIL_PAGE_ALLOC	"/sys/kernel/debug/fail_page_alloc/"

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -EIO;
}

/*
 * The page allocator's fault injection, for this task only (task-filter,
 * /proc/self/make-it-fail), every order-0 allocation, sleeping and
 * highmem ones included.
 */
static int fail_page_alloc_setup(void)
{
	/* the filter first, the probability last: nobody else may fail */
	static const char *const knobs[][2] = {
		{ "task-filter", "Y" }, { "verbose", "0" },
		{ "interval", "1" }, { "times", "-1" }, { "space", "0" },
		{ "ignore-gfp-wait", "N" }, { "ignore-gfp-highmem", "N" },
		{ "min-order", "0" }, { "probability", "100" },
	};
	char path[128];
	unsigned int i;
	int ret;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(path, sizeof(path), FAIL_PAGE_ALLOC "%s", knobs[i][0]);
		ret = write_str(path, knobs[i][1]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Issue 13, finding 9: when no system page can be had for a CPU fault on a
 * private device page, migrate_to_ram() must say VM_FAULT_OOM. It returned
 * 0 ("done, fault again"): a user access refaults either way, but a
 * kernel-side access through get_user_pages() looped on the fault until
 * killed instead of failing. With every page allocation of this task
 * failing: MADV_POPULATE_READ of a page in private device memory fails
 * with ENOMEM (madvise passes GUP's errno on; SIGBUS would be EFAULT),
 * process_vm_readv() of it with EFAULT (it turns every GUP failure into
 * EFAULT), and the page stays on the device; coherent device memory is
 * read in place. With allocations back, both succeed with the page's data.
 */
TEST_F(vhmm, remote_read_oom)
{
	size_t psz = self->page_size, i;
	uint64_t *p = vhmm_map_anon(psz), *buf = vhmm_map_anon(psz);
	bool private = !strcmp(variant->mode, "private");
	struct iovec local, remote, bad;
	struct hmm_dmirror_cmd cmd;
	int err[2], mif;
	ssize_t n;

	ASSERT_NE(p, NULL);
	ASSERT_NE(buf, NULL);
	for (i = 0; i < psz / 8; i++)
		p[i] = 0x5eed000000000000ULL | i;
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
			       1, &cmd), 0);
	ASSERT_EQ(cmd.cpages, 1);
	memset(buf, 0, psz);
	ASSERT_EQ(vhmm_count_local(self->fd, p, 1), 1);
	mif = open("/proc/self/make-it-fail", O_WRONLY);
	ASSERT_GE(mif, 0);
	local.iov_base = buf;
	local.iov_len = psz;
	remote.iov_base = p;
	remote.iov_len = psz;
	/*
	 * Nothing but the fault may need a page while allocations fail (a
	 * user fault would retry forever): the stack below this frame and
	 * errno's page are written once now, by calls that fail the same way.
	 */
	bad.iov_base = NULL;
	bad.iov_len = psz;
	ASSERT_EQ(process_vm_readv(getpid(), &local, 1, &bad, 1, 0), -1);
	ASSERT_EQ(madvise(NULL, psz, MADV_POPULATE_READ), -1);
	ASSERT_EQ(write(mif, "0", 1), 1);

	ASSERT_EQ(fail_page_alloc_setup(), 0);
	ASSERT_EQ(write(mif, "1", 1), 1);
	err[0] = madvise(p, psz, MADV_POPULATE_READ) ? errno : 0;
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	err[1] = n < 0 ? errno : 0;
	ASSERT_EQ(write(mif, "0", 1), 1);
	close(mif);
	ASSERT_EQ(write_str(FAIL_PAGE_ALLOC "probability", "0"), 0);
	if (private) {
		ASSERT_EQ(err[0], ENOMEM);
		ASSERT_EQ(n, -1);
		ASSERT_EQ(err[1], EFAULT);
		ASSERT_EQ(vhmm_count_local(self->fd, p, 1), 1);
		ASSERT_EQ(buf[0], 0);
	} else {
		ASSERT_EQ(err[0], 0);
		ASSERT_EQ(n, (ssize_t)psz);
	}
	ASSERT_EQ(process_vm_readv(getpid(), &local, 1, &remote, 1, 0),
		  (ssize_t)psz);
	for (i = 0; i < psz / 8; i++)
		ASSERT_EQ(buf[i], 0x5eed000000000000ULL | i);
	ASSERT_EQ(madvise(p, psz, MADV_POPULATE_READ), 0);
	munmap(buf, psz);
	munmap(p, psz);
}

/* the part of [p, p + size) backed by huge pages, in bytes (smaps) */
static unsigned long thp_bytes(void *p, size_t size)
{
	unsigned long start = (unsigned long)p, end = start + size;
	unsigned long lo, hi, kib, total = 0;
	char line[256];
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = lo < end && hi > start;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &kib) == 1)
			total += kib * 1024;
	}
	fclose(f);
	return total;
}

/*
 * A transparent huge page migrates whole: migrate_vma_setup() splits it,
 * and the split's own invalidation of the range must not keep the driver
 * from mapping what it moved (it did: MIGRATE_TO_DEV failed with ENOENT
 * on every THP-backed buffer). Every word is where it belongs, on the
 * device and back in system memory.
 */
TEST_F(vhmm, migrate_thp)
{
	unsigned long npages = 2 * MiB / self->page_size, i;
	size_t size = 2 * MiB;
	char *raw = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *p, *mirror = malloc(size);
	struct hmm_dmirror_cmd cmd;

	ASSERT_NE(raw, MAP_FAILED);
	ASSERT_NE(mirror, NULL);
	p = (uint32_t *)(((unsigned long)raw + size - 1) & ~(size - 1));
	ASSERT_EQ(madvise(p, size, MADV_HUGEPAGE), 0);
	for (i = 0; i < size / 4; i++)
		p[i] = i ^ 0x7a9e;
	ASSERT_EQ(thp_bytes(p, size), size);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, mirror,
			       npages, &cmd), 0);
	ASSERT_EQ(cmd.cpages, npages);
	for (i = 0; i < size / 4; i++)
		ASSERT_EQ(mirror[i], i ^ 0x7a9e);
	ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);
	for (i = 0; i < size / 4; i++)
		ASSERT_EQ(p[i], i ^ 0x7a9e);
	free(mirror);
	munmap(raw, 2 * size);
}

/* Two processes, same virtual address, each sees only its own memory. */
TEST_F(vhmm, isolation)
{
	unsigned long npages = 16, i;
	size_t size = npages * self->page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size);
	int sync_pipe[2], status;
	pid_t pid;
	char c;

	ASSERT_NE(p, NULL);
	ASSERT_EQ(pipe(sync_pipe), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd = vhmm_open_index(self->index);
		int bad = fd < 0;

		for (i = 0; i < size / 8; i++)
			p[i] = 0xc1d0000000000000ULL | i;
		bad |= vhmm_dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
				    npages, NULL) != 0;
		/* let the parent work while this one's data is on the device */
		bad |= write(sync_pipe[1], "x", 1) != 1;
		usleep(200 * 1000);
		bad |= vhmm_dmirror(fd, HMM_DMIRROR_READ, p, buf, npages,
				    NULL) != 0;
		for (i = 0; i < size / 8; i++)
			bad |= buf[i] != (0xc1d0000000000000ULL | i);
		_exit(bad);
	}
	for (i = 0; i < size / 8; i++)
		p[i] = 0xfa7e000000000000ULL | i;
	ASSERT_EQ(read(sync_pipe[0], &c, 1), 1);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
			       npages, NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(buf[i], 0xfa7e000000000000ULL | i);
	ASSERT_EQ(vhmm_job_fill(self->fd, p, size, 0x1234, NULL), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], 0x1234);
	free(buf);
	munmap(p, size);
}

/* fork() after migration: parent and child each keep their own data. */
TEST_F(vhmm, fork_after_migrate)
{
	unsigned long npages = 32, i;
	size_t size = npages * self->page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size);
	int status;
	pid_t pid;

	ASSERT_NE(p, NULL);
	for (i = 0; i < size / 8; i++)
		p[i] = i;
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
			       npages, NULL), 0);
	ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int bad = 0;

		for (i = 0; i < size / 8; i++)
			bad |= p[i] != i;
		for (i = 0; i < size / 8; i++)
			p[i] = ~i;
		for (i = 0; i < size / 8; i++)
			bad |= p[i] != ~i;
		_exit(bad);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	/* the device and the CPU still see the parent's data */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, buf, npages,
			       NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(buf[i], i);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], i);
	free(buf);
	munmap(p, size);
}

#define FAIR_PAGES	32768UL	/* 128 MiB: many resolution steps */

/* Start a child that READs FAIR_PAGES never-touched pages with a file of
 * its own; it reports to *sh when done. */
struct fair_shared {
	volatile int done;
	int ret;
	uint64_t faults;
};

static pid_t fair_reader(int index, unsigned long page_size,
			 struct fair_shared *sh)
{
	pid_t pid = fork();

	if (!pid) {
		size_t size = FAIR_PAGES * page_size;
		int fd = vhmm_open_index(index);
		/* read-only: every page faults in as the zero page, for free */
		void *a = mmap(NULL, size, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *buf = malloc(size);
		struct hmm_dmirror_cmd cmd = {};

		if (fd < 0 || a == MAP_FAILED || !buf)
			_exit(2);
		sh->ret = vhmm_dmirror(fd, HMM_DMIRROR_READ, a, buf, FAIR_PAGES,
				       &cmd);
		sh->faults = cmd.faults;
		sh->done = 1;
		_exit(0);
	}
	return pid;
}

/* Wait until the device has posted a fault record after @before. */
static void fair_wait_fault(int index, long long before,
			    struct fair_shared *sh)
{
	while (vhmm_debugfs_counter(index, "device_stats", "faults") == before &&
	       !sh->done)
		;
}

/*
 * Fault resolution is one ordered work item per device. A child READs a
 * 128 MiB range nothing has touched; while it is being resolved, this
 * process READs one page of its own, which also faults. That fault must
 * be answered before the child's range is mapped in full: a resolution
 * maps a bounded step (the child's job faults again further on), so the
 * device's mapped pages at our answer are fewer than the child's range,
 * and the child saw many faults, not one.
 */
TEST_F_TIMEOUT(vhmm, fault_fairness, 150)
{
	struct fair_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long long mapped0, faults0, mapped;
	uint64_t *q = vhmm_map_anon(self->page_size), *buf = malloc(self->page_size);
	struct hmm_dmirror_cmd cmd;
	int status, child_done;
	pid_t pid;

	ASSERT_NE(sh, MAP_FAILED);
	ASSERT_NE(q, NULL);
	ASSERT_NE(buf, NULL);
	q[0] = 0x1234567;
	mapped0 = vhmm_debugfs_counter(self->index, "device_stats", "mapped_pages");
	faults0 = vhmm_debugfs_counter(self->index, "device_stats", "faults");
	ASSERT_GE(mapped0, 0);
	ASSERT_GE(faults0, 0);
	pid = fair_reader(self->index, self->page_size, sh);
	ASSERT_GE(pid, 0);
	fair_wait_fault(self->index, faults0, sh);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, q, buf, 1, &cmd), 0);
	mapped = vhmm_debugfs_counter(self->index, "device_stats", "mapped_pages");
	child_done = sh->done;
	ASSERT_EQ(cmd.faults, 1);
	ASSERT_EQ(buf[0], 0x1234567);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(sh->ret, 0);
	TH_LOG("mapped when our fault was answered: %lld of the child's %lu pages; child faults %llu",
	       mapped - mapped0, FAIR_PAGES, (unsigned long long)sh->faults);
	ASSERT_FALSE(child_done);
	ASSERT_LT(mapped - mapped0, (long long)FAIR_PAGES);
	ASSERT_GE(sh->faults, FAIR_PAGES / 1024);
	free(buf);
	munmap(q, self->page_size);
	munmap(sh, sizeof(*sh));
}

/*
 * SIGKILL in the middle of a large READ: the process dies (its job is
 * canceled, its faults are no longer resolved) and its device address
 * space goes away with it.
 */
TEST_F_TIMEOUT(vhmm, fault_killed, 150)
{
	struct fair_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long long spaces0, faults0, mapped0;
	int status;
	pid_t pid;

	ASSERT_NE(sh, MAP_FAILED);
	spaces0 = vhmm_debugfs_counter(self->index, "device_stats", "address_spaces");
	mapped0 = vhmm_debugfs_counter(self->index, "device_stats", "mapped_pages");
	faults0 = vhmm_debugfs_counter(self->index, "device_stats", "faults");
	ASSERT_GE(spaces0, 0);
	pid = fair_reader(self->index, self->page_size, sh);
	ASSERT_GE(pid, 0);
	fair_wait_fault(self->index, faults0, sh);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGKILL);
	ASSERT_FALSE(sh->done);
	ASSERT_EQ(vhmm_debugfs_counter(self->index, "device_stats", "address_spaces"),
		  spaces0);
	ASSERT_EQ(vhmm_debugfs_counter(self->index, "device_stats", "mapped_pages"),
		  mapped0);
	munmap(sh, sizeof(*sh));
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
	close(fd);
	return ret;
}

/*
 * Unbind the driver from a device that holds this process's data: remove
 * migrates it back first, nothing is lost. Rebinds afterwards.
 */
TEST_F(vhmm, unbind_with_device_data)
{
	unsigned long npages = 128, i;
	size_t size = npages * self->page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size);
	char link[128], target[256], *name;
	ssize_t len;

	ASSERT_NE(p, NULL);
	for (i = 0; i < size / 8; i++)
		p[i] = i * 11 + 5;
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
			       npages, NULL), 0);
	ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);

	snprintf(link, sizeof(link), "/sys/class/virtio_hmm/virtio_hmm%d/device",
		 self->index);
	len = readlink(link, target, sizeof(target) - 1);
	ASSERT_GT(len, 0);
	target[len] = '\0';
	name = strrchr(target, '/');
	name = name ? name + 1 : target;
	ASSERT_EQ(write_file("/sys/bus/virtio/drivers/virtio_hmm/unbind", name), 0);

	/* the open file outlives the device: it fails cleanly */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, buf, npages, NULL),
		  -ENODEV);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], i * 11 + 5);

	ASSERT_EQ(write_file("/sys/bus/virtio/drivers/virtio_hmm/bind", name), 0);
	free(buf);
	munmap(p, size);
}

/*
 * A working set larger than device memory: the migration moves what fits,
 * the rest stays in system memory, and the device sees all of it.
 */
TEST(oversubscribe)
{
	int idx = vhmm_find("private", 1), fd;
	struct virtio_hmm_info info;
	unsigned long npages, i, local;
	struct hmm_dmirror_cmd cmd;
	unsigned long page_size = sysconf(_SC_PAGESIZE);
	uint64_t *p, *back;
	size_t size;

	if (idx < 0)
		SKIP(return, "no private virtio-hmm device");
	fd = vhmm_open_index(idx);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ioctl(fd, VIRTIO_HMM_IOC_INFO, &info), 0);
	if (info.devmem_size > 16 * MiB)
		SKIP(return, "no small device (boot one with vram-size=4M)");
	size = 2 * info.devmem_size;
	npages = size / page_size;
	p = vhmm_map_anon(size);
	back = malloc(size);
	ASSERT_NE(p, NULL);
	ASSERT_NE(back, NULL);
	for (i = 0; i < size / 8; i++)
		p[i] = i * 3;
	ASSERT_EQ(vhmm_dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, back, npages,
			       &cmd), 0);
	ASSERT_EQ(cmd.cpages, npages);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(back[i], i * 3);
	local = vhmm_count_local(fd, p, npages);
	TH_LOG("%lu of %lu pages in %llu MiB of device memory", local, npages,
	       (unsigned long long)(info.devmem_size / MiB));
	ASSERT_GT(local, 0);
	ASSERT_LE(local, info.devmem_size / page_size);
	ASSERT_LT(local, npages);

	/* the device writes all of it, the CPU reads it */
	ASSERT_EQ(vhmm_job_fill(fd, p, size, 0x77, NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], 0x77);
	free(back);
	munmap(p, size);
	close(fd);
}

/*
 * Unload the driver while device memory holds a process's data (its file
 * already closed): remove migrates everything back first. Reloads it.
 */
TEST(unload_with_device_data)
{
	int idx = vhmm_find("private", 0), fd;
	unsigned long page_size = sysconf(_SC_PAGESIZE);
	unsigned long npages = 64, i;
	size_t size = npages * page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size);

	if (idx < 0)
		SKIP(return, "no private virtio-hmm device");
	ASSERT_NE(p, NULL);
	fd = vhmm_open_index(idx);
	ASSERT_GE(fd, 0);
	for (i = 0; i < size / 8; i++)
		p[i] = i * 13 + 1;
	ASSERT_EQ(vhmm_dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, npages,
			       NULL), 0);
	ASSERT_EQ(vhmm_count_local(fd, p, npages), npages);
	close(fd);

	ASSERT_EQ(system("rmmod virtio_hmm"), 0);
	ASSERT_EQ(access("/sys/class/virtio_hmm", F_OK), -1);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], i * 13 + 1);
	ASSERT_EQ(system("modprobe virtio_hmm"), 0);

	fd = vhmm_open_index(idx);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(vhmm_count_local(fd, p, npages), 0);
	ASSERT_EQ(vhmm_dmirror(fd, HMM_DMIRROR_READ, p, buf, npages, NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(buf[i], i * 13 + 1);
	close(fd);
	free(buf);
	munmap(p, size);
}

TEST_HARNESS_MAIN
