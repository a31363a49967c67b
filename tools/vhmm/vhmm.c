// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm: operator's tool for virtio-hmm devices, on libvhmm (include/vhmm.h).
 *
 *   vhmm list                       devices, mode, device memory, features
 *   vhmm info [DEV]                 one device in detail
 *   vhmm stats [-w SEC] [-n N] [DEV]  driver counters, live with -w
 *   vhmm selftest [DEV]             quick functional test, exit 1 on failure
 *   vhmm migrate [-p PAGES] [DEV]   migrate a buffer to the device and back
 *   vhmm version
 *
 * DEV is an index (0), a node name (virtio_hmm0) or a path; the default is
 * the first device. Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "vhmm.h"

#define MAX_DEVS	64
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char usage_text[] =
	"usage: vhmm COMMAND [ARGS]\n"
	"  list                          list devices\n"
	"  info [DEV]                    show one device\n"
	"  stats [-w SEC] [-n COUNT] [DEV]\n"
	"                                driver statistics; -w: every SEC seconds\n"
	"                                with rates, -n: stop after COUNT samples\n"
	"  selftest [DEV]                functional self-test (exit 1 on failure)\n"
	"  migrate [-p PAGES] [DEV]      migrate PAGES (default 256) to device\n"
	"                                memory and back, check the data\n"
	"  version                       library version\n"
	"DEV: index (0), name (virtio_hmm0) or path (/dev/virtio_hmm0);\n"
	"default: the first device.\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static void err(const char *what, int ret)
{
	fprintf(stderr, "vhmm: %s: %s\n", what, vhmm_strerror(ret));
}

/* Open DEV (see above) or the first device. Prints why on failure. */
static struct vhmm_dev *open_dev(const char *arg)
{
	struct vhmm_dev *dev;
	char *end;
	long n;
	int ret;

	if (!arg) {
		int idx[1];

		ret = vhmm_list(idx, 1);
		if (ret <= 0) {
			if (ret < 0)
				err("listing devices", ret);
			else
				fprintf(stderr, "vhmm: no virtio-hmm device\n");
			return NULL;
		}
		ret = vhmm_open(idx[0], &dev);
	} else if (strchr(arg, '/')) {
		ret = vhmm_open_path(arg, &dev);
	} else {
		if (!strncmp(arg, "virtio_hmm", 10))
			arg += 10;
		errno = 0;
		n = strtol(arg, &end, 10);
		if (!*arg || *end || errno || n < 0 || n > 1 << 20) {
			fprintf(stderr, "vhmm: '%s' is not a device\n", arg);
			return NULL;
		}
		ret = vhmm_open((int)n, &dev);
	}
	if (ret) {
		err(arg ? arg : "open", ret);
		return NULL;
	}
	return dev;
}

/* bytes as 64M, 1G, 12K or plain bytes, whichever is exact */
static const char *fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (bytes && !(bytes % 1024) && u < 3) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, bytes);
	else
		snprintf(buf, len, "%" PRIu64 "%c", bytes, units[u]);
	return buf;
}

static void print_features(uint64_t features)
{
	const char *sep = "";
	unsigned int bit;

	for (bit = 0; bit < 64; bit++) {
		const char *name;

		if (!(features & (1ull << bit)))
			continue;
		name = vhmm_feature_name(bit);
		if (name)
			printf("%s%s", sep, name);
		else
			printf("%sbit%u", sep, bit);
		sep = ",";
	}
	if (!*sep)
		printf("-");
}

static int cmd_list(int argc, char **argv)
{
	int idx[MAX_DEVS], n, i, ret, status = 0;

	if (argc != 1)
		return usage();
	n = vhmm_list(idx, MAX_DEVS);
	if (n < 0) {
		err("listing devices", n);
		return 1;
	}
	if (!n) {
		printf("no virtio-hmm devices\n");
		return 0;
	}
	printf("%-18s %-9s %8s %8s %6s %s\n", "DEVICE", "MODE", "DEVMEM",
	       "FREE", "PAGE", "FEATURES");
	for (i = 0; i < n && i < MAX_DEVS; i++) {
		struct vhmm_info info;
		char name[32], size[24], free_[24];
		struct vhmm_dev *dev;

		snprintf(name, sizeof(name), "/dev/virtio_hmm%d", idx[i]);
		ret = vhmm_open(idx[i], &dev);
		if (!ret) {
			ret = vhmm_get_info(dev, &info);
			vhmm_close(dev);
		}
		if (ret) {
			printf("%-18s error: %s\n", name, vhmm_strerror(ret));
			status = 1;
			continue;
		}
		printf("%-18s %-9s %8s %8s %6u ", name,
		       vhmm_mode_name(info.mode),
		       fmt_size(size, sizeof(size), info.devmem_size),
		       fmt_size(free_, sizeof(free_), info.devmem_free),
		       info.page_size);
		print_features(info.features);
		printf("\n");
	}
	return status;
}

