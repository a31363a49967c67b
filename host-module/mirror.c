// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm_host mirror: the device's view of the opener's address space.
 *
 * Theory of operation:
 *
 * - Each open file has one MMU interval notifier over all of the opener's
 *   mm and a cache of translations (vf->pt): user page -> the page holding
 *   its data, with its write permission. Translations come from
 *   hmm_range_fault() with the module as device-private owner, so a region
 *   page in device memory translates to its backing storage and anything
 *   else to the system page itself. Nothing is pinned.
 * - The notifier drops cached translations before the kernel may free or
 *   move the pages behind them (munmap, swap-out, page migration, KSM, a
 *   CPU fault on a device page, fork's copy-on-write protection, the
 *   process exiting). It takes vf->lock, which the copy holds while it
 *   touches the pages: an invalidation waits for a copy in flight, and a
 *   copy never sees a stale page.
 * - A copy looks both sides up under vf->lock; a miss drops the lock,
 *   translates the missing side (the hmm_range_fault() retry loop of
 *   lib/test_hmm.c) and tries again. A region page found in system RAM (the
 *   CPU touched it) is first moved back into device memory.
 *
 * Lock order: vf->ioctl_lock -> mmap_lock -> vf->lock -> the xarray's lock.
 * The notifier runs inside the mm's own locks: under mmap_lock, the rmap
 * locks (i_mmap_rwsem, anon_vma), page locks and page table locks, and from
 * reclaim. So vf->lock is innermost: under it nothing takes another lock
 * but the xarray's, sleeps on anything, faults, or allocates memory that
 * may reclaim. The translation cache's slot is reserved before vf->lock is
 * taken, and the copy touches only pages it has translated, through
 * kmap_local_page(), never user memory.
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include "vhmm_host.h"

/* Lookups of one copy before giving up (each miss translates first) */
#define VHMM_HOST_COPY_TRIES	16

static bool vhmm_host_invalidate(struct mmu_interval_notifier *mni,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	struct vhmm_host_file *vf =
		container_of(mni, struct vhmm_host_file, notifier);
	unsigned long index;
	bool dropped = false;
	void *entry;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&vf->lock);
	else if (!mutex_trylock(&vf->lock))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	xa_for_each_range(&vf->pt, index, entry, range->start >> PAGE_SHIFT,
			  (range->end - 1) >> PAGE_SHIFT) {
		xa_erase(&vf->pt, index);
		dropped = true;
	}
	mutex_unlock(&vf->lock);
	if (dropped)
		atomic64_inc(&vhmm_host_counters.invalidations);
	return true;
}

static const struct mmu_interval_notifier_ops vhmm_host_mirror_ops = {
	.invalidate = vhmm_host_invalidate,
};

/* The cached data page of @addr, if it allows the access. vf->lock held. */
static struct page *vhmm_host_lookup(struct vhmm_host_file *vf,
				     unsigned long addr, bool write)
{
	void *entry;

	lockdep_assert_held(&vf->lock);
	entry = xa_load(&vf->pt, addr >> PAGE_SHIFT);
	if (!entry || (write && xa_pointer_tag(entry) != VHMM_HOST_PT_WRITE))
		return NULL;
	return xa_untag_pointer(entry);
}

/*
 * Translate the page at @addr with hmm_range_fault(), faulting it in (for
 * writing with @write), and cache the translation.
 */
