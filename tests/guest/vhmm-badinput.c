// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm-badinput: every ioctl of /dev/virtio_hmm<N> with bad arguments, one
 * table row each: lengths 0 and huge, addr + len past 2^64, misalignment,
 * unmapped, read-only, inaccessible and kernel ranges, bad ops and sizes,
 * NULL and invalid user pointers, unknown ioctl numbers and wrong sizes.
 * Each row asserts the exact errno, then that nothing changed: the memory
 * holds its data and a valid call on the same file still works.
 *
 * Memory of the fixture (pages): a guard page (PROT_NONE), BUF_PAGES of
 * data, a guard page; a read-only area; a hole (unmapped); an output
 * buffer. A "huge" range starts in the hole or runs from the data into the
 * guard, so it fails at once instead of walking the address space.
 *
 * mmap_killed: an mmap() of the device file asks the driver for as many
 * zeroed pages as the caller likes; SIGKILL stops it.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "kselftest_harness.h"
#include "vhmm_test.h"

#define BUF_PAGES	16
#define HUGE_PAGES	(1ULL << 30)		/* 4 TiB: no overflow */
#define WRAP_PAGES	(~0ULL >> 12)		/* addr + len passes 2^64 */

/* Where an address argument points */
enum loc {
	L_NONE,		/* 0 */
	L_BUF,		/* the data, page aligned */
	L_BUF_1,	/* the data + 1 */
	L_BUF_4,	/* the data + 4 */
	L_RO,		/* a read-only mapping with data */
	L_GUARD,	/* a PROT_NONE mapping */
	L_HOLE,		/* unmapped */
	L_KERNEL,	/* a kernel address */
	L_TOP,		/* the last page of the 64-bit space */
	L_OUT,		/* the output buffer */
};

/* What the ioctl's argument pointer is */
enum arg { ARG_STRUCT, ARG_NULL, ARG_HOLE, ARG_RO };

FIXTURE(badinput)
{
	int fd;
	size_t ps;
	unsigned char *area;	/* guard, data, guard */
	unsigned char *buf;
	unsigned char *ro;
	unsigned char *hole;
	unsigned char *out;
	unsigned char *expect;	/* what buf holds */
	unsigned char *ro_arg;	/* a read-only page for ARG_RO */
};

FIXTURE_VARIANT(badinput)
{
	unsigned long req;
	enum arg arg;
	enum loc addr;
	enum loc ptr;		/* dmirror ptr, COPY src */
	uint64_t n;		/* npages, length */
	uint32_t op;		/* ATOMIC op, CHASE value_size */
	uint32_t size;		/* ATOMIC size, CHASE max_nodes */
	uint32_t next_offset;	/* CHASE */
	int err;		/* expected errno, 0 for success */
};

static uint64_t where(FIXTURE_DATA(badinput) *self, enum loc l)
{
	switch (l) {
	case L_BUF: return (uintptr_t)self->buf;
	case L_BUF_1: return (uintptr_t)self->buf + 1;
	case L_BUF_4: return (uintptr_t)self->buf + 4;
	case L_RO: return (uintptr_t)self->ro;
	case L_GUARD: return (uintptr_t)self->area;
	case L_HOLE: return (uintptr_t)self->hole;
	case L_KERNEL: return 0xffff888000000000ULL;
	case L_TOP: return ~0ULL & ~(uint64_t)(self->ps - 1);
	case L_OUT: return (uintptr_t)self->out;
	default: return 0;
	}
}

