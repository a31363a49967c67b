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
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "vhmm.h"
#include "vhmm_trace.h"

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

/**
 * vhmm_mirror_map() - set device page table entries
 * @mirror: the address space
 * @va: page-aligned address of the first entry
 * @ptes: @npages entries (VIRTIO_HMM_PTE_*, CPU byte order)
 * @npages: number of entries
 *
 * Context: process context; caller holds @mirror->mutex.
 * Return: 0 or a negative errno.
 */
int vhmm_mirror_map(struct vhmm_mirror *mirror, unsigned long va,
		    const u64 *ptes, unsigned long npages)
{
	struct vhmm_device *vd = mirror->vd;
	unsigned long done = 0;
	int ret = 0;

	lockdep_assert_held(&mirror->mutex);
	while (done < npages) {
		unsigned long n = min3(npages - done,
				       (unsigned long)vd->max_map_pages,
				       (unsigned long)VHMM_MAP_BATCH);
		size_t out = sizeof(struct virtio_hmm_req_map) + n * 8;
		struct virtio_hmm_req_map *map;
		struct vhmm_req *req = mirror->map_req;
		__le64 *pte;
		unsigned long i;

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
		map->va = cpu_to_le64(va + (done << PAGE_SHIFT));
		map->nr_pages = cpu_to_le32(n);
		pte = (__le64 *)(map + 1);
		for (i = 0; i < n; i++)
			pte[i] = cpu_to_le64(ptes[done + i]);
		ret = vhmm_request(vd, req, out, sizeof(struct virtio_hmm_tail));
		if (ret) {
			dev_err(&vd->vdev->dev, "asid %u: MAP %#lx+%lu: %d\n",
				mirror->asid, va, n, ret);
			return ret;
		}
		done += n;
	}
	mirror->lo = min(mirror->lo, va);
	mirror->hi = max(mirror->hi, va + (npages << PAGE_SHIFT));
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

/**
 * vhmm_mirror_unmap() - remove device translations and wait for the ack
 * @mirror: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 * @perm: permissions to remove, 0 for the whole entries
 *
 * Runs in the invalidate callback, so it must not enter reclaim: it reuses
 * the mirror's own request unless the device still holds that one (after
 * a timeout), and only then allocates without reclaim.
 *
 * Context: process context; caller holds @mirror->mutex.
 * Return: 0 or a negative errno.
 */
int vhmm_mirror_unmap(struct vhmm_mirror *mirror, unsigned long start,
		      unsigned long end, u32 perm)
{
	struct vhmm_device *vd = mirror->vd;
	struct virtio_hmm_req_unmap *u;
	struct vhmm_req *req = mirror->unmap_req;
	int ret;

	lockdep_assert_held(&mirror->mutex);
	if (refcount_read(&req->ref) != 1) {
		req = vhmm_req_alloc(sizeof(*u), GFP_NOWAIT | __GFP_NOWARN);
		if (!req)
			return -ENOMEM;
		vhmm_req_put(mirror->unmap_req);
		mirror->unmap_req = req;
	}
	reinit_completion(&req->done);
	u = vhmm_req_data(req);
	memset(u, 0, sizeof(*u));
	u->head.type = cpu_to_le16(VIRTIO_HMM_T_UNMAP);
	u->head.asid = cpu_to_le32(mirror->asid);
	u->va = cpu_to_le64(start);
	u->length = cpu_to_le64(end - start);
	u->perm = cpu_to_le32(perm);
	ret = vhmm_request(vd, req, offsetof(typeof(*u), tail),
			   sizeof(u->tail));
	if (!ret)
		atomic64_inc(&vd->stats.invalidations);
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
	int ret;

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
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == vd) {
		/*
		 * Our own migration to the device of this range updates the
		 * device page table itself, page by page (devmem.c).
		 */
		if (range->start >= mirror->mig_start &&
		    range->end <= mirror->mig_end)
			start = end;
	} else {
		mirror->gen++;
	}
	trace_vhmm_invalidate(vd->index, mirror->asid, range, start, end);
	if (start < end) {
		ret = vhmm_mirror_unmap(mirror, start, end, 0);
		if (ret && ret != -ENODEV)
			dev_err(&vd->vdev->dev,
				"asid %u: UNMAP %#lx-%#lx failed: %d\n",
				mirror->asid, start, end, ret);
	}
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
	return mirror;

err_destroy_as:
	vhmm_mirror_as_request(mirror, VIRTIO_HMM_T_DESTROY_AS);
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
	flush_work(&vd->fault_work);
	mmu_interval_notifier_remove(&mirror->notifier);
	vhmm_mirror_as_request(mirror, VIRTIO_HMM_T_DESTROY_AS);
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

/**
 * vhmm_mirror_exclusive() - give the device atomic access to system pages
 * @mirror: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 *
 * Takes the pages exclusive for the device with make_device_exclusive_range()
 * and maps them with PTE_ATOMIC while they are still locked, so that a CPU
 * access (which must lock the page to restore it) is ordered after the MAP
 * and its invalidation removes the permission again.
 *
 * Context: process context; takes the mmap lock and @mirror->mutex.
 * Return: 0, -EBUSY when not every page could be made exclusive, or another
 * negative errno.
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
	mmap_read_lock(mm);
	for (addr = start; addr < end && !ret; addr = next) {
		long npages, i, got;

		next = min(end, addr + (VHMM_EXCL_CHUNK << PAGE_SHIFT));
		npages = (next - addr) >> PAGE_SHIFT;
		got = make_device_exclusive_range(mm, addr, next, pages,
						  mirror->vd);
		if (got < 0) {
			ret = got;
			break;
		}
		if (got != npages)
			ret = -EBUSY;
		for (i = 0; i < got && !ret; i++) {
			if (!pages[i]) {
				ret = -EBUSY;
				break;
			}
			ptes[i] = vhmm_page_pte(mirror->vd, pages[i]) |
				  VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ |
				  VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_ATOMIC;
		}
		if (!ret) {
			mutex_lock(&mirror->mutex);
			ret = vhmm_mirror_map(mirror, addr, ptes, npages);
			mutex_unlock(&mirror->mutex);
		}
		for (i = 0; i < got; i++) {
			if (pages[i]) {
				unlock_page(pages[i]);
				put_page(pages[i]);
			}
		}
	}
	mmap_read_unlock(mm);
	mmput(mm);
out_free:
	kfree(ptes);
	kfree(pages);
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
				 VHMM_JOB_TIMEOUT);
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
 * VHMM_JOB_TIMEOUT it is canceled, so that the device gives its buffers
 * back, and fails with -ETIMEDOUT. A fatal signal cancels it at once (its
 * faults are no longer resolved, -EINTR); the wait for the device to give
 * the buffers back goes on, bounded as before.
 */
static int vhmm_job_wait(struct vhmm_job *job)
{
	struct vhmm_device *vd = job->mirror->vd;
	unsigned long deadline = jiffies + VHMM_JOB_TIMEOUT;
	long left;

	for (;;) {
		if (READ_ONCE(job->killed))
			left = wait_for_completion_timeout(&job->req.done,
							   VHMM_JOB_POLL);
		else
			left = wait_for_completion_killable_timeout(&job->req.done,
								    VHMM_JOB_POLL);
		if (left > 0)
			break;
		if (left < 0) {
			job->err = -EINTR;
			WRITE_ONCE(job->killed, true);
			vhmm_job_reply(job, VIRTIO_HMM_REPLY_CANCEL);
			continue;
		}
		if (time_after(jiffies, deadline)) {
			job->err = -ETIMEDOUT;
			vhmm_job_reply(job, VIRTIO_HMM_REPLY_CANCEL);
			if (wait_for_completion_timeout(&job->req.done,
							VHMM_JOB_POLL))
				return 0;
			dev_err(&vd->vdev->dev, "job %u: no answer from the device in %u ms\n",
				job->tag, jiffies_to_msecs(VHMM_JOB_TIMEOUT));
			return -ETIMEDOUT;
		}
		if (READ_ONCE(job->killed)) {
			vhmm_job_reply(job, VIRTIO_HMM_REPLY_CANCEL);
			continue;
		}
		atomic64_inc(&vd->stats.job_replays);
		vhmm_job_reply(job, VIRTIO_HMM_REPLY_RETRY);
	}
	trace_vhmm_req_wake(vd->index, vd->jobq.vq->index, &job->req, 0);
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
	unsigned long deadline = jiffies + VHMM_JOB_TIMEOUT;
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
					 job->in, &job->req, VHMM_JOB_TIMEOUT);
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
			dev_err(&vd->vdev->dev, "FAULT_REPLY of %u: %d\n", nr,
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
			dev_err(&vd->vdev->dev, "faultq: cannot repost\n");
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
