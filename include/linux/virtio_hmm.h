/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-hmm: a virtual device with its own MMU, device memory, a copy
 * engine and an execution engine that works on process virtual addresses,
 * for Linux HMM (shared virtual memory) drivers.
 *
 * This header is the wire format. It is shared by the QEMU device, the guest
 * driver and the tests; docs/virtio-hmm.md is its specification.
 * All fields are little-endian.
 */
#ifndef _LINUX_VIRTIO_HMM_H
#define _LINUX_VIRTIO_HMM_H

#include <linux/types.h>

/* Device ID: provisional, not allocated by the virtio TC (PCI 0x1040 + 58) */
#define VIRTIO_ID_HMM			58

/* Feature bits */
#define VIRTIO_HMM_F_COHERENT		0 /* device memory is a CPU-addressable shared memory region */
#define VIRTIO_HMM_F_ATOMICS		1 /* atomic jobs and the ATOMIC permission */
#define VIRTIO_HMM_F_REPLAYABLE_FAULTS	2 /* a faulting job stalls and can be resumed */

/* Shared memory region id of the device memory (VIRTIO_HMM_F_COHERENT) */
#define VIRTIO_HMM_SHM_DEVMEM		0

/* Virtqueues */
#define VIRTIO_HMM_VQ_REQUEST		0 /* driver->device: address spaces, page tables, copies */
#define VIRTIO_HMM_VQ_JOB		1 /* driver->device: execution engine jobs */
#define VIRTIO_HMM_VQ_FAULT		2 /* device->driver: fault records, driver pre-fills */
#define VIRTIO_HMM_NR_VQS		3

struct virtio_hmm_config {
	/* bytes of device memory; a multiple of page_size */
	__le64 devmem_size;
	/* device page size in bytes (4096) */
	__le32 page_size;
	/* address space ids are 0 .. max_asids - 1 */
	__le32 max_asids;
	/* most page entries in one MAP or QUERY request (UNMAP: no limit) */
	__le32 max_map_pages;
	/* most entries in one COPY or FAULT_REPLY request */
	__le32 max_copy_pages;
	/* most bytes a READ, WRITE, FILL or COPY job may cover */
	__le32 max_job_bytes;
	/* most jobs the device keeps stalled on faults at once */
	__le32 max_stalled_jobs;
	/* most page-table pages (512 entries each) for all address spaces */
	__le32 max_page_tables;
	__le32 reserved;	/* 0 */
};

/* Request and job types */
#define VIRTIO_HMM_T_CREATE_AS		0x01 /* requestq: create address space head.asid */
#define VIRTIO_HMM_T_DESTROY_AS		0x02 /* requestq: destroy it, cancel its jobs */
#define VIRTIO_HMM_T_MAP		0x03 /* requestq: set page table entries */
#define VIRTIO_HMM_T_UNMAP		0x04 /* requestq: remove permissions from a range */
#define VIRTIO_HMM_T_QUERY		0x05 /* requestq: read page table entries back */
#define VIRTIO_HMM_T_COPY		0x06 /* requestq: copy engine, page batches */
#define VIRTIO_HMM_T_FAULT_REPLY	0x07 /* requestq: resume or cancel stalled jobs */
#define VIRTIO_HMM_T_GET_STATS		0x08 /* requestq: read the device statistics */

#define VIRTIO_HMM_T_JOB_READ		0x40 /* jobq: VA range -> job buffer */
#define VIRTIO_HMM_T_JOB_WRITE		0x41 /* jobq: job buffer -> VA range */
#define VIRTIO_HMM_T_JOB_FILL		0x42 /* jobq: fill a VA range with a 64-bit pattern */
#define VIRTIO_HMM_T_JOB_COPY		0x43 /* jobq: VA range -> VA range */
#define VIRTIO_HMM_T_JOB_ATOMIC		0x44 /* jobq: one atomic operation on a VA */
#define VIRTIO_HMM_T_JOB_CHASE		0x45 /* jobq: follow a linked list, sum its values */