static int cmd_info(int argc, char **argv)
{
	struct vhmm_info info;
	struct vhmm_dev *dev;
	int ret;

	if (argc > 2)
		return usage();
	dev = open_dev(argc == 2 ? argv[1] : NULL);
	if (!dev)
		return 1;
	ret = vhmm_get_info(dev, &info);
	if (ret) {
		err("info", ret);
		vhmm_close(dev);
		return 1;
	}
	ret = vhmm_index(dev);
	if (ret >= 0)
		printf("device: /dev/virtio_hmm%d\n", ret);
	printf("mode: %s\n", vhmm_mode_name(info.mode));
	printf("page_size: %u\n", info.page_size);
	printf("devmem_size: %" PRIu64 "\n", info.devmem_size);
	printf("devmem_free: %" PRIu64 "\n", info.devmem_free);
	printf("features: %#" PRIx64 " (", info.features);
	print_features(info.features);
	printf(")\n");
	vhmm_close(dev);
	return 0;
}

#define STAT(f)	{ #f, offsetof(struct vhmm_stats, f) }
static const struct {
	const char *name;
	size_t off;
} stat_fields[] = {
	STAT(faults), STAT(fault_batches), STAT(pages_to_dev),
	STAT(pages_to_sys), STAT(bytes_to_dev), STAT(bytes_to_sys),
	STAT(cpu_faults), STAT(evictions), STAT(invalidations),
	STAT(devmem_used),
};
#define NR_STATS	ARRAY_SIZE(stat_fields)

