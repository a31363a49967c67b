// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-page-tables: the device's page-table cap (max_page_tables,
 * docs/virtio-hmm.md sections 7.3 and 14). The guest boots with one private
 * device with max-page-tables=16 and VHMM_MIRROR_MODE=page-tables
 * (tests/guest/suites). A MAP the device refuses with S_NOSPC makes the
 * driver give translations back (its own, then other processes') and
 * retry: device reads of sparse memory still succeed with the right data,
 * and translations given back or invalidated are really gone.
 *
 * Every word of every page carries (process tag, page number), so a read
 * through a stale or wrong translation shows.
 *
 * A second, smaller device fails every MAP half-way (x-inject-map-fail=1):
 * what the device applied of a failed MAP is invalidated like the rest.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "vhmm_test.h"

FIXTURE(page_tables)
{
	const char *mode;
	int index;
	int fd;
	size_t page_size;
};

FIXTURE_SETUP(page_tables)
{
	self->page_size = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	self->mode = getenv("VHMM_MIRROR_MODE");
	if (!self->mode || strcmp(self->mode, "page-tables"))
		SKIP(return, "VHMM_MIRROR_MODE=page-tables not set (see tests/guest/suites)");
	self->index = vhmm_find("private", 0);
	ASSERT_GE(self->index, 0);
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(page_tables)
{
	if (self->fd >= 0)
		close(self->fd);
}

static uint64_t word(uint64_t tag, uint64_t page, uint64_t i)
{
	return tag << 48 | page << 20 | i;
}

/* An area of @nr 2 MiB ranges, aligned to 32 MiB (one 1 GiB region). */
static char *sparse_area(size_t nr)
{
	size_t len = nr << 21, align = 32 << 20;
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	return (char *)a;
}

/* The first page of each of @nr 2 MiB ranges, each word tagged. */
static void sparse_fill(char *area, size_t nr, uint64_t tag, size_t psz)
{
	size_t k, i;

	for (k = 0; k < nr; k++) {
		uint64_t *w = (uint64_t *)(area + (k << 21));

		for (i = 0; i < psz / 8; i++)
			w[i] = word(tag, k, i);
	}
}

/*
 * Device-read the first page of each range; return the first range whose
 * read failed or whose data was wrong (nr when all were right), with the
 * error in *err (0 for wrong data).
 */
static size_t sparse_check(int fd, char *area, size_t nr, uint64_t tag,
			   size_t psz, int *err)
{
	uint64_t *buf = malloc(psz);
	size_t k, i;

	*err = -ENOMEM;
	if (!buf)
		return 0;
	for (k = 0; k < nr; k++) {
		*err = vhmm_dmirror(fd, HMM_DMIRROR_READ, area + (k << 21), buf,
				    1, NULL);
		if (*err)
			break;
		for (i = 0; i < psz / 8; i++)
			if (buf[i] != word(tag, k, i))
				break;
		if (i < psz / 8)
			break;
	}
	free(buf);
	return k;
}

/*
 * 32 ranges need 5 + 31 page tables, the device has 16: the driver gives
 * back its own older translations and every read succeeds. Reading them
 * all again rebuilds what was given back. After munmap, no translation of
 * the area is left (a read fails instead of reaching freed memory).
 */
TEST_F(page_tables, own_translations)
{
	size_t nr = 32, k;
	long long full;
	char *area;
	int err, round;

	full = vhmm_debugfs_counter(self->index, "stats", "page_table_full");
	area = sparse_area(nr);
	ASSERT_NE(area, NULL);
	sparse_fill(area, nr, 1, self->page_size);
	for (round = 0; round < 2; round++) {
		k = sparse_check(self->fd, area, nr, 1, self->page_size, &err);
		TH_LOG("round %d: %zu of %zu ranges read right (error %d)",
		       round, k, nr, err);
		ASSERT_EQ(err, 0);
		ASSERT_EQ(k, nr);
	}
	ASSERT_EQ(munmap(area, nr << 21), 0);
	for (k = 0; k < nr; k++) {
		uint64_t buf[512];

		ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ,
				       area + (k << 21), buf, 1, NULL), -EFAULT);
	}
	/* the cap was really reached */
	ASSERT_GE(full, 0);
	ASSERT_GT(vhmm_debugfs_counter(self->index, "stats", "page_table_full"),
		  full);
}

/*
 * Another process holds every page table and sits idle: this process's
 * reads need tables that only it can give back (its mutex is free). Then
 * the other process reads its pages again, taking them back in turn. Both
 * see only their own data.
 */
TEST_F_TIMEOUT(page_tables, other_process, 60)
{
	size_t nr = 16, k;
	int go[2], ready[2], status, err;
	char *area, c;
	pid_t pid;

	ASSERT_EQ(pipe(go), 0);
	ASSERT_EQ(pipe(ready), 0);
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd = vhmm_open_index(self->index);
		char *a = sparse_area(nr);

		if (fd < 0 || !a)
			_exit(10);
		sparse_fill(a, nr, 2, self->page_size);
		/* 5 + 15 tables wanted: holds all 16 the device has */
		sparse_check(fd, a, nr, 2, self->page_size, &err);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(11);
		if (sparse_check(fd, a, nr, 2, self->page_size, &err) != nr)
			_exit(12);
		_exit(0);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	area = sparse_area(nr);
	ASSERT_NE(area, NULL);
	sparse_fill(area, nr, 1, self->page_size);
	k = sparse_check(self->fd, area, nr, 1, self->page_size, &err);
	TH_LOG("%zu of %zu ranges read right (error %d)", k, nr, err);
	ASSERT_EQ(write(go[1], "g", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(k, nr);
	/* and this one again, after the other took its tables back */
	k = sparse_check(self->fd, area, nr, 1, self->page_size, &err);
	ASSERT_EQ(err, 0);
	ASSERT_EQ(k, nr);
}

/*
 * The second, smaller device of the boot has x-inject-map-fail=1: every
 * MAP applies half of its entries and fails (docs/virtio-hmm.md 13.1).
 * What a failed MAP left in the device must still be invalidated: after
 * munmap, a read of the first page (whose translation the device applied)
 * must fault and fail, not read the page the process gave back.
 */
FIXTURE(map_fail)
{
	int fd;
	size_t page_size;
};

FIXTURE_SETUP(map_fail)
{
	const char *mode = getenv("VHMM_MIRROR_MODE");
	int index;

	self->page_size = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	if (!mode || strcmp(mode, "page-tables"))
		SKIP(return, "VHMM_MIRROR_MODE=page-tables not set (see tests/guest/suites)");
	index = vhmm_find("private", 1);
	ASSERT_GE(index, 0);
	ASSERT_NE(index, vhmm_find("private", 0));
	self->fd = vhmm_open_index(index);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(map_fail)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(map_fail, failed_map_invalidated)
{
	size_t npages = 64, psz = self->page_size, i;
	uint64_t *p = vhmm_map_anon(npages * psz), buf[512];
	int ret;

	ASSERT_NE(p, NULL);
	for (i = 0; i < npages * psz / 8; i++)
		p[i] = word(5, i / (psz / 8), i);
	ret = vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, p, npages, NULL);
	TH_LOG("read through a failing MAP: %d", ret);
	ASSERT_NE(ret, 0);
	ASSERT_EQ(munmap(p, npages * psz), 0);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, buf, 1, NULL),
		  -EFAULT);
}

TEST_HARNESS_MAIN
