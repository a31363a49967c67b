// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm: operator's tool for virtio-hmm devices, on libvhmm (include/vhmm.h).
 *
 *   vhmm list                       devices, mode, device memory, features
 *   vhmm info [DEV]                 one device in detail
 *   vhmm stats [-w SEC] [-n N] [DEV]  driver counters, live with -w
 *   vhmm selftest [DEV]             quick functional test, exit 1 on failure
 *   vhmm migrate [-p PAGES] [DEV]   migrate a buffer to the device and back;
 *                                   counts from a snapshot and the driver
 *   vhmm version
 *
 * DEV is an index (0), a node name (virtio_hmm0) or a path; the default is
 * the first device. Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_hmm.h>
#include "vhmm.h"

#define MAX_DEVS	64
#define MAX_PAGES	(1ul << 24)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define SYSFS_CLASS	"/sys/class/virtio_hmm"
#define SYSFS_DRIVER	"/sys/bus/virtio/drivers/virtio_hmm"
#define SYSFS_VIRTIO	"/sys/bus/virtio/devices"

struct cmd {
	const char *name;
	const char *args;	/* usage after the name */
	const char *help;	/* what it does */
	int (*fn)(const struct cmd *cmd, int argc, char **argv);
};

static const struct cmd cmds[];
static const size_t nr_cmds;

static void print_usage(FILE *f)
{
	size_t i;

	fputs("usage: vhmm COMMAND [ARGS]\n", f);
	for (i = 0; i < nr_cmds; i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", cmds[i].name,
			 cmds[i].args);
		fprintf(f, "  %-32s %s\n", head, cmds[i].help);
	}
	fputs("DEV: index (0), name (virtio_hmm0) or path (/dev/virtio_hmm0);\n"
	      "default: the first device. Exit status: 0 success, 1 failure,\n"
	      "2 usage error. 'vhmm COMMAND --help' shows one command.\n", f);
}

static void cmd_help(const struct cmd *cmd, FILE *f)
{
	fprintf(f, "usage: vhmm %s %s\n  %s\n", cmd->name, cmd->args,
		cmd->help);
}

/* A usage error: what was wrong, the command's usage, exit status 2 */
static int usage_error(const struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vhmm%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: vhmm %s %s\n", cmd->name, cmd->args);
	else
		print_usage(stderr);
	return 2;
}

static void err(const char *what, int ret)
{
	fprintf(stderr, "vhmm: %s: %s\n", what, vhmm_strerror(ret));
}

/*
 * getopt over a command's arguments (OPTSTRING starts with ':'), with -h
 * and --help. Returns the option or -1 at the end; '?' after a usage error
 * it has reported (naming the option), 'H' after printing the help.
 */
static int next_opt(const struct cmd *cmd, int argc, char **argv,
		    const char *optstring)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	opt = getopt_long(argc, argv, optstring, longopts, NULL);
	if (opt == '?') {
		if (optopt)
			usage_error(cmd, "unknown option -%c", optopt);
		else
			usage_error(cmd, "unknown option %s", argv[optind - 1]);
	} else if (opt == ':') {
		usage_error(cmd, "option -%c needs a value", optopt);
		opt = '?';
	} else if (opt == 'h' || opt == 'H') {
		cmd_help(cmd, stdout);
		opt = 'H';
	}
	return opt;
}

/* ---- devices that are not there: say why ---- */

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return 0;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static int driver_loaded(void)
{
	return !access(SYSFS_DRIVER, F_OK) || !access(SYSFS_CLASS, F_OK);
}

/*
 * Virtio devices with virtio-hmm's device ID that no driver bound: the
 * driver refused them (or is not loaded). Prints one line each, with the
 * reason when sysfs tells it, to @f with @prefix. Returns how many.
 */