static int vhmm_host_fault(struct vhmm_host_file *vf, unsigned long addr,
			   bool write)
{
	struct mm_struct *mm = vf->notifier.mm;
	unsigned long index = addr >> PAGE_SHIFT;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long hpfn;
	struct hmm_range range = {
		.notifier = &vf->notifier,
		.start = addr,
		.end = addr + PAGE_SIZE,
		.hmm_pfns = &hpfn,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner = vhmm_host_owner,
	};
	struct page *page;
	void *entry;
	int ret;

	if (!mmget_not_zero(mm))
		return -EFAULT;
	atomic64_inc(&vhmm_host_counters.range_faults);
	for (;;) {
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		/*
		 * The cache's slot, allocated here where reclaim may run the
		 * notifier: a no-op if an entry is there already.
		 */
		ret = xa_reserve(&vf->pt, index, GFP_KERNEL_ACCOUNT);
		if (ret)
			break;
		range.notifier_seq = mmu_interval_read_begin(&vf->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			break;

		mutex_lock(&vf->lock);
		if (mmu_interval_read_retry(&vf->notifier, range.notifier_seq)) {
			mutex_unlock(&vf->lock);
			continue;
		}
		page = vhmm_host_devmem_data_page(hmm_pfn_to_page(hpfn));
		if (page) {
			entry = page;
			if (hpfn & HMM_PFN_WRITE)
				entry = xa_tag_pointer(page, VHMM_HOST_PT_WRITE);
			/*
			 * The slot is reserved, or held the old entry: this
			 * does not allocate, unless an invalidation erased
			 * that entry since (then reserve again).
			 */
			ret = xa_err(xa_store(&vf->pt, index, entry,
					      GFP_NOWAIT | __GFP_NOWARN));
		} else {
			ret = -EFAULT;
		}
		mutex_unlock(&vf->lock);
		if (ret != -ENOMEM)
			break;
	}
	mmput(mm);
	xa_release(&vf->pt, index);	/* if still only reserved */
	return ret;
}

/* Make @addr translatable for the access; vf->ioctl_lock held */
static int vhmm_host_prepare(struct vhmm_host_file *vf, unsigned long addr,
			     bool write)
{
	addr &= PAGE_MASK;
	/*
	 * A region page in system RAM (the CPU touched it) goes back to
	 * device memory first; one that cannot move is used where it is.
	 */
	if (addr >= vf->start && addr < vf->end)
		vhmm_host_migrate_to_device(vf->notifier.mm, addr,
					    addr + PAGE_SIZE);
	return vhmm_host_fault(vf, addr, write);
}

/**
 * vhmm_host_copy() - do one copy entry
 * @vf: the file
 * @ent: the entry, from the user
 *
 * Context: process, vf->ioctl_lock held; takes mmap_lock and vf->lock.
 * Return: 0, -EINVAL for a bad entry, -EFAULT or -EPERM for an address
 * that cannot be read (@ent->src) or written (@ent->dst), -EBUSY if the
 * translations kept being invalidated.
 */
int vhmm_host_copy(struct vhmm_host_file *vf,
		   const struct vhmm_host_copy_entry *ent)
{
	unsigned long src = ent->src, dst = ent->dst, len = ent->len;
	int tries, ret;

	lockdep_assert_held(&vf->ioctl_lock);
	if (!len || src != ent->src || dst != ent->dst ||
	    len > PAGE_SIZE - offset_in_page(src) ||
	    len > PAGE_SIZE - offset_in_page(dst))
		return -EINVAL;

	for (tries = 0; tries < VHMM_HOST_COPY_TRIES; tries++) {
		struct page *sp, *dp;

		mutex_lock(&vf->lock);
		sp = vhmm_host_lookup(vf, src, false);
		dp = vhmm_host_lookup(vf, dst, true);
		if (sp && dp) {
			void *s = kmap_local_page(sp);
			void *d = kmap_local_page(dp);

			memmove(d + offset_in_page(dst), s + offset_in_page(src),
				len);
			kunmap_local(d);
			kunmap_local(s);
			mutex_unlock(&vf->lock);
			atomic64_inc(&vhmm_host_counters.copies);
			return 0;
		}
		mutex_unlock(&vf->lock);
		if (!sp) {
			ret = vhmm_host_prepare(vf, src, false);
			if (ret)
				return ret;
		}
		if (!dp) {
			ret = vhmm_host_prepare(vf, dst, true);
			if (ret)
				return ret;
		}
	}
	return -EBUSY;
}

/**
 * vhmm_host_mirror_init() - start mirroring the caller's address space
 * @vf: the new file
 *
 * Context: process (the opener).
 * Return: 0 or a negative errno.
 */
int vhmm_host_mirror_init(struct vhmm_host_file *vf)
{
	mutex_init(&vf->lock);
	xa_init(&vf->pt);
	return mmu_interval_notifier_insert(&vf->notifier, current->mm, 0,
					    ULONG_MAX & PAGE_MASK,
					    &vhmm_host_mirror_ops);
}

/**
 * vhmm_host_mirror_fini() - stop mirroring
 * @vf: the file being released
 *
 * Context: process; waits for invalidations in progress.
 */
void vhmm_host_mirror_fini(struct vhmm_host_file *vf)
{
	mmu_interval_notifier_remove(&vf->notifier);
	xa_destroy(&vf->pt);
	mutex_destroy(&vf->lock);
}
