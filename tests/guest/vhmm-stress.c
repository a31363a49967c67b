// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-stress: several processes with several threads each hammer one
 * virtio-hmm device for a bounded time with a random mix of CPU writes,
 * device reads, writes, fills, copies and atomics, migrations to the device
 * and back (by ioctl and by CPU touch), munmap+mmap, mprotect, fork (the
 * child verifies and exits) and MADV_DONTNEED. Every byte the CPU or the
 * device reads back is checked against a shadow copy.
 *
 * Memory: each process maps a region of B blocks of P pages; a shadow copy
 * holds what every byte must be. Each block has a mutex: an operation locks
 * its block (two for a copy between blocks, in index order), acts on
 * memory and shadow, and checks. Threads thus race on neighbouring pages of
 * one mm and one device, never on the same bytes.
 *
 * Errors: a device ioctl may fail only with an errno named with -e (for
 * the fault-injection suites) or, with -r, with ENODEV once the device is
 * gone (removal suites; the workers then go on with CPU work and reopen the
 * device when it comes back). After a write-type operation failed with an
 * expected errno, every byte it covered must hold the old or the new value.
 *
 * Output: "# " lines with the seed and the figures; exit status 0 when no
 * byte mismatched, no ioctl failed unexpectedly and every counter named
 * with -c grew. The seed (-s, printed) makes every thread's sequence of
 * operations reproducible; the interleaving of threads is not.
 *
 * usage: vhmm-stress [-d INDEX | -m MODE] [-t SECONDS] [-p PROCS]
 *                    [-T THREADS] [-b BLOCKS] [-P PAGES] [-s SEED] [-r]
 *                    [-e ERRNO]... [-c COUNTER]... [-x OP]...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "vhmm_test.h"

enum op {
	OP_CPU_WRITE, OP_CPU_VERIFY, OP_CPU_TOUCH, OP_DEV_READ, OP_DEV_WRITE,
	OP_FILL, OP_COPY, OP_ATOMIC, OP_MIGRATE_DEV, OP_MIGRATE_SYS, OP_REMAP,
	OP_MPROTECT, OP_FORK, OP_DONTNEED, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"cpu-write", "cpu-verify", "cpu-touch", "dev-read", "dev-write",
	"fill", "copy", "atomic", "migrate-dev", "migrate-sys", "remap",
	"mprotect", "fork", "dontneed",
};

/* relative frequency of each operation */
static const unsigned int op_weight[NR_OPS] = {
	[OP_CPU_WRITE] = 10, [OP_CPU_VERIFY] = 4, [OP_CPU_TOUCH] = 4,
	[OP_DEV_READ] = 8, [OP_DEV_WRITE] = 8, [OP_FILL] = 6, [OP_COPY] = 6,
	[OP_ATOMIC] = 10, [OP_MIGRATE_DEV] = 8, [OP_MIGRATE_SYS] = 3,
	[OP_REMAP] = 2, [OP_MPROTECT] = 2, [OP_FORK] = 1, [OP_DONTNEED] = 2,
};

#define MAX_EXPECTED	8
#define MAX_COUNTERS	8

/* Counters shared by all processes (MAP_SHARED), updated atomically. */
struct results {
	uint64_t ops[NR_OPS];
	uint64_t bytes_verified;
	uint64_t mismatches;		/* checks that found wrong bytes */
	uint64_t bytes_wrong;
	uint64_t unexpected;		/* ioctls failing with an unexpected errno */
	uint64_t expected[MAX_EXPECTED + 1];	/* by -e entry; last: ENODEV */
	uint64_t child_failures;
	uint64_t reopens;
	uint64_t partial_migrations;	/* MIGRATE_TO_DEV: ENOENT */
};

static struct {
	int index;
	const char *mode;
	unsigned int seconds, procs, threads, blocks, pages;
	uint64_t seed;
	bool removal;
	int expected[MAX_EXPECTED];
	unsigned int nr_expected;
	const char *counters[MAX_COUNTERS];
	unsigned int nr_counters;
	bool excluded[NR_OPS];
} cfg = {
	.index = -1, .mode = "private", .seconds = 20, .procs = 3,
	.threads = 3, .blocks = 16, .pages = 16,
};

static struct results *res;
static time_t deadline;
static size_t page_size, bsize;

