// SPDX-License-Identifier: GPL-2.0
/*
 * hmm-bench: the same HMM operations, on the same buffers, against several
 * devices that speak the lib/test_hmm_uapi.h ABI (the kernel's test_hmm and
 * virtio-hmm), plus the guest's memcpy bandwidth as the limit.
 *
 * usage: hmm-bench [-m] [-r RUNS] [-s BYTES] [-t GROUP] NAME=DEVICE...
 *   -s: only this buffer size for the migration tests (profiling)
 *   -t: only one group: migrate, thp, read, exclusive, invalidate or roundtrip
 *   -m: write "ioctl begin"/"ioctl end" to tracefs's trace_marker around
 *       every ioctl (scripts/profile.sh splits them with the trace events)
 *   e.g. hmm-bench test_hmm=/dev/hmm_dmirror0 virtio-hmm=/dev/virtio_hmm0
 *
 * The devices take turns sample by sample (A B, then B A, ...), so that
 * drift on the host during a run affects them alike.
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
static int marker = -1;		/* -m: tracefs trace_marker */

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

	if (marker >= 0 && write(marker, "hmm-bench: ioctl begin", 22) < 0)
		die("trace_marker");
	do {
		ret = ioctl(fd, req, &cmd);
	} while (ret && errno == EINTR);
	if (marker >= 0 && write(marker, "hmm-bench: ioctl end", 20) < 0)
		die("trace_marker");
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

/*
 * Every measurement is taken for all devices in turn, one sample each, and
 * the order alternates from run to run (A B, B A, A B, ...): whatever drifts
 * on the host while the benchmark runs (other guests, frequency, the TCG
 * translation cache) lands on both sides alike instead of on whichever
 * device ran second.
 */
struct dev {
	const char *name;
	int fd;
};

static struct dev devs[8];
static int ndevs;

/* one sample of each of up to three values of a measurement */
typedef void (*sample_fn)(int fd, size_t size, int run, double *out);

static void measure(const char *const tests[], const char *const units[],
		    int nvals, size_t size, sample_fn fn)
{
	static double v[8][3][MAX_RUNS];
	double out[3];
	int i, k, d, j;

	for (i = 0; i < runs; i++) {
		for (k = 0; k < ndevs; k++) {
			d = i % 2 ? ndevs - 1 - k : k;
			fn(devs[d].fd, size, i, out);
			for (j = 0; j < nvals; j++)
				v[d][j][i] = out[j];
		}
	}
	for (d = 0; d < ndevs; d++)
		for (j = 0; j < nvals; j++)
			report(devs[d].name, tests[j], size, units[j], v[d][j], runs);
}

static void *thp_buffer(size_t size)
{
	size_t len = size + 2 * MiB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (char *)(((uintptr_t)p + 2 * MiB - 1) & ~(2 * MiB - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + len - (a + size));
	if (madvise(a, size, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	return a;
}

/* the part of [p, p + size) that the kernel backs with huge pages, in KiB */
static unsigned long thp_kib(void *p, size_t size)
{
	unsigned long start = (uintptr_t)p, end = start + size, lo, hi, kib;
	unsigned long total = 0;
	char line[256];
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo < end && hi > start;
		else if (in && sscanf(line, "AnonHugePages: %lu kB", &kib) == 1)
			total += kib;
	}
	fclose(f);
	return total;
}

/* 1. migration to device memory */
static void s_migrate_to_dev(int fd, size_t size, int run, double *out)
{
	void *p = buffer(size);
	struct hmm_dmirror_cmd cmd;
	double t;

	fill(p, size, run);
	t = now();
	if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, size, &cmd))
		die("MIGRATE_TO_DEV");
	out[0] = mbps(cmd.cpages * PAGE, now() - t);
	munmap(p, size);
}

/* 2. migration back, by ioctl and by CPU touch (migrate_to_ram) */
static void migrate_back(int fd, size_t size, int run, double *out, int touch)
{
	volatile unsigned long *p = buffer(size);
	unsigned long sum = 0;
	size_t off;
	double t;

	fill((void *)p, size, run);
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
	out[0] = mbps(size, now() - t);
	munmap((void *)p, size);
}

static void s_migrate_back_ioctl(int fd, size_t size, int run, double *out)
{
	migrate_back(fd, size, run, out, 0);
}

static void s_migrate_back_cpu(int fd, size_t size, int run, double *out)
{
	migrate_back(fd, size, run, out, 1);
}

/*
 * 2b. the same with 2 MiB THP-backed buffers: a device that migrates huge
 * pages whole gains here; 6.1's test_hmm splits them. The buffer must really
 * be huge pages when the migration starts, or the row measures nothing.
 */
static void s_migrate_thp(int fd, size_t size, int run, double *out)
{
	char *p = thp_buffer(size);
	struct hmm_dmirror_cmd cmd;
	unsigned long huge;
	double t;

	fill(p, size, run);
	huge = thp_kib(p, size);
	if (huge * KiB < size) {
		fprintf(stderr, "hmm-bench: migrate_thp: only %lu of %zu KiB are huge pages\n",
			huge, size / KiB);
		exit(1);
	}
	t = now();
	if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, size, &cmd))
		die("MIGRATE_TO_DEV");
	out[0] = mbps(cmd.cpages * PAGE, now() - t);
	t = now();
	if (dmirror(fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, size, NULL))
		die("MIGRATE_TO_SYS");
	out[1] = mbps(size, now() - t);
	munmap(p, size);
}