FIXTURE_SETUP(badinput)
{
	int index = vhmm_find("private", 0);
	size_t i;

	if (index < 0)
		SKIP(return, "no private virtio-hmm device");
	self->ps = sysconf(_SC_PAGESIZE);
	self->fd = vhmm_open_index(index);
	ASSERT_GE(self->fd, 0);
	self->area = mmap(NULL, (BUF_PAGES + 2) * self->ps, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->area, MAP_FAILED);
	self->buf = self->area + self->ps;
	ASSERT_EQ(mprotect(self->buf, BUF_PAGES * self->ps,
			   PROT_READ | PROT_WRITE), 0);
	self->ro = mmap(NULL, BUF_PAGES * self->ps, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->ro, MAP_FAILED);
	self->hole = mmap(NULL, BUF_PAGES * self->ps, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->hole, MAP_FAILED);
	self->out = mmap(NULL, BUF_PAGES * self->ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->out, MAP_FAILED);
	self->ro_arg = mmap(NULL, self->ps, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->ro_arg, MAP_FAILED);
	/* last, so that no other mapping of the fixture lands in the hole */
	ASSERT_EQ(munmap(self->hole, BUF_PAGES * self->ps), 0);
	self->expect = malloc(BUF_PAGES * self->ps);
	ASSERT_NE(self->expect, NULL);
	for (i = 0; i < BUF_PAGES * self->ps; i++) {
		self->buf[i] = i * 7 + 1;
		self->ro[i] = i * 5 + 3;
	}
	memcpy(self->expect, self->buf, BUF_PAGES * self->ps);
	ASSERT_EQ(mprotect(self->ro, BUF_PAGES * self->ps, PROT_READ), 0);
	/* half of the data in device memory: bad input must not lose it */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
			       self->buf, self->out, BUF_PAGES / 2, NULL), 0);
}

FIXTURE_TEARDOWN(badinput)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* The call a row makes; returns 0 or -errno. */
static int call(FIXTURE_DATA(badinput) *self,
		const FIXTURE_VARIANT(badinput) *v)
{
	union {
		struct hmm_dmirror_cmd cmd;
		struct virtio_hmm_range_job job;
		struct virtio_hmm_atomic atomic;
		struct virtio_hmm_chase chase;
		char raw[256];
	} a;
	void *arg = &a;

	memset(&a, 0, sizeof(a));
	switch (v->req) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_MIGRATE_TO_DEV:
	case HMM_DMIRROR_MIGRATE_TO_SYS:
	case HMM_DMIRROR_SNAPSHOT:
	case HMM_DMIRROR_EXCLUSIVE:
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
		a.cmd.addr = where(self, v->addr);
		a.cmd.ptr = where(self, v->ptr);
		a.cmd.npages = v->n;
		break;
	case VIRTIO_HMM_IOC_FILL:
	case VIRTIO_HMM_IOC_COPY:
		a.job.addr = where(self, v->addr);
		a.job.src = where(self, v->ptr);
		a.job.length = v->n;
		a.job.pattern = 0x0123456789abcdefULL;
		break;
	case VIRTIO_HMM_IOC_ATOMIC:
		a.atomic.addr = where(self, v->addr);
		a.atomic.op = v->op;
		a.atomic.size = v->size;
		a.atomic.operand = 1;
		break;
	case VIRTIO_HMM_IOC_CHASE:
		a.chase.addr = where(self, v->addr);
		a.chase.value_size = v->op;
		a.chase.max_nodes = v->size;
		a.chase.next_offset = v->next_offset;
		break;
	}
	switch (v->arg) {
	case ARG_NULL: arg = NULL; break;
	case ARG_HOLE: arg = self->hole; break;
	case ARG_RO: arg = self->ro_arg; break;
	default: break;
	}
	return ioctl(self->fd, v->req, arg) ? -errno : 0;
}

TEST_F(badinput, call)
{
	size_t size = BUF_PAGES * self->ps, i;
	unsigned char *back = malloc(size);

	ASSERT_NE(back, NULL);
	EXPECT_EQ(call(self, variant), -variant->err);

	/* nothing changed: memory (read by the CPU last), read-only area */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_READ, self->buf, back,
			       BUF_PAGES, NULL), 0);
	ASSERT_EQ(memcmp(back, self->expect, size), 0);
	for (i = 0; i < size; i++)
		ASSERT_EQ(self->ro[i], (unsigned char)(i * 5 + 3));
	ASSERT_EQ(memcmp(self->buf, self->expect, size), 0);
	/* the same file still works: a write, a fill, an atomic */
	ASSERT_EQ(vhmm_dmirror(self->fd, HMM_DMIRROR_WRITE, self->buf,
			       self->expect, BUF_PAGES, NULL), 0);
	ASSERT_EQ(vhmm_job_fill(self->fd, self->out, 64, 9, NULL), 0);
	ASSERT_EQ(self->out[0], 9);
	ASSERT_EQ(vhmm_job_atomic(self->fd, self->out, VIRTIO_HMM_OP_XCHG, 8,
				  5, 0, NULL), 0);
	ASSERT_EQ(self->out[0], 5);
	free(back);
}

