// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-race: threads race on the SAME pages on purpose. P processes (2)
 * with T threads each (3) share one virtio-hmm device; each process has N
 * pages (32) that its threads migrate to the device and back, write with
 * the CPU, read with the CPU and read with the device, at random, with no
 * lock between migrations and anything else. The two processes' migrations
 * recycle the same device pages, so a translation that outlives its page
 * shows another page's or another process's data.
 *
 * Every 64-bit word names where it belongs: process, page, generation and
 * word index (word()). A page's generation only grows: a CPU write takes
 * the page's lock, writes every word with gen + 1, then publishes it. So
 * every read can be checked exactly although the threads race:
 *   - a read holding the pages' locks (CPU verify, locked device read) must
 *     find every word of the current generation;
 *   - a read without them (device read, a migration's read-back) must find
 *     every word of the right process, page and index, with a generation
 *     between the one published before the read and the one after it (+1:
 *     a write in progress).
 * Any other word is a wrong word: printed (the first few of each process)
 * and counted. The run fails on any wrong word and on any ioctl error
 * other than the ones a race may legitimately cause (EBUSY, and ENOENT for
 * a migration's read-back of pages that another thread moved meanwhile).
 *
 * usage: vhmm-race [-d INDEX | -m MODE] [-t SECONDS] [-p PROCS]
 *                  [-T THREADS] [-n PAGES] [-s SEED]
 * Output: "# " lines with the figures; exit status 0 when nothing was wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vhmm_test.h"

#define MAX_PAGES	64
#define MAX_THREADS	16
#define MAX_READ	4	/* pages a device read covers at most */
#define REPORT		8	/* wrong words printed per process */

enum op {
	OP_CPU_WRITE, OP_CPU_VERIFY, OP_DEV_READ_LOCKED, OP_DEV_READ,
	OP_MIGRATE_DEV, OP_MIGRATE_SYS, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"cpu-write", "cpu-verify", "dev-read-locked", "dev-read",
	"migrate-dev", "migrate-sys",
};

static const unsigned int op_weight[NR_OPS] = { 25, 10, 15, 15, 20, 15 };

static int dev_index = -1;
static const char *dev_mode = "private";
static unsigned int seconds = 30, nprocs = 2, nthreads = 3, npages = 32;
static unsigned int seed;
static size_t page_size;

/* one process's state, shared by its threads */
static int fd;
static unsigned int proc;
static uint64_t *mem;
static pthread_mutex_t lock[MAX_PAGES];
static _Atomic uint32_t gen[MAX_PAGES];
static _Atomic unsigned long wrong, errors, tolerated;
static _Atomic unsigned long ops[NR_OPS];
static _Atomic int reported;
static double deadline;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t word(unsigned int p, unsigned int page, uint32_t g,
		     unsigned int i)
{
	return (uint64_t)p << 56 | (uint64_t)page << 48 | (uint64_t)g << 16 | i;
}

static unsigned int words_per_page(void)
{
	return page_size / sizeof(uint64_t);
}

static void write_page(unsigned int page)
{
	unsigned int i, n = words_per_page();
	uint32_t g;

	pthread_mutex_lock(&lock[page]);
	g = atomic_load(&gen[page]) + 1;
	for (i = 0; i < n; i++)
		((volatile uint64_t *)mem)[page * n + i] = word(proc, page, g, i);
	atomic_store(&gen[page], g);
	pthread_mutex_unlock(&lock[page]);
}

/*
 * The first wrong word stops tracefs's ring (when tracing: make stress
 * users and developers enable the driver's events) so that the events that
 * led to it are still there; the page's address goes into the trace.
 */
static void freeze_trace(unsigned int page)
{
	char msg[96];
	int fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);
	int n;

	if (fd >= 0) {
		n = snprintf(msg, sizeof(msg), "vhmm-race: proc %u page %u at %p: wrong word",
			     proc, page, (void *)((char *)mem + page * page_size));
		if (write(fd, msg, n) < 0)
			perror("trace_marker");
		close(fd);
	}
	fd = open("/sys/kernel/tracing/tracing_on", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "0", 1) < 0)
			perror("tracing_on");
		close(fd);
	}
	printf("# proc %u: page %u is at %p\n", proc, page,
	       (void *)((char *)mem + page * page_size));
}

