/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-hmm guest driver: internal interfaces between its parts.
 *
 *   main.c    probe/remove, virtqueues, request and job submission
 *   mirror.c  per-open address spaces, mmu notifier, device faults
 *   devmem.c  device memory (private or coherent), migration
 *   uapi.c    the character device and its ioctls
 *
 * Lifetime: struct vhmm_device is refcounted through its embedded char
 * device (vd->dev). Probe holds one reference, every open file another, so
 * an unbound device stays allocated (but dead) until the last close. The
 * virtio device (vd->vdev) is gone after remove: code that can run after
 * it (file operations, the mmu notifier) logs through vd->dev instead.
 *
 * Lock order (outermost first), as the code takes them:
 *
 *   mirror->migrate_lock          vhmm_migrate_to_dev()
 *     vd->migrate_sem (read)      vhmm_migrate_to_dev(); remove writes it
 *       mmap_lock                 migrations, faults, exclusive access
 *         page lock               migrate_vma_setup() .. finalize(),
 *                                 make_device_exclusive_range() pages
 *           mirror->mutex         the notifier (under any mm lock and
 *                                 reclaim), MAP and UNMAP
 *             vd->mirrors_lock    vhmm_mirror_map() looking for page
 *                                 tables to give back (other mirrors'
 *                                 mutexes only trylocked under it)
 *               vd->io_lock       submission (read); vhmm_device_fence()
 *                                 marking the device dead (write)
 *                 vhmm_vq.lock    the virtqueue, irqs off
 *
 * Leaves, never held while taking another lock: vd->dm_lock, the xa_lock
 * of vd->jobs. mirror->mutex is taken inside reclaim (the notifier runs
 * from try_to_unmap()), so nothing allocates with reclaim while holding it:
 * MAP and UNMAP use the mirror's preallocated requests. vhmm_fault_work()
 * and the ioctls hold no lock of the driver when they call in here.
 */
#ifndef _VHMM_H
#define _VHMM_H

#include <linux/cdev.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/list.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>
#include <linux/virtio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/virtio_hmm.h>
#include <linux/virtio_hmm_ioctl.h>

#define VHMM_REQ_TIMEOUT	(10 * HZ)	/* requestq round trip */
#define VHMM_JOB_POLL		(2 * HZ)	/* then replay it (lost fault) */
#define VHMM_COPY_TRIES		4		/* COPY attempts on -EIO */
#define VHMM_FAULT_BUFS		64		/* fault records kept posted */
#define VHMM_JOB_MAX_PAGES	64		/* bounce pages per READ/WRITE job */
#define VHMM_MAX_DEVICES	64
#define VHMM_MAP_BATCH		512		/* PTEs per MAP request */

/**
 * struct vhmm_vq - one virtqueue and what guards it
 * @vq: the virtqueue
 * @lock: protects @vq (add, kick, get_buf) and the abandoned flag of
 *	every request in flight on it
 * @space: woken when the device returns buffers, for submitters that found
 *	the ring full
 */
struct vhmm_vq {
	struct virtqueue *vq;
	spinlock_t lock;		/* the virtqueue, see above */
	wait_queue_head_t space;
	/* for messages and traces: @vq is freed by remove, these are not */
	const char *name;
	unsigned int index;
	unsigned long reaped;		/* buffers taken back, under @lock */
};

/**
 * struct vhmm_req - a request or job in flight
 * @ref: one reference for the submitter, one while the device holds it;
 *	a submitter that times out drops its own and leaves the buffers to
 *	the device
 * @done: completed by the virtqueue callback (or by remove)
 * @tail: where the device writes the status; preset to an invalid status
 *	so that a request that remove takes back reads as an error
 *
 * The wire data of a plain request follows the struct (vhmm_req_data()).
 */
struct vhmm_req {
	refcount_t ref;
	struct completion done;
	struct virtio_hmm_tail *tail;
};

#define VHMM_S_NOT_DONE		0xffffffffu