#define ROW(name, ...) \
	FIXTURE_VARIANT_ADD(badinput, name) { __VA_ARGS__ }

/* The eight test_hmm commands: what every one of them refuses */
#define DMIRROR_ROWS(cmd, req_)						\
ROW(cmd##_npages_0, .req = req_, .addr = L_BUF, .ptr = L_OUT,		\
    .n = 0, .err = EINVAL);						\
ROW(cmd##_misaligned, .req = req_, .addr = L_BUF_1, .ptr = L_OUT,	\
    .n = 1, .err = EINVAL);						\
ROW(cmd##_wrap, .req = req_, .addr = L_BUF, .ptr = L_OUT,		\
    .n = WRAP_PAGES, .err = EINVAL);					\
ROW(cmd##_top_wrap, .req = req_, .addr = L_TOP, .ptr = L_OUT,		\
    .n = 2, .err = EINVAL);						\
ROW(cmd##_arg_null, .req = req_, .arg = ARG_NULL, .err = EFAULT);	\
ROW(cmd##_arg_unmapped, .req = req_, .arg = ARG_HOLE, .err = EFAULT)

DMIRROR_ROWS(read, HMM_DMIRROR_READ);
DMIRROR_ROWS(write, HMM_DMIRROR_WRITE);
DMIRROR_ROWS(migrate_to_dev, HMM_DMIRROR_MIGRATE_TO_DEV);
DMIRROR_ROWS(migrate_to_sys, HMM_DMIRROR_MIGRATE_TO_SYS);
DMIRROR_ROWS(snapshot, HMM_DMIRROR_SNAPSHOT);
DMIRROR_ROWS(exclusive, HMM_DMIRROR_EXCLUSIVE);
DMIRROR_ROWS(check_exclusive, HMM_DMIRROR_CHECK_EXCLUSIVE);
DMIRROR_ROWS(release, HMM_DMIRROR_RELEASE);

/* READ: the device reads, the driver copies out to ptr */
ROW(read_unmapped, .req = HMM_DMIRROR_READ, .addr = L_HOLE, .ptr = L_OUT,
    .n = 1, .err = EFAULT);
ROW(read_guard, .req = HMM_DMIRROR_READ, .addr = L_GUARD, .ptr = L_OUT,
    .n = 1, .err = EFAULT);
ROW(read_kernel, .req = HMM_DMIRROR_READ, .addr = L_KERNEL, .ptr = L_OUT,
    .n = 1, .err = EFAULT);
ROW(read_huge, .req = HMM_DMIRROR_READ, .addr = L_BUF, .ptr = L_OUT,
    .n = HUGE_PAGES, .err = EFAULT);
ROW(read_ptr_null, .req = HMM_DMIRROR_READ, .addr = L_BUF, .ptr = L_NONE,
    .n = 1, .err = EFAULT);
ROW(read_ptr_readonly, .req = HMM_DMIRROR_READ, .addr = L_BUF, .ptr = L_RO,
    .n = 1, .err = EFAULT);
ROW(read_ptr_unmapped, .req = HMM_DMIRROR_READ, .addr = L_BUF,
    .ptr = L_HOLE, .n = 1, .err = EFAULT);
/* a read-only argument of zeros: npages 0 */
ROW(read_arg_readonly, .req = HMM_DMIRROR_READ, .arg = ARG_RO, .err = EINVAL);

/* WRITE: the driver copies in from ptr, the device writes */
ROW(write_unmapped, .req = HMM_DMIRROR_WRITE, .addr = L_HOLE, .ptr = L_OUT,
    .n = 1, .err = EFAULT);
ROW(write_readonly, .req = HMM_DMIRROR_WRITE, .addr = L_RO, .ptr = L_OUT,
    .n = 1, .err = EPERM);
ROW(write_kernel, .req = HMM_DMIRROR_WRITE, .addr = L_KERNEL, .ptr = L_OUT,
    .n = 1, .err = EFAULT);
ROW(write_huge_hole, .req = HMM_DMIRROR_WRITE, .addr = L_HOLE, .ptr = L_OUT,
    .n = HUGE_PAGES, .err = EFAULT);
ROW(write_ptr_null, .req = HMM_DMIRROR_WRITE, .addr = L_BUF, .ptr = L_NONE,
    .n = 1, .err = EFAULT);
ROW(write_ptr_unmapped, .req = HMM_DMIRROR_WRITE, .addr = L_BUF,
    .ptr = L_HOLE, .n = 1, .err = EFAULT);

/* Migration: a range that is not a readable mapping */
ROW(migrate_to_dev_unmapped, .req = HMM_DMIRROR_MIGRATE_TO_DEV,
    .addr = L_HOLE, .ptr = L_OUT, .n = 1, .err = EINVAL);
ROW(migrate_to_dev_guard, .req = HMM_DMIRROR_MIGRATE_TO_DEV,
    .addr = L_GUARD, .ptr = L_OUT, .n = 1, .err = EINVAL);
ROW(migrate_to_dev_kernel, .req = HMM_DMIRROR_MIGRATE_TO_DEV,
    .addr = L_KERNEL, .ptr = L_OUT, .n = 1, .err = EINVAL);
ROW(migrate_to_dev_huge_hole, .req = HMM_DMIRROR_MIGRATE_TO_DEV,
    .addr = L_HOLE, .ptr = L_OUT, .n = HUGE_PAGES, .err = EINVAL);
ROW(migrate_to_sys_unmapped, .req = HMM_DMIRROR_MIGRATE_TO_SYS,
    .addr = L_HOLE, .n = 1, .err = EINVAL);
ROW(migrate_to_sys_kernel, .req = HMM_DMIRROR_MIGRATE_TO_SYS,
    .addr = L_KERNEL, .n = 1, .err = EINVAL);
ROW(release_unmapped, .req = HMM_DMIRROR_RELEASE, .addr = L_HOLE, .n = 1,
    .err = EINVAL);

/* SNAPSHOT reports, it does not fault: only the output can fail */
ROW(snapshot_unmapped, .req = HMM_DMIRROR_SNAPSHOT, .addr = L_HOLE,
    .ptr = L_OUT, .n = 4, .err = 0);
ROW(snapshot_ptr_null, .req = HMM_DMIRROR_SNAPSHOT, .addr = L_BUF,
    .ptr = L_NONE, .n = 1, .err = EFAULT);
ROW(snapshot_huge_ptr_short, .req = HMM_DMIRROR_SNAPSHOT, .addr = L_HOLE,
    .ptr = L_OUT, .n = HUGE_PAGES, .err = EFAULT);

/* EXCLUSIVE: make_device_exclusive_range() on what it cannot take */
ROW(exclusive_unmapped, .req = HMM_DMIRROR_EXCLUSIVE, .addr = L_HOLE,
    .ptr = L_OUT, .n = 1, .err = EFAULT);
ROW(exclusive_readonly, .req = HMM_DMIRROR_EXCLUSIVE, .addr = L_RO,
    .ptr = L_OUT, .n = 1, .err = EFAULT);
ROW(check_exclusive_huge, .req = HMM_DMIRROR_CHECK_EXCLUSIVE,
    .addr = L_BUF, .n = HUGE_PAGES, .err = 0);

/* FILL and COPY */
ROW(fill_length_0, .req = VIRTIO_HMM_IOC_FILL, .addr = L_BUF, .n = 0,
    .err = EINVAL);
ROW(fill_wrap, .req = VIRTIO_HMM_IOC_FILL, .addr = L_TOP, .n = 2 << 12,
    .err = EINVAL);
ROW(fill_unmapped, .req = VIRTIO_HMM_IOC_FILL, .addr = L_HOLE, .n = 8,
    .err = EFAULT);
ROW(fill_guard, .req = VIRTIO_HMM_IOC_FILL, .addr = L_GUARD, .n = 8,
    .err = EFAULT);
ROW(fill_readonly, .req = VIRTIO_HMM_IOC_FILL, .addr = L_RO, .n = 8,
    .err = EPERM);
ROW(fill_kernel, .req = VIRTIO_HMM_IOC_FILL, .addr = L_KERNEL, .n = 8,
    .err = EFAULT);
ROW(fill_null, .req = VIRTIO_HMM_IOC_FILL, .addr = L_NONE, .n = 8,
    .err = EFAULT);
/* 2^64 - 1 bytes from 0 does not wrap; it once made the driver spin */
ROW(fill_null_all, .req = VIRTIO_HMM_IOC_FILL, .addr = L_NONE, .n = ~0ULL,
    .err = EFAULT);
ROW(fill_huge_hole, .req = VIRTIO_HMM_IOC_FILL, .addr = L_HOLE,
    .n = HUGE_PAGES << 12, .err = EFAULT);
ROW(fill_arg_null, .req = VIRTIO_HMM_IOC_FILL, .arg = ARG_NULL,
    .err = EFAULT);
ROW(copy_length_0, .req = VIRTIO_HMM_IOC_COPY, .addr = L_OUT, .ptr = L_BUF,
    .n = 0, .err = EINVAL);
ROW(copy_src_null, .req = VIRTIO_HMM_IOC_COPY, .addr = L_OUT,
    .ptr = L_NONE, .n = 8, .err = EINVAL);
ROW(copy_src_wrap, .req = VIRTIO_HMM_IOC_COPY, .addr = L_OUT, .ptr = L_TOP,
    .n = 2 << 12, .err = EINVAL);
ROW(copy_dst_wrap, .req = VIRTIO_HMM_IOC_COPY, .addr = L_TOP, .ptr = L_BUF,
    .n = 2 << 12, .err = EINVAL);
ROW(copy_src_unmapped, .req = VIRTIO_HMM_IOC_COPY, .addr = L_OUT,
    .ptr = L_HOLE, .n = 8, .err = EFAULT);
ROW(copy_dst_unmapped, .req = VIRTIO_HMM_IOC_COPY, .addr = L_HOLE,
    .ptr = L_BUF, .n = 8, .err = EFAULT);
ROW(copy_dst_readonly, .req = VIRTIO_HMM_IOC_COPY, .addr = L_RO,
    .ptr = L_BUF, .n = 8, .err = EPERM);
ROW(copy_src_kernel, .req = VIRTIO_HMM_IOC_COPY, .addr = L_OUT,
    .ptr = L_KERNEL, .n = 8, .err = EFAULT);
ROW(copy_arg_unmapped, .req = VIRTIO_HMM_IOC_COPY, .arg = ARG_HOLE,
    .err = EFAULT);

/* ATOMIC */
ROW(atomic_size_0, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_OUT, .size = 0,
    .err = EINVAL);
ROW(atomic_size_2, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_OUT, .size = 2,
    .err = EINVAL);
ROW(atomic_size_16, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_OUT,
    .size = 16, .err = EINVAL);
ROW(atomic_misaligned, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_BUF_4,
    .size = 8, .err = EINVAL);
ROW(atomic_bad_op, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_OUT,
    .op = VIRTIO_HMM_OP_CMPXCHG + 1, .size = 8, .err = EINVAL);
ROW(atomic_op_huge, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_OUT,
    .op = 0xffffffff, .size = 4, .err = EINVAL);
ROW(atomic_unmapped, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_HOLE,
    .size = 8, .err = EFAULT);
ROW(atomic_readonly, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_RO,
    .size = 8, .err = EPERM);
ROW(atomic_kernel, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_KERNEL,
    .size = 8, .err = EFAULT);
ROW(atomic_null, .req = VIRTIO_HMM_IOC_ATOMIC, .addr = L_NONE, .size = 8,
    .err = EFAULT);
ROW(atomic_arg_null, .req = VIRTIO_HMM_IOC_ATOMIC, .arg = ARG_NULL,
    .err = EFAULT);

/* CHASE (.op is value_size, .size max_nodes) */
ROW(chase_value_size_0, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_BUF,
    .op = 0, .size = 1, .err = EINVAL);
ROW(chase_value_size_3, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_BUF,
    .op = 3, .size = 1, .err = EINVAL);
ROW(chase_value_size_16, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_BUF,
    .op = 16, .size = 1, .err = EINVAL);
ROW(chase_max_nodes_0, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_BUF,
    .op = 8, .size = 0, .err = EINVAL);
ROW(chase_unmapped, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_HOLE, .op = 8,
    .size = 4, .err = EFAULT);
ROW(chase_kernel, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_KERNEL, .op = 8,
    .size = 4, .err = EFAULT);
ROW(chase_next_offset_huge, .req = VIRTIO_HMM_IOC_CHASE, .addr = L_BUF,
    .op = 8, .size = 4, .next_offset = 0xfffffff8, .err = EFAULT);
ROW(chase_arg_readonly, .req = VIRTIO_HMM_IOC_CHASE, .arg = ARG_RO,
    .err = EINVAL);

/* INFO, STATS: output only */
ROW(info_arg_null, .req = VIRTIO_HMM_IOC_INFO, .arg = ARG_NULL,
    .err = EFAULT);
ROW(info_arg_readonly, .req = VIRTIO_HMM_IOC_INFO, .arg = ARG_RO,
    .err = EFAULT);
ROW(stats_arg_null, .req = VIRTIO_HMM_IOC_STATS, .arg = ARG_NULL,
    .err = EFAULT);
ROW(stats_arg_unmapped, .req = VIRTIO_HMM_IOC_STATS, .arg = ARG_HOLE,
    .err = EFAULT);

/* Unknown numbers and wrong sizes */
ROW(ioctl_unknown_nr, .req = _IOWR('H', 0x3f, struct hmm_dmirror_cmd),
    .err = ENOTTY);
ROW(ioctl_unknown_type, .req = _IOWR('X', 0x00, struct hmm_dmirror_cmd),
    .err = ENOTTY);
ROW(ioctl_read_wrong_size, .req = _IOWR('H', 0x00, char[8]),
    .err = ENOTTY);
ROW(ioctl_fill_wrong_size, .req = _IOWR('H', 0x41, char[16]),
    .err = ENOTTY);
ROW(ioctl_info_wrong_dir, .req = _IOW('H', 0x40, struct virtio_hmm_info),
    .err = ENOTTY);
ROW(ioctl_zero, .req = 0, .err = ENOTTY);

static long long meminfo_kb(const char *name)
{
	size_t n = strlen(name);
	long long v = -1;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = strtoll(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

#define MMAP_KILL_SIZE	(512LL << 20)	/* the mapping the child asks for */
#define MMAP_KILL_AT	(48LL << 10)	/* KiB allocated when it is killed */
#define MMAP_KILL_SLACK	(16LL << 10)	/* KiB it may allocate after that */

/*
 * A child mmap()s 512 MiB of the device file (the driver allocates and
 * inserts zeroed pages) and is killed once 48 MiB of memory are gone. The
 * driver must notice the fatal signal and stop: free memory may drop by
 * at most another 16 MiB after the kill (without the check, the mmap()
 * allocates all 512 MiB before the child can die), the child dies of
 * SIGKILL, and the memory comes back.
 */
TEST(mmap_killed)
{
	long long base, now, at_kill, low;
	int idx = vhmm_find("private", 0), status;
	pid_t pid, w;

	if (idx < 0)
		SKIP(return, "no private virtio-hmm device");
	base = meminfo_kb("MemFree");
	ASSERT_GT(base, MMAP_KILL_SIZE >> 10);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd = vhmm_open_index(idx);
		void *p;

		if (fd < 0)
			_exit(2);
		p = mmap(NULL, MMAP_KILL_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
		/* reaching here means the mmap was not stopped */
		_exit(p == MAP_FAILED ? 3 : 4);
	}
	do {
		now = meminfo_kb("MemFree");
		w = waitpid(pid, &status, WNOHANG);
	} while (!w && base - now < MMAP_KILL_AT);
	ASSERT_EQ(w, 0) TH_LOG("child exited before the kill: %#x", status);
	at_kill = now;
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	low = at_kill;
	do {
		now = meminfo_kb("MemFree");
		if (now < low)
			low = now;
		w = waitpid(pid, &status, WNOHANG);
	} while (!w);
	ASSERT_EQ(w, pid);
	TH_LOG("free memory: %lld KiB before, %lld at the kill, lowest %lld after",
	       base, at_kill, low);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGKILL);
	ASSERT_LT(at_kill - low, MMAP_KILL_SLACK);
	/* the mapping was torn down: its pages are free again */
	ASSERT_GT(meminfo_kb("MemFree"), base - MMAP_KILL_SLACK);
}

TEST_HARNESS_MAIN
