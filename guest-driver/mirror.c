// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-hmm guest driver: address space mirroring and device page faults.
 *
 * Theory of operation
 *
 * Each open of /dev/virtio_hmm<N> creates a mirror: a device address space
 * (an ASID) bound to the opener's mm through an mmu_interval_notifier over
 * the whole address space. The device page table of that ASID only ever
 * holds translations obtained from hmm_range_fault() under the notifier's
 * sequence protocol, as in lib/test_hmm.c:
 *
 *   seq = mmu_interval_read_begin();  hmm_range_fault();
 *   lock mirror->mutex;  if (mmu_interval_read_retry(seq)) retry;
 *   MAP (one request per batch of pages);  unlock.
 *
 * The invalidate callback takes the same mutex, bumps the sequence and sends
 * an UNMAP for the range; it returns only when the device acknowledged it,
 * that is, when no device access through the removed translations can
 * happen any more. Pages are never pinned.
 *
 * Device page faults: a job that meets a missing translation or permission
 * stalls and the device posts a fault record (tag = the job's tag) on the
 * faultq. The fault work collects every record available, de-duplicates
 * them (a fault inside a range already resolved in this batch, with enough
 * access, is answered by that), resolves each remaining one with
 * hmm_range_fault() over the rest of the job's range (as test_hmm does for
 * its READ and WRITE commands; one call per 512 pages), and answers the whole batch with ONE
 * FAULT_REPLY request (RETRY, or CANCEL when resolution failed: the job then
 * completes with S_CANCELED and its ioctl returns the resolution's error).
 * An atomic fault on system memory takes the page exclusive for the device
 * (make_device_exclusive_range()) and maps it with PTE_ATOMIC; the CPU
 * touching it again invalidates the mapping through the notifier.
 */

#include <linux/delay.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "vhmm.h"
#include "vhmm_trace.h"

static unsigned int fence_timeout_ms = 10000;

/* 0 would fence the device on every invalidation */
static int vhmm_fence_timeout_set(const char *val,
				  const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, 3600 * MSEC_PER_SEC);
}

static const struct kernel_param_ops vhmm_fence_timeout_ops = {
	.set = vhmm_fence_timeout_set,
	.get = param_get_uint,
};

module_param_cb(fence_timeout_ms, &vhmm_fence_timeout_ops, &fence_timeout_ms,
		0644);
MODULE_PARM_DESC(fence_timeout_ms,
		 "ms an UNMAP or DESTROY_AS may take before the driver resets the device (1 to 3600000, default 10000)");

static unsigned int job_timeout_ms = 25000;

static int vhmm_job_timeout_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, 3600 * MSEC_PER_SEC);
}

static const struct kernel_param_ops vhmm_job_timeout_ops = {
	.set = vhmm_job_timeout_set,
	.get = param_get_uint,
};

module_param_cb(job_timeout_ms, &vhmm_job_timeout_ops, &job_timeout_ms, 0644);
MODULE_PARM_DESC(job_timeout_ms,
		 "ms a job may take, its faults included, before the driver cancels it (1 to 3600000, default 25000)");

/*
 * Each wait reads the parameter once and keeps its own bound: a change
 * while a job runs applies to its next wait.
 */
static unsigned long vhmm_job_timeout(void)
{
	return msecs_to_jiffies(READ_ONCE(job_timeout_ms));
}

#define VHMM_FAULT_CHUNK	512	/* pages per hmm_range_fault() call */
#define VHMM_EXCL_CHUNK		64	/* pages per make_device_exclusive_range() */
#define VHMM_COW_TRIES		(2 * VHMM_FAULT_CHUNK) /* see vhmm_mirror_fault() */
#define VHMM_FAULT_STEP		1024	/* most pages one fault resolves */

/**
 * vhmm_page_pte() - device page table address of a page
 * @vd: the device that will map it
 * @page: a system, device-coherent or own device-private page
 *
 * Context: any context.
 * Return: the address bits and VIRTIO_HMM_PTE_DEVMEM when @page is @vd's
 * device memory; no permission bits.
 */
u64 vhmm_page_pte(struct vhmm_device *vd, struct page *page)
{
	if (vhmm_devmem_is_ours(vd, page))
		return vhmm_devmem_offset(vd, page) | VIRTIO_HMM_PTE_DEVMEM;
	return page_to_phys(page);
}

static u64 vhmm_hmm_pfn_pte(struct vhmm_device *vd, unsigned long hpfn)
{
	struct page *page;
	u64 pte;

	if (!(hpfn & HMM_PFN_VALID) || (hpfn & HMM_PFN_ERROR))
		return 0;
	page = hmm_pfn_to_page(hpfn);
	pte = vhmm_page_pte(vd, page) | VIRTIO_HMM_PTE_VALID |
	      VIRTIO_HMM_PTE_READ;
	if (hpfn & HMM_PFN_WRITE) {
		pte |= VIRTIO_HMM_PTE_WRITE;
		/*
		 * Own private device memory is exclusive to the device by
		 * nature (the CPU cannot map it): atomics are allowed. Any
		 * other page must be made exclusive first.
		 */
		if (vd->atomics && is_device_private_page(page))
			pte |= VIRTIO_HMM_PTE_ATOMIC;
	}
	return pte;
}

/*
 * The device completed @req (or remove or a fence took it back). Its
 * reference goes right after the completion, in the same irqs-off section
 * of vhmm_vq_done() or vhmm_vq_reclaim(): wait for that, so that a
 * preallocated request can be reused at once instead of being replaced.
 */
static void vhmm_req_settle(struct vhmm_req *req)
{
	while (refcount_read(&req->ref) > 1)
		cpu_relax();
}

/* One MAP request of at most min(max_map_pages, VHMM_MAP_BATCH) entries. */
static int vhmm_mirror_map_batch(struct vhmm_mirror *mirror, unsigned long va,
				 const u64 *ptes, unsigned long n)
{
	struct vhmm_device *vd = mirror->vd;
	size_t out = sizeof(struct virtio_hmm_req_map) + n * 8;
	struct virtio_hmm_req_map *map;
	struct vhmm_req *req = mirror->map_req;
	__le64 *pte;
	unsigned long i;
	int ret;

	if (refcount_read(&req->ref) != 1) {
		/* the device kept the last one (timeout) */
		req = vhmm_req_alloc(sizeof(*map) + VHMM_MAP_BATCH * 8 +
				     sizeof(struct virtio_hmm_tail),
				     GFP_NOWAIT | __GFP_NOWARN);
		if (!req)
			return -ENOMEM;
		vhmm_req_put(mirror->map_req);
		mirror->map_req = req;
	}
	reinit_completion(&req->done);
	map = vhmm_req_data(req);
	memset(map, 0, sizeof(*map));
	map->head.type = cpu_to_le16(VIRTIO_HMM_T_MAP);
	map->head.asid = cpu_to_le32(mirror->asid);
	map->va = cpu_to_le64(va);
	map->nr_pages = cpu_to_le32(n);
	pte = (__le64 *)(map + 1);
	for (i = 0; i < n; i++)
		pte[i] = cpu_to_le64(ptes[i]);
	ret = vhmm_request(vd, req, out, sizeof(struct virtio_hmm_tail));
	if (completion_done(&req->done))
		vhmm_req_settle(req);
	return ret;
}