/* 3 and 4: device read of a range not yet mirrored, then of a mirrored one */
static void s_read(int fd, size_t size, int run, double *out)
{
	void *p = buffer(size);
	struct hmm_dmirror_cmd cmd;
	double t;

	fill(p, size, run);
	t = now();
	if (dmirror(fd, HMM_DMIRROR_READ, p, size, &cmd))
		die("READ");
	t = now() - t;
	out[0] = mbps(size, t);
	out[1] = cmd.faults ? t / cmd.faults * 1e6 : 0;
	t = now();
	if (dmirror(fd, HMM_DMIRROR_READ, p, size, &cmd))
		die("READ");
	out[2] = mbps(size, now() - t);
	munmap(p, size);
}

/* 5. exclusive access for atomics, then the CPU takes the pages back */
static void s_exclusive(int fd, size_t size, int run, double *out)
{
	volatile unsigned long *p = buffer(size);
	size_t off;
	double t;

	fill((void *)p, size, run);
	t = now();
	if (dmirror(fd, HMM_DMIRROR_EXCLUSIVE, (void *)p, size, NULL))
		die("EXCLUSIVE");
	for (off = 0; off < size; off += PAGE)
		p[off / sizeof(*p)]++;
	out[0] = (now() - t) / (size / PAGE) * 1e6;
	munmap((void *)p, size);
}

/* 6. invalidation of a mirrored range: mprotect, then munmap */
static void s_invalidate(int fd, size_t size, int run, double *out)
{
	void *p = buffer(size);
	double t;

	fill(p, size, run);
	if (dmirror(fd, HMM_DMIRROR_READ, p, size, NULL))
		die("READ");
	t = now();
	if (mprotect(p, size, PROT_READ))
		die("mprotect");
	out[0] = (now() - t) * 1e6;
	if (dmirror(fd, HMM_DMIRROR_READ, p, size, NULL))
		die("READ");
	t = now();
	munmap(p, size);
	out[1] = (now() - t) * 1e6;
}

/*
 * 7. the cost of one device operation: a READ of one page that is already
 * mirrored (no fault, no migration), averaged over many calls. For
 * virtio-hmm it is one job round trip through the virtqueues; it is what
 * every migration batch pays a few times (see the closing table notes).
 */
static void s_roundtrip(int fd, size_t size, int run, double *out)
{
	void *p = buffer(size);
	int j, calls = 200;
	double t;

	fill(p, size, run);
	if (dmirror(fd, HMM_DMIRROR_READ, p, size, NULL))
		die("READ");
	t = now();
	for (j = 0; j < calls; j++)
		if (dmirror(fd, HMM_DMIRROR_READ, p, size, NULL))
			die("READ");
	out[0] = (now() - t) / calls * 1e6;
	munmap(p, size);
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

#define T(...) ((const char *const[]){ __VA_ARGS__ })

static int group(const char *g)
{
	return !only_group || !strcmp(only_group, g);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 4 * KiB, 64 * KiB, 2 * MiB, 64 * MiB };
	static const size_t thp_sizes[] = { 2 * MiB, 64 * MiB };
	int opt, d;
	size_t s;

	while ((opt = getopt(argc, argv, "mr:s:t:")) != -1) {
		if (opt == 's') {
			only_size = strtoul(optarg, NULL, 0);
			continue;
		}
		if (opt == 't') {
			only_group = optarg;
			continue;
		}
		if (opt == 'm') {
			marker = open("/sys/kernel/tracing/trace_marker", O_WRONLY);
			if (marker < 0)
				die("/sys/kernel/tracing/trace_marker");
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

	for (d = optind; d < argc; d++) {
		char *name = strdup(argv[d]), *path = strchr(name, '=');

		if (!path || ndevs == (int)(sizeof(devs) / sizeof(devs[0])))
			goto usage;
		*path++ = '\0';
		devs[ndevs].name = name;
		devs[ndevs].fd = open(path, O_RDWR);
		if (devs[ndevs].fd < 0)
			die(path);
		ndevs++;
	}

	/* every boot's ratios to memcpy need it, whatever -t says */
	bench_memcpy(64 * MiB);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		if (!group("migrate") || (only_size && sizes[s] != only_size))
			continue;
		measure(T("migrate_to_dev"), T("MiB/s"), 1, sizes[s], s_migrate_to_dev);
		measure(T("migrate_back_ioctl"), T("MiB/s"), 1, sizes[s], s_migrate_back_ioctl);
		measure(T("migrate_back_cpu"), T("MiB/s"), 1, sizes[s], s_migrate_back_cpu);
	}
	for (s = 0; s < sizeof(thp_sizes) / sizeof(thp_sizes[0]); s++) {
		if (!group("thp") || (only_size && thp_sizes[s] != only_size))
			continue;
		measure(T("migrate_thp", "migrate_thp_back"), T("MiB/s", "MiB/s"), 2,
			thp_sizes[s], s_migrate_thp);
	}
	if (group("read"))
		measure(T("read_faulting", "fault_cost", "read_mirrored"),
			T("MiB/s", "us/fault", "MiB/s"), 3, 2 * MiB, s_read);
	if (group("exclusive"))
		measure(T("exclusive_roundtrip"), T("us/page"), 1, 2 * MiB, s_exclusive);
	if (group("invalidate"))
		measure(T("mprotect_mirrored", "munmap_mirrored"), T("us", "us"), 2,
			2 * MiB, s_invalidate);
	if (group("roundtrip"))
		measure(T("op_roundtrip"), T("us"), 1, PAGE, s_roundtrip);
	return 0;
usage:
	fprintf(stderr, "usage: hmm-bench [-m] [-r RUNS] [-s BYTES] [-t GROUP] NAME=DEVICE...\n");
	return 2;
}
