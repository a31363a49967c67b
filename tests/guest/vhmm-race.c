// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-race: processes whose threads race on the SAME pages on purpose
 * (issue 13's reproduction): random migrations to the device and back,
 * CPU writes, device writes, zaps, device-exclusive reads, CPU reads and
 * device reads of one small region, in several processes sharing one
 * device at once. Every word the CPU or the device reads is checked
 * exactly although the threads race.
 *
 * Words: word i of page p of process P at generation g is
 *
 *	bits 63..56  0xa5 (magic)
 *	bits 55..52  P
 *	bits 51..44  p
 *	bits 43..35  i (word index in the page)
 *	bits 34..32  g & 7 (catches a word torn at its 4-byte halves)
 *	bits 31..0   g
 *
 * Generations: every page has two counters, started and committed. A
 * writer (CPU store loop or device WRITE of the whole page) holds the
 * page's writer lock, sets started = g = started + 1, writes every word
 * with g, then sets committed = g. Readers and migrations take no lock.
 * So every word's generation only grows, and a word read between reading
 * committed (lo, before) and started (hi, after) must have lo <= g <= hi.
 *
 * Zaps: MADV_DONTNEED of a page (under its writer lock, as a writer)
 * gives its memory back, in system or device memory, and the CPU writes it
 * again; in between, readers may see zeroes, which are right only when a
 * zap began after the reader's window did (the page's zapped generation).
 * Exclusive: the device takes pages exclusive (make_device_exclusive_range())
 * and reads them through its atomic translation, which must never survive
 * a zap or a CPU access (issue 13, finding 4).
 *
 * Wrong words, by kind: magic (not a word of this test, e.g. a freed
 * page's garbage or zeroes), process (another process's word), page
 * (another page's word: a stale translation), index (another offset),
 * torn, stale (g < lo: an older copy of the page), future (g > hi).
 *
 * Each process opens the device FDS times (several mirrors of one mm) and
 * each operation uses one of them at random. Only MIGRATE_TO_DEV (ENOENT:
 * a page stayed where it was) and EXCLUSIVE (EBUSY, ENOENT: see above) may
 * fail; any other ioctl failure is an error of the test.
 *
 * Output: "# " lines with the seed, the operation counts, the words
 * checked, the wrong words by kind, the first wrong words in detail and
 * the time to the first. Exit status 0 when no word was wrong, no ioctl
 * failed unexpectedly and every kind of operation ran.
 *
 * -S stops the kernel's tracing (tracefs tracing_on) at the first wrong word,
 * so that the driver's trace events before it stay in the buffer.
 *
 * -D PATH opens another test_hmm-style device instead (the kernel's own
 * test_hmm.ko, /dev/hmm_dmirror0: the reference the test is checked on).
 *
 * usage: vhmm-race [-m MODE | -d INDEX | -D PATH] [-t SECONDS] [-p PROCS]
 *                  [-T THREADS] [-n PAGES] [-f FDS] [-s SEED] [-S]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
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

#define MAGIC		0xa5ULL
#define MAX_PROCS	16
#define MAX_PAGES	256
#define MAX_FDS		8
#define MAX_REPORTS	20
#define DECOY_PAGE	0xff	/* page number of decoy words (< MAX_PAGES) */

enum op {
	OP_CPU_WRITE, OP_DEV_WRITE, OP_CPU_READ, OP_DEV_READ,
	OP_MIGRATE_DEV, OP_MIGRATE_SYS, OP_EXCLUSIVE, OP_ZAP, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"cpu-write", "dev-write", "cpu-read", "dev-read", "migrate-dev",
	"migrate-sys", "exclusive", "zap",
};

static const unsigned int op_weight[NR_OPS] = {
	[OP_CPU_WRITE] = 6, [OP_DEV_WRITE] = 2, [OP_CPU_READ] = 3,
	[OP_DEV_READ] = 6, [OP_MIGRATE_DEV] = 6, [OP_MIGRATE_SYS] = 3,
	[OP_EXCLUSIVE] = 3, [OP_ZAP] = 1,
};

enum wrong {
	W_MAGIC, W_PROC, W_PAGE, W_INDEX, W_TORN, W_STALE, W_FUTURE, NR_WRONG
};

static const char *const wrong_names[NR_WRONG] = {
	"magic", "process", "page", "index", "torn", "stale", "future",
};

/* Shared by all processes (MAP_SHARED), updated atomically. */
struct results {
	uint64_t ops[NR_OPS];
	uint64_t pages_moved[2];	/* cpages of MIGRATE_TO_DEV, _TO_SYS */
	uint64_t partial;		/* MIGRATE_TO_DEV: ENOENT */
	uint64_t excl_partial;		/* EXCLUSIVE: EBUSY, ENOENT */
	uint64_t zero_words;		/* zeroes of a page being zapped */
	uint64_t words_checked;
	uint64_t wrong[NR_WRONG];
	uint64_t unexpected;		/* ioctls failing unexpectedly */
	uint64_t reports;
	int64_t first_wrong_ms;		/* -1: none yet */
};

static struct {
	int index;
	const char *mode, *path;
	unsigned int seconds, procs, threads, pages, fds;
	uint64_t seed;
	bool stop_trace;
} cfg = {
	.index = -1, .mode = "private", .seconds = 30, .procs = 2,
	.threads = 3, .pages = 32, .fds = 2,
};

static struct results *res;
static struct timespec t_start;
static time_t deadline;
static size_t page_size, words_per_page;

/* Per process */
static unsigned int proc_id;
static uint64_t *region;
static int fds[MAX_FDS];
static struct page_state {
	pthread_mutex_t writer;	/* serialises the writers of the page */
	uint64_t started;	/* generation being written (atomic) */
	uint64_t committed;	/* generation fully written (atomic) */
	uint64_t zapped;	/* generation of the last zap (atomic) */
} pages[MAX_PAGES];

/*
 * The last RING operations of this process (all threads), to show which
 * sequence of operations on a page came before its first wrong word.
 */
#define RING	128
static struct ring_entry {
	int64_t ms;		/* when it ended */
	unsigned int thread, op, first, n;
	int ret;
	uint64_t cpages;
} ring[RING];
static uint64_t ring_next;	/* atomic */
static int ring_dumped;		/* atomic: once per process */

struct worker {
	unsigned int id;
	uint64_t rng;
	uint64_t nops;
	uint64_t *buf;		/* cfg.pages pages */
	uint64_t lo[MAX_PAGES], hi[MAX_PAGES], zap[MAX_PAGES];
	volatile uint64_t *decoy;	/* a page of its own, see op_write() */
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

static int64_t elapsed_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t_start.tv_sec) * 1000 +
	       (t.tv_nsec - t_start.tv_nsec) / 1000000;
}

