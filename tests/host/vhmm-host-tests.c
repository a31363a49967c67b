// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-host-tests: the host module (host-module/, /dev/vhmm_host) through
 * its char device, the way QEMU uses it with backend=host: register a
 * region as device memory, copy between it and ordinary memory, touch it
 * with the CPU, let the kernel invalidate translations, close and exit.
 *
 * Runs in the "host" VM (L1) with vhmm_host.ko loaded. The module's
 * counters are module-wide, so the tests check differences and must not
 * run concurrently with another user of the module.
 *
 * A copy entry must not cross a page on either side (the uapi), so no
 * test copies into or out of a stack buffer: the stack's offset within a
 * page is random (ASLR), and a 128-byte array crosses a page boundary in
 * about 1 of 32 runs, which the module rightly refuses with EINVAL. Small
 * copies use self->out, a page of its own.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vhmm_host.h>
#include "kselftest_harness.h"

#define DEVICE		"/dev/vhmm_host"
#define REGION_PAGES	64

FIXTURE(host)
{
	int fd;
	size_t page;
	char *region;		/* registered: device memory */
	char *buf;		/* ordinary anonymous memory */
	char *out;		/* one page for small copies out */
	struct vhmm_host_stats before;
};

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int stats(int fd, struct vhmm_host_stats *s)
{
	return ioctl(fd, VHMM_HOST_IOC_STATS, s);
}

static int reg(int fd, void *addr, size_t size, unsigned long long *npages)
{
	struct vhmm_host_region r = {
		.addr = (unsigned long)addr,
		.size = size,
	};
	int ret = ioctl(fd, VHMM_HOST_IOC_REGISTER, &r);

	if (npages)
		*npages = r.npages;
	return ret;
}

/* One copy of @len bytes; returns the ioctl's result, *done the count */
static int copy1(int fd, void *dst, const void *src, size_t len,
		 unsigned int *done)
{
	struct vhmm_host_copy_entry e = {
		.src = (unsigned long)src,
		.dst = (unsigned long)dst,
		.len = len,
	};
	struct vhmm_host_copy c = {
		.entries = (unsigned long)&e,
		.nr = 1,
		.done = ~0U,
	};
	int ret = ioctl(fd, VHMM_HOST_IOC_COPY, &c);

	if (done)
		*done = c.done;
	return ret;
}

/* Copy @n whole pages in one ioctl */
static int copy_pages(int fd, char *dst, const char *src, unsigned int n,
		      size_t page)
{
	struct vhmm_host_copy_entry e[VHMM_HOST_COPY_MAX];
	struct vhmm_host_copy c = {
		.entries = (unsigned long)e,
		.nr = n,
	};
	unsigned int i;

	for (i = 0; i < n; i++) {
		e[i].src = (unsigned long)(src + i * page);
		e[i].dst = (unsigned long)(dst + i * page);
		e[i].len = page;
	}
	if (ioctl(fd, VHMM_HOST_IOC_COPY, &c))
		return -1;
	return c.done == n ? 0 : -1;
}

static void fill(char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (char)(i * 7 + seed);
}

static long vm_pin_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

FIXTURE_SETUP(host)
{
	unsigned long long n;

	self->page = sysconf(_SC_PAGESIZE);
	self->fd = open(DEVICE, O_RDWR);
	if (self->fd < 0)
		SKIP(return, DEVICE " missing (vhmm_host.ko not loaded)");
	self->region = map_anon(REGION_PAGES * self->page);
	self->buf = map_anon(REGION_PAGES * self->page);
	self->out = map_anon(self->page);
	ASSERT_NE(self->region, NULL);
	ASSERT_NE(self->buf, NULL);
	ASSERT_NE(self->out, NULL);
	ASSERT_EQ(stats(self->fd, &self->before), 0);
	ASSERT_EQ(reg(self->fd, self->region, REGION_PAGES * self->page, &n),
		  0);
	ASSERT_EQ(n, REGION_PAGES);
}

FIXTURE_TEARDOWN(host)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* Registering moves every page of the region into device memory */
TEST_F(host, register_moves_region)
{
	struct vhmm_host_stats s;

	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES);
	EXPECT_EQ(s.migrated_to_device,
		  self->before.migrated_to_device + REGION_PAGES);
	EXPECT_GE(s.open_files, 1);
	EXPECT_EQ(s.leaked_pages, 0);
	/* nothing pinned */
	EXPECT_EQ(vm_pin_kb(), 0);
}