/*
 * UNMAP everything @mirror ever mapped outside [keep_start, keep_end): the
 * translations are a cache of the CPU page tables (and of where migrated
 * pages are) that device faults rebuild.
 */
static void vhmm_mirror_give_back(struct vhmm_mirror *mirror,
				  unsigned long keep_start,
				  unsigned long keep_end)
{
	unsigned long lo = mirror->lo, hi = mirror->hi;

	lockdep_assert_held(&mirror->mutex);
	if (lo < min(hi, keep_start))
		vhmm_mirror_unmap(mirror, lo, min(hi, keep_start), 0);
	if (max(lo, keep_end) < hi)
		vhmm_mirror_unmap(mirror, max(lo, keep_end), hi, 0);
}

/* The same for every other mirror of the device whose mutex is free. */
static bool vhmm_mirror_give_back_others(struct vhmm_mirror *mirror)
{
	struct vhmm_device *vd = mirror->vd;
	struct vhmm_mirror *other;
	bool any = false;

	mutex_lock(&vd->mirrors_lock);
	list_for_each_entry(other, &vd->mirrors, node) {
		/* trylock: mirror mutexes have no order among themselves */
		if (other == mirror || !mutex_trylock(&other->mutex))
			continue;
		if (other->lo < other->hi) {
			vhmm_mirror_give_back(other, 0, 0);
			any = true;
		}
		mutex_unlock(&other->mutex);
	}
	mutex_unlock(&vd->mirrors_lock);
	return any;
}

/**
 * vhmm_mirror_map() - set device page table entries
 * @mirror: the address space
 * @va: page-aligned address of the first entry
 * @ptes: @npages entries (VIRTIO_HMM_PTE_*, CPU byte order)
 * @npages: number of entries
 *
 * The invalidation bounds are widened before the first request: entries of
 * a MAP that fails part way, or that the device applies after its request
 * timed out, are inside them and will be invalidated.
 *
 * A MAP the device refuses for want of page tables (VIRTIO_HMM_S_NOSPC,
 * max_page_tables) changed nothing: the driver gives back the other
 * translations of this mirror and tries again, then those of the other
 * mirrors of the device (docs/virtio-hmm.md section 14); device faults
 * rebuild what was given back.
 *
 * Context: process context; caller holds @mirror->mutex; takes
 * vd->mirrors_lock and trylocks other mirrors' mutexes when short of
 * page tables.
 * Return: 0, -ENOMEM when the device has no page tables for the entries
 * even after everything else was given back, or another negative errno.
 */
int vhmm_mirror_map(struct vhmm_mirror *mirror, unsigned long va,
		    const u64 *ptes, unsigned long npages)
{
	struct vhmm_device *vd = mirror->vd;
	unsigned long done = 0;
	int ret = 0;

	lockdep_assert_held(&mirror->mutex);
	trace_vhmm_map(vd->index, mirror->asid, va, npages,
		       npages ? ptes[0] : 0, _RET_IP_);
	mirror->lo = min(mirror->lo, va);
	mirror->hi = max(mirror->hi, va + (npages << PAGE_SHIFT));
	while (done < npages) {
		unsigned long n = min3(npages - done,
				       (unsigned long)vd->max_map_pages,
				       (unsigned long)VHMM_MAP_BATCH);
		unsigned long bva = va + (done << PAGE_SHIFT);
		unsigned long bend = bva + (n << PAGE_SHIFT);

		ret = vhmm_mirror_map_batch(mirror, bva, ptes + done, n);
		if (ret == -ENOSPC) {
			atomic64_inc(&vd->stats.page_table_full);
			vhmm_mirror_give_back(mirror, bva, bend);
			/*
			 * The give-back shrank the bounds to this batch: the
			 * batches after it must be inside them again.
			 */
			mirror->lo = min(mirror->lo, bva);
			mirror->hi = max(mirror->hi,
					 va + (npages << PAGE_SHIFT));
			ret = vhmm_mirror_map_batch(mirror, bva, ptes + done, n);
		}
		if (ret == -ENOSPC && vhmm_mirror_give_back_others(mirror))
			ret = vhmm_mirror_map_batch(mirror, bva, ptes + done, n);
		if (ret == -ENOSPC)
			ret = -ENOMEM;
		if (ret) {
			if (ret != -ENODEV)
				dev_err_ratelimited(&vd->dev,
						    "asid %u: MAP %#lx+%lu: %d\n",
						    mirror->asid, bva, n, ret);
			return ret;
		}
		done += n;
	}
	return 0;
}

/**
 * vhmm_mirror_query() - read device page table entries back
 * @mirror: the address space
 * @va: page-aligned address of the first entry
 * @ptes: receives @npages entries (CPU byte order)
 * @npages: number of entries
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno.
 */
int vhmm_mirror_query(struct vhmm_mirror *mirror, unsigned long va,
		      u64 *ptes, unsigned long npages)
{
	struct vhmm_device *vd = mirror->vd;
	unsigned long done = 0;

	while (done < npages) {
		unsigned long n = min_t(unsigned long, npages - done,
					vd->max_map_pages);
		size_t in = n * 8 + sizeof(struct virtio_hmm_tail);
		struct virtio_hmm_req_query *q;
		struct vhmm_req *req;
		__le64 *pte;
		unsigned long i;
		int ret;

		req = vhmm_req_alloc(sizeof(*q) + in, GFP_KERNEL);
		if (!req)
			return -ENOMEM;
		q = vhmm_req_data(req);
		q->head.type = cpu_to_le16(VIRTIO_HMM_T_QUERY);
		q->head.asid = cpu_to_le32(mirror->asid);
		q->va = cpu_to_le64(va + (done << PAGE_SHIFT));
		q->nr_pages = cpu_to_le32(n);
		ret = vhmm_request(vd, req, sizeof(*q), in);
		pte = (__le64 *)(q + 1);
		for (i = 0; !ret && i < n; i++)
			ptes[done + i] = le64_to_cpu(pte[i]);
		vhmm_req_put(req);
		if (ret)
			return ret;
		done += n;
	}
	return 0;
}

/*
 * Run a request that removes translations (UNMAP, DESTROY_AS) and return
 * only when the device can no longer use them: it completed the request,
 * or it was reset. A device that does not take or answer the request
 * within fence_timeout_ms is fenced (vhmm_device_fence()): a stuck device
 * costs the device, never memory safety.
 */
static int vhmm_mirror_sync_request(struct vhmm_mirror *mirror,
				    struct vhmm_req *req, size_t out_len,
				    size_t in_len, const char *what)
{
	struct vhmm_device *vd = mirror->vd;
	unsigned long timeout = msecs_to_jiffies(fence_timeout_ms);
	struct scatterlist sg_out, sg_in, *sgs[2] = { &sg_out, &sg_in };
	u8 *data = vhmm_req_data(req);
	u32 status;
	int ret;

	req->tail = (struct virtio_hmm_tail *)(data + out_len + in_len -
					       sizeof(*req->tail));
	sg_init_one(&sg_out, data, out_len);
	sg_init_one(&sg_in, data + out_len, in_len);
	reinit_completion(&req->done);
	ret = vhmm_submit_nowait(vd, &vd->reqq, sgs, 1, 1, req, timeout);
	if (ret == -ENODEV) {
		/* being reset: nothing is translated once that is done */
		wait_for_completion(&vd->fence_done);
		return ret;
	}
	if (ret) {
		dev_err(&vd->dev, "asid %u: %s not sent (%d): resetting the device\n",
			mirror->asid, what, ret);
		vhmm_device_fence_wait(vd);
		return -ENODEV;
	}
	if (!wait_for_completion_timeout(&req->done, timeout)) {
		dev_err(&vd->dev, "asid %u: %s not acknowledged in %u ms: resetting the device\n",
			mirror->asid, what, fence_timeout_ms);
		vhmm_device_fence_wait(vd);
		/* the fence (or remove, if first) took the request back */
		wait_for_completion(&req->done);
	}
	vhmm_req_settle(req);
	status = le32_to_cpu(req->tail->status);
	if (status == VHMM_S_NOT_DONE)
		return -ENODEV;	/* taken back by a fence or remove, after reset */
	ret = vhmm_status_errno(status);
	/* no address space: nothing is translated in it */
	if (ret && ret != -ENXIO) {
		dev_err(&vd->dev, "asid %u: %s failed (%d): resetting the device\n",
			mirror->asid, what, ret);
		vhmm_device_fence_wait(vd);
		return -ENODEV;
	}
	return ret;
}