/**
 * struct vhmm_stats - driver counters, all atomic (no lock)
 * @faults: device fault records resolved (RETRY)
 * @fault_batches: batches of fault records handled, one FAULT_REPLY each
 * @pages_to_dev: pages migrated to device memory
 * @pages_to_sys: pages migrated back to system memory
 * @cpu_faults: migrate_to_ram() calls (the CPU touched device memory)
 * @evictions: pages moved out when the device went away
 * @invalidations: UNMAP requests sent for mmu notifier invalidations
 * @copy_retries: COPY requests repeated after the device failed them
 * @job_replays: jobs the driver had the device replay because no fault
 *	record or completion came for VHMM_JOB_POLL (a lost record)
 * @devmem_full: migrations to the device that stopped because the device
 *	reported its memory exhausted (the pages stay in system memory)
 * @page_table_full: MAP requests the device refused for want of page
 *	tables (max_page_tables); the driver gave translations back
 * @fences: times the device was reset for good because it did not
 *	acknowledge an invalidation (or by remove)
 * @fault_alone: CPU faults whose window of pages did not copy back, so
 *	that the faulting page was copied (and migrated) alone
 * @cpu_copies: pages the CPU copied because the copy engine failed them
 *	(coherent mode only: private memory has no CPU mapping)
 * @evict_retries: eviction passes after the first (pages busy, or copies
 *	failed)
 */
struct vhmm_stats {
	atomic64_t faults;
	atomic64_t fault_batches;
	atomic64_t pages_to_dev;
	atomic64_t pages_to_sys;
	atomic64_t cpu_faults;
	atomic64_t evictions;
	atomic64_t invalidations;
	atomic64_t copy_retries;
	atomic64_t job_replays;
	atomic64_t devmem_full;
	atomic64_t page_table_full;
	atomic64_t fences;
	atomic64_t fault_alone;
	atomic64_t cpu_copies;
	atomic64_t evict_retries;
};

/**
 * struct vhmm_device - one virtio-hmm device
 * @vdev: the virtio device
 * @index: N of /dev/virtio_hmm<N>
 * @dev: the char device's struct device; its refcount owns this struct
 * @cdev: the char device
 * @reqq: requestq
 * @jobq: jobq
 * @faultq: faultq
 * @io_lock: readers submit to the device, the writer (vhmm_device_fence(),
 *	which remove calls) marks it dead; protects @dead
 * @dead: the device is being reset for good (fenced or removed): no new
 *	requests; once @fence_done is complete, no device access through any
 *	translation can happen any more
 * @devmem_size: config devmem_size
 * @max_asids: config max_asids
 * @max_map_pages: config max_map_pages
 * @max_copy_pages: config max_copy_pages
 * @max_job_bytes: config max_job_bytes
 * @coherent: device memory is a CPU-addressable shared memory region
 * @atomics: VIRTIO_HMM_F_ATOMICS negotiated
 * @asids: address space ids in use
 * @jobs: jobs in flight by tag (has its own lock)
 * @next_tag: where the cyclic tag allocation of @jobs goes on, so that a
 *	stale fault record names no recent job (under the xa_lock of @jobs)
 * @mirrors_lock: protects @mirrors
 * @mirrors: every mirror of this device (vhmm_mirror.node), where a MAP
 *	short of page tables looks for translations to give back
 * @migrate_sem: held for reading by migrations to the device; remove takes
 *	it for writing to wait for them before it evicts device memory
 * @fault_bufs: VHMM_FAULT_BUFS fault records posted on @faultq
 * @fault_wq: ordered workqueue running @fault_work
 * @fault_work: resolves fault batches
 * @fence_wq: runs @fence_work (not @fault_wq: the fault work may wait for
 *	a mirror mutex that a notifier holds while it waits for the fence)
 * @fence_work: vhmm_device_fence() for vhmm_device_fence_wait()
 * @fence_done: completed (for good) when the device was fenced
 * @pagemap: ZONE_DEVICE pages of the device memory
 * @dm_res: the fake physical range of private device memory
 * @dm_base_pfn: first pfn of @pagemap
 * @dm_lock: protects @dm_free_list, @dm_nr_free and @dm_removing
 * @dm_free_list: free device pages linked through zone_device_data
 * @dm_nr_free: free device pages (all on @dm_free_list unless
 *	@dm_removing)
 * @dm_nr_pages: device pages in all
 * @dm_removing: freed pages are not reused (remove in progress)
 * @dm_ready: @pagemap is mapped
 * @stats: driver counters
 * @debugfs: this device's debugfs directory
 */
struct vhmm_device {
	struct virtio_device *vdev;
	int index;
	struct device dev;
	struct cdev cdev;

	struct vhmm_vq reqq;
	struct vhmm_vq jobq;
	struct vhmm_vq faultq;

