// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-fence: an invalidation never returns before the device stopped
 * using the pages. The guest boots with one private device with
 * x-inject-inval-delay-us=1000000 (every UNMAP acknowledged a second late)
 * and VHMM_MIRROR_MODE=fence (tests/guest/suites). With the default
 * fence_timeout_ms the device survives; with 200 ms the invalidation
 * resets (fences) the device before it returns: the device is gone,
 * memory is intact, nothing hangs.
 *
 * A second private device (vram-size=16M) starts every other job 20 s
 * late (x-inject-job-delay-us, x-inject-job-delay-every=2: a hung
 * engine): with a short job_timeout_ms a job outlives its ioctl, and
 * closing the file must not let it reach pages the process gives back
 * meanwhile.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kselftest_harness.h"
#include "vhmm_test.h"

#define PARAM "/sys/module/virtio_hmm/parameters/fence_timeout_ms"
#define JOB_PARAM "/sys/module/virtio_hmm/parameters/job_timeout_ms"

FIXTURE(fence)
{
	const char *mode;
	int index;
	int fd;
	size_t page_size;
};

FIXTURE_SETUP(fence)
{
	self->page_size = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	self->mode = getenv("VHMM_MIRROR_MODE");
	if (!self->mode || strcmp(self->mode, "fence"))
		SKIP(return, "VHMM_MIRROR_MODE=fence not set (see tests/guest/suites)");
	self->index = vhmm_find("private", 0);
	ASSERT_GE(self->index, 0);
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(fence)
{
	if (self->fd >= 0)
		close(self->fd);
}

static uint64_t word(uint64_t tag, uint64_t page, uint64_t i)
{
	return tag << 48 | page << 20 | i;
}

static int param_write_to(const char *param, const char *val)
{
	FILE *f = fopen(param, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fputs(val, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static int param_write(const char *val)
{
	return param_write_to(PARAM, val);
}

/* Map 16 tagged pages in the device (a device read), check them. */
static uint64_t *mapped_pages(int fd, size_t npages, size_t psz)
{
	uint64_t *p = vhmm_map_anon(npages * psz), *buf = malloc(npages * psz);
	size_t i;
	bool ok;

	if (!p || !buf)
		return NULL;
	for (i = 0; i < npages * psz / 8; i++)
		p[i] = word(3, i / (psz / 8), i);
	ok = !vhmm_dmirror(fd, HMM_DMIRROR_READ, p, buf, npages, NULL) &&
	     !memcmp(p, buf, npages * psz);
	free(buf);
	return ok ? p : NULL;
}

/*
 * UNMAP acknowledged a second late, within the default fence timeout:
 * slow, not stuck. The device keeps working.
 */
TEST_F(fence, slow_unmap_no_fence)
{
	size_t npages = 16, psz = self->page_size;
	long long fences;
	uint64_t *p;

	fences = vhmm_debugfs_counter(self->index, "stats", "fences");
	ASSERT_GE(fences, 0);
	p = mapped_pages(self->fd, npages, psz);
	ASSERT_NE(p, NULL);
	ASSERT_EQ(munmap(p, npages * psz), 0);
	ASSERT_EQ(vhmm_debugfs_counter(self->index, "stats", "fences"), fences);
	p = mapped_pages(self->fd, npages, psz);
	ASSERT_NE(p, NULL);
	munmap(p, npages * psz);
}

static long param_read(void)
{
	FILE *f = fopen(PARAM, "r");
	long v = -1;

	if (!f)
		return -errno;
	if (fscanf(f, "%ld", &v) != 1)
		v = -EIO;
	fclose(f);
	return v;
}

/*
 * A timeout of 0 would fence the device on every invalidation: the
 * parameter refuses it (and values above an hour) and keeps its value.
 */
TEST_F(fence, zero_timeout_refused)
{
	long before = param_read();
	char val[24];

	ASSERT_GT(before, 0);
	ASSERT_NE(param_write("0"), 0);
	ASSERT_EQ(param_read(), before);
	ASSERT_NE(param_write("3600001"), 0);
	ASSERT_EQ(param_read(), before);
	ASSERT_EQ(param_write("3600000"), 0);
	ASSERT_EQ(param_read(), 3600000);
	snprintf(val, sizeof(val), "%ld", before);
	ASSERT_EQ(param_write(val), 0);
	ASSERT_EQ(param_read(), before);
}

/*
 * The same with a fence timeout of 200 ms: the device counts as stuck.
 * munmap() returns (nothing hangs), but only after the device was reset:
 * it is gone for this and every later file, and the process's memory is
 * intact. Runs last of its fixture: the device does not come back
 * (late_job uses the other one).
 */
TEST_F(fence, stuck_unmap_fences)
{
	size_t npages = 16, psz = self->page_size, i;
	uint64_t *p, *q;
	long long fences;
	int fd2;

	fences = vhmm_debugfs_counter(self->index, "stats", "fences");
	q = vhmm_map_anon(npages * psz);
	ASSERT_NE(q, NULL);
	for (i = 0; i < npages * psz / 8; i++)
		q[i] = word(4, i / (psz / 8), i);
	p = mapped_pages(self->fd, npages, psz);
	ASSERT_NE(p, NULL);
	ASSERT_EQ(param_write("200"), 0);
	ASSERT_EQ(munmap(p, npages * psz), 0);
	ASSERT_EQ(param_write("10000"), 0);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, q, q, npages, NULL),
		  -ENODEV);
	fd2 = vhmm_open_index(self->index);
	ASSERT_LT(fd2, 0);
	ASSERT_EQ(errno, ENODEV);
	for (i = 0; i < npages * psz / 8; i++)
		ASSERT_EQ(q[i], word(4, i / (psz / 8), i));
	ASSERT_GE(fences, 0);
	ASSERT_EQ(vhmm_debugfs_counter(self->index, "stats", "fences"),
		  fences + 1);
}

/* The device whose jobs start late: the small private one */
FIXTURE(late_job)
{
	int index;
	int fd;
	size_t page_size;
};

FIXTURE_SETUP(late_job)
{
	const char *mode = getenv("VHMM_MIRROR_MODE");

	self->page_size = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	if (!mode || strcmp(mode, "fence"))
		SKIP(return, "VHMM_MIRROR_MODE=fence not set (see tests/guest/suites)");
	self->index = vhmm_find("private", 1);
	ASSERT_GE(self->index, 0);
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
	/* the close waits for the late job: slow, not stuck */
	ASSERT_EQ(param_write("30000"), 0);
}

FIXTURE_TEARDOWN(late_job)
{
	if (self->fd >= 0)
		close(self->fd);
	param_write_to(JOB_PARAM, "25000");
	param_write("10000");
}

/* job_timeout_ms: 0 (every job canceled at once) and over an hour refused */
TEST_F(late_job, job_timeout_bounds)
{
	FILE *f;
	long v = -1;

	ASSERT_NE(param_write_to(JOB_PARAM, "0"), 0);
	ASSERT_NE(param_write_to(JOB_PARAM, "3600001"), 0);
	f = fopen(JOB_PARAM, "r");
	ASSERT_NE(f, NULL);
	ASSERT_EQ(fscanf(f, "%ld", &v), 1);
	fclose(f);
	ASSERT_EQ(v, 25000);
}

struct closer {
	int fd;
	pid_t tid;	/* set by the thread, atomically */
};

static void *close_fd(void *arg)
{
	struct closer *c = arg;

	__atomic_store_n(&c->tid, gettid(), __ATOMIC_RELEASE);
	close(c->fd);
	return NULL;
}

/* Has thread @tid gone to sleep in the kernel (state D)? */
static bool in_d_state(pid_t tid)
{
	char path[64], buf[256], *p;
	bool d = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		d = p && p[1] == ' ' && p[2] == 'D';
	}
	fclose(f);
	return d;
}

/* The page frames behind [p, p + n pages), from /proc/self/pagemap (root) */
static int page_frames(void *p, size_t n, size_t psz, uint64_t *pfn)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t i;

	if (fd < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		uint64_t e = 0;
		off_t off = ((uintptr_t)p / psz + i) * sizeof(e);

		if (pread(fd, &e, sizeof(e), off) != sizeof(e) ||
		    !(e & (1ULL << 63))) {
			close(fd);
			return -EIO;
		}
		pfn[i] = e & ((1ULL << 55) - 1);
	}
	close(fd);
	return 0;
}