/**
 * vhmm_mirror_unmap() - remove device translations and wait for the ack
 * @mirror: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 * @perm: permissions to remove, 0 for the whole entries
 *
 * Runs in the invalidate callback, so it must not enter reclaim and must
 * not fail: it uses the mirror's own request (always back when the mutex
 * is free, see vhmm_mirror_sync_request()). It returns only when the
 * device can no longer use the translations: acknowledged, or the device
 * was reset (fenced after fence_timeout_ms, or removed).
 *
 * Context: process context; caller holds @mirror->mutex; may wait for
 * the fence work (vhmm_device_fence_wait()).
 * Return: 0 when the device acknowledged, -ENODEV when it was reset
 * (fenced or removed), -ENXIO when the address space does not exist;
 * either way the translations are gone.
 */
int vhmm_mirror_unmap(struct vhmm_mirror *mirror, unsigned long start,
		      unsigned long end, u32 perm)
{
	struct vhmm_device *vd = mirror->vd;
	struct virtio_hmm_req_unmap *u;
	struct vhmm_req *req = mirror->unmap_req;
	int ret;

	lockdep_assert_held(&mirror->mutex);
	u = vhmm_req_data(req);
	memset(u, 0, sizeof(*u));
	u->head.type = cpu_to_le16(VIRTIO_HMM_T_UNMAP);
	u->head.asid = cpu_to_le32(mirror->asid);
	u->va = cpu_to_le64(start);
	u->length = cpu_to_le64(end - start);
	u->perm = cpu_to_le32(perm);
	ret = vhmm_mirror_sync_request(mirror, req, offsetof(typeof(*u), tail),
				       sizeof(u->tail), "UNMAP");
	if (!ret)
		atomic64_inc(&vd->stats.invalidations);
	/*
	 * Whole entries are gone, however it returned: shrink the bounds when
	 * [@start, @end) covers one of their ends, so that later
	 * invalidations there (a freed buffer's address reused) send
	 * nothing. A MAP sent before this UNMAP, even one whose wait timed
	 * out, was applied before it (requests complete in order); a later
	 * one widens the bounds before it is sent.
	 */
	if (perm)
		return ret;
	if (start <= mirror->lo && end >= mirror->hi) {
		mirror->lo = ULONG_MAX;
		mirror->hi = 0;
	} else if (start <= mirror->lo && end > mirror->lo) {
		mirror->lo = end;
	} else if (end >= mirror->hi && start < mirror->hi) {
		mirror->hi = start;
	}
	return ret;
}

static bool vhmm_mirror_invalidate(struct mmu_interval_notifier *mni,
				   const struct mmu_notifier_range *range,
				   unsigned long cur_seq)
{
	struct vhmm_mirror *mirror =
		container_of(mni, struct vhmm_mirror, notifier);
	struct vhmm_device *vd = mirror->vd;
	unsigned long start, end;

	/*
	 * Our own make_device_exclusive_range() (vhmm_mirror_exclusive()):
	 * the page stays the same, and bumping the sequence would make its
	 * check fail forever (nouveau_svm.c does the same).
	 */
	if (range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == mirror)
		return true;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&mirror->mutex);
	else if (!mutex_trylock(&mirror->mutex))
		return false;

	start = max(range->start, mirror->lo);
	end = min(range->end, mirror->hi);
	if (start < end && !mmu_notifier_range_blockable(range)) {
		/* waiting for the device is blocking */
		mutex_unlock(&mirror->mutex);
		return false;
	}
	mmu_interval_set_seq(mni, cur_seq);
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == mirror) {
		/*
		 * This mirror's own migration to the device, the only user of
		 * this cookie (one at a time, under migrate_lock). It updates
		 * the device page table itself: the setup's collected pages in
		 * vhmm_mirror_migrate_collected(); the holes that
		 * migrate_vma_pages() fills had no translation.
		 */
		if (range->start >= mirror->mig_start &&
		    range->end <= mirror->mig_end)
			start = end;
	} else {
		mirror->gen++;
	}
	trace_vhmm_invalidate(vd->index, mirror->asid, range, start, end);
	if (start < end)
		vhmm_mirror_unmap(mirror, start, end, 0);
	mutex_unlock(&mirror->mutex);
	return true;
}

static const struct mmu_interval_notifier_ops vhmm_mirror_ops = {
	.invalidate = vhmm_mirror_invalidate,
};