static int report_unbound(FILE *f, const char *prefix)
{
	DIR *d = opendir(SYSFS_VIRTIO);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[512], buf[128];
		unsigned long id;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), SYSFS_VIRTIO "/%s/device",
			 e->d_name);
		if (!read_line(path, buf, sizeof(buf)))
			continue;
		id = strtoul(buf, NULL, 0);
		if (id != VIRTIO_ID_HMM)
			continue;
		snprintf(path, sizeof(path), SYSFS_VIRTIO "/%s/driver",
			 e->d_name);
		if (!access(path, F_OK))
			continue;
		n++;
		if (!driver_loaded()) {
			fprintf(f, "%s%s: a virtio-hmm device, no driver bound (the driver is not loaded)\n",
				prefix, e->d_name);
			continue;
		}
		/*
		 * After a failed probe, "features" holds what the driver
		 * asked for and the device offered, one '0'/'1' per bit.
		 */
		snprintf(path, sizeof(path), SYSFS_VIRTIO "/%s/features",
			 e->d_name);
		if (read_line(path, buf, sizeof(buf)) &&
		    strlen(buf) > VIRTIO_HMM_F_REPLAYABLE_FAULTS &&
		    buf[VIRTIO_HMM_F_REPLAYABLE_FAULTS] == '0')
			fprintf(f, "%s%s: refused by the driver: the device does not offer replayable_faults (QEMU property replayable-faults=off)\n",
				prefix, e->d_name);
		else
			fprintf(f, "%s%s: refused by the driver (dmesg | grep %s tells why)\n",
				prefix, e->d_name, e->d_name);
	}
	closedir(d);
	return n;
}

/* Why there is no device to open, on stderr */
static void explain_no_device(void)
{
	if (!driver_loaded())
		fprintf(stderr, "vhmm: the virtio_hmm driver is not loaded: modprobe virtio_hmm\n");
	if (!report_unbound(stderr, "vhmm: ") && driver_loaded())
		fprintf(stderr, "vhmm: the guest has no virtio-hmm device (QEMU: -device virtio-hmm-pci)\n");
}

/* The devices that exist, as "virtio_hmm0, virtio_hmm1", on stderr */
static void list_present(void)
{
	int idx[MAX_DEVS], n, i;

	n = vhmm_list(idx, MAX_DEVS);
	if (n <= 0) {
		explain_no_device();
		return;
	}
	fprintf(stderr, "vhmm: present:");
	for (i = 0; i < n && i < MAX_DEVS; i++)
		fprintf(stderr, "%s virtio_hmm%d", i ? "," : "", idx[i]);
	fputc('\n', stderr);
}

/*
 * Open DEV (an index, virtio_hmmN or a path) or the first device. A DEV
 * that is none of these is a usage error (*status 2); a device that cannot
 * be opened is a failure (*status 1), reported with the devices present.
 */
static struct vhmm_dev *open_dev(const struct cmd *cmd, const char *arg,
				 int *status)
{
	struct vhmm_dev *dev;
	char name[64];
	const char *num;
	char *end;
	long n;
	int ret;

	*status = 1;
	if (!arg) {
		int idx[1];

		ret = vhmm_list(idx, 1);
		if (ret < 0) {
			err("listing devices", ret);
			return NULL;
		}
		if (!ret) {
			fprintf(stderr, "vhmm: no virtio-hmm device\n");
			explain_no_device();
			return NULL;
		}
		snprintf(name, sizeof(name), "/dev/virtio_hmm%d", idx[0]);
		ret = vhmm_open(idx[0], &dev);
	} else if (strchr(arg, '/')) {
		snprintf(name, sizeof(name), "%s", arg);
		ret = vhmm_open_path(arg, &dev);
	} else {
		num = arg;
		if (!strncmp(num, "virtio_hmm", 10))
			num += 10;
		errno = 0;
		n = strtol(num, &end, 10);
		if (!*num || *end || errno || n < 0 || n > 1 << 20) {
			*status = usage_error(cmd, "'%s' is not a device (an index, virtio_hmmN or a path)",
					      arg);
			return NULL;
		}
		snprintf(name, sizeof(name), "/dev/virtio_hmm%ld", n);
		ret = vhmm_open((int)n, &dev);
	}
	if (ret) {
		err(name, ret);
		if (ret == -ENOENT)
			list_present();
		return NULL;
	}
	*status = 0;
	return dev;
}