TEST_F(host, register_errors)
{
	char *shared;
	int fd2;

	/* one region per file */
	EXPECT_EQ(reg(self->fd, self->buf, self->page, NULL), -1);
	EXPECT_EQ(errno, EBUSY);

	fd2 = open(DEVICE, O_RDWR);
	ASSERT_GE(fd2, 0);
	EXPECT_EQ(reg(fd2, self->buf + 1, self->page, NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(reg(fd2, self->buf, 0, NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(reg(fd2, self->buf, self->page + 1, NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	/* shared memory cannot be device private */
	shared = mmap(NULL, self->page, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(shared, MAP_FAILED);
	shared[0] = 1;
	EXPECT_EQ(reg(fd2, shared, self->page, NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(shared[0], 1);
	/* a hole in the range */
	ASSERT_EQ(munmap(self->buf + self->page, self->page), 0);
	EXPECT_EQ(reg(fd2, self->buf, 3 * self->page, NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	munmap(shared, self->page);
	close(fd2);
}

/*
 * A region larger than the module's free device memory is refused with
 * ENOSPC, and nothing moves (QEMU then names vram-size and the limit)
 */
TEST_F(host, register_too_big)
{
	struct vhmm_host_stats s;
	size_t size;
	char *big;
	int fd2;

	ASSERT_EQ(stats(self->fd, &s), 0);
	ASSERT_GT(s.device_pages_max, s.device_pages);
	size = (s.device_pages_max - s.device_pages + 1) * self->page;
	big = map_anon(size);
	ASSERT_NE(big, NULL);
	fd2 = open(DEVICE, O_RDWR);
	ASSERT_GE(fd2, 0);
	EXPECT_EQ(reg(fd2, big, size, NULL), -1);
	EXPECT_EQ(errno, ENOSPC);
	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES);
	EXPECT_EQ(s.migrated_to_device,
		  self->before.migrated_to_device + REGION_PAGES);
	close(fd2);
	munmap(big, size);
}

/* Ordinary memory -> device memory -> ordinary memory, data intact */
TEST_F(host, copy_round_trip)
{
	char *out = map_anon(REGION_PAGES * self->page);
	size_t size = REGION_PAGES * self->page;
	struct vhmm_host_stats s;

	ASSERT_NE(out, NULL);
	fill(self->buf, size, 1);
	ASSERT_EQ(copy_pages(self->fd, self->region, self->buf, REGION_PAGES,
			     self->page), 0);
	ASSERT_EQ(copy_pages(self->fd, out, self->region, REGION_PAGES,
			     self->page), 0);
	ASSERT_EQ(memcmp(out, self->buf, size), 0);

	/* the region stayed in device memory: no CPU fault, no pin */
	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.cpu_faults, self->before.cpu_faults);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES);
	EXPECT_EQ(s.copies, self->before.copies + 2 * REGION_PAGES);
	EXPECT_EQ(vm_pin_kb(), 0);
	munmap(out, size);
}

/* Device to device, sub-page, overlapping */
TEST_F(host, copy_within_device)
{
	char *r = self->region, *out = self->out;
	size_t pg = self->page;

	fill(self->buf, pg, 3);
	ASSERT_EQ(copy1(self->fd, r, self->buf, pg, NULL), 0);
	/* page 0 -> page 5 */
	ASSERT_EQ(copy1(self->fd, r + 5 * pg, r, pg, NULL), 0);
	/* overlapping move inside page 5: bytes 0..99 -> 10..109 */
	ASSERT_EQ(copy1(self->fd, r + 5 * pg + 10, r + 5 * pg, 100, NULL), 0);
	ASSERT_EQ(copy1(self->fd, out, r + 5 * pg + 10, 64, NULL), 0);
	ASSERT_EQ(memcmp(out, self->buf, 64), 0);
	ASSERT_EQ(copy1(self->fd, out, r + 5 * pg + 200, 64, NULL), 0);
	ASSERT_EQ(memcmp(out, self->buf + 200, 64), 0);
}

/* A CPU access brings a device page back with its data; the next copy
 * moves it into device memory again.
 */
TEST_F(host, cpu_touch_migrates_back)
{
	size_t pg = self->page;
	struct vhmm_host_stats s1, s2;
	char *out = self->out;
	int ret;

	fill(self->buf, 4 * pg, 9);
	ASSERT_EQ(copy_pages(self->fd, self->region, self->buf, 4, pg), 0);
	ASSERT_EQ(stats(self->fd, &s1), 0);

	/* the CPU reads page 1 and writes page 2 */
	ASSERT_EQ(memcmp(self->region + pg, self->buf + pg, pg), 0);
	self->region[2 * pg + 5] = 'x';
	ASSERT_EQ(stats(self->fd, &s2), 0);
	EXPECT_EQ(s2.cpu_faults, s1.cpu_faults + 2);
	EXPECT_EQ(s2.migrated_to_ram, s1.migrated_to_ram + 2);
	EXPECT_EQ(s2.device_pages, s1.device_pages - 2);
	EXPECT_GE(s2.invalidations, s1.invalidations + 1);

	/* the device sees the CPU's write, and takes the page back */
	ret = copy1(self->fd, out, self->region + 2 * pg, 128, NULL);
	if (ret)
		TH_LOG("copy from the CPU-touched page: %s", strerror(errno));
	ASSERT_EQ(ret, 0);
	EXPECT_EQ(out[5], 'x');
	EXPECT_EQ(memcmp(out, self->buf + 2 * pg, 5), 0);
	ASSERT_EQ(stats(self->fd, &s1), 0);
	EXPECT_EQ(s1.migrated_to_device, s2.migrated_to_device + 1);
	EXPECT_EQ(s1.device_pages, s2.device_pages + 1);

	/* page 3 was never touched: still device memory, data intact */
	EXPECT_EQ(memcmp(self->region + 3 * pg, self->buf + 3 * pg, pg), 0);
}

/*
 * After fork() the region's device pages are shared copy-on-write, and
 * hmm_range_fault() reports its owner's device pages read-only without
 * faulting them. A copy into one must give this process a page of its own,
 * in device memory, and leave the child's data alone; a copy out of a page
 * still shared works as it is.
 */
TEST_F(host, copy_after_fork)
{
	size_t pg = self->page;
	struct vhmm_host_stats s1, s2;
	int status, go[2], ret;
	pid_t pid;
	char c = 1;

	fill(self->buf, 2 * pg, 11);
	ASSERT_EQ(copy_pages(self->fd, self->region, self->buf, 2, pg), 0);
	ASSERT_EQ(pipe(go), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* after the parent's copy: the child's pages kept the old data */
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(memcmp(self->region, self->buf, 2 * pg) ? 1 : 0);
	}
	close(go[0]);
	ASSERT_EQ(stats(self->fd, &s1), 0);

	fill(self->buf, pg, 12);
	ret = copy1(self->fd, self->region, self->buf, pg, NULL);
	if (ret)
		TH_LOG("copy into a shared page: %s", strerror(errno));
	ASSERT_EQ(ret, 0);
	ASSERT_EQ(copy1(self->fd, self->out, self->region, pg, NULL), 0);
	EXPECT_EQ(memcmp(self->out, self->buf, pg), 0);
	/* page 1 is still shared with the child */
	ASSERT_EQ(copy1(self->fd, self->out, self->region + pg, pg, NULL), 0);
	EXPECT_EQ(memcmp(self->out, self->buf + pg, pg), 0);

	/*
	 * Page 0 came back to RAM (the child's copy stays there) and the
	 * parent's own copy went into device memory; no CPU fault
	 */
	ASSERT_EQ(stats(self->fd, &s2), 0);
	EXPECT_EQ(s2.device_pages, s1.device_pages);
	EXPECT_EQ(s2.migrated_to_ram, s1.migrated_to_ram + 1);
	EXPECT_EQ(s2.migrated_to_device, s1.migrated_to_device + 1);
	EXPECT_EQ(s2.cpu_faults, s1.cpu_faults);
	EXPECT_EQ(vm_pin_kb(), 0);

	ASSERT_EQ(write(go[1], &c, 1), 1);
	close(go[1]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	/* and the parent's CPU sees its own data, from device memory */
	ASSERT_EQ(stats(self->fd, &s2), 0);
	EXPECT_EQ(memcmp(self->region, self->buf, pg), 0);
	ASSERT_EQ(stats(self->fd, &s1), 0);
	EXPECT_EQ(s1.cpu_faults, s2.cpu_faults + 1);
}

/* MIGRATE moves CPU-touched region pages back in one go */
TEST_F(host, migrate_back)
{
	struct vhmm_host_region r = {
		.addr = (unsigned long)self->region,
		.size = REGION_PAGES * self->page,
	};
	struct vhmm_host_stats s;
	size_t i;

	for (i = 0; i < 8; i++)
		self->region[i * self->page] = (char)i;
	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES - 8);
	ASSERT_EQ(ioctl(self->fd, VHMM_HOST_IOC_MIGRATE, &r), 0);
	EXPECT_EQ(r.npages, 8);
	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(self->region[i * self->page], (char)i);

	/* outside the region */
	r.addr = (unsigned long)self->buf;
	r.size = self->page;
	EXPECT_EQ(ioctl(self->fd, VHMM_HOST_IOC_MIGRATE, &r), -1);
	EXPECT_EQ(errno, EINVAL);
}

/*
 * The kernel frees a page the device has a cached translation of: the
 * notifier drops it, and the next copy reads the new page, not the old.
 */
TEST_F(host, invalidation_drops_cached_translation)
{
	struct vhmm_host_stats s1, s2;
	char *out = self->out;

	memset(self->buf, 'a', self->page);
	ASSERT_EQ(copy1(self->fd, self->region, self->buf, self->page, NULL),
		  0);
	ASSERT_EQ(stats(self->fd, &s1), 0);
	ASSERT_EQ(madvise(self->buf, self->page, MADV_DONTNEED), 0);
	ASSERT_EQ(stats(self->fd, &s2), 0);
	EXPECT_GE(s2.invalidations, s1.invalidations + 1);

	memset(self->buf, 'b', self->page);
	ASSERT_EQ(copy1(self->fd, self->region, self->buf, self->page, NULL),
		  0);
	ASSERT_EQ(copy1(self->fd, out, self->region, 16, NULL), 0);
	EXPECT_EQ(out[0], 'b');
	EXPECT_EQ(out[15], 'b');

	/* unmapped: the copy fails instead of using the stale page */
	ASSERT_EQ(munmap(self->buf, self->page), 0);
	EXPECT_EQ(copy1(self->fd, self->region, self->buf, self->page, NULL),
		  -1);
	EXPECT_EQ(errno, EFAULT);
}

TEST_F(host, copy_errors)
{
	struct vhmm_host_copy_entry e[2] = {
		{ (unsigned long)self->buf, (unsigned long)self->region, 8 },
		{ (unsigned long)self->buf, (unsigned long)self->region, 8 },
	};
	struct vhmm_host_copy c = { .entries = (unsigned long)e, .nr = 0 };
	char *ro = mmap(NULL, self->page, PROT_READ,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned int done;

	ASSERT_NE(ro, MAP_FAILED);
	EXPECT_EQ(ioctl(self->fd, VHMM_HOST_IOC_COPY, &c), -1);
	EXPECT_EQ(errno, EINVAL);
	c.nr = VHMM_HOST_COPY_MAX + 1;
	EXPECT_EQ(ioctl(self->fd, VHMM_HOST_IOC_COPY, &c), -1);
	EXPECT_EQ(errno, EINVAL);

	/* length 0, or crossing a page on either side */
	EXPECT_EQ(copy1(self->fd, self->region, self->buf, 0, NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(copy1(self->fd, self->region, self->buf + 1, self->page,
			NULL), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(copy1(self->fd, self->region + 8, self->buf, self->page - 4,
			NULL), -1);
	EXPECT_EQ(errno, EINVAL);

	/* the second entry writes read-only memory: done says one */
	e[1].dst = (unsigned long)ro;
	c.nr = 2;
	EXPECT_EQ(ioctl(self->fd, VHMM_HOST_IOC_COPY, &c), -1);
	EXPECT_EQ(errno, EPERM);
	EXPECT_EQ(c.done, 1);
	/* nothing mapped at all */
	EXPECT_EQ(copy1(self->fd, (void *)self->page, self->buf, 8, &done), -1);
	EXPECT_EQ(errno, EFAULT);
	EXPECT_EQ(done, 0);
	munmap(ro, self->page);
}

/* The file belongs to the opener's address space */
TEST_F(host, other_mm_refused)
{
	pid_t pid = fork();
	int status;

	ASSERT_GE(pid, 0);
	if (!pid) {
		int ret = copy1(self->fd, self->out, self->region, 8, NULL);

		_exit(ret == -1 && errno == EINVAL ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
}

/* Closing the file gives back the device memory; the data stays */
TEST_F(host, close_releases)
{
	struct vhmm_host_stats s;
	int fd;

	fill(self->buf, 2 * self->page, 5);
	ASSERT_EQ(copy_pages(self->fd, self->region, self->buf, 2, self->page),
		  0);
	ASSERT_EQ(close(self->fd), 0);
	self->fd = -1;

	fd = open(DEVICE, O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(stats(fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages);
	EXPECT_EQ(s.migrated_to_ram,
		  self->before.migrated_to_ram + REGION_PAGES);
	/* the region is ordinary memory again, with the device's data */
	EXPECT_EQ(memcmp(self->region, self->buf, 2 * self->page), 0);
	ASSERT_EQ(stats(fd, &s), 0);
	EXPECT_EQ(s.cpu_faults, self->before.cpu_faults);
	close(fd);
}

/* A process killed with device memory registered leaves nothing behind */
TEST_F(host, kill_releases)
{
	struct vhmm_host_stats s;
	int status, p[2];
	pid_t pid;
	char c;

	ASSERT_EQ(pipe(p), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd = open(DEVICE, O_RDWR);
		char *r = map_anon(32 * self->page);

		if (fd < 0 || !r || reg(fd, r, 32 * self->page, NULL))
			_exit(1);
		c = 1;
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(1);
	}
	close(p[1]);
	ASSERT_EQ(read(p[0], &c, 1), 1);
	close(p[0]);
	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES + 32);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(stats(self->fd, &s), 0);
	EXPECT_EQ(s.device_pages, self->before.device_pages + REGION_PAGES);
}

TEST_HARNESS_MAIN