static int vhmm_mirror_as_request(struct vhmm_mirror *mirror, u16 type)
{
	struct virtio_hmm_req_as *as;
	struct vhmm_req *req;
	int ret;

	req = vhmm_req_alloc(sizeof(*as), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	as = vhmm_req_data(req);
	as->head.type = cpu_to_le16(type);
	as->head.asid = cpu_to_le32(mirror->asid);
	ret = vhmm_request(mirror->vd, req, sizeof(as->head), sizeof(as->tail));
	vhmm_req_put(req);
	return ret;
}

/*
 * DESTROY_AS with the guarantee of an invalidation: when it returns, no
 * entry of the address space and no job in it can reach memory any more
 * (acknowledged, or the device was fenced). It reuses the UNMAP request,
 * which has room for it.
 */
static void vhmm_mirror_destroy_as(struct vhmm_mirror *mirror)
{
	struct vhmm_req *req = mirror->unmap_req;
	struct virtio_hmm_req_as *as = vhmm_req_data(req);

	BUILD_BUG_ON(sizeof(*as) > sizeof(struct virtio_hmm_req_unmap));
	mutex_lock(&mirror->mutex);
	memset(as, 0, sizeof(*as));
	as->head.type = cpu_to_le16(VIRTIO_HMM_T_DESTROY_AS);
	as->head.asid = cpu_to_le32(mirror->asid);
	vhmm_mirror_sync_request(mirror, req, sizeof(as->head),
				 sizeof(as->tail), "DESTROY_AS");
	mutex_unlock(&mirror->mutex);
}

/**
 * vhmm_mirror_create() - mirror the current process in a new address space
 * @vd: the device
 *
 * Context: process context (the opener's), may sleep.
 * Return: the mirror or an ERR_PTR().
 */
struct vhmm_mirror *vhmm_mirror_create(struct vhmm_device *vd)
{
	struct vhmm_mirror *mirror;
	int ret;

	if (!current->mm)
		return ERR_PTR(-EINVAL);
	mirror = kzalloc(sizeof(*mirror), GFP_KERNEL);
	if (!mirror)
		return ERR_PTR(-ENOMEM);
	mirror->vd = vd;
	mutex_init(&mirror->mutex);
	mutex_init(&mirror->migrate_lock);
	mirror->lo = ULONG_MAX;
	mirror->unmap_req = vhmm_req_alloc(sizeof(struct virtio_hmm_req_unmap),
					   GFP_KERNEL);
	mirror->map_req = vhmm_req_alloc(sizeof(struct virtio_hmm_req_map) +
					 VHMM_MAP_BATCH * 8 +
					 sizeof(struct virtio_hmm_tail),
					 GFP_KERNEL);
	if (!mirror->unmap_req || !mirror->map_req) {
		ret = -ENOMEM;
		goto err_free;
	}

	ret = ida_alloc_max(&vd->asids, vd->max_asids - 1, GFP_KERNEL);
	if (ret < 0) {
		ret = ret == -ENOSPC ? -EBUSY : ret;
		goto err_free;
	}
	mirror->asid = ret;
	ret = vhmm_mirror_as_request(mirror, VIRTIO_HMM_T_CREATE_AS);
	if (ret)
		goto err_free_asid;
	ret = mmu_interval_notifier_insert(&mirror->notifier, current->mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &vhmm_mirror_ops);
	if (ret)
		goto err_destroy_as;
	mutex_lock(&vd->mirrors_lock);
	list_add_tail(&mirror->node, &vd->mirrors);
	mutex_unlock(&vd->mirrors_lock);
	return mirror;

err_destroy_as:
	vhmm_mirror_destroy_as(mirror);
err_free_asid:
	ida_free(&vd->asids, mirror->asid);
err_free:
	if (mirror->map_req)
		vhmm_req_put(mirror->map_req);
	if (mirror->unmap_req)
		vhmm_req_put(mirror->unmap_req);
	kfree(mirror);
	return ERR_PTR(ret);
}

/**
 * vhmm_mirror_destroy() - tear down a mirror
 * @mirror: the mirror; no job of it may be in flight
 *
 * Context: process context, may sleep; waits for the fault work.
 */
void vhmm_mirror_destroy(struct vhmm_mirror *mirror)
{
	struct vhmm_device *vd = mirror->vd;

	/*
	 * A fault batch that took a reference to one of this mirror's jobs
	 * before the job finished (a duplicated or late fault record, a job
	 * taken back by remove) may still be resolving it against
	 * job->mirror. Wait for it: a later batch cannot find the jobs, they
	 * all left vd->jobs before the file could be released. After remove
	 * the work is idle and this returns at once.
	 */
	mutex_lock(&vd->mirrors_lock);
	list_del(&mirror->node);
	mutex_unlock(&vd->mirrors_lock);
	flush_work(&vd->fault_work);
	/*
	 * DESTROY_AS before the notifier goes: a job whose wait timed out may
	 * still run in the address space, and without the notifier nothing
	 * would stop it when the process frees its pages. Only then may the
	 * asid be reused.
	 */
	vhmm_mirror_destroy_as(mirror);
	mmu_interval_notifier_remove(&mirror->notifier);
	ida_free(&vd->asids, mirror->asid);
	vhmm_req_put(mirror->map_req);
	vhmm_req_put(mirror->unmap_req);
	kfree(mirror);
}

/*
 * hmm_range_fault() returns the owner's device-private pages as they are,
 * without faulting, even when write access was asked for and the entry is
 * read-only (shared copy-on-write after fork()): mapping those read-only
 * would make the device fault again forever. Find the first such page.
 */
static bool vhmm_range_cow_page(struct vhmm_device *vd,
				const struct hmm_range *range,
				unsigned long *va)
{
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;

	if (!(range->default_flags & HMM_PFN_REQ_WRITE))
		return false;
	for (i = 0; i < n; i++) {
		unsigned long hpfn = range->hmm_pfns[i];

		if ((hpfn & HMM_PFN_VALID) && !(hpfn & HMM_PFN_WRITE) &&
		    is_device_private_page(hmm_pfn_to_page(hpfn)) &&
		    vhmm_devmem_is_ours(vd, hmm_pfn_to_page(hpfn))) {
			*va = range->start + (i << PAGE_SHIFT);
			return true;
		}
	}
	return false;
}

/*
 * Fault in and map one chunk. Returns -EAGAIN with *cow_va set when a
 * device-private page must come back to system memory first.
 */
static int vhmm_mirror_range_fault(struct vhmm_mirror *mirror,
				   struct hmm_range *range, u64 *ptes,
				   unsigned long *cow_va)
{
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long i, npages;
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		range->notifier_seq = mmu_interval_read_begin(range->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;
		if (vhmm_range_cow_page(mirror->vd, range, cow_va))
			return -EAGAIN;
		mutex_lock(&mirror->mutex);
		if (!mmu_interval_read_retry(range->notifier,
					     range->notifier_seq))
			break;
		mutex_unlock(&mirror->mutex);
	}
	npages = (range->end - range->start) >> PAGE_SHIFT;
	for (i = 0; i < npages; i++)
		ptes[i] = vhmm_hmm_pfn_pte(mirror->vd, range->hmm_pfns[i]);
	ret = vhmm_mirror_map(mirror, range->start, ptes, npages);
	mutex_unlock(&mirror->mutex);
	return ret;
}

/**
 * vhmm_mirror_fault() - fault in and map [start, end) for the device
 * @mirror: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 * @write: ask for write access
 *
 * Context: process context, may sleep; takes the mm's mmap lock for reading
 * and @mirror->mutex; must hold neither.
 * Return: 0, or the error of hmm_range_fault() (-EFAULT for an inaccessible
 * range, -EPERM for a write to a read-only one) or of the device.
 */
int vhmm_mirror_fault(struct vhmm_mirror *mirror, unsigned long start,
		      unsigned long end, bool write)
{
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long *pfns;
	u64 *ptes;
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.default_flags = HMM_PFN_REQ_FAULT |
				 (write ? HMM_PFN_REQ_WRITE : 0),
		.dev_private_owner = mirror->vd,
	};
	unsigned long addr;
	unsigned int cow_tries = 0;
	int ret = 0;

	pfns = kmalloc_array(VHMM_FAULT_CHUNK, sizeof(*pfns), GFP_KERNEL);
	ptes = kmalloc_array(VHMM_FAULT_CHUNK, sizeof(*ptes), GFP_KERNEL);
	if (!pfns || !ptes) {
		ret = -ENOMEM;
		goto out_free;
	}
	range.hmm_pfns = pfns;
	if (!mmget_not_zero(mm)) {
		ret = -EFAULT;
		goto out_free;
	}
	for (addr = start; addr < end; addr = range.end) {
		unsigned long cow_va, moved = 0;

		range.start = addr;
		range.end = min(addr + (VHMM_FAULT_CHUNK << PAGE_SHIFT), end);
		ret = vhmm_mirror_range_fault(mirror, &range, ptes, &cow_va);
		if (ret == -EAGAIN && cow_tries++ < VHMM_COW_TRIES) {
			/* back to system memory, where the write breaks COW */
			ret = vhmm_migrate_to_sys(mirror, cow_va,
						  cow_va + PAGE_SIZE, &moved);
			range.end = addr;	/* this chunk again */
		} else if (ret == -EAGAIN) {
			ret = -EBUSY;
		}
		if (ret)
			break;
	}
	mmput(mm);
out_free:
	kfree(ptes);
	kfree(pfns);
	return ret;
}