/* Status codes, in virtio_hmm_tail.status */
#define VIRTIO_HMM_S_OK			0x00 /* success */
#define VIRTIO_HMM_S_IOERR		0x01 /* a guest-physical access failed */
#define VIRTIO_HMM_S_UNSUPP		0x02 /* unknown type, or feature not negotiated */
#define VIRTIO_HMM_S_INVAL		0x03 /* malformed request (lengths, flags, alignment) */
#define VIRTIO_HMM_S_RANGE		0x04 /* address, page or length out of range */
#define VIRTIO_HMM_S_NOASID		0x05 /* address space does not exist */
#define VIRTIO_HMM_S_BUSY		0x06 /* address space already exists */
#define VIRTIO_HMM_S_FAULT		0x07 /* job hit a missing or insufficient translation */
#define VIRTIO_HMM_S_CANCELED		0x08 /* job canceled (FAULT_REPLY, DESTROY_AS) */
#define VIRTIO_HMM_S_NOSPC		0x09 /* no room: stalled jobs, page tables, device memory */

/* Every request and job starts with this (device-readable) */
struct virtio_hmm_head {
	__le16 type;
	__le16 flags;		/* must be 0 unless a request defines some */
	__le32 asid;		/* address space, where the request has one */
	__le64 tag;		/* driver's cookie, echoed in fault records */
};

/* Every request and job ends with this (device-writable) */
struct virtio_hmm_tail {
	__le32 status;		/* VIRTIO_HMM_S_* */
	__le32 count;		/* entries or pages done, per request */
};

/*
 * Page table entry, as passed to MAP and returned by QUERY: the target
 * address (a guest-physical address, or a device memory offset with
 * DEVMEM) in the page-aligned bits, flags in the low bits.
 */
#define VIRTIO_HMM_PTE_VALID		(1 << 0) /* entry is present */
#define VIRTIO_HMM_PTE_READ		(1 << 1) /* device may read */
#define VIRTIO_HMM_PTE_WRITE		(1 << 2) /* device may write */
#define VIRTIO_HMM_PTE_ATOMIC		(1 << 3) /* device may do atomics (exclusive access) */
#define VIRTIO_HMM_PTE_DEVMEM		(1 << 4) /* target is device memory, not guest RAM */
#define VIRTIO_HMM_PTE_FLAGS_MASK	0xfffULL
#define VIRTIO_HMM_PTE_PERM_MASK	\
	(VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_ATOMIC)

/* T_CREATE_AS, T_DESTROY_AS: head, tail */
struct virtio_hmm_req_as {
	struct virtio_hmm_head head;
	struct virtio_hmm_tail tail;
};

/*
 * T_MAP: head, the range, nr_pages entries (device-readable), tail.
 * Entry i describes the page at va + i * page_size; an entry without VALID
 * removes that page's translation.
 */
struct virtio_hmm_req_map {
	struct virtio_hmm_head head;
	__le64 va;		/* page-aligned device virtual address */
	__le32 nr_pages;
	__le32 reserved;
	/* __le64 pte[nr_pages]; then struct virtio_hmm_tail */
};

/*
 * T_UNMAP: remove the permissions in perm (all of them, and the entry, if
 * perm is 0 or includes READ; removing WRITE also removes ATOMIC) from
 * every entry in [va, va + length).
 * Complete when no device access through a removed permission can happen.
 */
struct virtio_hmm_req_unmap {
	struct virtio_hmm_head head;
	__le64 va;		/* page-aligned */
	__le64 length;		/* bytes, page multiple; ~0ULL - va + 1 (0 for va 0) reaches the top */
	__le32 perm;		/* VIRTIO_HMM_PTE_{READ,WRITE,ATOMIC} or 0 */
	__le32 reserved;
	struct virtio_hmm_tail tail;
};

/* T_QUERY: head, range (readable); nr_pages __le64 entries, tail (writable) */
struct virtio_hmm_req_query {
	struct virtio_hmm_head head;
	__le64 va;
	__le32 nr_pages;
	__le32 reserved;
	/* writable: __le64 pte[nr_pages]; struct virtio_hmm_tail */
};

/* T_COPY: head.flags holds the direction; nr entries of (src, dst) */
#define VIRTIO_HMM_COPY_TO_DEV		0 /* guest-physical -> device memory */
#define VIRTIO_HMM_COPY_FROM_DEV	1 /* device memory -> guest-physical */
#define VIRTIO_HMM_COPY_DEV_TO_DEV	2 /* device memory -> device memory */
#define VIRTIO_HMM_COPY_MAX_DIR		2

struct virtio_hmm_copy_entry {
	__le64 src;		/* page-aligned guest-physical address or device offset */
	__le64 dst;
};

struct virtio_hmm_req_copy {
	struct virtio_hmm_head head;
	__le32 nr;		/* entries; each copies one page */
	__le32 reserved;
	/* struct virtio_hmm_copy_entry entry[nr]; then struct virtio_hmm_tail */
};

