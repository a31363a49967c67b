// SPDX-License-Identifier: GPL-2.0
/*
 * libvhmm-tests: every call of libvhmm (include/vhmm.h) on real devices,
 * its results and the error codes its header documents. Statically linked
 * with libvhmm.a; runs in the vhmm-cli suite (tests/guest/suites) with a
 * private and a coherent device.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/virtio_config.h>
#include <linux/virtio_hmm.h>
#include "kselftest_harness.h"
#include "vhmm.h"

#define MAX_DEVS	64

/* The first device of @mode, or -1 */
static int find_device(enum vhmm_mode mode)
{
	int idx[MAX_DEVS], n, i;

	n = vhmm_list(idx, MAX_DEVS);
	for (i = 0; i < n && i < MAX_DEVS; i++) {
		struct vhmm_info info;
		struct vhmm_dev *dev;
		int ret;

		if (vhmm_open(idx[i], &dev))
			continue;
		ret = vhmm_get_info(dev, &info);
		vhmm_close(dev);
		if (!ret && info.mode == mode)
			return idx[i];
	}
	return -1;
}

static void *map_anon(size_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

FIXTURE(lib)
{
	struct vhmm_dev *dev;
	struct vhmm_info info;
	int index;
	size_t psz;
};

FIXTURE_VARIANT(lib)
{
	enum vhmm_mode mode;
};

FIXTURE_VARIANT_ADD(lib, private)
{
	.mode = VHMM_MODE_PRIVATE,
};

FIXTURE_VARIANT_ADD(lib, coherent)
{
	.mode = VHMM_MODE_COHERENT,
};

FIXTURE_SETUP(lib)
{
	self->dev = NULL;
	self->psz = sysconf(_SC_PAGESIZE);
	self->index = find_device(variant->mode);
	if (self->index < 0)
		SKIP(return, "no %s virtio-hmm device",
		     vhmm_mode_name(variant->mode));
	ASSERT_EQ(0, vhmm_open(self->index, &self->dev));
	ASSERT_EQ(0, vhmm_get_info(self->dev, &self->info));
}

FIXTURE_TEARDOWN(lib)
{
	vhmm_close(self->dev);
}

TEST_F(lib, list)
{
	int idx[MAX_DEVS], one[1], n, i, found = 0;

	n = vhmm_list(idx, MAX_DEVS);
	ASSERT_GE(n, 2);	/* the suite boots two devices */
	for (i = 0; i < n; i++) {
		if (i)
			ASSERT_LT(idx[i - 1], idx[i]);
		found |= idx[i] == self->index;
	}
	ASSERT_TRUE(found);
	/* a short array: the count is still the total */
	one[0] = -1;
	ASSERT_EQ(n, vhmm_list(one, 1));
	ASSERT_EQ(idx[0], one[0]);
	ASSERT_EQ(n, vhmm_list(NULL, 0));
	ASSERT_EQ(-EINVAL, vhmm_list(NULL, 1));
}

TEST_F(lib, open_close)
{
	struct vhmm_dev *dev = NULL, *dev2 = NULL;
	char path[64];

	ASSERT_GE(vhmm_fd(self->dev), 0);
	ASSERT_EQ(self->index, vhmm_index(self->dev));
	/* by path, and twice at once: each open is its own address space */
	snprintf(path, sizeof(path), "/dev/virtio_hmm%d", self->index);
	ASSERT_EQ(0, vhmm_open_path(path, &dev));
	ASSERT_EQ(self->index, vhmm_index(dev));
	ASSERT_NE(vhmm_fd(self->dev), vhmm_fd(dev));
	ASSERT_EQ(0, vhmm_open(self->index, &dev2));
	vhmm_close(dev2);
	vhmm_close(dev);
	/* a node by another name still knows its index */
	ASSERT_EQ(0, symlink(path, "/tmp/libvhmm-link"));
	ASSERT_EQ(0, vhmm_open_path("/tmp/libvhmm-link", &dev));
	unlink("/tmp/libvhmm-link");
	ASSERT_EQ(self->index, vhmm_index(dev));
	vhmm_close(dev);
	/* documented errors */
	dev = NULL;
	ASSERT_EQ(-ENOENT, vhmm_open(MAX_DEVS + 1, &dev));
	ASSERT_EQ(-ENOTTY, vhmm_open_path("/dev/null", &dev));
	ASSERT_EQ(-EINVAL, vhmm_open(-1, &dev));
	ASSERT_EQ(-EINVAL, vhmm_open(self->index, NULL));
	ASSERT_EQ(-EINVAL, vhmm_open_path(NULL, &dev));
	ASSERT_EQ(NULL, dev);
	vhmm_close(NULL);
}

TEST_F(lib, info)
{
	struct vhmm_info info;

	ASSERT_EQ(0, vhmm_get_info(self->dev, &info));
	ASSERT_EQ(variant->mode, info.mode);
	ASSERT_EQ(self->psz, info.page_size);
	ASSERT_GT(info.devmem_size, 0);
	ASSERT_LE(info.devmem_free, info.devmem_size);
	ASSERT_TRUE(info.features & (1ull << VIRTIO_F_VERSION_1));
	ASSERT_STREQ(variant->mode == VHMM_MODE_COHERENT ? "coherent" :
		     "private", vhmm_mode_name(info.mode));
	ASSERT_EQ(-EINVAL, vhmm_get_info(self->dev, NULL));
}

TEST_F(lib, mirror_read_write)
{
	const size_t n = 8;
	uint8_t *mem = map_anon(n * self->psz, PROT_READ | PROT_WRITE);
	uint8_t *buf = malloc(n * self->psz);
	uint64_t faults = 99;
	size_t i;

	ASSERT_NE(NULL, mem);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < n * self->psz; i++)
		buf[i] = i * 7;
	ASSERT_EQ(0, vhmm_mirror_write(self->dev, mem, buf, n, &faults));
	ASSERT_GT(faults, 0);
	ASSERT_EQ(0, memcmp(mem, buf, n * self->psz));
	memset(mem, 0xa5, n * self->psz);
	ASSERT_EQ(0, vhmm_mirror_read(self->dev, mem, buf, n, NULL));
	for (i = 0; i < n * self->psz; i++)
		ASSERT_EQ(0xa5, buf[i]);
	/* documented errors */
	ASSERT_EQ(-EINVAL, vhmm_mirror_read(self->dev, mem + 1, buf, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_mirror_read(self->dev, mem, buf, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_mirror_read(self->dev, mem, NULL, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_mirror_write(self->dev, mem, NULL, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_mirror_read(self->dev, mem, buf, ~0ull, NULL));
	ASSERT_EQ(0, mprotect(mem, self->psz, PROT_READ));
	ASSERT_EQ(-EPERM, vhmm_mirror_write(self->dev, mem, buf, 1, NULL));
	ASSERT_EQ(0, mprotect(mem, self->psz, PROT_NONE));
	ASSERT_EQ(-EFAULT, vhmm_mirror_read(self->dev, mem, buf, 1, NULL));
	free(buf);
	munmap(mem, n * self->psz);
}

TEST_F(lib, prefetch_snapshot)
{
	const size_t n = 4;
	uint8_t *mem = map_anon(n * self->psz, PROT_READ | PROT_WRITE);
	volatile uint8_t sink;
	uint64_t faults = 0;
	uint8_t prot[4];

	ASSERT_NE(NULL, mem);
	/* page 0 untouched, 1 read (zero page), 2 and 3 written */
	sink = mem[self->psz];
	(void)sink;
	memset(mem + 2 * self->psz, 1, 2 * self->psz);
	ASSERT_EQ(0, vhmm_snapshot(self->dev, mem, n, prot));
	ASSERT_EQ(0, prot[0]);
	ASSERT_EQ(VHMM_PAGE_ZERO | VHMM_PAGE_READ, prot[1]);
	ASSERT_EQ(VHMM_PAGE_READ | VHMM_PAGE_WRITE, prot[2]);
	ASSERT_EQ(VHMM_PAGE_READ | VHMM_PAGE_WRITE, prot[3]);
	/* prefetch faults once, then the range is mirrored */
	ASSERT_EQ(0, vhmm_prefetch(self->dev, mem + 2 * self->psz, 2,
				   &faults));
	ASSERT_GT(faults, 0);
	ASSERT_EQ(0, vhmm_prefetch(self->dev, mem + 2 * self->psz, 2,
				   &faults));
	ASSERT_EQ(0, faults);
	ASSERT_EQ(0, vhmm_snapshot(self->dev, mem + 2 * self->psz, 2, prot));
	ASSERT_FALSE(prot[0] & VHMM_PAGE_DEVICE);
	/* documented errors */
	ASSERT_EQ(-EINVAL, vhmm_prefetch(self->dev, mem + 1, 1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_prefetch(self->dev, mem, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_snapshot(self->dev, mem + 1, 1, prot));
	ASSERT_EQ(-EINVAL, vhmm_snapshot(self->dev, mem, 1, NULL));
	ASSERT_EQ(-EFAULT, vhmm_snapshot(self->dev, mem, 1,
					 (uint8_t *)self->psz));
	munmap(mem, n * self->psz);
}

TEST_F(lib, migrate)
{
	const size_t n = 16;
	uint64_t *mem = map_anon(n * self->psz, PROT_READ | PROT_WRITE);
	uint64_t *back = malloc(n * self->psz), moved = 99;
	size_t words = n * self->psz / 8, i;
	struct vhmm_stats before, after;
	uint8_t prot[16];

	ASSERT_NE(NULL, mem);
	ASSERT_NE(NULL, back);
	for (i = 0; i < words; i++)
		mem[i] = i * 3 + 1;
	ASSERT_EQ(0, vhmm_get_stats(self->dev, &before));
	ASSERT_EQ(0, vhmm_migrate_to_device(self->dev, mem, n, back));
	/* what the device read back; the CPU must not touch mem yet */
	for (i = 0; i < words; i++)
		ASSERT_EQ(i * 3 + 1, back[i]);
	ASSERT_EQ(0, vhmm_snapshot(self->dev, mem, n, prot));
	for (i = 0; i < n; i++)
		ASSERT_TRUE(prot[i] & VHMM_PAGE_DEVICE);
	ASSERT_EQ(0, vhmm_get_stats(self->dev, &after));
	ASSERT_GE(after.pages_to_dev - before.pages_to_dev, n);
	ASSERT_GE(after.devmem_used, n);
	ASSERT_EQ(0, vhmm_migrate_to_system(self->dev, mem, n, &moved));
	ASSERT_EQ(n, moved);
	ASSERT_EQ(0, vhmm_migrate_to_system(self->dev, mem, n, &moved));
	ASSERT_EQ(0, moved);
	ASSERT_EQ(0, vhmm_snapshot(self->dev, mem, n, prot));
	for (i = 0; i < n; i++)
		ASSERT_FALSE(prot[i] & VHMM_PAGE_DEVICE);
	for (i = 0; i < words; i++)
		ASSERT_EQ(i * 3 + 1, mem[i]);
	/*
	 * Without a read-back buffer. Then the CPU reads: private pages come
	 * back to system memory, coherent ones are read in place.
	 */
	ASSERT_EQ(0, vhmm_migrate_to_device(self->dev, mem, n, NULL));
	ASSERT_EQ(0, vhmm_get_stats(self->dev, &before));
	for (i = 0; i < words; i++)
		ASSERT_EQ(i * 3 + 1, mem[i]);
	ASSERT_EQ(0, vhmm_get_stats(self->dev, &after));
	ASSERT_EQ(0, vhmm_snapshot(self->dev, mem, n, prot));
	if (variant->mode == VHMM_MODE_PRIVATE) {
		ASSERT_GT(after.cpu_faults, before.cpu_faults);
		ASSERT_GE(after.pages_to_sys - before.pages_to_sys, n);
		for (i = 0; i < n; i++)
			ASSERT_FALSE(prot[i] & VHMM_PAGE_DEVICE);
	} else {
		ASSERT_EQ(after.cpu_faults, before.cpu_faults);
		for (i = 0; i < n; i++)
			ASSERT_TRUE(prot[i] & VHMM_PAGE_DEVICE);
		ASSERT_EQ(0, vhmm_migrate_to_system(self->dev, mem, n, &moved));
		ASSERT_EQ(n, moved);
	}
	/* documented errors */
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_device(self->dev, (char *)mem + 1,
						  1, NULL));
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_device(self->dev, mem, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_system(self->dev, mem, 0, NULL));
	munmap(mem, n * self->psz);
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_device(self->dev, mem, n, back));
	ASSERT_EQ(-EINVAL, vhmm_migrate_to_system(self->dev, mem, n, NULL));
	free(back);
}

TEST_F(lib, fill_copy)
{
	const size_t len = 2 * self->psz + 13;
	uint8_t *a = malloc(len), *b = malloc(len);
	uint8_t *ro = map_anon(self->psz, PROT_READ);
	uint64_t faults;
	size_t i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_NE(NULL, ro);
	ASSERT_EQ(0, vhmm_fill(self->dev, a, len, 0x1122334455667788ull,
			       &faults));
	for (i = 0; i < len; i++)
		ASSERT_EQ((uint8_t)(0x1122334455667788ull >> (8 * (i % 8))),
			  a[i]);
	ASSERT_EQ(0, vhmm_copy(self->dev, b, a, len, NULL));
	ASSERT_EQ(0, memcmp(a, b, len));
	/* documented errors */
	ASSERT_EQ(-EINVAL, vhmm_fill(self->dev, a, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_fill(self->dev, (void *)~0ull, 16, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_copy(self->dev, b, NULL, len, NULL));
	ASSERT_EQ(-EPERM, vhmm_fill(self->dev, ro, 8, 0, NULL));
	ASSERT_EQ(-EPERM, vhmm_copy(self->dev, ro, a, 8, NULL));
	munmap(ro, self->psz);
	free(a);
	free(b);
}

TEST_F(lib, atomic)
{
	uint64_t *v = malloc(2 * sizeof(*v)), old = 0;
	uint32_t *w = (uint32_t *)v;

	ASSERT_NE(NULL, v);
	if (!(self->info.features & (1ull << VIRTIO_HMM_F_ATOMICS))) {
		ASSERT_EQ(-EOPNOTSUPP, vhmm_atomic(self->dev, v,
						   VHMM_ATOMIC_XCHG, 8, 0, 0,
						   NULL));
		free(v);
		SKIP(return, "the device has no atomics");
	}
	v[0] = 10;
	ASSERT_EQ(0, vhmm_atomic(self->dev, v, VHMM_ATOMIC_FETCH_ADD, 8, 5, 0,
				 &old));
	ASSERT_EQ(10, old);
	ASSERT_EQ(15, v[0]);
	ASSERT_EQ(0, vhmm_atomic(self->dev, v, VHMM_ATOMIC_XCHG, 8, 3, 0,
				 &old));
	ASSERT_EQ(15, old);
	ASSERT_EQ(3, v[0]);
	ASSERT_EQ(0, vhmm_atomic(self->dev, v, VHMM_ATOMIC_CMPXCHG, 8, 9, 4,
				 &old));
	ASSERT_EQ(3, old);
	ASSERT_EQ(3, v[0]);
	ASSERT_EQ(0, vhmm_atomic(self->dev, v, VHMM_ATOMIC_CMPXCHG, 8, 9, 3,
				 &old));
	ASSERT_EQ(9, v[0]);
	/* 4 bytes: only that word changes */
	v[1] = 0x100000001ull;
	ASSERT_EQ(0, vhmm_atomic(self->dev, &w[2], VHMM_ATOMIC_FETCH_ADD, 4,
				 1, 0, &old));
	ASSERT_EQ(1, old);
	ASSERT_EQ(0x100000002ull, v[1]);
	/* documented errors */
	ASSERT_EQ(-EINVAL, vhmm_atomic(self->dev, v, VHMM_ATOMIC_XCHG, 3, 0,
				       0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_atomic(self->dev, &w[1], VHMM_ATOMIC_XCHG, 8,
				       0, 0, NULL));
	ASSERT_EQ(-EINVAL, vhmm_atomic(self->dev, v, (enum vhmm_atomic_op)7,
				       8, 0, 0, NULL));
	free(v);
}

struct node {
	uint32_t value;
	uint32_t pad;
	struct node *next;
};

TEST_F(lib, chase)
{
	struct node *nodes = calloc(100, sizeof(*nodes));
	struct vhmm_chase_result res;
	uint64_t sum = 0;
	int i;

	ASSERT_NE(NULL, nodes);
	for (i = 0; i < 100; i++) {
		nodes[i].value = i + 1;
		nodes[i].next = i < 99 ? &nodes[i + 1] : NULL;
		sum += i + 1;
	}
	ASSERT_EQ(0, vhmm_chase(self->dev, nodes, offsetof(struct node, next),
				offsetof(struct node, value), 4, 1000, &res));
	ASSERT_EQ(100, res.nodes);
	ASSERT_EQ(sum, res.sum);
	ASSERT_EQ(0, vhmm_chase(self->dev, nodes, offsetof(struct node, next),
				offsetof(struct node, value), 4, 10, &res));
	ASSERT_EQ(10, res.nodes);
	ASSERT_EQ(55, res.sum);
	ASSERT_EQ(0, vhmm_chase(self->dev, NULL, 0, 0, 8, 10, &res));
	ASSERT_EQ(0, res.nodes);
	/* documented errors */
	ASSERT_EQ(-EINVAL, vhmm_chase(self->dev, nodes, 8, 0, 3, 10, &res));
	ASSERT_EQ(-EINVAL, vhmm_chase(self->dev, nodes, 8, 0, 4, 10, NULL));
	nodes[5].next = (struct node *)self->psz;	/* unmapped */
	ASSERT_EQ(-EFAULT, vhmm_chase(self->dev, nodes,
				      offsetof(struct node, next),
				      offsetof(struct node, value), 4, 1000,
				      &res));
	free(nodes);
}

TEST_F(lib, stats)
{
	struct vhmm_stats a, b;
	uint8_t *mem = map_anon(self->psz, PROT_READ | PROT_WRITE);
	uint8_t buf[4096];

	ASSERT_NE(NULL, mem);
	ASSERT_LE(self->psz, sizeof(buf));
	ASSERT_EQ(0, vhmm_get_stats(self->dev, &a));
	ASSERT_EQ(a.bytes_to_dev, a.pages_to_dev * self->psz);
	ASSERT_EQ(0, vhmm_mirror_write(self->dev, mem, buf, 1, NULL));
	ASSERT_EQ(0, vhmm_get_stats(self->dev, &b));
	ASSERT_GT(b.faults, a.faults);
	ASSERT_GT(b.fault_batches, a.fault_batches);
	ASSERT_EQ(-EINVAL, vhmm_get_stats(self->dev, NULL));
	munmap(mem, self->psz);
}

/* The handle belongs to the process that opened it. */
TEST_F(lib, fork_child_must_reopen)
{
	struct vhmm_info info;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct vhmm_dev *own;

		if (vhmm_get_info(self->dev, &info) != -EBADFD)
			_exit(1);
		if (vhmm_open(self->index, &own) ||
		    vhmm_get_info(own, &info))
			_exit(2);
		vhmm_close(own);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* the parent's handle still works */
	ASSERT_EQ(0, vhmm_get_info(self->dev, &info));
}

TEST_HARNESS_MAIN