static void vhmm_pages_release(struct page **pages, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		if (pages[i]) {
			unlock_page(pages[i]);
			put_page(pages[i]);
		}
	}
}

/*
 * One chunk: take the pages exclusive and map them with PTE_ATOMIC, under
 * the notifier sequence protocol. make_device_exclusive_range() requires
 * it: an exclusive entry can be zapped (MADV_DONTNEED) without the page
 * lock, so holding the pages locked is not enough. The mmap lock stays
 * held until the pages are unlocked: fork() (mmap lock for writing) fails
 * with ENOMEM when it meets a locked exclusive page.
 */
static int vhmm_mirror_exclusive_chunk(struct vhmm_mirror *mirror,
				       unsigned long addr, unsigned long next,
				       struct page **pages, u64 *ptes)
{
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	long npages = (next - addr) >> PAGE_SHIFT, got, i;
	bool again = false;
	unsigned long seq;
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		seq = mmu_interval_read_begin(&mirror->notifier);
		mmap_read_lock(mm);
		if (again) {
			/*
			 * The last round left the entries exclusive: taking
			 * them again would restore them first, an invalidation
			 * (owner NULL) after the sequence was read, and fail
			 * the check forever. Restore them, read it again.
			 */
			got = get_user_pages_remote(mm, addr, npages, FOLL_WRITE,
						    pages, NULL, NULL);
			for (i = 0; i < got; i++)
				put_page(pages[i]);
			mmap_read_unlock(mm);
			seq = mmu_interval_read_begin(&mirror->notifier);
			mmap_read_lock(mm);
		}
		again = true;
		got = make_device_exclusive_range(mm, addr, next, pages, mirror);
		if (got < 0) {
			mmap_read_unlock(mm);
			return got;
		}
		ret = got == npages ? 0 : -EBUSY;
		for (i = 0; i < got && !ret; i++) {
			if (!pages[i]) {
				ret = -EBUSY;
				break;
			}
			ptes[i] = vhmm_page_pte(mirror->vd, pages[i]) |
				  VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ |
				  VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_ATOMIC;
		}
		if (ret) {
			vhmm_pages_release(pages, got);
			mmap_read_unlock(mm);
			return ret;
		}
		mutex_lock(&mirror->mutex);
		if (!mmu_interval_read_retry(&mirror->notifier, seq))
			break;
		mutex_unlock(&mirror->mutex);
		vhmm_pages_release(pages, got);
		mmap_read_unlock(mm);
	}
	ret = vhmm_mirror_map(mirror, addr, ptes, npages);
	mutex_unlock(&mirror->mutex);
	vhmm_pages_release(pages, got);
	mmap_read_unlock(mm);
	return ret;
}

/**
 * vhmm_mirror_exclusive() - give the device atomic access to system pages
 * @mirror: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 *
 * Takes the pages exclusive for the device with make_device_exclusive_range()
 * (owner: the mirror, whose notifier ignores its own MMU_NOTIFY_EXCLUSIVE)
 * and maps them with PTE_ATOMIC if the notifier sequence taken before is
 * still current under @mirror->mutex, as nouveau_svm.c does; the pages are
 * still locked then, so a CPU access (which must lock the page to restore
 * it) is ordered after the MAP, and its invalidation removes the
 * permission again.
 *
 * Context: process context; takes the mmap lock, page locks, then
 * @mirror->mutex; must hold none of them.
 * Return: 0, -EBUSY when not every page could be made exclusive (or the
 * range kept changing), or another negative errno.
 */
int vhmm_mirror_exclusive(struct vhmm_mirror *mirror, unsigned long start,
			  unsigned long end)
{
	struct mm_struct *mm = mirror->notifier.mm;
	struct page **pages;
	unsigned long addr, next;
	u64 *ptes;
	int ret = 0;

	pages = kmalloc_array(VHMM_EXCL_CHUNK, sizeof(*pages), GFP_KERNEL);
	ptes = kmalloc_array(VHMM_EXCL_CHUNK, sizeof(*ptes), GFP_KERNEL);
	if (!pages || !ptes) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (!mmget_not_zero(mm)) {
		ret = -EINVAL;
		goto out_free;
	}
	for (addr = start; addr < end && !ret; addr = next) {
		next = min(end, addr + (VHMM_EXCL_CHUNK << PAGE_SHIFT));
		ret = vhmm_mirror_exclusive_chunk(mirror, addr, next, pages,
						  ptes);
	}
	mmput(mm);
out_free:
	kfree(ptes);
	kfree(pages);
	return ret;
}

/**
 * vhmm_mirror_migrate_begin() - a migration to the device starts its setup
 * @mirror: the migrating mirror; its migrate_lock is held, and the
 *	migration's pgmap_owner is @mirror
 * @start: the range given to migrate_vma_setup()
 * @end: see @start
 *
 * From here to vhmm_mirror_migrate_map(), the notifier leaves the device
 * page table of [@start, @end) to the migration for its own
 * MMU_NOTIFY_MIGRATE (owner @mirror: the setup's, and the one
 * migrate_vma_pages() sends before it fills holes), and only for that.
 *
 * Context: process context; takes @mirror->mutex.
 * Return: the invalidation generation, for vhmm_mirror_migrate_map().
 */
unsigned long vhmm_mirror_migrate_begin(struct vhmm_mirror *mirror,
					unsigned long start, unsigned long end)
{
	unsigned long gen;

	lockdep_assert_held(&mirror->migrate_lock);
	mutex_lock(&mirror->mutex);
	gen = mirror->gen;
	mirror->mig_start = start;
	mirror->mig_end = end;
	mutex_unlock(&mirror->mutex);
	/*
	 * @gen sees the invalidations whose callback runs from here on, not
	 * one whose callback already ran and whose page-table work is still
	 * going on: a MADV_DONTNEED could then zap the migration entries the
	 * setup installs, or another thread's migration back collect the
	 * pages this one maps, and the device would keep a translation to a
	 * page that finalize frees. Wait for those to end before the setup
	 * (no page lock is held yet); the sequence itself is not kept, since
	 * this migration's own invalidations move it too. (Races found by
	 * vhmm-race and by review.)
	 */
	mmu_interval_read_begin(&mirror->notifier);
	return gen;
}

/**
 * vhmm_mirror_migrate_collected() - migrate_vma_setup() returned
 * @mirror: see vhmm_mirror_migrate_begin()
 * @args: the migration, or NULL when migrate_vma_setup() failed
 *
 * Removes the device translations of the pages the setup collected (runs of them), which the
 * skipped invalidation left alone, before their contents are copied; the
 * others stay mapped (their pages did not change).
 *
 * Context: process context; takes @mirror->mutex.
 */
void vhmm_mirror_migrate_collected(struct vhmm_mirror *mirror,
				   const struct migrate_vma *args)
{
	unsigned long i, run_start = 0;
	bool in_run = false;

	lockdep_assert_held(&mirror->migrate_lock);
	mutex_lock(&mirror->mutex);
	if (!args) {
		mirror->mig_start = 0;
		mirror->mig_end = 0;
	}
	for (i = 0; args && i <= args->npages; i++) {
		bool collected = i < args->npages &&
				 (args->src[i] & MIGRATE_PFN_MIGRATE);

		if (collected && !in_run) {
			run_start = i;
			in_run = true;
		} else if (!collected && in_run) {
			unsigned long s = args->start + (run_start << PAGE_SHIFT);
			unsigned long e = args->start + (i << PAGE_SHIFT);

			in_run = false;
			if (s < mirror->hi && e > mirror->lo)
				vhmm_mirror_unmap(mirror, s, e, 0);
		}
	}
	mutex_unlock(&mirror->mutex);
}

