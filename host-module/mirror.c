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
 * - After fork() the region's device pages are shared copy-on-write with
 *   the child, and hmm_range_fault() reports its owner's device pages as
 *   they are, read-only, without faulting them, even when write access is
 *   asked for. A write to such a page brings it back to system RAM, where
 *   the write fault gives this process its own copy, and moves that copy
 *   into device memory (the guest driver's vhmm_range_cow_page() does the
 *   same).
 *
 * Locking (the order is in vhmm_host.h): the notifier runs inside the mm's
 * own locks, under mmap_lock, the rmap locks and page locks, and from
 * reclaim, so vf->lock is innermost. The translation
 * cache's slot is reserved before vf->lock is taken, and the copy touches
 * only pages it has translated, through kmap_local_page(), never user
 * memory.
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
 * What vhmm_host_fault() found at an address: a system page or one of the
 * module's device pages (cached), or a device page shared copy-on-write
 * when write access was asked for (not cached).
 */
enum vhmm_host_found {
	VHMM_HOST_FOUND_SYSTEM,
	VHMM_HOST_FOUND_DEVICE,
	VHMM_HOST_FOUND_SHARED,
};

/*
 * Translate the page at @addr with hmm_range_fault(), faulting it in (for
 * writing with @write), and cache the translation; *@found says what it
 * is. Context: process, vf->ioctl_lock held; takes mmap_lock and vf->lock.
 */
static int vhmm_host_fault(struct vhmm_host_file *vf, unsigned long addr,
			   bool write, enum vhmm_host_found *found)
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
	struct page *page, *data;
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

		page = hmm_pfn_to_page(hpfn);
		data = vhmm_host_devmem_data_page(page);
		if (!data) {
			ret = -EFAULT;
			break;
		}
		*found = VHMM_HOST_FOUND_SYSTEM;
		if (data != page) {
			*found = VHMM_HOST_FOUND_DEVICE;
			if (write && !(hpfn & HMM_PFN_WRITE)) {
				*found = VHMM_HOST_FOUND_SHARED;
				break;
			}
		}
		entry = data;
		if (hpfn & HMM_PFN_WRITE)
			entry = xa_tag_pointer(data, VHMM_HOST_PT_WRITE);

		mutex_lock(&vf->lock);
		if (mmu_interval_read_retry(&vf->notifier, range.notifier_seq)) {
			mutex_unlock(&vf->lock);
			continue;
		}
		/*
		 * The slot is reserved, or held the old entry: this does not
		 * allocate, unless an invalidation erased that entry since
		 * (then reserve again).
		 */
		ret = xa_err(xa_store(&vf->pt, index, entry,
					     GFP_NOWAIT | __GFP_NOWARN));
		mutex_unlock(&vf->lock);
		if (ret != -ENOMEM)
			break;
	}
	mmput(mm);
	xa_release(&vf->pt, index);	/* if still only reserved */
	return ret;
}

/*
 * Make @addr translatable for the access, and a region page device memory
 * again where it can be. Context: process, vf->ioctl_lock held.
 * Return: 0 (the translation is cached, unless an invalidation dropped it
 * since), -EAGAIN to try again, or an error of vhmm_host_fault().
 */
static int vhmm_host_prepare(struct vhmm_host_file *vf, unsigned long addr,
			     bool write)
{
	struct mm_struct *mm = vf->notifier.mm;
	enum vhmm_host_found found;
	int ret;

	addr &= PAGE_MASK;
	ret = vhmm_host_fault(vf, addr, write, &found);
	if (ret || found == VHMM_HOST_FOUND_DEVICE)
		return ret;
	if (found == VHMM_HOST_FOUND_SHARED) {
		/*
		 * Shared copy-on-write after fork(): back to system RAM, where
		 * the write fault breaks the sharing.
		 */
		vhmm_host_migrate_to_ram(mm, addr, addr + PAGE_SIZE);
		ret = vhmm_host_fault(vf, addr, true, &found);
		if (ret)
			return ret;
		if (found != VHMM_HOST_FOUND_SYSTEM)
			return -EAGAIN;
	}
	if (addr < vf->start || addr >= vf->end)
		return 0;
	/*
	 * A region page in system RAM (the CPU touched it, or its sharing was
	 * just broken) goes back to device memory, which drops the cached
	 * translation; one that cannot move is used where it is.
	 */
	vhmm_host_migrate_to_device(mm, addr, addr + PAGE_SIZE, false);
	ret = vhmm_host_fault(vf, addr, write, &found);
	if (!ret && found == VHMM_HOST_FOUND_SHARED)
		return -EAGAIN;
	return ret;
}

/**
 * vhmm_host_copy() - do one copy entry
 * @vf: the file
 * @ent: the entry, from the user
 *
 * Context: process, vf->ioctl_lock held; takes mmap_lock and vf->lock.
 * Return: 0, -EINVAL for a bad entry, -EFAULT or -EPERM for an address
 * that cannot be read (@ent->src) or written (@ent->dst), -EBUSY if the
 * translations kept being invalidated, -ENOMEM.
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
		ret = sp ? 0 : vhmm_host_prepare(vf, src, false);
		if (!ret && !dp)
			ret = vhmm_host_prepare(vf, dst, true);
		if (ret && ret != -EAGAIN)
			return ret;
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