static uint64_t word(unsigned int proc, unsigned int page, unsigned int i,
		     uint64_t gen)
{
	return MAGIC << 56 | (uint64_t)proc << 52 | (uint64_t)page << 44 |
	       (uint64_t)i << 35 | (gen & 7) << 32 | (gen & 0xffffffffULL);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write: lines of different processes do not interleave */
	dprintf(STDOUT_FILENO, "# %s\n", line);
}

/*
 * Check the words of pages [first, first + n) as seen in @seen against
 * the generation window [w->lo, w->hi] of each page.
 */
static void ring_dump(unsigned int p);

/* -S: keep the kernel's trace buffer as it was at the first wrong word */
static void stop_trace(void)
{
	int fd = open("/sys/kernel/tracing/tracing_on", O_WRONLY);

	if (fd < 0 || write(fd, "0", 1) != 1)
		say("cannot stop tracing: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void check(struct worker *w, const char *what, const uint64_t *seen,
		  unsigned int first, unsigned int n)
{
	unsigned int k, i;

	/*
	 * The CPU may cross from a page to its replacement in the middle of
	 * a read; the device reads one page: the zapped one (whole, at one
	 * generation) or its replacement (zeroes and the rewrite's words).
	 */
	bool device = strcmp(what, "cpu-read");

	for (k = 0; k < n; k++) {
		unsigned int p = first + k, bad = 0, bad_i = 0, zeroes = 0;
		uint64_t lo = w->lo[p], hi = w->hi[p], bad_v = 0;
		uint64_t gmin = UINT64_MAX, gmax = 0;
		enum wrong bad_kind = W_MAGIC;

		for (i = 0; i < words_per_page; i++) {
			uint64_t v = seen[(size_t)k * words_per_page + i];
			uint64_t g = v & 0xffffffffULL;
			enum wrong kind;

			/* a zap since the window began: zeroes are right */
			if (!v && w->zap[p] > lo) {
				zeroes++;
				continue;
			}
			if (g < gmin)
				gmin = g;
			if (g > gmax)
				gmax = g;
			if (v >> 56 != MAGIC)
				kind = W_MAGIC;
			else if ((v >> 52 & 0xf) != proc_id)
				kind = W_PROC;
			else if ((v >> 44 & 0xff) != p)
				kind = W_PAGE;
			else if ((v >> 35 & 0x1ff) != i)
				kind = W_INDEX;
			else if ((v >> 32 & 7) != (g & 7))
				kind = W_TORN;
			else if (g < lo)
				kind = W_STALE;
			else if (g > hi)
				kind = W_FUTURE;
			else
				continue;
			add(wrong[kind], 1);
			if (!bad++) {
				bad_i = i;
				bad_v = v;
				bad_kind = kind;
			}
		}
		/* the device saw zeroes next to words older than the rewrite */
		if (device && zeroes && !bad && gmax &&
		    (gmin != gmax || gmin <= lo)) {
			bad = words_per_page - zeroes;
			add(wrong[W_STALE], bad);
			bad_kind = W_STALE;
			bad_v = gmin;
			bad_i = 0;
		}
		add(zero_words, zeroes);
		if (!bad)
			continue;
		{
			int64_t none = -1, now = elapsed_ms();

			if (__atomic_compare_exchange_n(&res->first_wrong_ms, &none,
							now, false, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED) &&
			    cfg.stop_trace)
				stop_trace();
			/* one line per page of an operation that saw wrong words */
			if (add(reports, 1) < MAX_REPORTS)
				say("WRONG at %" PRId64 " ms: proc %u thread %u op %" PRIu64
				    " %s pages %u..%u: page %u: %u wrong words, first word %u %s = %#018"
				    PRIx64 " (proc %u page %u word %u gen %" PRIu64 "), want gen %"
				    PRIu64 "..%" PRIu64,
				    now, proc_id, w->id, w->nops, what, first,
				    first + n - 1, p, bad, bad_i, wrong_names[bad_kind],
				    bad_v, (unsigned int)(bad_v >> 52 & 0xf),
				    (unsigned int)(bad_v >> 44 & 0xff),
				    (unsigned int)(bad_v >> 35 & 0x1ff),
				    (uint64_t)(bad_v & 0xffffffffULL), lo, hi);
			ring_dump(p);
		}
	}
	add(words_checked, (uint64_t)n * words_per_page);
}

static void window_before(struct worker *w, unsigned int first, unsigned int n)
{
	unsigned int p;

	for (p = first; p < first + n; p++)
		w->lo[p] = __atomic_load_n(&pages[p].committed, __ATOMIC_ACQUIRE);
}

static void window_after(struct worker *w, unsigned int first, unsigned int n)
{
	unsigned int p;

	for (p = first; p < first + n; p++) {
		w->hi[p] = __atomic_load_n(&pages[p].started, __ATOMIC_ACQUIRE);
		w->zap[p] = __atomic_load_n(&pages[p].zapped, __ATOMIC_ACQUIRE);
	}
}

static void ring_add(struct worker *w, unsigned int op, unsigned int first,
		     unsigned int n, int ret, uint64_t cpages)
{
	struct ring_entry *e = &ring[__atomic_fetch_add(&ring_next, 1,
							__ATOMIC_RELAXED) % RING];

	e->ms = elapsed_ms();
	e->thread = w->id;
	e->op = op;
	e->first = first;
	e->n = n;
	e->ret = ret;
	e->cpages = cpages;
}

/* The recent operations that covered page @p (racy snapshot; diagnostics) */
static void ring_dump(unsigned int p)
{
	uint64_t end = __atomic_load_n(&ring_next, __ATOMIC_RELAXED), i;

	if (__atomic_exchange_n(&ring_dumped, 1, __ATOMIC_RELAXED))
		return;
	say("proc %u: the last operations that covered page %u (of %u in the ring):",
	    proc_id, p, RING);
	for (i = end > RING ? end - RING : 0; i < end; i++) {
		struct ring_entry e = ring[i % RING];

		if (p < e.first || p >= e.first + e.n)
			continue;
		say("  %" PRId64 " ms thread %u %s pages %u..%u ret %d cpages %" PRIu64,
		    e.ms, e.thread, op_names[e.op], e.first, e.first + e.n - 1,
		    e.ret, e.cpages);
	}
}

static bool ioctl_ok(struct worker *w, const char *what, int ret)
{
	if (!ret)
		return true;
	add(unexpected, 1);
	say("proc %u thread %u op %" PRIu64 ": %s failed: %s (%d)", proc_id,
	    w->id, w->nops, what, strerror(-ret), ret);
	return false;
}

static int pick_fd(struct worker *w)
{
	return fds[rnd(w, cfg.fds)];
}

static uint64_t *page_addr(unsigned int p)
{
	return region + (size_t)p * words_per_page;
}

/*
 * A writer of page @p: the CPU writes every word (OP_CPU_WRITE), the
 * device's WRITE does (OP_DEV_WRITE), or MADV_DONTNEED first gives the
 * page's memory back, in system or device memory, with the device's
 * translation, and then the CPU writes it (OP_ZAP). Readers in between see
 * zeroes: the zap's generation says so.
 */
static void op_write(struct worker *w, unsigned int p, unsigned int op)
{
	volatile uint64_t *dst = page_addr(p);
	int ret = 0;
	uint64_t g;
	size_t i;

	pthread_mutex_lock(&pages[p].writer);
	g = pages[p].started + 1;
	__atomic_store_n(&pages[p].started, g, __ATOMIC_RELEASE);
	if (op == OP_DEV_WRITE) {
		for (i = 0; i < words_per_page; i++)
			w->buf[i] = word(proc_id, p, i, g);
		ret = vhmm_dmirror(pick_fd(w), HMM_DMIRROR_WRITE, page_addr(p),
				   w->buf, 1, NULL);
		if (!ioctl_ok(w, "WRITE", ret))
			op = OP_CPU_WRITE;	/* repair it with the CPU below */
	} else if (op == OP_ZAP) {
		__atomic_store_n(&pages[p].zapped, g, __ATOMIC_RELEASE);
		ret = madvise((void *)dst, page_size, MADV_DONTNEED) ? -errno : 0;
		ioctl_ok(w, "MADV_DONTNEED", ret);
		/*
		 * The page just freed is the next one the allocator hands
		 * out: give it to a decoy (words of no page of this test), so
		 * that a translation that outlived the zap reads the decoy,
		 * not the rewrite.
		 */
		if (!madvise((void *)w->decoy, page_size, MADV_DONTNEED))
			for (i = 0; i < words_per_page; i++)
				w->decoy[i] = word(proc_id, DECOY_PAGE, i, g);
	}
	if (op != OP_DEV_WRITE)
		for (i = 0; i < words_per_page; i++)
			dst[i] = word(proc_id, p, i, g);
	__atomic_store_n(&pages[p].committed, g, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&pages[p].writer);
	ring_add(w, op, p, 1, ret, g);
}

/*
 * EXCLUSIVE: the device takes the pages exclusive for atomics
 * (make_device_exclusive_range()) and reads them back through its atomic
 * translation. Not all pages may be had: a page in device memory, or one
 * whose exclusive entry a CPU access or a zap removed before the read-back
 * (EBUSY, ENOENT); what is read must be right.
 */
static void op_exclusive(struct worker *w, unsigned int first,
			 unsigned int n)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	window_before(w, first, n);
	ret = vhmm_dmirror(pick_fd(w), HMM_DMIRROR_EXCLUSIVE, page_addr(first),
			   w->buf, n, &cmd);
	window_after(w, first, n);
	ring_add(w, OP_EXCLUSIVE, first, n, ret, ret ? 0 : cmd.cpages);
	if (ret == -EBUSY || ret == -ENOENT) {
		add(excl_partial, 1);
		return;
	}
	if (!ioctl_ok(w, "EXCLUSIVE", ret))
		return;
	check(w, "exclusive", w->buf, first, n);
}