/* T_FAULT_REPLY: what to do with each stalled job, named by its tag */
#define VIRTIO_HMM_REPLY_RETRY		0 /* translations were fixed: run again */
#define VIRTIO_HMM_REPLY_CANCEL		1 /* complete the job with S_CANCELED */

struct virtio_hmm_reply_entry {
	__le64 tag;
	__le32 asid;
	__le32 action;		/* VIRTIO_HMM_REPLY_* */
};

struct virtio_hmm_req_fault_reply {
	struct virtio_hmm_head head;
	__le32 nr;
	__le32 reserved;
	/* struct virtio_hmm_reply_entry entry[nr]; then struct virtio_hmm_tail */
};

/* T_GET_STATS: head (readable); stats, tail (writable) */
struct virtio_hmm_stats {
	__le64 requests;	/* requests and jobs completed */
	__le64 errors;		/* of which with a status other than OK */
	__le64 maps;		/* pages mapped */
	__le64 unmaps;		/* pages whose translation was removed or reduced */
	__le64 faults;		/* fault records posted */
	__le64 retries;		/* stalled jobs resumed */
	__le64 cancels;		/* stalled jobs canceled */
	__le64 pages_to_dev;	/* pages copied guest RAM -> device memory */
	__le64 pages_from_dev;	/* pages copied device memory -> guest RAM */
	__le64 pages_dev_to_dev;
	__le64 job_bytes;	/* bytes read or written by jobs */
	__le64 atomics;		/* atomic operations done */
	__le64 address_spaces;	/* address spaces in use now */
	__le64 mapped_pages;	/* valid page table entries now */
};

/*
 * Jobs (jobq). READ: head, job (readable); data[length], tail (writable).
 * WRITE: head, job, data[length] (readable); tail (writable).
 * FILL, COPY: head, job (readable); tail (writable).
 */
struct virtio_hmm_job_rw {
	struct virtio_hmm_head head;
	__le64 va;		/* any alignment */
	__le64 length;		/* bytes, at most max_job_bytes */
	__le64 va2;		/* COPY: destination */
	__le64 pattern;		/* FILL: repeated from va on, as 8 little-endian bytes */
};

/* T_JOB_ATOMIC: head, job (readable); result, tail (writable) */
#define VIRTIO_HMM_ATOMIC_FETCH_ADD	0 /* old = *va; *va += operand */
#define VIRTIO_HMM_ATOMIC_XCHG		1 /* old = *va; *va = operand */
#define VIRTIO_HMM_ATOMIC_CMPXCHG	2 /* old = *va; if old == compare, *va = operand */
#define VIRTIO_HMM_ATOMIC_MAX_OP	2

struct virtio_hmm_job_atomic {
	struct virtio_hmm_head head;
	__le64 va;		/* naturally aligned to size */
	__le64 operand;
	__le64 compare;
	__le32 op;		/* VIRTIO_HMM_ATOMIC_* */
	__le32 size;		/* 4 or 8 */
};

struct virtio_hmm_atomic_result {
	__le64 old;
};

/*
 * T_JOB_CHASE: walk a linked list that lives in the address space: start at
 * va; at each node add the value_size-byte unsigned value at node +
 * value_offset to the sum, then follow the 8-byte pointer at node +
 * next_offset; stop at a NULL pointer or after max_nodes nodes.
 */
struct virtio_hmm_job_chase {
	struct virtio_hmm_head head;
	__le64 va;		/* first node */
	__le32 next_offset;	/* offset of the next pointer in a node */
	__le32 value_offset;	/* offset of the value in a node */
	__le32 value_size;	/* 1, 2, 4 or 8 */
	__le32 max_nodes;
};

struct virtio_hmm_chase_result {
	__le64 sum;		/* modulo 2^64 */
	__le64 nodes;		/* nodes visited */
	__le64 last;		/* address of the last node visited */
};

/* Fault records (faultq): one per device-writable buffer */
#define VIRTIO_HMM_ACCESS_READ		(1 << 0)
#define VIRTIO_HMM_ACCESS_WRITE		(1 << 1)
#define VIRTIO_HMM_ACCESS_ATOMIC	(1 << 2)

struct virtio_hmm_fault {
	__le64 tag;		/* head.tag of the stalled job */
	__le64 va;		/* faulting address */
	__le32 asid;
	__le32 access;		/* VIRTIO_HMM_ACCESS_* that was refused */
	__le32 present;		/* 1: entry present, permission missing */
	__le32 reserved;
};

#endif /* _LINUX_VIRTIO_HMM_H */