/**
 * vhmm_mirror_migrate_map() - map the pages a migration moved to the device
 * @mirror: see vhmm_mirror_migrate_begin()
 * @gen: what vhmm_mirror_migrate_begin() returned
 * @args: the migration, after migrate_vma_pages() and before finalize
 * @ptes: room for args->npages entries
 *
 * Maps the pages that migrated, in runs of consecutive pages, unless
 * something other than this mirror's migration invalidated the mirror
 * since vhmm_mirror_migrate_begin() (which also waited for the
 * invalidations already running to end): then the pages the migration left
 * may not be the ones it collected, and vhmm_mirror_remap_devmem() maps
 * what is there once the migration is finalized.
 *
 * Context: process context; takes @mirror->mutex.
 * Return: false when the mirror was invalidated meanwhile (nothing mapped).
 */
bool vhmm_mirror_migrate_map(struct vhmm_mirror *mirror, unsigned long gen,
			     const struct migrate_vma *args, u64 *ptes)
{
	struct vhmm_device *vd = mirror->vd;
	unsigned long i, run = 0, run_start = 0;
	bool mapped;

	lockdep_assert_held(&mirror->migrate_lock);
	mutex_lock(&mirror->mutex);
	/* the window of vhmm_mirror_migrate_begin() ends here */
	mirror->mig_start = 0;
	mirror->mig_end = 0;
	mapped = mirror->gen == gen;
	for (i = 0; mapped && i <= args->npages; i++) {
		struct page *dpage = i < args->npages ?
				     migrate_pfn_to_page(args->dst[i]) : NULL;

		if (dpage && (args->src[i] & MIGRATE_PFN_MIGRATE)) {
			u64 pte = vhmm_devmem_offset(vd, dpage) |
				  VIRTIO_HMM_PTE_DEVMEM | VIRTIO_HMM_PTE_VALID |
				  VIRTIO_HMM_PTE_READ;

			if (args->dst[i] & MIGRATE_PFN_WRITE) {
				pte |= VIRTIO_HMM_PTE_WRITE;
				/* the CPU cannot reach private pages */
				if (vd->atomics && !vd->coherent)
					pte |= VIRTIO_HMM_PTE_ATOMIC;
			}
			if (!run)
				run_start = i;
			ptes[run++] = pte;
			continue;
		}
		if (run && vhmm_mirror_map(mirror, args->start +
					   (run_start << PAGE_SHIFT),
					   ptes, run))
			break;
		run = 0;
	}
	mutex_unlock(&mirror->mutex);
	return mapped;
}

/**
 * vhmm_mirror_remap_devmem() - map the device's own pages of a range
 * @mirror: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 *
 * A migration to the device whose batch was invalidated by someone else
 * while it ran (the split of a transparent huge page in its own
 * migrate_vma_setup() is the common case) could not map what it moved.
 * This maps, under the notifier sequence, every page of the range that is
 * now this device's memory in the CPU page table, and nothing else: pages
 * that stayed in system memory are left to device faults, as when the
 * batch had mapped them, so that the ioctl's read-back reports them.
 *
 * Context: process context, may sleep; takes the mmap lock for reading and
 * @mirror->mutex; must hold neither.
 * A chunk that keeps changing for HMM_RANGE_DEFAULT_TIMEOUT ms is left
 * unmapped, like one whose sequence check keeps failing.
 *
 * Return: 0 or a negative errno (-ENOMEM, -EBUSY on a fatal signal, the
 * device's error).
 */
int vhmm_mirror_remap_devmem(struct vhmm_mirror *mirror, unsigned long start,
			     unsigned long end)
{
	struct mm_struct *mm = mirror->notifier.mm;
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.dev_private_owner = mirror->vd,
	};
	unsigned long *pfns, addr, i, n, run, run_start, timeout;
	unsigned int tries = 0;
	u64 *ptes;
	int ret = 0;

	pfns = kmalloc_array(VHMM_FAULT_CHUNK, sizeof(*pfns), GFP_KERNEL);
	ptes = kmalloc_array(VHMM_FAULT_CHUNK, sizeof(*ptes), GFP_KERNEL);
	if (!pfns || !ptes) {
		ret = -ENOMEM;
		goto out_free;
	}
	range.hmm_pfns = pfns;
	if (!mmget_not_zero(mm))
		goto out_free;
	for (addr = start; addr < end && !ret; addr = range.end) {
		range.start = addr;
		range.end = min(addr + (VHMM_FAULT_CHUNK << PAGE_SHIFT), end);
		n = (range.end - range.start) >> PAGE_SHIFT;
		timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		do {
			range.notifier_seq =
				mmu_interval_read_begin(range.notifier);
			mmap_read_lock(mm);
			ret = hmm_range_fault(&range);	/* no REQ_FAULT */
			mmap_read_unlock(mm);
			/* bounded, as any mirror's fault path */
		} while (ret == -EBUSY && !fatal_signal_pending(current) &&
			 time_before(jiffies, timeout));
		if (ret == -EBUSY && !fatal_signal_pending(current)) {
			/* still changing: left to device faults, as below */
			ret = 0;
			continue;
		}
		if (ret)
			break;
		mutex_lock(&mirror->mutex);
		if (mmu_interval_read_retry(range.notifier,
					    range.notifier_seq)) {
			/* changed again: a few more looks, then faults */
			mutex_unlock(&mirror->mutex);
			if (tries++ < 3)
				range.end = addr;	/* this chunk again */
			continue;
		}
		tries = 0;
		for (i = 0, run = 0, run_start = 0; i <= n && !ret; i++) {
			unsigned long hpfn = i < n ? pfns[i] : 0;

			/* private or coherent device memory, ours */
			if ((hpfn & HMM_PFN_VALID) &&
			    is_zone_device_page(hmm_pfn_to_page(hpfn)) &&
			    vhmm_devmem_is_ours(mirror->vd,
						hmm_pfn_to_page(hpfn))) {
				if (!run)
					run_start = i;
				ptes[run++] = vhmm_hmm_pfn_pte(mirror->vd, hpfn);
				continue;
			}
			if (run)
				ret = vhmm_mirror_map(mirror, range.start +
						      (run_start << PAGE_SHIFT),
						      ptes, run);
			run = 0;
		}
		mutex_unlock(&mirror->mutex);
	}
	mmput(mm);
out_free:
	kfree(ptes);
	kfree(pfns);
	return ret;
}

/**
 * vhmm_job_start() - submit a job on the jobq; its faults are resolved by
 *	the fault work
 * @job: the job; @job->req.tail set
 * @sgs: scatterlists, device-readable first; the first starts with the head
 * @out: number of device-readable scatterlists
 * @in: number of device-writable scatterlists
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno; pass it to vhmm_job_finish() either way.
 */