static void op_cpu_read(struct worker *w, unsigned int first, unsigned int n)
{
	const volatile uint64_t *src = page_addr(first);
	size_t i;

	window_before(w, first, n);
	for (i = 0; i < (size_t)n * words_per_page; i++)
		w->buf[i] = src[i];
	window_after(w, first, n);
	ring_add(w, OP_CPU_READ, first, n, 0, 0);
	check(w, "cpu-read", w->buf, first, n);
}

static void op_dev_read(struct worker *w, unsigned int first, unsigned int n)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	window_before(w, first, n);
	ret = vhmm_dmirror(pick_fd(w), HMM_DMIRROR_READ, page_addr(first),
			   w->buf, n, &cmd);
	window_after(w, first, n);
	ring_add(w, OP_DEV_READ, first, n, ret, cmd.cpages);
	if (!ioctl_ok(w, "READ", ret))
		return;
	if (cmd.cpages != n) {
		add(unexpected, 1);
		say("proc %u thread %u: READ of %u pages: cpages %llu", proc_id,
		    w->id, n, (unsigned long long)cmd.cpages);
		return;
	}
	check(w, "dev-read", w->buf, first, n);
}

static void op_migrate(struct worker *w, unsigned int first, unsigned int n,
		       bool to_dev)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	window_before(w, first, n);
	ret = vhmm_dmirror(pick_fd(w), to_dev ? HMM_DMIRROR_MIGRATE_TO_DEV :
			   HMM_DMIRROR_MIGRATE_TO_SYS, page_addr(first), w->buf,
			   n, &cmd);
	window_after(w, first, n);
	ring_add(w, to_dev ? OP_MIGRATE_DEV : OP_MIGRATE_SYS, first, n, ret,
		 ret ? 0 : cmd.cpages);
	/* test_hmm semantics: ENOENT when a page stayed where it was */
	if (to_dev && ret == -ENOENT) {
		add(partial, 1);
		return;
	}
	if (!ioctl_ok(w, to_dev ? "MIGRATE_TO_DEV" : "MIGRATE_TO_SYS", ret))
		return;
	add(pages_moved[!to_dev], cmd.cpages);
	/* MIGRATE_TO_DEV reads the range back through the device */
	if (to_dev)
		check(w, "migrate-dev", w->buf, first, n);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int total = 0, i;

	for (i = 0; i < NR_OPS; i++)
		total += op_weight[i];
	while (time(NULL) < deadline) {
		unsigned int r = rnd(w, total), op = 0;
		unsigned int first = rnd(w, cfg.pages);
		/* short ranges mostly, the whole region sometimes */
		unsigned int n = rnd(w, 4) ? 1 + rnd(w, 4) : cfg.pages;

		if (n > cfg.pages - first) {
			first = n >= cfg.pages ? 0 : cfg.pages - n;
			n = cfg.pages - first;
		}
		while (r >= op_weight[op])
			r -= op_weight[op++];
		w->nops++;
		add(ops[op], 1);
		switch (op) {
		case OP_CPU_WRITE:
		case OP_DEV_WRITE:
		case OP_ZAP:
			op_write(w, first, op);
			break;
		case OP_CPU_READ:
			op_cpu_read(w, first, n);
			break;
		case OP_DEV_READ:
			op_dev_read(w, first, n);
			break;
		case OP_MIGRATE_DEV:
			op_migrate(w, first, n, true);
			break;
		case OP_MIGRATE_SYS:
			op_migrate(w, first, n, false);
			break;
		case OP_EXCLUSIVE:
			op_exclusive(w, first, n);
			break;
		}
	}
	return NULL;
}