/*
 * A WRITE job (the device's second) that the device starts only after the
 * driver gave up on it: job_timeout_ms 300, then a cancel that the busy
 * device does not take (the FAULT_REPLY's 10 s), then VHMM_JOB_POLL. The
 * ioctl fails with ETIMEDOUT after about 12.3 s while the device still
 * holds the job and the translations of its 16 pages. The file is closed
 * and, once the close sleeps in the kernel, the process unmaps the pages
 * and fills fresh ones, which reuse the freed page frames (pagemap must
 * say so, or the test could not fail). The close must destroy the address
 * space before it stops watching the page tables: otherwise the unmap is
 * never invalidated and the late job writes its data into the fresh pages
 * (it did, with the notifier removed first). Every word of the fresh
 * pages must stay as the process wrote it, and the device must not have
 * been fenced (it answered, late).
 */
TEST_F_TIMEOUT(late_job, close_while_job_runs, 120)
{
	size_t npages = 16, psz = self->page_size, nfresh = 4 * npages, i, j;
	uint64_t *p, *src, *fresh, old_pfn[16], fresh_pfn[64];
	struct closer c = { .fd = self->fd };
	size_t wrong = 0, reused = 0;
	long long fences;
	pthread_t closer;
	cpu_set_t cpu;
	int tries;

	/* freed pages go back to this CPU's lists, the fresh ones come from them */
	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	ASSERT_EQ(sched_setaffinity(0, sizeof(cpu), &cpu), 0);
	fences = vhmm_debugfs_counter(self->index, "stats", "fences");
	ASSERT_GE(fences, 0);
	/*
	 * Mapped in the device by a READ, the device's first job: on time.
	 * Any other job on this device before the WRITE would shift which one
	 * is late: the WRITE would then not time out, and the test fails.
	 */
	p = mapped_pages(c.fd, npages, psz);
	ASSERT_NE(p, NULL);
	ASSERT_EQ(page_frames(p, npages, psz, old_pfn), 0);
	src = malloc(npages * psz);
	ASSERT_NE(src, NULL);
	for (i = 0; i < npages * psz / 8; i++)
		src[i] = word(5, i / (psz / 8), i);

	ASSERT_EQ(param_write_to(JOB_PARAM, "300"), 0);
	ASSERT_EQ(vhmm_dmirror(c.fd, HMM_DMIRROR_WRITE, p, src, npages, NULL),
		  -ETIMEDOUT);
	ASSERT_EQ(param_write_to(JOB_PARAM, "25000"), 0);

	self->fd = -1;
	ASSERT_EQ(pthread_create(&closer, NULL, close_fd, &c), 0);
	/* the close is past the point where the old code dropped the notifier */
	for (tries = 0; tries < 500; tries++) {
		pid_t tid = __atomic_load_n(&c.tid, __ATOMIC_ACQUIRE);

		if (tid && in_d_state(tid))
			break;
		usleep(10 * 1000);
	}
	ASSERT_LT(tries, 500);
	usleep(50 * 1000);
	ASSERT_EQ(munmap(p, npages * psz), 0);
	fresh = vhmm_map_anon(nfresh * psz);
	ASSERT_NE(fresh, NULL);
	for (i = 0; i < nfresh * psz / 8; i++)
		fresh[i] = word(6, i / (psz / 8), i);
	ASSERT_EQ(page_frames(fresh, nfresh, psz, fresh_pfn), 0);
	for (i = 0; i < nfresh; i++)
		for (j = 0; j < npages; j++)
			reused += fresh_pfn[i] == old_pfn[j];
	TH_LOG("%zu of the job's %zu page frames reused", reused, npages);
	ASSERT_GT(reused, 0);
	/* the close returns once the device is done with the address space */
	ASSERT_EQ(pthread_join(closer, NULL), 0);

	for (i = 0; i < nfresh * psz / 8; i++) {
		if (fresh[i] != word(6, i / (psz / 8), i)) {
			if (!wrong)
				TH_LOG("fresh page %zu word %zu: %#llx", i / (psz / 8),
				       i % (psz / 8), (unsigned long long)fresh[i]);
			wrong++;
		}
	}
	EXPECT_EQ(wrong, 0);
	EXPECT_EQ(vhmm_debugfs_counter(self->index, "stats", "fences"), fences);
	munmap(fresh, nfresh * psz);
	free(src);
}

TEST_HARNESS_MAIN
