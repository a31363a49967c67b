/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the guest programs that drive /dev/virtio_hmm<N> through the
 * raw uapi (tests/guest/vhmm-tests.c checks the driver's ioctls themselves).
 * Applications use libvhmm (include/vhmm.h) instead, as vhmm-demo.c does.
 */
#ifndef VHMM_TEST_H
#define VHMM_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_hmm_ioctl.h>

#define VHMM_MAX_DEVS	16

/* The device's mode from sysfs ("private"/"coherent"), or "" */
static inline const char *vhmm_mode(int index, char *buf, size_t len)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/virtio_hmm/virtio_hmm%d/mode",
		 index);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (!f)
		return buf;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static inline int vhmm_open_index(int index)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/virtio_hmm%d", index);
	return open(path, O_RDWR | O_CLOEXEC);
}

/*
 * Find a device: mode "private" or "coherent"; want_small picks the one
 * with the least device memory, otherwise the one with the most.
 * Returns its index or -1.
 */
static inline int vhmm_find(const char *mode, int want_small)
{
	uint64_t best_size = 0;
	int i, best = -1;

	for (i = 0; i < VHMM_MAX_DEVS; i++) {
		struct virtio_hmm_info info;
		char m[32];
		int fd;

		if (strcmp(vhmm_mode(i, m, sizeof(m)), mode))
			continue;
		fd = vhmm_open_index(i);
		if (fd < 0)
			continue;
		if (!ioctl(fd, VIRTIO_HMM_IOC_INFO, &info) &&
		    (best < 0 || (want_small ? info.devmem_size < best_size :
					       info.devmem_size > best_size))) {
			best = i;
			best_size = info.devmem_size;
		}
		close(fd);
	}
	return best;
}

static inline int vhmm_stats(int fd, struct virtio_hmm_ioc_stats *st)
{
	return ioctl(fd, VIRTIO_HMM_IOC_STATS, st) ? -errno : 0;
}

/* test_hmm-style command on [addr, addr + npages pages) with buffer ptr */
static inline int vhmm_dmirror(int fd, unsigned long req, void *addr,
			       void *ptr, unsigned long npages,
			       struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	int ret = ioctl(fd, req, &cmd) ? -errno : 0;

	if (out)
		*out = cmd;
	return ret;
}

static inline int vhmm_job_fill(int fd, void *addr, uint64_t len, uint64_t pattern,
			    uint64_t *faults)
{
	struct virtio_hmm_range_job j = {
		.addr = (uintptr_t)addr, .length = len, .pattern = pattern,
	};
	int ret = ioctl(fd, VIRTIO_HMM_IOC_FILL, &j) ? -errno : 0;

	if (faults)
		*faults = j.faults;
	return ret;
}

static inline int vhmm_job_copy(int fd, void *dst, const void *src, uint64_t len)
{
	struct virtio_hmm_range_job j = {
		.addr = (uintptr_t)dst, .src = (uintptr_t)src, .length = len,
	};

	return ioctl(fd, VIRTIO_HMM_IOC_COPY, &j) ? -errno : 0;
}

static inline int vhmm_job_atomic(int fd, void *addr, unsigned int op,
			      unsigned int size, uint64_t operand,
			      uint64_t compare, uint64_t *old)
{
	struct virtio_hmm_atomic a = {
		.addr = (uintptr_t)addr, .operand = operand, .compare = compare,
		.op = op, .size = size,
	};
	int ret = ioctl(fd, VIRTIO_HMM_IOC_ATOMIC, &a) ? -errno : 0;

	if (old)
		*old = a.old;
	return ret;
}

/* Walk a list of nodes whose next pointer is at offset 0 */
static inline int vhmm_job_chase(int fd, const void *head, unsigned int value_offset,
			     unsigned int value_size, unsigned int max_nodes,
			     uint64_t *sum, uint64_t *nodes)
{
	struct virtio_hmm_chase c = {
		.addr = (uintptr_t)head, .next_offset = 0,
		.value_offset = value_offset, .value_size = value_size,
		.max_nodes = max_nodes,
	};
	int ret = ioctl(fd, VIRTIO_HMM_IOC_CHASE, &c) ? -errno : 0;

	*sum = c.sum;
	*nodes = c.nodes;
	return ret;
}

static inline void *vhmm_map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Pages of [p, p + npages) that SNAPSHOT reports in this device's memory */
static inline unsigned long vhmm_count_local(int fd, void *p,
					     unsigned long npages)
{
	unsigned char *m = malloc(npages);
	unsigned long i, n = 0;

	if (!m || vhmm_dmirror(fd, HMM_DMIRROR_SNAPSHOT, p, m, npages, NULL)) {
		free(m);
		return ~0UL;
	}
	for (i = 0; i < npages; i++) {
		unsigned char kind = m[i] & 0xf0;

		if (kind == HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL ||
		    kind == HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL)
			n++;
	}
	free(m);
	return n;
}

/*
 * A counter of device @index from the driver's debugfs: @file "stats" (the
 * driver's) or "device_stats" (the device's GET_STATS); -1 if missing.
 */
static inline long long vhmm_debugfs_counter(int index, const char *file,
					     const char *name)
{
	char path[96], line[128];
	size_t n = strlen(name);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/virtio_hmm/virtio_hmm%d/%s",
		 index, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = strtoll(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

#endif