/*
 * Check the words of @count pages from @first read into @buf: generation
 * within [lo[k], hi[k]] for the k-th page. Returns the wrong words.
 */
static unsigned long check(const char *what, const uint64_t *buf,
			   unsigned int first, unsigned int count,
			   const uint32_t *lo, const uint32_t *hi)
{
	unsigned int k, i, n = words_per_page();
	unsigned long bad = 0;

	for (k = 0; k < count; k++) {
		unsigned int page = first + k;

		for (i = 0; i < n; i++) {
			uint64_t w = buf[k * n + i];
			uint32_t g = (uint32_t)(w >> 16);

			if (w >> 48 == ((uint64_t)proc << 8 | page) &&
			    (w & 0xffff) == i && g >= lo[k] && g <= hi[k])
				continue;
			bad++;
			if (!atomic_fetch_add(&reported, 1))
				freeze_trace(page);
			if (atomic_load(&reported) <= REPORT)
				printf("# proc %u: %s: page %u word %u: %#018" PRIx64
				       " (proc %u page %u gen %u word %u), want proc %u page %u gen %u..%u word %u\n",
				       proc, what, page, i, w,
				       (unsigned int)(w >> 56), (unsigned int)(w >> 48) & 0xff,
				       g, (unsigned int)(w & 0xffff),
				       proc, page, lo[k], hi[k], i);
		}
	}
	atomic_fetch_add(&wrong, bad);
	return bad;
}

/* an ioctl's error: the races named in the header are tolerated */
static void ioctl_error(const char *what, int err, bool migration)
{
	if (err == -EBUSY || (migration && err == -ENOENT)) {
		atomic_fetch_add(&tolerated, 1);
		return;
	}
	atomic_fetch_add(&errors, 1);
	printf("# proc %u: %s: %s\n", proc, what, strerror(-err));
}

static void dev_read(unsigned int first, unsigned int count, bool locked,
		     uint64_t *buf)
{
	uint32_t lo[MAX_READ], hi[MAX_READ];
	unsigned int k;
	int ret;

	if (locked)
		for (k = 0; k < count; k++)	/* in page order: no deadlock */
			pthread_mutex_lock(&lock[first + k]);
	for (k = 0; k < count; k++)
		lo[k] = atomic_load(&gen[first + k]);
	ret = vhmm_dmirror(fd, HMM_DMIRROR_READ, (char *)mem + first * page_size,
			   buf, count, NULL);
	for (k = 0; k < count; k++)
		hi[k] = locked ? lo[k] : atomic_load(&gen[first + k]) + 1;
	if (ret)
		ioctl_error("device read", ret, false);
	else
		check(locked ? "locked device read" : "device read", buf, first,
		      count, lo, hi);
	if (locked)
		for (k = 0; k < count; k++)
			pthread_mutex_unlock(&lock[first + k]);
}

static void migrate(unsigned int first, unsigned int count, bool to_dev,
		    uint64_t *buf)
{
	uint32_t lo[MAX_PAGES], hi[MAX_PAGES];
	unsigned int k;
	int ret;

	for (k = 0; k < count; k++)
		lo[k] = atomic_load(&gen[first + k]);
	ret = vhmm_dmirror(fd, to_dev ? HMM_DMIRROR_MIGRATE_TO_DEV :
			   HMM_DMIRROR_MIGRATE_TO_SYS,
			   (char *)mem + first * page_size, buf, count, NULL);
	if (ret) {
		ioctl_error(to_dev ? "migrate to device" : "migrate to system",
			    ret, true);
		return;
	}
	if (!to_dev)
		return;
	/* MIGRATE_TO_DEV read the range back through the device */
	for (k = 0; k < count; k++)
		hi[k] = atomic_load(&gen[first + k]) + 1;
	check("migration read-back", buf, first, count, lo, hi);
}

static void cpu_verify(unsigned int page)
{
	uint32_t g;

	pthread_mutex_lock(&lock[page]);
	g = atomic_load(&gen[page]);
	check("cpu verify", mem + page * words_per_page(), page, 1, &g, &g);
	pthread_mutex_unlock(&lock[page]);
}