/* Per process */
struct block {
	pthread_mutex_t lock;
	unsigned char *mem;
	unsigned char *shadow;
};

static struct block *blocks;
static unsigned char *region, *shadow_region;
static pthread_rwlock_t fd_lock = PTHREAD_RWLOCK_INITIALIZER;
static int dev_fd = -1;		/* -1: gone (removal mode), under fd_lock */
static unsigned int dev_gen;	/* opens of dev_fd, under fd_lock */
static unsigned int proc_id;

struct worker {
	unsigned int id;
	uint64_t rng;
	unsigned char *buf;	/* bsize bytes: device reads and writes */
	unsigned char *old;	/* bsize bytes: before a write-type op */
	uint64_t nops;
	unsigned int gen;	/* dev_gen of the file in use */
	bool gone;		/* it failed with ENODEV */
};

#define add(field, n)	__atomic_fetch_add(&res->field, (n), __ATOMIC_RELAXED)

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(struct worker *w, uint64_t n)
{
	return n ? splitmix(&w->rng) % n : 0;
}

static void rnd_bytes(struct worker *w, unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t v = splitmix(&w->rng);

		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

static void report(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(struct worker *w, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "# proc %u thread %u op %" PRIu64 ": ",
		     proc_id, w->id, w->nops);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* one write: lines of different processes do not interleave */
	dprintf(STDOUT_FILENO, "%s\n", line);
}

/* Compare len bytes the CPU or device saw with the shadow; count. */
static bool check(struct worker *w, const char *what, const unsigned char *seen,
		  const unsigned char *want, size_t len, size_t base)
{
	size_t i, first = len, wrong = 0;

	add(bytes_verified, len);
	if (!memcmp(seen, want, len))
		return true;
	for (i = 0; i < len; i++) {
		if (seen[i] != want[i]) {
			if (first == len)
				first = i;
			wrong++;
		}
	}
	add(mismatches, 1);
	add(bytes_wrong, wrong);
	report(w, "MISMATCH %s: %zu bytes wrong, first at block offset %zu: %#x, want %#x",
	       what, wrong, base + first, seen[first], want[first]);
	return false;
}

/* Block memory against its shadow; resynchronize after a mismatch. */
static void verify_block(struct worker *w, struct block *b, const char *what)
{
	if (!check(w, what, b->mem, b->shadow, bsize, 0))
		memcpy(b->shadow, b->mem, bsize);
}

/*
 * After a write-type op failed with an expected errno: each byte holds the
 * old value or the new one; then the shadow takes what memory holds.
 */
static void check_old_or_new(struct worker *w, struct block *b, size_t off,
			     const unsigned char *newv, size_t len)
{
	size_t i, wrong = 0;

	add(bytes_verified, len);
	for (i = 0; i < len; i++)
		if (b->mem[off + i] != w->old[i] && b->mem[off + i] != newv[i])
			wrong++;
	if (wrong) {
		add(mismatches, 1);
		add(bytes_wrong, wrong);
		report(w, "MISMATCH after a failed write: %zu bytes neither old nor new",
		       wrong);
	}
	memcpy(b->shadow + off, b->mem + off, len);
}

/* Device fd for an ioctl, or -1 when gone; release with put_fd(). */
static int get_fd(struct worker *w)
{
	int fd;

	pthread_rwlock_rdlock(&fd_lock);
	fd = dev_fd;
	w->gen = dev_gen;
	if (fd < 0)
		pthread_rwlock_unlock(&fd_lock);
	return fd;
}

/* Release; a file that failed with ENODEV (removal mode) is closed. */
static void put_fd(struct worker *w, int fd)
{
	if (fd < 0)
		return;
	pthread_rwlock_unlock(&fd_lock);
	if (!w->gone)
		return;
	w->gone = false;
	pthread_rwlock_wrlock(&fd_lock);
	if (dev_gen == w->gen && dev_fd >= 0) {
		close(dev_fd);
		dev_fd = -1;
	}
	pthread_rwlock_unlock(&fd_lock);
}

static void try_reopen(void)
{
	int fd;

	pthread_rwlock_wrlock(&fd_lock);
	if (dev_fd < 0) {
		fd = vhmm_open_index(cfg.index);
		if (fd >= 0) {
			dev_fd = fd;
			dev_gen++;
			add(reopens, 1);
		}
	}
	pthread_rwlock_unlock(&fd_lock);
}

/*
 * Classify the result of a device ioctl: true on success. An expected
 * errno is counted; anything else is a failure of the test.
 */
static bool dev_ok(struct worker *w, const char *what, int ret)
{
	unsigned int i;

	if (!ret)
		return true;
	for (i = 0; i < cfg.nr_expected; i++) {
		if (ret == -cfg.expected[i]) {
			add(expected[i], 1);
			return false;
		}
	}
	if (cfg.removal && ret == -ENODEV) {
		add(expected[MAX_EXPECTED], 1);
		w->gone = true;
		return false;
	}
	add(unexpected, 1);
	report(w, "%s failed: %s (%d)", what, strerror(-ret), ret);
	return false;
}

static struct block *lock_block(unsigned int i)
{
	pthread_mutex_lock(&blocks[i].lock);
	return &blocks[i];
}

static void unlock_block(struct block *b)
{
	pthread_mutex_unlock(&b->lock);
}

static void op_cpu_write(struct worker *w, struct block *b)
{
	size_t off = rnd(w, bsize), len = 1 + rnd(w, bsize - off);

	rnd_bytes(w, b->shadow + off, len);
	memcpy(b->mem + off, b->shadow + off, len);
}

/* One byte of each page: brings private device pages back one by one. */
static void op_cpu_touch(struct worker *w, struct block *b)
{
	size_t i;

	for (i = 0; i < cfg.pages; i++) {
		size_t off = i * page_size + rnd(w, page_size);

		check(w, "cpu-touch", b->mem + off, b->shadow + off, 1, off);
	}
}

static void op_dev_read(struct worker *w, struct block *b)
{
	struct hmm_dmirror_cmd cmd;
	int fd = get_fd(w), ret;

	if (fd < 0)
		return;
	ret = vhmm_dmirror(fd, HMM_DMIRROR_READ, b->mem, w->buf, cfg.pages,
			   &cmd);
	if (dev_ok(w, "READ", ret)) {
		if (cmd.cpages != cfg.pages) {
			add(unexpected, 1);
			report(w, "READ: cpages %llu", (unsigned long long)cmd.cpages);
		}
		check(w, "dev-read", w->buf, b->shadow, bsize, 0);
	}
	put_fd(w, fd);
}

static void op_dev_write(struct worker *w, struct block *b)
{
	int fd = get_fd(w), ret;

	if (fd < 0)
		return;
	rnd_bytes(w, w->buf, bsize);
	memcpy(w->old, b->shadow, bsize);
	ret = vhmm_dmirror(fd, HMM_DMIRROR_WRITE, b->mem, w->buf, cfg.pages,
			   NULL);
	if (dev_ok(w, "WRITE", ret))
		memcpy(b->shadow, w->buf, bsize);
	else
		check_old_or_new(w, b, 0, w->buf, bsize);
	put_fd(w, fd);
}

static void op_fill(struct worker *w, struct block *b)
{
	size_t off = rnd(w, bsize), len = 1 + rnd(w, bsize - off), i;
	uint64_t pattern = splitmix(&w->rng);
	int fd = get_fd(w), ret;

	if (fd < 0)
		return;
	for (i = 0; i < len; i++)
		w->buf[i] = pattern >> ((i % 8) * 8);
	memcpy(w->old, b->shadow + off, len);
	ret = vhmm_job_fill(fd, b->mem + off, len, pattern, NULL);
	if (dev_ok(w, "FILL", ret))
		memcpy(b->shadow + off, w->buf, len);
	else
		check_old_or_new(w, b, off, w->buf, len);
	put_fd(w, fd);
}

/* Copy between two blocks (or within one, without overlap). */
static void op_copy(struct worker *w, unsigned int i, unsigned int j)
{
	struct block *src, *dst;
	size_t len, so, doff;
	int fd, ret;

	if (i == j) {
		dst = src = lock_block(i);
		len = 1 + rnd(w, bsize / 2);
		so = rnd(w, bsize / 2 - len + 1);
		doff = bsize / 2 + rnd(w, bsize / 2 - len + 1);
		if (rnd(w, 2)) {
			size_t t = so;

			so = doff;
			doff = t;
		}
	} else {
		src = lock_block(i < j ? i : j);
		dst = lock_block(i < j ? j : i);
		if (i > j) {
			struct block *t = src;

			src = dst;
			dst = t;
		}
		so = rnd(w, bsize);
		len = 1 + rnd(w, bsize - so);
		doff = rnd(w, bsize - len + 1);
	}
	fd = get_fd(w);
	if (fd >= 0) {
		memcpy(w->buf, src->shadow + so, len);
		memcpy(w->old, dst->shadow + doff, len);
		ret = vhmm_job_copy(fd, dst->mem + doff, src->mem + so, len);
		if (dev_ok(w, "COPY", ret))
			memcpy(dst->shadow + doff, w->buf, len);
		else
			check_old_or_new(w, dst, doff, w->buf, len);
		put_fd(w, fd);
	}
	if (dst != src)
		unlock_block(dst);
	unlock_block(src);
}

static void op_atomic(struct worker *w, struct block *b)
{
	unsigned int size = rnd(w, 2) ? 8 : 4, op = rnd(w, 3);
	size_t off = rnd(w, bsize / size) * size;
	uint64_t cur = 0, operand = splitmix(&w->rng), compare, old = 0, next;
	int fd = get_fd(w), ret;

	if (fd < 0)
		return;
	memcpy(&cur, b->shadow + off, size);
	compare = rnd(w, 2) ? cur : splitmix(&w->rng);
	if (size == 4) {
		operand &= 0xffffffffu;
		compare &= 0xffffffffu;
	}
	ret = vhmm_job_atomic(fd, b->mem + off, op, size, operand, compare,
			      &old);
	if (dev_ok(w, "ATOMIC", ret)) {
		switch (op) {
		case VIRTIO_HMM_OP_FETCH_ADD:
			next = cur + operand;
			break;
		case VIRTIO_HMM_OP_XCHG:
			next = operand;
			break;
		default:
			next = cur == compare ? operand : cur;
			break;
		}
		check(w, "atomic-old", (unsigned char *)&old,
		      (unsigned char *)&cur, size, off);
		memcpy(b->shadow + off, &next, size);
	} else {
		/* an atomic either happened or not */
		memcpy(&next, b->mem + off, size);
		if (memcmp(&next, &cur, size))
			memcpy(b->shadow + off, b->mem + off, size);
	}
	put_fd(w, fd);
}

static void op_migrate(struct worker *w, struct block *b, bool to_dev)
{
	struct hmm_dmirror_cmd cmd;
	int fd = get_fd(w), ret;

	if (fd < 0)
		return;
	ret = vhmm_dmirror(fd, to_dev ? HMM_DMIRROR_MIGRATE_TO_DEV :
			   HMM_DMIRROR_MIGRATE_TO_SYS, b->mem, w->buf,
			   cfg.pages, &cmd);
	/*
	 * test_hmm semantics: ENOENT when a page could not migrate (shared
	 * copy-on-write after a fork, busy, or already in device memory
	 * but not mapped in the device); it stays where it is, intact.
	 */
	if (to_dev && ret == -ENOENT) {
		add(partial_migrations, 1);
		ret = 0;
		to_dev = false;		/* nothing read back to check */
	}
	if (dev_ok(w, to_dev ? "MIGRATE_TO_DEV" : "MIGRATE_TO_SYS", ret) &&
	    to_dev) {
		/* what the device reads back after the migration */
		check(w, "migrate-dev", w->buf, b->shadow, bsize, 0);
	}
	put_fd(w, fd);
	/* either way the data is where it was or where it went, intact */
	if (!rnd(w, 4))
		verify_block(w, b, "after-migrate");
}

/*
 * munmap + mmap at the same address: new zero pages. The workers map
 * nothing else, so nobody takes the hole in between.
 */
static void op_remap(struct worker *w, struct block *b)
{
	if (munmap(b->mem, bsize) ||
	    mmap(b->mem, bsize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != b->mem) {
		report(w, "remap: %s", strerror(errno));
		add(unexpected, 1);
		return;
	}
	memset(b->shadow, 0, bsize);
	if (rnd(w, 2))
		verify_block(w, b, "after-remap");
}

/* Read-only: device writes fail with EPERM, reads work, nothing changes. */
static void op_mprotect(struct worker *w, struct block *b)
{
	int fd, ret;

	if (mprotect(b->mem, bsize, PROT_READ)) {
		report(w, "mprotect: %s", strerror(errno));
		add(unexpected, 1);
		return;
	}
	fd = get_fd(w);
	if (fd >= 0) {
		size_t off = rnd(w, bsize - 8);

		ret = vhmm_job_fill(fd, b->mem + off, 8, splitmix(&w->rng),
				    NULL);
		if (!ret) {
			report(w, "FILL of a read-only mapping succeeded");
			add(unexpected, 1);
		} else if (ret != -EPERM) {
			dev_ok(w, "FILL read-only", ret);
		}
		put_fd(w, fd);
	}
	fd = get_fd(w);
	if (fd >= 0) {
		ret = vhmm_dmirror(fd, HMM_DMIRROR_READ, b->mem, w->buf,
				   cfg.pages, NULL);
		if (dev_ok(w, "READ read-only", ret))
			check(w, "dev-read-ro", w->buf, b->shadow, bsize, 0);
		put_fd(w, fd);
	}
	verify_block(w, b, "read-only");
	if (mprotect(b->mem, bsize, PROT_READ | PROT_WRITE)) {
		report(w, "mprotect back: %s", strerror(errno));
		add(unexpected, 1);
	}
}

/*
 * fork: the child checks the block (locked by this thread, so the shadow
 * is consistent) with the CPU and, through its own file, with the device,
 * then exits. Only async-signal-safe calls in the child.
 */
static void op_fork(struct worker *w, struct block *b)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)b->mem, .ptr = (uintptr_t)w->buf,
		.npages = cfg.pages,
	};
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		report(w, "fork: %s", strerror(errno));
		add(unexpected, 1);
		return;
	}
	if (!pid) {
		int code = 0, fd;

		if (memcmp(b->mem, b->shadow, bsize))
			code |= 1;
		fd = vhmm_open_index(cfg.index);
		if (fd >= 0) {
			if (ioctl(fd, HMM_DMIRROR_READ, &cmd))
				code |= errno == ENODEV && cfg.removal ? 0 : 2;
			else if (memcmp(w->buf, b->shadow, bsize))
				code |= 4;
			close(fd);
		} else if (!cfg.removal) {
			code |= 8;
		}
		_exit(code);
	}
	add(bytes_verified, 2 * bsize);
	/* the parent goes on changing it meanwhile: copy-on-write */
	op_cpu_write(w, b);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		add(child_failures, 1);
		report(w, "fork child: status %#x (1: CPU mismatch, 2: device error, 4: device mismatch, 8: open)",
		       status);
	}
}