static uint64_t stat_get(const struct vhmm_stats *s, size_t i)
{
	return *(const uint64_t *)((const char *)s + stat_fields[i].off);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int cmd_stats(int argc, char **argv)
{
	struct vhmm_stats prev, cur;
	unsigned long count = 0, n = 0;
	struct vhmm_dev *dev;
	double interval = 0;
	size_t i;
	int opt, ret;

	while ((opt = getopt(argc, argv, "w:n:")) != -1) {
		char *end;

		switch (opt) {
		case 'w':
			interval = strtod(optarg, &end);
			if (*end || interval <= 0)
				return usage();
			break;
		case 'n':
			count = strtoul(optarg, &end, 10);
			if (*end || !count)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (argc - optind > 1)
		return usage();
	dev = open_dev(optind < argc ? argv[optind] : NULL);
	if (!dev)
		return 1;
	ret = vhmm_get_stats(dev, &cur);
	if (ret) {
		err("stats", ret);
		vhmm_close(dev);
		return 1;
	}
	if (!interval) {
		for (i = 0; i < NR_STATS; i++)
			printf("%s: %" PRIu64 "\n", stat_fields[i].name,
			       stat_get(&cur, i));
		vhmm_close(dev);
		return 0;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* one line per sample: counter values, then rates per second */
	printf("%-8s", "time");
	for (i = 0; i < NR_STATS; i++)
		printf(" %s", stat_fields[i].name);
	printf("\n");
	for (;;) {
		struct timespec ts = {
			.tv_sec = (time_t)interval,
			.tv_nsec = (long)((interval - (time_t)interval) * 1e9),
		};

		n++;
		printf("%-8.1f", (n - 1) * interval);
		for (i = 0; i < NR_STATS; i++) {
			printf(" %" PRIu64, stat_get(&cur, i));
			if (n > 1 && strcmp(stat_fields[i].name, "devmem_used"))
				printf("(+%.0f/s)", (stat_get(&cur, i) -
						     stat_get(&prev, i)) /
				       interval);
		}
		printf("\n");
		if ((count && n >= count) || stop)
			break;
		while (nanosleep(&ts, &ts) && !stop)
			;
		if (stop)
			break;
		prev = cur;
		ret = vhmm_get_stats(dev, &cur);
		if (ret) {
			err("stats", ret);
			vhmm_close(dev);
			return 1;
		}
	}
	vhmm_close(dev);
	return 0;
}

/* ---- selftest ---- */

struct st {
	struct vhmm_dev *dev;
	struct vhmm_info info;
	size_t psz;
	int nr;
	int failed;
};

static void result(struct st *t, int ok, const char *name, const char *why)
{
	t->nr++;
	printf("%sok %d %s%s%s\n", ok ? "" : "not ", t->nr, name,
	       why ? " # " : "", why ? why : "");
	if (!ok)
		t->failed++;
}

/* CHECK(cond, fmt...): fail the current step with a message */
#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			snprintf(why, sizeof(why), __VA_ARGS__);	\
			goto out;					\
		}							\
	} while (0)

static void *map_pages(size_t n, size_t psz)
{
	void *p = mmap(NULL, n * psz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void pattern(uint64_t *p, size_t words, uint64_t seed)
{
	size_t i;

	for (i = 0; i < words; i++)
		p[i] = seed * 0x9e3779b97f4a7c15ull + i;
}

/* p[from..to) hold what pattern() wrote there */
static int check_pattern(const uint64_t *p, size_t from, size_t to,
			 uint64_t seed)
{
	size_t i;

	for (i = from; i < to; i++)
		if (p[i] != seed * 0x9e3779b97f4a7c15ull + i)
			return 0;
	return 1;
}

static void step_mirror(struct st *t)
{
	const size_t n = 16, words = n * t->psz / 8;
	uint64_t *mem = map_pages(n, t->psz), *buf = malloc(n * t->psz);
	uint64_t faults = 0;
	char why[128] = "";
	int ret;

	CHECK(mem && buf, "out of memory");
	pattern(buf, words, 1);
	ret = vhmm_mirror_write(t->dev, mem, buf, n, &faults);
	CHECK(!ret, "write: %s", vhmm_strerror(ret));
	CHECK(faults > 0, "write of unmapped pages took no device fault");
	CHECK(check_pattern(mem, 0, words, 1), "CPU does not see device write");
	pattern(mem, words, 2);
	memset(buf, 0, n * t->psz);
	ret = vhmm_mirror_read(t->dev, mem, buf, n, &faults);
	CHECK(!ret, "read: %s", vhmm_strerror(ret));
	CHECK(check_pattern(buf, 0, words, 2), "device read wrong data");
	why[0] = '\0';
out:
	result(t, !why[0], "mirror read/write", why[0] ? why : NULL);
	free(buf);
	if (mem)
		munmap(mem, n * t->psz);
}

static void step_prefetch(struct st *t)
{
	const size_t n = 8;
	uint8_t *mem = map_pages(n, t->psz), prot[8];
	uint64_t faults = 0;
	char why[128] = "";
	size_t i;
	int ret;

	CHECK(mem, "out of memory");
	memset(mem, 0x5a, n * t->psz);
	ret = vhmm_prefetch(t->dev, mem, n, &faults);
	CHECK(!ret, "prefetch: %s", vhmm_strerror(ret));
	CHECK(faults > 0, "prefetch of unmirrored pages took no fault");
	ret = vhmm_snapshot(t->dev, mem, n, prot);
	CHECK(!ret, "snapshot: %s", vhmm_strerror(ret));
	for (i = 0; i < n; i++)
		CHECK((prot[i] & VHMM_PAGE_READ) &&
		      !(prot[i] & VHMM_PAGE_DEVICE),
		      "page %zu: state %#x after prefetch", i, prot[i]);
	why[0] = '\0';
out:
	result(t, !why[0], "prefetch and snapshot", why[0] ? why : NULL);
	if (mem)
		munmap(mem, n * t->psz);
}

static void step_migrate(struct st *t)
{
	const size_t n = 16, words = n * t->psz / 8;
	uint64_t *mem = map_pages(n, t->psz), *back = malloc(n * t->psz);
	uint64_t moved = 0, faults;
	struct vhmm_stats before, after;
	uint8_t prot[16];
	char why[128] = "";
	size_t i;
	int ret;

	CHECK(mem && back, "out of memory");
	CHECK(t->info.devmem_free >= n * t->psz,
	      "only %" PRIu64 " bytes of device memory free",
	      t->info.devmem_free);
	pattern(mem, words, 3);
	ret = vhmm_get_stats(t->dev, &before);
	CHECK(!ret, "stats: %s", vhmm_strerror(ret));
	ret = vhmm_migrate_to_device(t->dev, mem, n, back);
	CHECK(!ret, "to device: %s", vhmm_strerror(ret));
	CHECK(check_pattern(back, 0, words, 3), "device read back wrong data");
	ret = vhmm_snapshot(t->dev, mem, n, prot);
	CHECK(!ret, "snapshot: %s", vhmm_strerror(ret));
	for (i = 0; i < n; i++)
		CHECK(prot[i] & VHMM_PAGE_DEVICE,
		      "page %zu not in device memory (state %#x)", i, prot[i]);
	/* the device works on its memory: fill the first page */
	ret = vhmm_fill(t->dev, mem, t->psz, 0x0123456789abcdefull, &faults);
	CHECK(!ret, "fill in device memory: %s", vhmm_strerror(ret));
	ret = vhmm_migrate_to_system(t->dev, mem, n, &moved);
	CHECK(!ret, "to system: %s", vhmm_strerror(ret));
	CHECK(moved == n, "%" PRIu64 " of %zu pages came back", moved, n);
	ret = vhmm_snapshot(t->dev, mem, n, prot);
	CHECK(!ret, "snapshot: %s", vhmm_strerror(ret));
	for (i = 0; i < n; i++)
		CHECK(!(prot[i] & VHMM_PAGE_DEVICE),
		      "page %zu still in device memory", i);
	for (i = 0; i < t->psz / 8; i++)
		CHECK(mem[i] == 0x0123456789abcdefull,
		      "word %zu of the filled page: %#" PRIx64, i, mem[i]);
	CHECK(check_pattern(mem, t->psz / 8, words, 3),
	      "data changed by the round trip");
	ret = vhmm_get_stats(t->dev, &after);
	CHECK(!ret, "stats: %s", vhmm_strerror(ret));
	CHECK(after.pages_to_dev - before.pages_to_dev >= n &&
	      after.pages_to_sys - before.pages_to_sys >= n,
	      "statistics did not count the migration");
	why[0] = '\0';
out:
	result(t, !why[0], "migrate to device and back", why[0] ? why : NULL);
	free(back);
	if (mem)
		munmap(mem, n * t->psz);
}

static void step_fill_copy(struct st *t)
{
	const size_t len = 3 * t->psz + 5;
	uint8_t *a = malloc(len), *b = malloc(len);
	char why[128] = "";
	size_t i;
	int ret;

	CHECK(a && b, "out of memory");
	memset(a, 0, len);
	memset(b, 0, len);
	ret = vhmm_fill(t->dev, a, len, 0x0807060504030201ull, NULL);
	CHECK(!ret, "fill: %s", vhmm_strerror(ret));
	for (i = 0; i < len; i++)
		CHECK(a[i] == i % 8 + 1, "fill: byte %zu is %#x", i, a[i]);
	ret = vhmm_copy(t->dev, b, a, len, NULL);
	CHECK(!ret, "copy: %s", vhmm_strerror(ret));
	CHECK(!memcmp(a, b, len), "copy: data differs");
	why[0] = '\0';
out:
	result(t, !why[0], "fill and copy", why[0] ? why : NULL);
	free(a);
	free(b);
}

static void step_atomic(struct st *t)
{
	uint64_t *v = malloc(sizeof(*v)), old = 0;
	char why[128] = "";
	int ret;

	CHECK(v, "out of memory");
	*v = 40;
	ret = vhmm_atomic(t->dev, v, VHMM_ATOMIC_FETCH_ADD, 8, 2, 0, &old);
	if (ret == -EOPNOTSUPP) {
		t->nr++;
		printf("ok %d atomics # SKIP the device has no atomics\n",
		       t->nr);
		free(v);
		return;
	}
	CHECK(!ret, "fetch_add: %s", vhmm_strerror(ret));
	CHECK(old == 40 && *v == 42, "fetch_add: old %" PRIu64 " new %"
	      PRIu64, old, *v);
	ret = vhmm_atomic(t->dev, v, VHMM_ATOMIC_CMPXCHG, 8, 7, 1, &old);
	CHECK(!ret && old == 42 && *v == 42, "cmpxchg (mismatch) changed it");
	ret = vhmm_atomic(t->dev, v, VHMM_ATOMIC_CMPXCHG, 8, 7, 42, &old);
	CHECK(!ret && old == 42 && *v == 7, "cmpxchg (match) failed");
	why[0] = '\0';
out:
	result(t, !why[0], "atomics", why[0] ? why : NULL);
	free(v);
}

struct node {
	struct node *next;
	uint64_t value;
	char pad[48];
};

static void step_chase(struct st *t)
{
	const unsigned int nodes = 1000;
	struct node *head = NULL, *n;
	struct vhmm_chase_result res;
	uint64_t expect = 0;
	char why[128] = "";
	unsigned int i;
	int ret;

	for (i = 0; i < nodes; i++) {
		n = malloc(sizeof(*n));
		CHECK(n, "out of memory");
		n->value = (uint64_t)i * i + 1;
		n->next = head;
		head = n;
		expect += n->value;
	}
	ret = vhmm_chase(t->dev, head, offsetof(struct node, next),
			 offsetof(struct node, value), 8, nodes + 1, &res);
	CHECK(!ret, "chase: %s", vhmm_strerror(ret));
	CHECK(res.nodes == nodes && res.sum == expect,
	      "walked %" PRIu64 " nodes, sum %" PRIu64 " (want %u, %" PRIu64
	      ")", res.nodes, res.sum, nodes, expect);
	why[0] = '\0';
out:
	result(t, !why[0], "pointer chase", why[0] ? why : NULL);
	while (head) {
		n = head->next;
		free(head);
		head = n;
	}
}

static int cmd_selftest(int argc, char **argv)
{
	struct st t = { .nr = 0 };
	int ret;

	if (argc > 2)
		return usage();
	t.dev = open_dev(argc == 2 ? argv[1] : NULL);
	if (!t.dev)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = vhmm_get_info(t.dev, &t.info);
	if (ret) {
		err("info", ret);
		vhmm_close(t.dev);
		return 1;
	}
	t.psz = t.info.page_size;
	printf("# selftest of /dev/virtio_hmm%d (%s, device memory %" PRIu64
	       " bytes)\n", vhmm_index(t.dev), vhmm_mode_name(t.info.mode),
	       t.info.devmem_size);
	printf("1..6\n");
	step_mirror(&t);
	step_prefetch(&t);
	step_migrate(&t);
	step_fill_copy(&t);
	step_atomic(&t);
	step_chase(&t);
	printf("# selftest: %d of %d failed\n", t.failed, t.nr);
	vhmm_close(t.dev);
	return t.failed ? 1 : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_migrate(int argc, char **argv)
{
	unsigned long pages = 256;
	uint64_t *mem, moved = 0;
	struct vhmm_info info;
	struct vhmm_dev *dev;
	double t0, t1, t2;
	size_t words;
	int opt, ret, status = 1;

	while ((opt = getopt(argc, argv, "p:")) != -1) {
		char *end;

		if (opt != 'p')
			return usage();
		pages = strtoul(optarg, &end, 10);
		if (*end || !pages || pages > (1ul << 24))
			return usage();
	}
	if (argc - optind > 1)
		return usage();
	dev = open_dev(optind < argc ? argv[optind] : NULL);
	if (!dev)
		return 1;
	ret = vhmm_get_info(dev, &info);
	if (ret) {
		err("info", ret);
		goto out_close;
	}
	mem = map_pages(pages, info.page_size);
	if (!mem) {
		fprintf(stderr, "vhmm: cannot map %lu pages\n", pages);
		goto out_close;
	}
	words = pages * info.page_size / 8;
	pattern(mem, words, 4);
	t0 = now();
	ret = vhmm_migrate_to_device(dev, mem, pages, NULL);
	t1 = now();
	if (ret) {
		err("migrate to device", ret);
		goto out_unmap;
	}
	ret = vhmm_migrate_to_system(dev, mem, pages, &moved);
	t2 = now();
	if (ret) {
		err("migrate to system", ret);
		goto out_unmap;
	}
	printf("%lu pages to device in %.3f s, %" PRIu64
	       " back to system memory in %.3f s\n", pages, t1 - t0, moved,
	       t2 - t1);
	if (!check_pattern(mem, 0, words, 4)) {
		fprintf(stderr, "vhmm: data changed by the round trip\n");
		goto out_unmap;
	}
	printf("data intact\n");
	status = 0;
out_unmap:
	munmap(mem, pages * info.page_size);
out_close:
	vhmm_close(dev);
	return status;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "list", cmd_list },
		{ "info", cmd_info },
		{ "stats", cmd_stats },
		{ "selftest", cmd_selftest },
		{ "migrate", cmd_migrate },
	};
	size_t i;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("vhmm (libvhmm %s)\n", vhmm_version());
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vhmm: unknown command '%s'\n", argv[1]);
	return usage();
}