/* at most one DEV argument after the options */
static int one_dev_arg(const struct cmd *cmd, int argc, char **argv,
		       const char **dev)
{
	if (argc - optind > 1)
		return usage_error(cmd, "unexpected argument '%s'",
				   argv[optind + 1]);
	*dev = optind < argc ? argv[optind] : NULL;
	return 0;
}

/* a whole number in [min, max] for option -OPT, or a usage error */
static int parse_ulong(const struct cmd *cmd, char opt, const char *s,
		       unsigned long min, unsigned long max,
		       unsigned long *val)
{
	char *end;

	errno = 0;
	*val = strtoul(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || *val < min || *val > max)
		return usage_error(cmd, "-%c %s: must be a whole number from %lu to %lu",
				   opt, s, min, max);
	return 0;
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

static int cmd_list(const struct cmd *cmd, int argc, char **argv)
{
	int idx[MAX_DEVS], n, i, ret, opt, status = 0;

	while ((opt = next_opt(cmd, argc, argv, ":h")) != -1)
		return opt == 'H' ? 0 : 2;
	if (optind < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!driver_loaded()) {
		fprintf(stderr, "vhmm: the virtio_hmm driver is not loaded: modprobe virtio_hmm\n");
		report_unbound(stderr, "vhmm: ");
		return 1;
	}
	n = vhmm_list(idx, MAX_DEVS);
	if (n < 0) {
		err("listing devices", n);
		return 1;
	}
	if (n)
		printf("%-18s %-9s %8s %8s %6s %s\n", "DEVICE", "MODE",
		       "DEVMEM", "FREE", "PAGE", "FEATURES");
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
	/* devices the driver refused: listed, with why */
	if (report_unbound(stdout, ""))
		status = 1;
	else if (!n) {
		fprintf(stderr, "vhmm: the guest has no virtio-hmm device (QEMU: -device virtio-hmm-pci)\n");
		status = 1;
	}
	return status;
}

static int cmd_info(const struct cmd *cmd, int argc, char **argv)
{
	struct vhmm_info info;
	struct vhmm_dev *dev;
	const char *arg = NULL;
	int ret, opt;

	while ((opt = next_opt(cmd, argc, argv, ":h")) != -1)
		return opt == 'H' ? 0 : 2;
	ret = one_dev_arg(cmd, argc, argv, &arg);
	if (ret)
		return ret;
	dev = open_dev(cmd, arg, &ret);
	if (!dev)
		return ret;
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

/* width of counter I's column in stats -w: its name or a value with a rate */
static int stat_width(size_t i)
{
	int w = (int)strlen(stat_fields[i].name);

	return w > 18 ? w : 18;
}

static int cmd_stats(const struct cmd *cmd, int argc, char **argv)
{
	struct vhmm_stats prev, cur;
	unsigned long count = 0, n = 0;
	struct vhmm_dev *dev;
	double interval = 0;
	const char *arg = NULL;
	size_t i;
	int opt, ret;

	while ((opt = next_opt(cmd, argc, argv, ":hw:n:")) != -1) {
		char *end;

		switch (opt) {
		case 'w':
			errno = 0;
			interval = strtod(optarg, &end);
			if (!*optarg || *end || errno || !(interval > 0) ||
			    interval > 86400)
				return usage_error(cmd, "-w %s: must be a number of seconds, more than 0 and at most 86400",
						   optarg);
			break;
		case 'n':
			if (parse_ulong(cmd, 'n', optarg, 1, ULONG_MAX, &count))
				return 2;
			break;
		case 'H':
			return 0;
		default:
			return 2;
		}
	}
	ret = one_dev_arg(cmd, argc, argv, &arg);
	if (ret)
		return ret;
	/* -n alone samples once a second */
	if (count && !interval)
		interval = 1;
	dev = open_dev(cmd, arg, &ret);
	if (!dev)
		return ret;
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
	/* one line per sample: each counter's value and its rate per second */
	printf("%-8s", "time");
	for (i = 0; i < NR_STATS; i++)
		printf(" %*s", stat_width(i), stat_fields[i].name);
	printf("\n");
	for (;;) {
		struct timespec ts = {
			.tv_sec = (time_t)interval,
			.tv_nsec = (long)((interval - (time_t)interval) * 1e9),
		};

		n++;
		printf("%-8.1f", (n - 1) * interval);
		for (i = 0; i < NR_STATS; i++) {
			char cell[64];

			if (n > 1 && strcmp(stat_fields[i].name, "devmem_used"))
				snprintf(cell, sizeof(cell),
					 "%" PRIu64 "(+%.0f/s)",
					 stat_get(&cur, i),
					 (stat_get(&cur, i) -
					  stat_get(&prev, i)) / interval);
			else
				snprintf(cell, sizeof(cell), "%" PRIu64,
					 stat_get(&cur, i));
			printf(" %*s", stat_width(i), cell);
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

static int cmd_selftest(const struct cmd *cmd, int argc, char **argv)
{
	struct st t = { .nr = 0 };
	const char *arg = NULL;
	int ret, opt;

	while ((opt = next_opt(cmd, argc, argv, ":h")) != -1)
		return opt == 'H' ? 0 : 2;
	ret = one_dev_arg(cmd, argc, argv, &arg);
	if (ret)
		return ret;
	t.dev = open_dev(cmd, arg, &ret);
	if (!t.dev)
		return ret;
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

/* pages of [mem, mem + pages) in this device's memory, or a negative errno */
static long pages_on_device(struct vhmm_dev *dev, void *mem,
			    unsigned long pages, uint8_t *prot)
{
	unsigned long i;
	long n = 0;
	int ret;

	ret = vhmm_snapshot(dev, mem, pages, prot);
	if (ret)
		return ret;
	for (i = 0; i < pages; i++)
		if (prot[i] & VHMM_PAGE_DEVICE)
			n++;
	return n;
}

/*
 * Migrate a buffer to device memory and back. The counts are what really
 * happened: the pages a snapshot finds in device memory after the first
 * migration, the pages the driver moved back. Fewer pages than asked for
 * is a failure (exit 1) with a message: the times would mean nothing.
 */
static int cmd_migrate(const struct cmd *cmd, int argc, char **argv)
{
	unsigned long pages = 256;
	uint64_t *mem = NULL, *back = NULL, moved = 0;
	uint8_t *prot = NULL;
	struct vhmm_info info;
	struct vhmm_dev *dev;
	const char *arg = NULL;
	double t0, t1, t2;
	long on_dev, left;
	size_t words;
	int opt, ret, status = 1;

	while ((opt = next_opt(cmd, argc, argv, ":hp:")) != -1) {
		switch (opt) {
		case 'p':
			if (parse_ulong(cmd, 'p', optarg, 1, MAX_PAGES, &pages))
				return 2;
			break;
		case 'H':
			return 0;
		default:
			return 2;
		}
	}
	ret = one_dev_arg(cmd, argc, argv, &arg);
	if (ret)
		return ret;
	dev = open_dev(cmd, arg, &ret);
	if (!dev)
		return ret;
	ret = vhmm_get_info(dev, &info);
	if (ret) {
		err("info", ret);
		goto out_close;
	}
	mem = map_pages(pages, info.page_size);
	back = map_pages(pages, info.page_size);
	prot = malloc(pages);
	if (!mem || !back || !prot) {
		fprintf(stderr, "vhmm: cannot allocate 2 x %lu pages\n", pages);
		goto out_free;
	}
	words = pages * info.page_size / 8;
	pattern(mem, words, 4);
	t0 = now();
	ret = vhmm_migrate_to_device(dev, mem, pages, back);
	t1 = now();
	if (ret) {
		err("migrate to device", ret);
		goto out_free;
	}
	on_dev = pages_on_device(dev, mem, pages, prot);
	if (on_dev < 0) {
		err("snapshot after the migration", (int)on_dev);
		goto out_free;
	}
	if (!check_pattern(back, 0, words, 4)) {
		fprintf(stderr, "vhmm: the device read back wrong data after the migration\n");
		goto out_free;
	}
	ret = vhmm_migrate_to_system(dev, mem, pages, &moved);
	t2 = now();
	if (ret) {
		err("migrate to system", ret);
		goto out_free;
	}
	left = pages_on_device(dev, mem, pages, prot);
	if (left < 0) {
		err("snapshot after the migration back", (int)left);
		goto out_free;
	}
	printf("%ld of %lu pages to device memory in %.3f s, %" PRIu64
	       " back to system memory in %.3f s\n", on_dev, pages, t1 - t0,
	       moved, t2 - t1);
	if (!check_pattern(mem, 0, words, 4)) {
		fprintf(stderr, "vhmm: data changed by the round trip\n");
		goto out_free;
	}
	printf("data intact\n");
	if ((unsigned long)on_dev < pages) {
		char size[24], free_[24];

		fprintf(stderr, "vhmm: only %ld of %lu pages reached device memory (%s, %s free before); the rest stayed in system memory\n",
			on_dev, pages,
			fmt_size(size, sizeof(size), info.devmem_size),
			fmt_size(free_, sizeof(free_), info.devmem_free));
		goto out_free;
	}
	if (moved != (uint64_t)on_dev || left) {
		fprintf(stderr, "vhmm: %" PRIu64 " of %ld pages came back, %ld still in device memory\n",
			moved, on_dev, left);
		goto out_free;
	}
	status = 0;
out_free:
	free(prot);
	if (back)
		munmap(back, pages * info.page_size);
	if (mem)
		munmap(mem, pages * info.page_size);
out_close:
	vhmm_close(dev);
	return status;
}

static int cmd_version(const struct cmd *cmd, int argc, char **argv)
{
	int opt;

	while ((opt = next_opt(cmd, argc, argv, ":h")) != -1)
		return opt == 'H' ? 0 : 2;
	if (optind < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	printf("vhmm (libvhmm %s)\n", vhmm_version());
	return 0;
}

static const struct cmd cmds[] = {
	{ "list", "", "list devices (and those the driver refused, with why)",
	  cmd_list },
	{ "info", "[DEV]", "show one device", cmd_info },
	{ "stats", "[-w SEC] [-n COUNT] [DEV]",
	  "driver statistics; -w: a line every SEC seconds with rates, -n: stop after COUNT lines (every second without -w)",
	  cmd_stats },
	{ "selftest", "[DEV]", "functional self-test (exit 1 on failure)",
	  cmd_selftest },
	{ "migrate", "[-p PAGES] [DEV]",
	  "migrate PAGES (default 256) to device memory and back, check the data; exit 1 unless all of them moved",
	  cmd_migrate },
	{ "version", "", "library version", cmd_version },
};
static const size_t nr_cmds = ARRAY_SIZE(cmds);

int main(int argc, char **argv)
{
	size_t i;

	/* results and messages in the order they happen, also into a file */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage_error(NULL, "no COMMAND");
	if (!strcmp(argv[1], "--version"))
		return cmd_version(&cmds[nr_cmds - 1], 1, argv + 1);
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		print_usage(stdout);
		return 0;
	}
	for (i = 0; i < nr_cmds; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(&cmds[i], argc - 1, argv + 1);
	return usage_error(NULL, "unknown command '%s'", argv[1]);
}
