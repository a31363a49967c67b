/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vhmm_host internals: the device memory pool (devmem.c), the mirror of
 * the opener's address space (mirror.c) and the char device (main.c).
 *
 * Lock order, outermost first:
 *
 *   vf->ioctl_lock
 *     pool->lock		growing the pool: memremap_pages() takes the
 *				memory-hotplug locks and allocates
 *     mmap_lock		for read: hmm_range_fault(), one migrate_vma
 *				batch, a CPU fault on device memory
 *       page locks, rmap locks (i_mmap_rwsem, anon_vma)
 *         vf->lock		the notifier takes it under all of these, and
 *				from reclaim
 *           xa_lock of vf->pt
 *
 * pool->free_lock, a spinlock, nests under any of them (page_free() takes
 * it wherever the last reference to a device page goes, page table locks
 * included), and nothing is taken under it.
 *
 * So vf->lock is innermost but for the xarray's lock: under it nothing
 * takes another lock, sleeps on anything, faults, or allocates memory that
 * may reclaim. pool->lock is never taken under mmap_lock, a page lock or
 * vf->lock: a migration into device memory takes its device pages before
 * mmap_lock (devmem.c).
 */
#ifndef _VHMM_HOST_H
#define _VHMM_HOST_H

#include <linux/atomic.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/xarray.h>
#include <linux/vhmm_host.h>

/**
 * struct vhmm_host_file - one open file of /dev/vhmm_host
 * @notifier: interval notifier over all of the opener's mm
 * @lock: protects @pt; held while data is copied through @pt's pages;
 *	innermost (see the lock order above)
 * @pt: cached translations, page index of a user address -> the page that
 *	holds its data (a system page, or the backing page of a device page),
 *	tagged VHMM_HOST_PT_WRITE when writable. The notifier drops entries
 *	before the pages can go away, so no reference is held.
 * @ioctl_lock: serializes the ioctls of the file; protects @start, @end
 * @start: registered region (device memory), 0 if none
 * @end: end of the registered region
 */
struct vhmm_host_file {
	struct mmu_interval_notifier notifier;
	struct mutex lock;
	struct xarray pt;
	struct mutex ioctl_lock;
	unsigned long start;
	unsigned long end;
};

#define VHMM_HOST_PT_WRITE	1UL

/* Module-wide counters, reported by VHMM_HOST_IOC_STATS and debugfs */
struct vhmm_host_counters {
	atomic64_t pages_allocated;
	atomic64_t pages_freed;
	atomic64_t migrated_to_device;
	atomic64_t migrated_to_ram;
	atomic64_t cpu_faults;
	atomic64_t invalidations;
	atomic64_t range_faults;
	atomic64_t copies;
	atomic64_t open_files;
};

extern struct vhmm_host_counters vhmm_host_counters;

void vhmm_host_get_stats(struct vhmm_host_stats *stats);

/* devmem.c */
int vhmm_host_devmem_init(void);
void vhmm_host_devmem_exit(void);
unsigned long vhmm_host_devmem_max_pages(void);
struct page *vhmm_host_devmem_data_page(struct page *page);
long vhmm_host_migrate_to_device(struct mm_struct *mm, unsigned long start,
				 unsigned long end, bool all);
long vhmm_host_migrate_to_ram(struct mm_struct *mm, unsigned long start,
			      unsigned long end);
extern void *vhmm_host_owner;

/* mirror.c */
int vhmm_host_mirror_init(struct vhmm_host_file *vf);
void vhmm_host_mirror_fini(struct vhmm_host_file *vf);
int vhmm_host_copy(struct vhmm_host_file *vf,
		   const struct vhmm_host_copy_entry *ent);

#endif /* _VHMM_HOST_H */