static void op_dontneed(struct worker *w, struct block *b)
{
	size_t first = rnd(w, cfg.pages), n = 1 + rnd(w, cfg.pages - first);

	if (madvise(b->mem + first * page_size, n * page_size,
		    MADV_DONTNEED)) {
		report(w, "madvise: %s", strerror(errno));
		add(unexpected, 1);
		return;
	}
	memset(b->shadow + first * page_size, 0, n * page_size);
}

static enum op pick_op(struct worker *w)
{
	unsigned int total = 0, i, r;

	for (i = 0; i < NR_OPS; i++)
		total += cfg.excluded[i] ? 0 : op_weight[i];
	r = rnd(w, total);
	for (i = 0; i < NR_OPS; i++) {
		if (cfg.excluded[i])
			continue;
		if (r < op_weight[i])
			break;
		r -= op_weight[i];
	}
	return i;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	while (time(NULL) < deadline) {
		enum op op = pick_op(w);
		unsigned int i = rnd(w, cfg.blocks);
		struct block *b;

		w->nops++;
		add(ops[op], 1);
		if (cfg.removal && !(w->nops % 64))
			try_reopen();
		if (op == OP_COPY) {
			op_copy(w, i, rnd(w, cfg.blocks));
			continue;
		}
		b = lock_block(i);
		switch (op) {
		case OP_CPU_WRITE:
			op_cpu_write(w, b);
			break;
		case OP_CPU_VERIFY:
			verify_block(w, b, "cpu-verify");
			break;
		case OP_CPU_TOUCH:
			op_cpu_touch(w, b);
			break;
		case OP_DEV_READ:
			op_dev_read(w, b);
			break;
		case OP_DEV_WRITE:
			op_dev_write(w, b);
			break;
		case OP_FILL:
			op_fill(w, b);
			break;
		case OP_ATOMIC:
			op_atomic(w, b);
			break;
		case OP_MIGRATE_DEV:
		case OP_MIGRATE_SYS:
			op_migrate(w, b, op == OP_MIGRATE_DEV);
			break;
		case OP_REMAP:
			op_remap(w, b);
			break;
		case OP_MPROTECT:
			op_mprotect(w, b);
			break;
		case OP_FORK:
			op_fork(w, b);
			break;
		case OP_DONTNEED:
			op_dontneed(w, b);
			break;
		default:
			break;
		}
		unlock_block(b);
	}
	return NULL;
}

