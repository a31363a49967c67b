// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-inject: the driver under the device's fault injection (QEMU
 * properties x-inject-*, docs/virtio-hmm.md section 13.1). The guest boots
 * with one private device that injects one kind of fault; VHMM_FAULT_MODE
 * names which (tests/guest/vhmm-inject.sh, tests/guest/suites):
 *
 *   copy-fail      every 3rd COPY fails half-way: the driver retries, data
 *                  migrates both ways intact
 *   copy-fail-all  every COPY fails: MIGRATE_TO_DEV fails with EIO, the data
 *                  stays in system memory intact, jobs still work
 *   copy-fail-coherent  every COPY of a coherent device fails: the CPU
 *                  copies instead (device memory is CPU-addressable), data
 *                  migrates both ways and comes back on unbind intact
 *   vram-full      the device reports its memory exhausted: migration falls
 *                  back to system memory and succeeds
 *   drop-fault     every 5th fault record is lost: the driver replays the
 *                  stalled job, which completes
 *   dup-fault      every 2nd fault record comes twice: harmless
 *   delay          slow copies and slow UNMAP acknowledgements
 *
 * Each mode runs targeted checks and the stress test (vhmm-stress) on the
 * device, which must see no mismatch and no unexpected error, and checks
 * through the driver's debugfs counters that the injection took effect;
 * last, the driver is unbound with data in device memory (remove evicts it
 * under the injection) and bound again.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "vhmm_test.h"

FIXTURE(inject)
{
	const char *mode;
	int index;
	int fd;
	size_t page_size;
};

FIXTURE_SETUP(inject)
{
	self->page_size = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	self->mode = getenv("VHMM_FAULT_MODE");
	if (!self->mode)
		SKIP(return, "VHMM_FAULT_MODE not set (see tests/guest/suites)");
	self->index = vhmm_find(strstr(self->mode, "coherent") ? "coherent" :
				"private", 0);
	ASSERT_GE(self->index, 0);
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
}

FIXTURE_TEARDOWN(inject)
{
	if (self->fd >= 0)
		close(self->fd);
}

static bool is(const char *mode, const char *want)
{
	return !strcmp(mode, want);
}

/* pages that stay in device memory when the CPU reads them */
static bool coherent(const char *mode)
{
	return strstr(mode, "coherent");
}

/*
 * Migrate to the device and back (by ioctl, then by CPU touch) three
 * times: with failing copies the data never changes and never gets lost.
 */
TEST_F(inject, migrate)
{
	unsigned long npages = 64, i, round;
	size_t size = npages * self->page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size);
	long long retries, full, cpu;
	struct hmm_dmirror_cmd cmd;
	int ret;

	ASSERT_NE(p, NULL);
	ASSERT_NE(buf, NULL);
	retries = vhmm_debugfs_counter(self->index, "stats", "copy_retries");
	full = vhmm_debugfs_counter(self->index, "stats", "devmem_full");
	cpu = vhmm_debugfs_counter(self->index, "stats", "cpu_copies");
	ASSERT_GE(retries, 0);
	ASSERT_GE(cpu, 0);
	for (i = 0; i < size / 8; i++)
		p[i] = i * 0x9e3779b97f4a7c15ULL;
	for (round = 0; round < 3; round++) {
		memset(buf, 0, size);
		ret = vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf,
				   npages, &cmd);
		if (is(self->mode, "copy-fail-all")) {
			ASSERT_EQ(ret, -EIO);
			ASSERT_EQ(vhmm_count_local(self->fd, p, npages), 0);
		} else {
			ASSERT_EQ(ret, 0);
			ASSERT_EQ(cmd.cpages, npages);
			for (i = 0; i < size / 8; i++)
				ASSERT_EQ(buf[i], i * 0x9e3779b97f4a7c15ULL);
			ASSERT_EQ(vhmm_count_local(self->fd, p, npages),
				  is(self->mode, "vram-full") ? 0 : npages);
		}
		/* half back by ioctl, half by CPU touch */
		ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p,
				       buf, npages / 2, NULL), 0);
		for (i = 0; i < size / 8; i++)
			ASSERT_EQ(p[i], i * 0x9e3779b97f4a7c15ULL);
		ASSERT_EQ(vhmm_count_local(self->fd, p, npages),
			  coherent(self->mode) ? npages - npages / 2 : 0);
		ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p,
				       buf, npages, NULL), 0);
		ASSERT_EQ(vhmm_count_local(self->fd, p, npages), 0);
	}
	/* the device reads and writes the same memory meanwhile */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, buf, npages,
			       NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(buf[i], i * 0x9e3779b97f4a7c15ULL);
	ASSERT_EQ(vhmm_job_fill(self->fd, p, size, 0x5a5a, NULL), 0);
	ASSERT_EQ(p[size / 8 - 1], 0x5a5a);

	if (!strncmp(self->mode, "copy-fail", 9))
		ASSERT_GT(vhmm_debugfs_counter(self->index, "stats", "copy_retries"), retries);
	/* every page went to the device and back three times, by the CPU */
	if (is(self->mode, "copy-fail-coherent")) {
		ASSERT_GE(vhmm_debugfs_counter(self->index, "stats", "cpu_copies") - cpu,
			  6 * npages);
	} else {
		ASSERT_EQ(vhmm_debugfs_counter(self->index, "stats", "cpu_copies"), cpu);
	}
	if (is(self->mode, "vram-full"))
		ASSERT_GT(vhmm_debugfs_counter(self->index, "stats", "devmem_full"), full);
	free(buf);
	munmap(p, size);
}