static int proc_main(unsigned int id)
{
	pthread_t tids[64];
	struct worker *w;
	unsigned int i, p;

	proc_id = id;
	for (i = 0; i < cfg.fds; i++) {
		fds[i] = cfg.path ? open(cfg.path, O_RDWR | O_CLOEXEC) :
				    vhmm_open_index(cfg.index);
		if (fds[i] < 0) {
			say("proc %u: open device %d: %s", id, cfg.index,
			    strerror(errno));
			return 1;
		}
	}
	region = vhmm_map_anon(cfg.pages * page_size);
	w = calloc(cfg.threads, sizeof(*w));
	say("proc %u: pid %d, pages at %p", id, getpid(), (void *)region);
	if (!region || !w) {
		say("proc %u: out of memory", id);
		return 1;
	}
	for (p = 0; p < cfg.pages; p++) {
		pthread_mutex_init(&pages[p].writer, NULL);
		pages[p].started = pages[p].committed = 1;
		for (i = 0; i < words_per_page; i++)
			page_addr(p)[i] = word(id, p, i, 1);
	}
	for (i = 0; i < cfg.threads; i++) {
		w[i].id = i;
		w[i].rng = cfg.seed ^ ((uint64_t)id << 32 | i) * 0x9e3779b97f4a7c15ULL;
		w[i].buf = vhmm_map_anon(cfg.pages * page_size);
		w[i].decoy = vhmm_map_anon(page_size);
		if (!w[i].buf || !w[i].decoy ||
		    pthread_create(&tids[i], NULL, worker_main, &w[i])) {
			say("proc %u: thread %u: cannot start", id, i);
			return 1;
		}
	}
	for (i = 0; i < cfg.threads; i++)
		pthread_join(tids[i], NULL);

	/* at the end, quiet: every page holds its last generation exactly */
	{
		struct worker *v = &w[0];

		op_cpu_read(v, 0, cfg.pages);
		for (p = 0; p < cfg.pages; p++)
			if (v->lo[p] != v->hi[p])
				say("proc %u: page %u: writer still running", id, p);
	}
	return 0;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-m MODE | -d INDEX | -D PATH] [-t SECONDS] [-p PROCS] [-T THREADS]\n"
		"          [-n PAGES] [-f FDS] [-s SEED] [-S]\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int i, failed = 0, missing = 0;
	uint64_t wrong = 0;
	int c;

	cfg.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	while ((c = getopt(argc, argv, "d:D:m:t:p:T:n:f:s:S")) != -1) {
		switch (c) {
		case 'd': cfg.index = atoi(optarg); break;
		case 'D': cfg.path = optarg; break;
		case 'S': cfg.stop_trace = true; break;
		case 'm': cfg.mode = optarg; break;
		case 't': cfg.seconds = strtoul(optarg, NULL, 0); break;
		case 'p': cfg.procs = strtoul(optarg, NULL, 0); break;
		case 'T': cfg.threads = strtoul(optarg, NULL, 0); break;
		case 'n': cfg.pages = strtoul(optarg, NULL, 0); break;
		case 'f': cfg.fds = strtoul(optarg, NULL, 0); break;
		case 's': cfg.seed = strtoull(optarg, NULL, 0); break;
		default: usage(argv[0]);
		}
	}
	if (!cfg.procs || cfg.procs > MAX_PROCS || !cfg.threads ||
	    cfg.threads > 64 || !cfg.pages || cfg.pages >= DECOY_PAGE ||
	    !cfg.fds || cfg.fds > MAX_FDS)
		usage(argv[0]);
	page_size = sysconf(_SC_PAGESIZE);
	words_per_page = page_size / sizeof(uint64_t);
	if (words_per_page > 512) {
		fprintf(stderr, "page size %zu: word index needs more bits\n", page_size);
		return 2;
	}
	if (cfg.index < 0 && !cfg.path)
		cfg.index = vhmm_find(cfg.mode, 0);
	if (cfg.index < 0 && !cfg.path) {
		say("no %s virtio-hmm device", cfg.mode);
		return 1;
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	res->first_wrong_ms = -1;
	say("vhmm-race: device %s%d (%s), %u s, %u processes x %u threads, %u pages, %u fds, seed %#" PRIx64,
	    cfg.path ? cfg.path : "virtio_hmm", cfg.index, cfg.mode, cfg.seconds, cfg.procs, cfg.threads, cfg.pages,
	    cfg.fds, cfg.seed);
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	deadline = time(NULL) + cfg.seconds;
	for (i = 0; i < cfg.procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid)
			_exit(proc_main(i));
	}
	for (i = 0; i < cfg.procs; i++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	for (i = 0; i < NR_OPS; i++) {
		say("%-12s %" PRIu64, op_names[i], res->ops[i]);
		if (!res->ops[i])
			missing++;
	}
	say("pages migrated to the device %" PRIu64 ", back %" PRIu64
	    ", partial migrations %" PRIu64 ", exclusive refused %" PRIu64
	    ", zeroes of zapped pages %" PRIu64, res->pages_moved[0],
	    res->pages_moved[1], res->partial, res->excl_partial,
	    res->zero_words);
	for (i = 0; i < NR_WRONG; i++)
		wrong += res->wrong[i];
	say("words checked %" PRIu64 ", wrong %" PRIu64 " (magic %" PRIu64
	    " process %" PRIu64 " page %" PRIu64 " index %" PRIu64 " torn %" PRIu64
	    " stale %" PRIu64 " future %" PRIu64 "), first wrong at %" PRId64 " ms",
	    res->words_checked, wrong, res->wrong[W_MAGIC], res->wrong[W_PROC],
	    res->wrong[W_PAGE], res->wrong[W_INDEX], res->wrong[W_TORN],
	    res->wrong[W_STALE], res->wrong[W_FUTURE], res->first_wrong_ms);
	say("unexpected ioctl failures %" PRIu64 ", failed processes %u, operations never run %u",
	    res->unexpected, failed, missing);
	return wrong || res->unexpected || failed || missing ||
	       !res->words_checked ? 1 : 0;
}
