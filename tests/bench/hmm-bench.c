// SPDX-License-Identifier: GPL-2.0
/*
 * hmm-bench: the same HMM operations, on the same buffers, against several
 * devices that speak the lib/test_hmm_uapi.h ABI (the kernel's test_hmm and
 * virtio-hmm), plus the guest's memcpy bandwidth as the limit.
 *
 * usage: hmm-bench [-r RUNS] [-s BYTES] [-t GROUP] NAME=DEVICE...
 *   -s: only this buffer size for the migration tests (profiling)
 *   -t: only one group: migrate, read, exclusive, invalidate or roundtrip
 *   e.g. hmm-bench test_hmm=/dev/hmm_dmirror0 virtio-hmm=/dev/virtio_hmm0
 *
 * Prints one line per measurement:
 *   BENCH device=D test=T size=BYTES unit=U median=X min=X max=X runs=N
 * scripts/bench.sh turns them into a table and build/bench.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_hmm_ioctl.h>

#define PAGE 4096UL
#define KiB 1024UL
#define MiB (1024UL * 1024)
#define MAX_RUNS 64

static int runs = 5;
static size_t only_size;	/* -s */
static const char *only_group;	/* -t */
static unsigned long *bounce;	/* READ's destination buffer */
static volatile unsigned long sink;	/* keeps the CPU-touch loads */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "hmm-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *buffer(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	/* no THP: both devices then see the same 4 KiB pages */
	madvise(p, size, MADV_NOHUGEPAGE);
	return p;
}

static void fill(void *p, size_t size, unsigned long seed)
{
	unsigned long *w = p;
	size_t i;

	for (i = 0; i < size / sizeof(*w); i++)
		w[i] = seed + i;
}

static int dmirror(int fd, unsigned long req, void *addr, size_t size,
		   struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)bounce,
		.npages = size / PAGE,
	};
	int ret;

	do {
		ret = ioctl(fd, req, &cmd);
	} while (ret && errno == EINTR);
	if (out)
		*out = cmd;
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *dev, const char *test, size_t size,
		   const char *unit, double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("BENCH device=%s test=%s size=%zu unit=%s median=%.6g min=%.6g max=%.6g runs=%d\n",
	       dev, test, size, unit, n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2,
	       v[0], v[n - 1], n);
	fflush(stdout);
}

static double mbps(size_t size, double seconds)
{
	return size / seconds / MiB;
}

/* 1. migration to device memory */
static void bench_migrate_to_dev(const char *name, int fd, size_t size)
{
	double v[MAX_RUNS];
	int i;

	for (i = 0; i < runs; i++) {
		void *p = buffer(size);
		struct hmm_dmirror_cmd cmd;
		double t;

		fill(p, size, i);
		t = now();
		if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, size, &cmd))
			die("MIGRATE_TO_DEV");
		v[i] = mbps(cmd.cpages * PAGE, now() - t);
		munmap(p, size);
	}
	report(name, "migrate_to_dev", size, "MiB/s", v, runs);
}

/* 2. migration back, by ioctl and by CPU touch (migrate_to_ram) */
static void bench_migrate_back(const char *name, int fd, size_t size, int touch)
{
	double v[MAX_RUNS];
	int i;

	for (i = 0; i < runs; i++) {
		volatile unsigned long *p = buffer(size);
		unsigned long sum = 0;
		size_t off;
		double t;

		fill((void *)p, size, i);
		if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, (void *)p, size, NULL))
			die("MIGRATE_TO_DEV");
		t = now();
		if (touch) {
			for (off = 0; off < size; off += PAGE)
				sum += p[off / sizeof(*p)];
			sink = sum;
		} else if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, (void *)p, size, NULL)) {
			die("MIGRATE_TO_SYS");
		}
		v[i] = mbps(size, now() - t);
		munmap((void *)p, size);
	}
	report(name, touch ? "migrate_back_cpu" : "migrate_back_ioctl", size,
	       "MiB/s", v, runs);
}

/* 3 and 4: device read of a range not yet mirrored, then of a mirrored one */
static void bench_read(const char *name, int fd, size_t size)
{
	double cold[MAX_RUNS], warm[MAX_RUNS], per_fault[MAX_RUNS];
	int i;

	for (i = 0; i < runs; i++) {
		void *p = buffer(size);
		struct hmm_dmirror_cmd cmd;
		double t;

		fill(p, size, i);
		t = now();
		if (dmirror(fd, HMM_DMIRROR_READ, p, size, &cmd))
			die("READ");
		t = now() - t;
		cold[i] = mbps(size, t);
		per_fault[i] = cmd.faults ? t / cmd.faults * 1e6 : 0;
		t = now();
		if (dmirror(fd, HMM_DMIRROR_READ, p, size, &cmd))
			die("READ");
		warm[i] = mbps(size, now() - t);
		munmap(p, size);
	}
	report(name, "read_faulting", size, "MiB/s", cold, runs);
	report(name, "fault_cost", size, "us/fault", per_fault, runs);
	report(name, "read_mirrored", size, "MiB/s", warm, runs);
}