/*
 * Fresh memory, filled by the device: every page faults, in batches. Lost
 * fault records are replayed, duplicated ones answered harmlessly.
 */
TEST_F_TIMEOUT(inject, fill_faults, 120)
{
	size_t size = 2 << 20, i;
	long long replays, drv, dev;
	int round;

	replays = vhmm_debugfs_counter(self->index, "stats", "job_replays");
	drv = vhmm_debugfs_counter(self->index, "stats", "faults");
	dev = vhmm_debugfs_counter(self->index, "device_stats", "faults");
	ASSERT_GE(replays, 0);
	ASSERT_GE(dev, 0);
	for (round = 0; round < 3; round++) {
		uint64_t *p = vhmm_map_anon(size);

		ASSERT_NE(p, NULL);
		ASSERT_EQ(vhmm_job_fill(self->fd, p, size, round + 1, NULL), 0);
		for (i = 0; i < size / 8; i++)
			ASSERT_EQ(p[i], round + 1);
		munmap(p, size);
	}
	if (is(self->mode, "drop-fault"))
		ASSERT_GT(vhmm_debugfs_counter(self->index, "stats", "job_replays"), replays);
	if (is(self->mode, "dup-fault")) {
		/* the driver answered more records than the device had faults */
		long long d_drv = vhmm_debugfs_counter(self->index, "stats", "faults") - drv;
		long long d_dev = vhmm_debugfs_counter(self->index, "device_stats", "faults") - dev;

		TH_LOG("driver resolved %lld records of %lld device faults",
		       d_drv, d_dev);
		ASSERT_GT(d_drv, d_dev);
	}
}

/* The stress test on the device, with the errors this mode may cause. */
TEST_F_TIMEOUT(inject, stress, 180)
{
	const char *secs = getenv("VHMM_STRESS_TIME");
	char index[16];
	const char *argv[16] = {
		"vhmm-stress", "-d", index, "-t", secs ? secs : "15",
		"-p", "2", "-T", "3",
	};
	int argc = 9, status;
	pid_t pid;

	snprintf(index, sizeof(index), "%d", self->index);
	if (is(self->mode, "copy-fail")) {
		argv[argc++] = "-c";
		argv[argc++] = "copy_retries";
	} else if (is(self->mode, "copy-fail-all")) {
		argv[argc++] = "-e";
		argv[argc++] = "EIO";
		argv[argc++] = "-c";
		argv[argc++] = "copy_retries";
	} else if (is(self->mode, "copy-fail-coherent")) {
		argv[argc++] = "-c";
		argv[argc++] = "cpu_copies";
	} else if (is(self->mode, "vram-full")) {
		argv[argc++] = "-c";
		argv[argc++] = "devmem_full";
	} else if (is(self->mode, "drop-fault")) {
		argv[argc++] = "-c";
		argv[argc++] = "job_replays";
	}
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
	close(fd);
	return ret;
}

/*
 * Unbind the driver while device memory holds data, under the injection:
 * remove brings every page back intact (coherent mode: copied by the CPU
 * when the copy engine fails), the process never gets SIGBUS, and the
 * device binds again. Last in the file: it replaces the device.
 */
TEST_F_TIMEOUT(inject, unbind_with_data, 120)
{
	unsigned long npages = 512, i;
	size_t size = npages * self->page_size;
	uint64_t *p = vhmm_map_anon(size), *buf = malloc(size);
	char link[128], target[256], *name;
	ssize_t len;
	int ret;

	ASSERT_NE(p, NULL);
	ASSERT_NE(buf, NULL);
	for (i = 0; i < size / 8; i++)
		p[i] = (i << 16) ^ 0x5eed;
	ret = vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, npages,
			   NULL);
	ASSERT_EQ(ret, is(self->mode, "copy-fail-all") ? -EIO : 0);
	if (!is(self->mode, "copy-fail-all") && !is(self->mode, "vram-full"))
		ASSERT_EQ(vhmm_count_local(self->fd, p, npages), npages);

	snprintf(link, sizeof(link), "/sys/class/virtio_hmm/virtio_hmm%d/device",
		 self->index);
	len = readlink(link, target, sizeof(target) - 1);
	ASSERT_GT(len, 0);
	target[len] = '\0';
	name = strrchr(target, '/');
	name = name ? name + 1 : target;
	ASSERT_EQ(write_file("/sys/bus/virtio/drivers/virtio_hmm/unbind", name), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(p[i], (i << 16) ^ 0x5eed);
	ASSERT_EQ(write_file("/sys/bus/virtio/drivers/virtio_hmm/bind", name), 0);

	/* the new device works, with the same injection */
	close(self->fd);
	self->fd = vhmm_open_index(self->index);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, p, buf, npages,
			       NULL), 0);
	for (i = 0; i < size / 8; i++)
		ASSERT_EQ(buf[i], (i << 16) ^ 0x5eed);
	free(buf);
	munmap(p, size);
}

TEST_HARNESS_MAIN