	struct rw_semaphore io_lock;
	bool dead;

	u64 devmem_size;
	u32 max_asids;
	u32 max_map_pages;
	u32 max_copy_pages;
	u32 max_job_bytes;
	bool coherent;
	bool atomics;

	struct ida asids;
	struct xarray jobs;
	u32 next_tag;
	struct mutex mirrors_lock;	/* @mirrors */
	struct list_head mirrors;
	struct rw_semaphore migrate_sem;

	struct virtio_hmm_fault *fault_bufs;
	struct workqueue_struct *fault_wq;
	struct work_struct fault_work;
	struct workqueue_struct *fence_wq;
	struct work_struct fence_work;
	struct completion fence_done;

	struct dev_pagemap pagemap;
	struct resource *dm_res;
	unsigned long dm_base_pfn;
	spinlock_t dm_lock;		/* the device page allocator */
	struct page *dm_free_list;
	unsigned long dm_nr_free;
	unsigned long dm_nr_pages;
	bool dm_removing;
	bool dm_ready;

	struct vhmm_stats stats;
	struct dentry *debugfs;
};

/**
 * struct vhmm_mirror - one open file: a device address space mirroring
 *	the opener's mm
 * @vd: the device (a reference is held)
 * @notifier: interval notifier over the whole mm
 * @node: in vd->mirrors
 * @asid: the device address space id
 * @mutex: protects the device page table of @asid (MAP/UNMAP ordering
 *	against the notifier sequence), @gen, @lo, @hi, @mig_start, @mig_end,
 *	@unmap_req and @map_req
 * @gen: invalidations other than this mirror's own migration, for
 *	migrate-and-map (vhmm_mirror_migrate_begin())
 * @lo: lowest address ever mapped in the device (widened before the MAP
 *	request is sent, so that a MAP applied late is still covered)
 * @hi: end of the highest address ever mapped
 * @unmap_req: the UNMAP request the invalidate callback reuses, so that it
 *	need not allocate; always back (refcount 1) when @mutex is free
 * @map_req: the MAP request reused under @mutex: allocating there could
 *	recurse into reclaim and our own invalidate callback
 * @mig_start: range whose migration (setup to map) is running in
 *	vhmm_migrate_to_dev() on this mirror: its MMU_NOTIFY_MIGRATE with
 *	owner == this mirror (the per-migration cookie, unique under
 *	@migrate_lock) leaves the device page table to the migration
 * @mig_end: see @mig_start
 * @migrate_lock: serializes vhmm_migrate_to_dev() on this mirror
 *
 * The mirror pointer is the pgmap_owner of this mirror's migrations to the
 * device (MIGRATE_VMA_SELECT_SYSTEM) and the owner of its
 * make_device_exclusive_range() calls: the notifier tells its own events
 * from every other one, those of other mirrors of the same device and of
 * migrate_to_ram() (owner vd) included.
 */
struct vhmm_mirror {
	struct vhmm_device *vd;
	struct mmu_interval_notifier notifier;
	struct list_head node;
	u32 asid;
	struct mutex mutex;		/* device page table of @asid */
	unsigned long gen;
	unsigned long lo;
	unsigned long hi;
	struct vhmm_req *unmap_req;
	struct vhmm_req *map_req;
	unsigned long mig_start;
	unsigned long mig_end;
	struct mutex migrate_lock;	/* one migration to the device */
};

/**
 * struct vhmm_job - a job on the jobq and how to resolve its faults
 * @req: completion and ownership, first
 * @mirror: address space the job runs in
 * @tag: the job's head.tag, its index in vhmm_device.jobs
 * @start: range a fault resolves in (a fault at va resolves [va, @end))
 * @end: see @start
 * @start2: COPY source range, 0 if none
 * @end2: see @start2
 * @single: resolve only the faulting page (chase, atomics)
 * @nofault: do not resolve faults, cancel them (-ENOENT)
 * @killed: the submitter got a fatal signal: faults are canceled (-EINTR)
 * @faults: faults resolved for this job
 * @err: why a fault was canceled
 * @sgs: the scatterlists it was submitted with, for resubmission
 * @out: device-readable scatterlists in @sgs
 * @in: device-writable scatterlists in @sgs
 */