static void *worker(void *arg)
{
	unsigned int rs = seed ^ (proc * 7919) ^ ((uintptr_t)arg * 104729);
	uint64_t *buf = malloc(npages * page_size);
	unsigned int total = 0, o;

	if (!buf)
		return NULL;
	for (o = 0; o < NR_OPS; o++)
		total += op_weight[o];
	while (now() < deadline) {
		unsigned int r = rand_r(&rs) % total, first, count;

		for (o = 0; r >= op_weight[o]; o++)
			r -= op_weight[o];
		first = rand_r(&rs) % npages;
		switch (o) {
		case OP_CPU_WRITE:
			write_page(first);
			break;
		case OP_CPU_VERIFY:
			cpu_verify(first);
			break;
		case OP_DEV_READ_LOCKED:
		case OP_DEV_READ:
			count = 1 + rand_r(&rs) % MAX_READ;
			if (first + count > npages)
				count = npages - first;
			dev_read(first, count, o == OP_DEV_READ_LOCKED, buf);
			break;
		default:
			count = 1 + rand_r(&rs) % (npages - first);
			migrate(first, count, o == OP_MIGRATE_DEV, buf);
			break;
		}
		atomic_fetch_add(&ops[o], 1);
	}
	free(buf);
	return NULL;
}

static int run_process(unsigned int p)
{
	pthread_t th[MAX_THREADS];
	unsigned int i, o;

	proc = p;
	fd = vhmm_open_index(dev_index);
	if (fd < 0) {
		printf("# proc %u: cannot open virtio_hmm%d\n", p, dev_index);
		return 1;
	}
	mem = vhmm_map_anon(npages * page_size);
	if (!mem)
		return 1;
	/* 4 KiB pages: both directions then move single pages */
	madvise(mem, npages * page_size, MADV_NOHUGEPAGE);
	for (i = 0; i < npages; i++) {
		pthread_mutex_init(&lock[i], NULL);
		write_page(i);
	}
	deadline = now() + seconds;
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i))
			return 1;
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	/* what is left, wherever it is, is still every page's last write */
	for (i = 0; i < npages; i++)
		cpu_verify(i);
	printf("# proc %u:", p);
	for (o = 0; o < NR_OPS; o++)
		printf(" %s %lu", op_names[o], atomic_load(&ops[o]));
	printf("; wrong words %lu, errors %lu, tolerated %lu\n",
	       atomic_load(&wrong), atomic_load(&errors),
	       atomic_load(&tolerated));
	return atomic_load(&wrong) || atomic_load(&errors) ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned int p, failed = 0;
	int opt, status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	seed = time(NULL);
	while ((opt = getopt(argc, argv, "d:m:t:p:T:n:s:")) != -1) {
		switch (opt) {
		case 'd': dev_index = atoi(optarg); break;
		case 'm': dev_mode = optarg; break;
		case 't': seconds = atoi(optarg); break;
		case 'p': nprocs = atoi(optarg); break;
		case 'T': nthreads = atoi(optarg); break;
		case 'n': npages = atoi(optarg); break;
		case 's': seed = strtoul(optarg, NULL, 0); break;
		default: goto usage;
		}
	}
	if (optind != argc || !nprocs || nprocs > 255 || !nthreads ||
	    nthreads > MAX_THREADS || npages < MAX_READ || npages > MAX_PAGES)
		goto usage;
	if (dev_index < 0)
		dev_index = vhmm_find(dev_mode, 0);
	if (dev_index < 0) {
		printf("# no %s virtio-hmm device\n", dev_mode);
		return 1;
	}
	printf("# virtio_hmm%d: %u processes x %u threads on %u pages each, %u s, seed %u\n",
	       dev_index, nprocs, nthreads, npages, seconds, seed);
	for (p = 0; p < nprocs; p++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (!pid)
			_exit(run_process(p + 1));
	}
	for (p = 0; p < nprocs; p++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	printf("# %u of %u processes saw wrong words or errors\n", failed, nprocs);
	return failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: vhmm-race [-d INDEX | -m MODE] [-t SECONDS] [-p PROCS] [-T THREADS] [-n PAGES] [-s SEED]\n");
	return 2;
}