/* 5. exclusive access for atomics, then the CPU takes the pages back */
static void bench_exclusive(const char *name, int fd, size_t size)
{
	double v[MAX_RUNS];
	int i;

	for (i = 0; i < runs; i++) {
		volatile unsigned long *p = buffer(size);
		size_t off;
		double t;

		fill((void *)p, size, i);
		t = now();
		if (dmirror(fd, HMM_DMIRROR_EXCLUSIVE, (void *)p, size, NULL))
			die("EXCLUSIVE");
		for (off = 0; off < size; off += PAGE)
			p[off / sizeof(*p)]++;
		v[i] = (now() - t) / (size / PAGE) * 1e6;
		munmap((void *)p, size);
	}
	report(name, "exclusive_roundtrip", size, "us/page", v, runs);
}

/* 6. invalidation of a mirrored range: mprotect, then munmap */
static void bench_invalidate(const char *name, int fd, size_t size)
{
	double vp[MAX_RUNS], vu[MAX_RUNS];
	int i;

	for (i = 0; i < runs; i++) {
		void *p = buffer(size);
		double t;

		fill(p, size, i);
		if (dmirror(fd, HMM_DMIRROR_READ, p, size, NULL))
			die("READ");
		t = now();
		if (mprotect(p, size, PROT_READ))
			die("mprotect");
		vp[i] = (now() - t) * 1e6;
		if (dmirror(fd, HMM_DMIRROR_READ, p, size, NULL))
			die("READ");
		t = now();
		munmap(p, size);
		vu[i] = (now() - t) * 1e6;
	}
	report(name, "mprotect_mirrored", size, "us", vp, runs);
	report(name, "munmap_mirrored", size, "us", vu, runs);
}

/*
 * 7. the cost of one device operation: a READ of one page that is already
 * mirrored (no fault, no migration), averaged over many calls. For
 * virtio-hmm it is one job round trip through the virtqueues; it is what
 * every migration batch pays a few times (see the closing table notes).
 */
static void bench_roundtrip(const char *name, int fd)
{
	double v[MAX_RUNS];
	void *p = buffer(PAGE);
	int i, j, calls = 200;

	fill(p, PAGE, 0);
	if (dmirror(fd, HMM_DMIRROR_READ, p, PAGE, NULL))
		die("READ");
	for (i = 0; i < runs; i++) {
		double t = now();

		for (j = 0; j < calls; j++)
			if (dmirror(fd, HMM_DMIRROR_READ, p, PAGE, NULL))
				die("READ");
		v[i] = (now() - t) / calls * 1e6;
	}
	report(name, "op_roundtrip", PAGE, "us", v, runs);
	munmap(p, PAGE);
}

static void bench_memcpy(size_t size)
{
	double v[MAX_RUNS];
	void *src = buffer(size), *dst = buffer(size);
	int i;

	fill(src, size, 1);
	fill(dst, size, 2);
	for (i = 0; i < runs; i++) {
		double t = now();

		memcpy(dst, src, size);
		v[i] = mbps(size, now() - t);
	}
	report("cpu", "memcpy", size, "MiB/s", v, runs);
	munmap(src, size);
	munmap(dst, size);
}

static int group(const char *g)
{
	return !only_group || !strcmp(only_group, g);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 4 * KiB, 64 * KiB, 2 * MiB, 64 * MiB };
	int opt, d;
	size_t s;

	while ((opt = getopt(argc, argv, "r:s:t:")) != -1) {
		if (opt == 's') {
			only_size = strtoul(optarg, NULL, 0);
			continue;
		}
		if (opt == 't') {
			only_group = optarg;
			continue;
		}
		if (opt != 'r')
			goto usage;
		runs = atoi(optarg);
		if (runs < 1 || runs > MAX_RUNS)
			goto usage;
	}
	if (optind == argc)
		goto usage;
	bounce = malloc(64 * MiB);
	if (!bounce)
		die("malloc");

	if (!only_group)
		bench_memcpy(64 * MiB);
	for (d = optind; d < argc; d++) {
		char *name = strdup(argv[d]), *path = strchr(name, '=');
		int fd;

		if (!path)
			goto usage;
		*path++ = '\0';
		fd = open(path, O_RDWR);
		if (fd < 0)
			die(path);
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			if (!group("migrate") ||
			    (only_size && sizes[s] != only_size))
				continue;
			bench_migrate_to_dev(name, fd, sizes[s]);
			bench_migrate_back(name, fd, sizes[s], 0);
			bench_migrate_back(name, fd, sizes[s], 1);
		}
		if (group("read"))
			bench_read(name, fd, 2 * MiB);
		if (group("exclusive"))
			bench_exclusive(name, fd, 2 * MiB);
		if (group("invalidate"))
			bench_invalidate(name, fd, 2 * MiB);
		if (group("roundtrip"))
			bench_roundtrip(name, fd);
		close(fd);
	}
	return 0;
usage:
	fprintf(stderr, "usage: hmm-bench [-r RUNS] [-s BYTES] [-t GROUP] NAME=DEVICE...\n");
	return 2;
}