struct vhmm_job {
	struct vhmm_req req;
	struct vhmm_mirror *mirror;
	u32 tag;
	unsigned long start;
	unsigned long end;
	unsigned long start2;
	unsigned long end2;
	bool single;
	bool nofault;
	bool killed;
	atomic_t faults;
	int err;
	struct scatterlist **sgs;
	unsigned int out;
	unsigned int in;
};

/* main.c */
struct vhmm_req *vhmm_req_alloc(size_t len, gfp_t gfp);
void vhmm_req_init(struct vhmm_req *req, struct virtio_hmm_tail *tail);
void vhmm_req_put(struct vhmm_req *req);
int vhmm_submit_nowait(struct vhmm_device *vd, struct vhmm_vq *q,
		       struct scatterlist *sgs[], unsigned int out,
		       unsigned int in, struct vhmm_req *req,
		       unsigned long timeout);
int vhmm_wait(struct vhmm_device *vd, struct vhmm_vq *q, struct vhmm_req *req,
	      unsigned long timeout);
int vhmm_submit(struct vhmm_device *vd, struct vhmm_vq *q,
		struct scatterlist *sgs[], unsigned int out, unsigned int in,
		struct vhmm_req *req, unsigned long timeout);
int vhmm_request(struct vhmm_device *vd, struct vhmm_req *req,
		 size_t out_len, size_t in_len);
int vhmm_status_errno(u32 status);
void vhmm_device_fence(struct vhmm_device *vd);
void vhmm_device_fence_wait(struct vhmm_device *vd);

static inline void *vhmm_req_data(struct vhmm_req *req)
{
	return req + 1;
}

/* mirror.c */
struct vhmm_mirror *vhmm_mirror_create(struct vhmm_device *vd);
void vhmm_mirror_destroy(struct vhmm_mirror *mirror);
int vhmm_mirror_fault(struct vhmm_mirror *mirror, unsigned long start,
		      unsigned long end, bool write);
int vhmm_mirror_map(struct vhmm_mirror *mirror, unsigned long va,
		    const u64 *ptes, unsigned long npages);
int vhmm_mirror_unmap(struct vhmm_mirror *mirror, unsigned long start,
		      unsigned long end, u32 perm);
int vhmm_mirror_query(struct vhmm_mirror *mirror, unsigned long va,
		      u64 *ptes, unsigned long npages);
int vhmm_mirror_exclusive(struct vhmm_mirror *mirror, unsigned long start,
			  unsigned long end);
unsigned long vhmm_mirror_migrate_begin(struct vhmm_mirror *mirror,
					unsigned long start, unsigned long end);
void vhmm_mirror_migrate_collected(struct vhmm_mirror *mirror,
				   const struct migrate_vma *args);
bool vhmm_mirror_migrate_map(struct vhmm_mirror *mirror, unsigned long gen,
			     const struct migrate_vma *args, u64 *ptes);
int vhmm_mirror_remap_devmem(struct vhmm_mirror *mirror, unsigned long start,
			     unsigned long end);
int vhmm_job_start(struct vhmm_job *job, struct scatterlist *sgs[],
		   unsigned int out, unsigned int in);
int vhmm_job_finish(struct vhmm_job *job, int started);
int vhmm_job_run(struct vhmm_job *job, struct scatterlist *sgs[],
		 unsigned int out, unsigned int in);
void vhmm_fault_work(struct work_struct *work);
u64 vhmm_page_pte(struct vhmm_device *vd, struct page *page);

/* devmem.c */
int vhmm_devmem_init(struct vhmm_device *vd);
void vhmm_devmem_fini(struct vhmm_device *vd);
void vhmm_devmem_evict_all(struct vhmm_device *vd);
bool vhmm_devmem_is_ours(struct vhmm_device *vd, struct page *page);
u64 vhmm_devmem_offset(struct vhmm_device *vd, struct page *page);
int vhmm_migrate_to_dev(struct vhmm_mirror *mirror, unsigned long start,
			unsigned long end, bool *short_of_memory);
int vhmm_migrate_to_sys(struct vhmm_mirror *mirror, unsigned long start,
			unsigned long end, unsigned long *cpages);
int vhmm_copy_pages(struct vhmm_device *vd, u16 dir, const u64 *src,
		    const u64 *dst, unsigned long n, unsigned long *copied);

/* uapi.c */
extern const struct file_operations vhmm_fops;

#endif /* _VHMM_H */