/* One process: its region, its file, its threads; final full check. */
static int proc_main(unsigned int id)
{
	struct worker *w, fin;
	pthread_t *tids;
	unsigned int i;
	int fd;

	proc_id = id;
	region = mmap(NULL, cfg.blocks * bsize, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shadow_region = calloc(cfg.blocks, bsize);
	blocks = calloc(cfg.blocks, sizeof(*blocks));
	w = calloc(cfg.threads + 1, sizeof(*w));
	tids = calloc(cfg.threads, sizeof(*tids));
	if (region == MAP_FAILED || !shadow_region || !blocks || !w || !tids)
		return 2;
	for (i = 0; i < cfg.blocks; i++) {
		pthread_mutex_init(&blocks[i].lock, NULL);
		blocks[i].mem = region + i * bsize;
		blocks[i].shadow = shadow_region + i * bsize;
	}
	dev_fd = vhmm_open_index(cfg.index);
	if (dev_fd < 0) {
		dprintf(STDOUT_FILENO, "# proc %u: open: %s\n", id,
			strerror(errno));
		return 2;
	}
	for (i = 0; i <= cfg.threads; i++) {
		w[i].id = i;
		w[i].rng = cfg.seed ^ ((uint64_t)id << 32) ^ ((uint64_t)i << 16);
		w[i].buf = malloc(bsize);
		w[i].old = malloc(bsize);
		if (!w[i].buf || !w[i].old)
			return 2;
	}
	for (i = 0; i < cfg.threads; i++)
		if (pthread_create(&tids[i], NULL, worker_main, &w[i]))
			return 2;
	for (i = 0; i < cfg.threads; i++)
		pthread_join(tids[i], NULL);

	/* everything, by the device (if it is there) and by the CPU */
	fin = w[cfg.threads];
	fd = get_fd(&fin);
	for (i = 0; fd >= 0 && i < cfg.blocks; i++) {
		if (!dev_ok(&fin, "final READ",
			    vhmm_dmirror(fd, HMM_DMIRROR_READ, blocks[i].mem,
					 fin.buf, cfg.pages, NULL)))
			break;
		check(&fin, "final-dev-read", fin.buf, blocks[i].shadow, bsize,
		      0);
	}
	put_fd(&fin, fd);
	for (i = 0; i < cfg.blocks; i++)
		verify_block(&fin, &blocks[i], "final-cpu");
	return 0;
}

/* A counter from the driver's debugfs statistics of the device, or -1. */
static long long driver_counter(const char *name)
{
	return vhmm_debugfs_counter(cfg.index, "stats", name);
}

static int errno_by_name(const char *s)
{
	static const struct { const char *name; int err; } names[] = {
		{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "ENOMEM", ENOMEM },
		{ "ETIMEDOUT", ETIMEDOUT }, { "EBUSY", EBUSY },
		{ "ENODEV", ENODEV }, { "EFAULT", EFAULT }, { "ENOENT", ENOENT },
		{ "ECANCELED", ECANCELED },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].err;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vhmm-stress [-d INDEX | -m MODE] [-t SECONDS] [-p PROCS] [-T THREADS]\n"
		"                   [-b BLOCKS] [-P PAGES] [-s SEED] [-r] [-e ERRNO]...\n"
		"                   [-c COUNTER]... [-x OP]...\n"
		"  -r          the device may be removed meanwhile: ENODEV is expected,\n"
		"              the device is reopened when it comes back\n"
		"  -e ERRNO    device ioctls may fail with ERRNO (EIO, ENOSPC, ...)\n"
		"  -c COUNTER  fail unless this debugfs counter of the driver grew\n"
		"  -x OP       leave out an operation\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long long before[MAX_COUNTERS];
	unsigned int i, nr_fail = 0;
	struct timespec ts;
	bool ok;
	int c;

	clock_gettime(CLOCK_REALTIME, &ts);
	cfg.seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ ts.tv_nsec ^ getpid();
	while ((c = getopt(argc, argv, "d:m:t:p:T:b:P:s:re:c:x:h")) != -1) {
		switch (c) {
		case 'd':
			cfg.index = atoi(optarg);
			break;
		case 'm':
			cfg.mode = optarg;
			break;
		case 't':
			cfg.seconds = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			cfg.procs = strtoul(optarg, NULL, 0);
			break;
		case 'T':
			cfg.threads = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			cfg.blocks = strtoul(optarg, NULL, 0);
			break;
		case 'P':
			cfg.pages = strtoul(optarg, NULL, 0);
			break;
		case 's':
			cfg.seed = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			cfg.removal = true;
			break;
		case 'e':
			if (cfg.nr_expected == MAX_EXPECTED)
				usage();
			cfg.expected[cfg.nr_expected] = errno_by_name(optarg);
			if (!cfg.expected[cfg.nr_expected++])
				usage();
			break;
		case 'c':
			if (cfg.nr_counters == MAX_COUNTERS)
				usage();
			cfg.counters[cfg.nr_counters++] = optarg;
			break;
		case 'x':
			for (i = 0; i < NR_OPS && strcmp(optarg, op_names[i]); i++)
				;
			if (i == NR_OPS)
				usage();
			cfg.excluded[i] = true;
			break;
		default:
			usage();
		}
	}
	if (!cfg.procs || !cfg.threads || !cfg.blocks || cfg.pages < 2)
		usage();
	if (cfg.index < 0)
		cfg.index = vhmm_find(cfg.mode, 0);
	if (cfg.index < 0) {
		printf("# no %s virtio-hmm device\n", cfg.mode);
		return 2;
	}
	page_size = sysconf(_SC_PAGESIZE);
	bsize = cfg.pages * page_size;
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		return 2;
	for (i = 0; i < cfg.nr_counters; i++)
		before[i] = driver_counter(cfg.counters[i]);

	printf("# vhmm-stress: seed %#" PRIx64 " (-s to repeat), /dev/virtio_hmm%d, %u processes x %u threads, %u s, %u blocks of %u pages each%s\n",
	       cfg.seed, cfg.index, cfg.procs, cfg.threads, cfg.seconds,
	       cfg.blocks, cfg.pages, cfg.removal ? ", removal expected" : "");
	fflush(stdout);
	deadline = time(NULL) + cfg.seconds;
	for (i = 0; i < cfg.procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (!pid)
			_exit(proc_main(i));
	}
	for (i = 0; i < cfg.procs; i++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			printf("# a process failed: status %#x\n", status);
			nr_fail++;
		}
	}

	uint64_t total = 0;

	for (i = 0; i < NR_OPS; i++)
		total += res->ops[i];
	printf("# operations: %" PRIu64 " (", total);
	for (i = 0; i < NR_OPS; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", op_names[i], res->ops[i]);
	printf(")\n");
	for (i = 0; i < cfg.nr_expected; i++)
		printf("# expected %s: %" PRIu64 "\n", strerror(cfg.expected[i]),
		       res->expected[i]);
	printf("# MIGRATE_TO_DEV with pages that did not move (ENOENT): %" PRIu64 "\n",
	       res->partial_migrations);
	if (cfg.removal)
		printf("# expected ENODEV (device gone): %" PRIu64 ", reopened: %" PRIu64 "\n",
		       res->expected[MAX_EXPECTED], res->reopens);
	for (i = 0; i < cfg.nr_counters; i++) {
		long long after = driver_counter(cfg.counters[i]);

		printf("# driver %s: %lld -> %lld\n", cfg.counters[i],
		       before[i], after);
		if (after <= before[i]) {
			printf("# %s did not grow: the injection had no effect\n",
			       cfg.counters[i]);
			nr_fail++;
		}
	}
	printf("# bytes verified: %" PRIu64 ", mismatches: %" PRIu64 " (%" PRIu64 " bytes), unexpected errors: %" PRIu64 ", failed children: %" PRIu64 "\n",
	       res->bytes_verified, res->mismatches, res->bytes_wrong,
	       res->unexpected, res->child_failures);
	ok = !nr_fail && !res->mismatches && !res->unexpected &&
	     !res->child_failures && res->bytes_verified;
	printf("# %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
