/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * virtio-hmm guest driver uapi: the ioctls of /dev/virtio_hmm<N>.
 *
 * The first eight ioctls are the kernel's lib/test_hmm_uapi.h ABI, so that
 * the upstream HMM selftests (tools/testing/selftests/vm/hmm-tests.c) run
 * unmodified against a virtio-hmm device. This header is a superset of that
 * one and takes its include guard: include either, not both.
 * tests/unit/uapi-compat.c checks that the two agree.
 *
 * The rest are virtio-hmm's own: the device's execution engine (fill, copy,
 * atomics, pointer chasing) and its statistics.
 *
 * Every field is marked (in) or (out).
 */
#ifndef _LINUX_VIRTIO_HMM_IOCTL_H
#define _LINUX_VIRTIO_HMM_IOCTL_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifndef _LIB_TEST_HMM_UAPI_H
#define _LIB_TEST_HMM_UAPI_H

/*
 * @addr: (in) user address the device will read/write
 * @ptr: (in) user address where device data is copied to/from
 * @npages: (in) number of pages to read/write
 * @cpages: (out) number of pages copied
 * @faults: (out) number of device page faults seen
 */
struct hmm_dmirror_cmd {
	__u64		addr;
	__u64		ptr;
	__u64		npages;
	__u64		cpages;
	__u64		faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)

/* Values returned in hmm_dmirror_cmd.ptr for HMM_DMIRROR_SNAPSHOT */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

enum {
	/* 0 is reserved to catch uninitialized type fields */
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
};

#endif /* _LIB_TEST_HMM_UAPI_H */

/* VIRTIO_HMM_IOC_INFO: what the device is */
struct virtio_hmm_info {
	__u32 mode;		/* (out) HMM_DMIRROR_MEMORY_DEVICE_{PRIVATE,COHERENT} */
	__u32 page_size;	/* (out) device page size */
	__u64 devmem_size;	/* (out) bytes of device memory */
	__u64 devmem_free;	/* (out) bytes of device memory not in use */
	__u64 features;		/* (out) negotiated virtio feature bits */
};

/* VIRTIO_HMM_IOC_FILL, VIRTIO_HMM_IOC_COPY: the device writes a VA range */
struct virtio_hmm_range_job {
	__u64 addr;		/* (in) destination address in the caller's address space */
	__u64 src;		/* (in) COPY: source address; FILL: ignored */
	__u64 length;		/* (in) bytes */
	__u64 pattern;		/* (in) FILL: 8-byte pattern, little-endian order */
	__u64 faults;		/* (out) device page faults resolved for this job */
};

/* VIRTIO_HMM_IOC_ATOMIC: one device atomic on the caller's memory */
#define VIRTIO_HMM_OP_FETCH_ADD	0	/* old = *addr; *addr += operand */
#define VIRTIO_HMM_OP_XCHG	1	/* old = *addr; *addr = operand */
#define VIRTIO_HMM_OP_CMPXCHG	2	/* old = *addr; if (old == compare) *addr = operand */

struct virtio_hmm_atomic {
	__u64 addr;		/* (in) naturally aligned to size */
	__u64 operand;		/* (in) */
	__u64 compare;		/* (in) CMPXCHG only */
	__u32 op;		/* (in) VIRTIO_HMM_OP_* */
	__u32 size;		/* (in) 4 or 8 bytes */
	__u64 old;		/* (out) the value before the operation */
	__u64 faults;		/* (out) device page faults resolved */
};

/*
 * VIRTIO_HMM_IOC_CHASE: the device walks a linked list in the caller's
 * memory: from addr, add the value at node + value_offset to sum, follow the
 * pointer at node + next_offset, until NULL or max_nodes nodes.
 */
struct virtio_hmm_chase {
	__u64 addr;		/* (in) first node */
	__u32 next_offset;	/* (in) offset of the next pointer in a node */
	__u32 value_offset;	/* (in) offset of the value in a node */
	__u32 value_size;	/* (in) 1, 2, 4 or 8 */
	__u32 max_nodes;	/* (in) */
	__u64 sum;		/* (out) sum of the values, modulo 2^64 */
	__u64 nodes;		/* (out) nodes visited */
	__u64 faults;		/* (out) device page faults resolved */
};

/* VIRTIO_HMM_IOC_STATS: driver and device counters since probe */
struct virtio_hmm_ioc_stats {
	__u64 faults;		/* (out) device faults resolved */
	__u64 fault_batches;	/* (out) fault-queue batches handled */
	__u64 pages_to_dev;	/* (out) pages migrated to device memory */
	__u64 pages_to_sys;	/* (out) pages migrated back to system memory */
	__u64 bytes_to_dev;	/* (out) */
	__u64 bytes_to_sys;	/* (out) */
	__u64 cpu_faults;	/* (out) migrate_to_ram calls (CPU touched device pages) */
	__u64 evictions;	/* (out) pages moved out because device memory was full */
	__u64 invalidations;	/* (out) mmu notifier invalidations sent to the device */
	__u64 devmem_used;	/* (out) device pages in use */
};

#define VIRTIO_HMM_IOC_INFO	_IOR('H', 0x40, struct virtio_hmm_info)
#define VIRTIO_HMM_IOC_FILL	_IOWR('H', 0x41, struct virtio_hmm_range_job)
#define VIRTIO_HMM_IOC_COPY	_IOWR('H', 0x42, struct virtio_hmm_range_job)
#define VIRTIO_HMM_IOC_ATOMIC	_IOWR('H', 0x43, struct virtio_hmm_atomic)
#define VIRTIO_HMM_IOC_CHASE	_IOWR('H', 0x44, struct virtio_hmm_chase)
#define VIRTIO_HMM_IOC_STATS	_IOR('H', 0x45, struct virtio_hmm_ioc_stats)

#endif /* _LINUX_VIRTIO_HMM_IOCTL_H */