int vhmm_job_start(struct vhmm_job *job, struct scatterlist *sgs[],
		   unsigned int out, unsigned int in)
{
	struct vhmm_device *vd = job->mirror->vd;
	struct virtio_hmm_head *head = sg_virt(sgs[0]);
	int ret;

	/* cyclic: a stale or duplicated fault record must not name a new job */
	ret = xa_alloc_cyclic(&vd->jobs, &job->tag, job, xa_limit_31b,
			      &vd->next_tag, GFP_KERNEL);
	if (ret < 0)
		return ret;
	head->tag = cpu_to_le64(job->tag);
	head->asid = cpu_to_le32(job->mirror->asid);
	job->sgs = sgs;
	job->out = out;
	job->in = in;
	ret = vhmm_submit_nowait(vd, &vd->jobq, sgs, out, in, &job->req,
				 vhmm_job_timeout());
	if (ret)
		xa_erase(&vd->jobs, job->tag);
	return ret;
}

/* FAULT_REPLY naming one job, without a fault record to answer */
static int vhmm_job_reply(struct vhmm_job *job, u32 action)
{
	struct virtio_hmm_req_fault_reply *r;
	struct virtio_hmm_reply_entry *e;
	struct vhmm_req *req;
	size_t out = sizeof(*r) + sizeof(*e);
	int ret;

	req = vhmm_req_alloc(out + sizeof(struct virtio_hmm_tail), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	r = vhmm_req_data(req);
	r->head.type = cpu_to_le16(VIRTIO_HMM_T_FAULT_REPLY);
	r->nr = cpu_to_le32(1);
	e = (struct virtio_hmm_reply_entry *)(r + 1);
	e->tag = cpu_to_le64(job->tag);
	e->asid = cpu_to_le32(job->mirror->asid);
	e->action = cpu_to_le32(action);
	ret = vhmm_request(job->mirror->vd, req, out,
			   sizeof(struct virtio_hmm_tail));
	vhmm_req_put(req);
	return ret;
}

/*
 * Wait for a job. The device may lose a fault record (or the driver miss
 * one): a job that neither completes nor faults for VHMM_JOB_POLL is
 * replayed (RETRY: the device runs it again if it is stalled, and it faults
 * again if it still must; a job that is not stalled is not affected). After
 * job_timeout_ms it is canceled, so that the device gives its buffers
 * back, and fails with -ETIMEDOUT. A fatal signal cancels it at once (its
 * faults are no longer resolved, -EINTR); the wait for the device to give
 * the buffers back goes on, bounded as before.
 */
static int vhmm_job_wait(struct vhmm_job *job)
{
	struct vhmm_device *vd = job->mirror->vd;
	unsigned long start = jiffies, deadline = start + vhmm_job_timeout();
	long left, poll;

	for (;;) {
		/* a replay every VHMM_JOB_POLL, and a look at the deadline */
		poll = clamp_t(long, deadline - jiffies, 1, VHMM_JOB_POLL);
		if (READ_ONCE(job->killed))
			left = wait_for_completion_timeout(&job->req.done, poll);
		else
			left = wait_for_completion_killable_timeout(&job->req.done,
								    poll);
		if (left > 0)
			break;
		if (left < 0) {
			job->err = -EINTR;
			WRITE_ONCE(job->killed, true);
			vhmm_job_reply(job, VIRTIO_HMM_REPLY_CANCEL);
			continue;
		}
		if (!time_before(jiffies, deadline)) {
			job->err = -ETIMEDOUT;
			vhmm_job_reply(job, VIRTIO_HMM_REPLY_CANCEL);
			if (wait_for_completion_timeout(&job->req.done,
							VHMM_JOB_POLL))
				return 0;
			dev_err(&vd->dev, "job %u: no answer from the device in %u ms\n",
				job->tag, jiffies_to_msecs(jiffies - start));
			return -ETIMEDOUT;
		}
		if (READ_ONCE(job->killed)) {
			vhmm_job_reply(job, VIRTIO_HMM_REPLY_CANCEL);
			continue;
		}
		atomic64_inc(&vd->stats.job_replays);
		vhmm_job_reply(job, VIRTIO_HMM_REPLY_RETRY);
	}
	trace_vhmm_req_wake(vd->index, vd->jobq.index, &job->req, 0);
	return 0;
}

/**
 * vhmm_job_finish() - wait for a job started with vhmm_job_start()
 * @job: the job
 * @started: what vhmm_job_start() returned
 *
 * Context: process context, may sleep; must not hold the mmap lock (fault
 * resolution takes it).
 * Return: 0, the error that made the driver cancel the job, a device
 * status as errno, or -ETIMEDOUT (the device then still owns the job's
 * buffers).
 */
int vhmm_job_finish(struct vhmm_job *job, int started)
{
	struct vhmm_device *vd = job->mirror->vd;
	unsigned long timeout = vhmm_job_timeout();
	unsigned long deadline = jiffies + timeout;
	u32 status;
	int ret;

	if (started)
		return started;
	for (;;) {
		ret = vhmm_job_wait(job);
		if (ret)
			break;
		status = le32_to_cpu(job->req.tail->status);
		/* too many jobs stalled on faults: run it again later */
		if (status != VIRTIO_HMM_S_NOSPC ||
		    time_after(jiffies, deadline) || READ_ONCE(job->killed))
			break;
		usleep_range(500, 1000);
		reinit_completion(&job->req.done);
		ret = vhmm_submit_nowait(vd, &vd->jobq, job->sgs, job->out,
					 job->in, &job->req, timeout);
		if (ret)
			break;
	}
	xa_erase(&vd->jobs, job->tag);
	if (ret)
		return ret;
	/* taken back by remove */
	if (status == VHMM_S_NOT_DONE && READ_ONCE(vd->dead))
		return -ENODEV;
	if (status == VIRTIO_HMM_S_CANCELED && job->err)
		return job->err;
	return vhmm_status_errno(status);
}

/**
 * vhmm_job_run() - run a job and wait for it
 * @job: see vhmm_job_start()
 * @sgs: see vhmm_job_start()
 * @out: see vhmm_job_start()
 * @in: see vhmm_job_start()
 *
 * Context: process context, may sleep; must not hold the mmap lock.
 * Return: see vhmm_job_finish().
 */
int vhmm_job_run(struct vhmm_job *job, struct scatterlist *sgs[],
		 unsigned int out, unsigned int in)
{
	return vhmm_job_finish(job, vhmm_job_start(job, sgs, out, in));
}

/* One fault record of a batch and what became of it. */
struct vhmm_fault_item {
	struct vhmm_job *job;
	u64 tag;
	u64 va;
	u32 asid;
	u32 access;
	u32 action;
	int err;
	unsigned long start;	/* range the resolution covers */
	unsigned long end;
	bool write;
};

static bool vhmm_mirror_has_atomic(struct vhmm_mirror *mirror,
				   unsigned long page)
{
	u64 pte;

	if (vhmm_mirror_query(mirror, page, &pte, 1))
		return false;
	return (pte & VIRTIO_HMM_PTE_VALID) && (pte & VIRTIO_HMM_PTE_ATOMIC);
}

/* What resolving a fault covers: from its page to the end of its range. */
static void vhmm_fault_range(struct vhmm_fault_item *it)
{
	struct vhmm_job *job = it->job;
	unsigned long page = it->va & PAGE_MASK;

	it->start = page;
	it->end = page + PAGE_SIZE;
	it->write = it->access & (VIRTIO_HMM_ACCESS_WRITE |
				  VIRTIO_HMM_ACCESS_ATOMIC);
	if (job->single || (it->access & VIRTIO_HMM_ACCESS_ATOMIC))
		return;
	if (page >= job->start && page < job->end)
		it->end = job->end;
	else if (page >= job->start2 && page < job->end2)
		it->end = job->end2;
	/*
	 * One step at a time: the work is ordered and shared by every
	 * process on the device. The job faults again past the step and the
	 * next record, queued behind the others, resolves the next one.
	 */
	it->end = min(it->end, it->start + VHMM_FAULT_STEP * PAGE_SIZE);
}

static int vhmm_fault_resolve(struct vhmm_fault_item *it)
{
	struct vhmm_mirror *mirror = it->job->mirror;
	int ret;

	if (it->job->nofault)
		return -ENOENT;
	/* its process is dying: do not fault in memory nobody will use */
	if (READ_ONCE(it->job->killed))
		return -EINTR;
	if (it->access & VIRTIO_HMM_ACCESS_ATOMIC) {
		if (!mirror->vd->atomics)
			return -EOPNOTSUPP;
		ret = vhmm_mirror_fault(mirror, it->start, it->end, true);
		if (ret || vhmm_mirror_has_atomic(mirror, it->start))
			return ret;
		return vhmm_mirror_exclusive(mirror, it->start, it->end);
	}
	return vhmm_mirror_fault(mirror, it->start, it->end, it->write);
}

static void vhmm_fault_reply(struct vhmm_device *vd,
			     struct vhmm_fault_item *items, unsigned int n)
{
	unsigned int done = 0;

	while (done < n) {
		unsigned int nr = min(n - done, vd->max_copy_pages);
		size_t out = sizeof(struct virtio_hmm_req_fault_reply) +
			     nr * sizeof(struct virtio_hmm_reply_entry);
		struct virtio_hmm_req_fault_reply *r;
		struct virtio_hmm_reply_entry *e;
		struct vhmm_req *req;
		unsigned int i;
		int ret;

		req = vhmm_req_alloc(out + sizeof(struct virtio_hmm_tail),
				     GFP_KERNEL | __GFP_NOFAIL);
		r = vhmm_req_data(req);
		r->head.type = cpu_to_le16(VIRTIO_HMM_T_FAULT_REPLY);
		r->nr = cpu_to_le32(nr);
		e = (struct virtio_hmm_reply_entry *)(r + 1);
		for (i = 0; i < nr; i++) {
			e[i].tag = cpu_to_le64(items[done + i].tag);
			e[i].asid = cpu_to_le32(items[done + i].asid);
			e[i].action = cpu_to_le32(items[done + i].action);
		}
		ret = vhmm_request(vd, req, out, sizeof(struct virtio_hmm_tail));
		vhmm_req_put(req);
		if (ret && ret != -ENODEV)
			dev_err(&vd->dev, "FAULT_REPLY of %u: %d\n", nr,
				ret);
		done += nr;
	}
}

/* Take every posted fault record (at most VHMM_FAULT_BUFS), repost buffers. */
static unsigned int vhmm_fault_collect(struct vhmm_device *vd,
				       struct vhmm_fault_item *items)
{
	struct virtio_hmm_fault *f;
	struct scatterlist sg;
	unsigned int n = 0, len;

	spin_lock_irq(&vd->faultq.lock);
	while (n < VHMM_FAULT_BUFS &&
	       (f = virtqueue_get_buf(vd->faultq.vq, &len))) {
		if (len >= sizeof(*f)) {
			items[n].tag = le64_to_cpu(f->tag);
			items[n].va = le64_to_cpu(f->va);
			items[n].asid = le32_to_cpu(f->asid);
			items[n].access = le32_to_cpu(f->access);
			n++;
		}
		sg_init_one(&sg, f, sizeof(*f));
		if (virtqueue_add_inbuf(vd->faultq.vq, &sg, 1, f, GFP_ATOMIC))
			dev_err(&vd->dev, "faultq: cannot repost\n");
	}
	virtqueue_kick(vd->faultq.vq);
	spin_unlock_irq(&vd->faultq.lock);
	return n;
}

static struct vhmm_job *vhmm_job_get(struct vhmm_device *vd, u64 tag,
				     u32 asid)
{
	struct vhmm_job *job;

	if (tag > U32_MAX)
		return NULL;
	xa_lock(&vd->jobs);
	job = xa_load(&vd->jobs, tag);
	if (job && (job->mirror->asid != asid ||
		    !refcount_inc_not_zero(&job->req.ref)))
		job = NULL;
	xa_unlock(&vd->jobs);
	return job;
}

/*
 * Does resolving @a (earlier in the batch) answer @b too: the same fault,
 * or a read or write fault inside the range @a mapped with enough access.
 */
static bool vhmm_fault_covered(const struct vhmm_fault_item *a,
			       const struct vhmm_fault_item *b)
{
	if (!a->job || !b->job || a->job->mirror != b->job->mirror ||
	    a->job->nofault != b->job->nofault)
		return false;
	if (a->access == b->access && a->start == b->start)
		return true;
	return !a->err && !(a->access & VIRTIO_HMM_ACCESS_ATOMIC) &&
	       !(b->access & VIRTIO_HMM_ACCESS_ATOMIC) &&
	       b->start >= a->start && b->start < a->end &&
	       (a->write || !b->write);
}

/**
 * vhmm_fault_work() - resolve a batch of device faults
 * @work: vhmm_device.fault_work
 *
 * Context: workqueue (ordered, one per device); takes mmap locks and mirror
 * mutexes through vhmm_mirror_fault().
 */
void vhmm_fault_work(struct work_struct *work)
{
	struct vhmm_device *vd = container_of(work, struct vhmm_device,
					      fault_work);
	struct vhmm_fault_item *items;
	unsigned int n, i, j;

	items = kcalloc(VHMM_FAULT_BUFS, sizeof(*items),
			GFP_KERNEL | __GFP_NOFAIL);
again:
	n = vhmm_fault_collect(vd, items);
	if (!n)
		goto out;
	atomic64_inc(&vd->stats.fault_batches);
	for (i = 0; i < n; i++) {
		trace_vhmm_fault(vd->index, items[i].asid, items[i].tag,
				 items[i].va, items[i].access);
		items[i].job = vhmm_job_get(vd, items[i].tag, items[i].asid);
	}

	for (i = 0; i < n; i++) {
		struct vhmm_fault_item *it = &items[i];

		if (!it->job) {
			it->action = VIRTIO_HMM_REPLY_CANCEL;
			continue;
		}
		vhmm_fault_range(it);
		for (j = 0; j < i; j++)
			if (vhmm_fault_covered(&items[j], it))
				break;
		it->err = j < i ? items[j].err : vhmm_fault_resolve(it);
		trace_vhmm_fault_resolve(vd->index, it->asid, it->tag,
					 it->start, it->end, j < i, it->err);
		if (it->err) {
			it->job->err = it->err;
			it->action = VIRTIO_HMM_REPLY_CANCEL;
		} else {
			atomic_inc(&it->job->faults);
			atomic64_inc(&vd->stats.faults);
			it->action = VIRTIO_HMM_REPLY_RETRY;
		}
	}
	vhmm_fault_reply(vd, items, n);
	for (i = 0; i < n; i++) {
		if (items[i].job)
			vhmm_req_put(&items[i].job->req);
		items[i].job = NULL;
	}
	if (n == VHMM_FAULT_BUFS)
		goto again;
out:
	kfree(items);
}
