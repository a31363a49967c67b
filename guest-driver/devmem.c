// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-hmm guest driver: device memory and migration.
 *
 * Theory of operation
 *
 * Device memory gets struct pages through memremap_pages():
 *
 *  - private mode: the memory is only reachable through the device's copy
 *    engine. A free physical range from request_free_mem_region() gives it
 *    MEMORY_DEVICE_PRIVATE pages; the CPU never maps them, a CPU access
 *    faults into migrate_to_ram().
 *  - coherent mode (VIRTIO_HMM_F_COHERENT): the memory is a PCI BAR exposed
 *    as virtio shared memory region VIRTIO_HMM_SHM_DEVMEM; it becomes
 *    MEMORY_DEVICE_COHERENT pages that the CPU accesses directly.
 *
 * Either way, device page p is at device memory offset (pfn(p) - base pfn)
 * * PAGE_SIZE, which is what PTE_DEVMEM entries and COPY requests use.
 *
 * A CPU access to a private device page (migrate_to_ram()) brings back the
 * aligned window of cpu_fault_pages (default 512) around it, one COPY
 * request per max_copy_pages of them.
 *
 * The allocator is a free list threaded through page->zone_device_data,
 * under dm_lock; page_free() puts pages back, except during remove.
 * Migration uses migrate_vma_setup/pages/finalize in 2 MiB-aligned batches
 * of up to 512 pages with one COPY request per batch (split at
 * max_copy_pages) and one MAP. When device memory runs out, a migration
 * moves what fits and the rest stays in system memory. Migration to the
 * device maps the new pages in the migrating mirror right away, unless
 * something other than the migration itself invalidated the range
 * meanwhile (mirror->gen).
 *
 * On remove, every device page still in use is migrated back to system
 * memory (migrate_device_range()) while the copy engine still works, pass
 * after pass as long as passes make progress (vhmm_devmem_evict_all()). In
 * coherent mode the CPU copies what the copy engine fails; in private mode
 * only the copy engine can reach device memory, and what it cannot bring
 * back is reported (docs/reliability.md says what is guaranteed).
 */

#include <linux/delay.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/virtio_config.h>
#include "vhmm.h"
#include "vhmm_trace.h"

#define VHMM_MIGRATE_CHUNK	512	/* pages per migrate_vma batch: 2 MiB */
#define VHMM_FAULT_WINDOW_MAX	512	/* 2 MiB, a migration batch */
#define VHMM_FAULT_WINDOW_STACK	16	/* windows up to this need no allocation */
/*
 * Eviction on remove stays at 64 pages a batch: a COPY request is all or
 * nothing, so in private mode a page whose copy keeps failing leaves the
 * rest of its batch behind in device memory (until the next pass); small
 * batches bound that.
 */
#define VHMM_EVICT_CHUNK	64
#define VHMM_EVICT_STALL	(30 * HZ)	/* eviction without progress */
#define VHMM_EVICT_REPORT	(5 * HZ)	/* eviction progress warnings */

static unsigned int cpu_fault_pages = VHMM_FAULT_WINDOW_MAX;

/* a power of two, so that windows are aligned and never overlap */
static int vhmm_cpu_fault_pages_set(const char *val,
				    const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret)
		return ret;
	if (!n || n > VHMM_FAULT_WINDOW_MAX || !is_power_of_2(n))
		return -EINVAL;
	WRITE_ONCE(cpu_fault_pages, n);
	return 0;
}

static const struct kernel_param_ops vhmm_cpu_fault_pages_ops = {
	.set = vhmm_cpu_fault_pages_set,
	.get = param_get_uint,
};

module_param_cb(cpu_fault_pages, &vhmm_cpu_fault_pages_ops, &cpu_fault_pages,
		0644);
MODULE_PARM_DESC(cpu_fault_pages,
		 "pages a CPU fault on private device memory brings back, the aligned window around the faulting page (a power of two, 1 to 512, default 512)");

/*
 * Migration batches end at VHMM_MIGRATE_CHUNK-aligned addresses (2 MiB),
 * so that an aligned THP is one batch, whatever the range's start.
 */
static unsigned long vhmm_migrate_batch_end(unsigned long addr)
{
	return ALIGN_DOWN(addr, VHMM_MIGRATE_CHUNK << PAGE_SHIFT) +
	       (VHMM_MIGRATE_CHUNK << PAGE_SHIFT);
}

/*
 * Entries a batch of [@start, @end) can need: a 16-page migration's arrays
 * come from the slab, not as order-2 pages (profiled: 3% of a 64 KiB
 * MIGRATE_TO_DEV went to that allocation).
 */
static unsigned long vhmm_migrate_slots(unsigned long start, unsigned long end)
{
	return clamp_t(unsigned long, (end - start) >> PAGE_SHIFT, 1,
		       VHMM_MIGRATE_CHUNK);
}

static struct vhmm_device *vhmm_page_device(struct page *page)
{
	return container_of(page->pgmap, struct vhmm_device, pagemap);
}

/**
 * vhmm_devmem_is_ours() - is @page device memory of @vd
 * @vd: the device
 * @page: any page
 *
 * Context: any context.
 * Return: true for @vd's private or coherent device pages.
 */
bool vhmm_devmem_is_ours(struct vhmm_device *vd, struct page *page)
{
	return is_zone_device_page(page) && page->pgmap == &vd->pagemap;
}

/**
 * vhmm_devmem_offset() - device memory offset of one of @vd's pages
 * @vd: the device
 * @page: a page for which vhmm_devmem_is_ours() holds
 *
 * Context: any context.
 * Return: the byte offset in device memory.
 */
u64 vhmm_devmem_offset(struct vhmm_device *vd, struct page *page)
{
	return (u64)(page_to_pfn(page) - vd->dm_base_pfn) << PAGE_SHIFT;
}

/* the page behind a COPY address: device memory offset or guest-physical */
static struct page *vhmm_copy_page(struct vhmm_device *vd, u64 addr,
				   bool devmem)
{
	if (devmem)
		return pfn_to_page(vd->dm_base_pfn + (addr >> PAGE_SHIFT));
	return pfn_to_page(PHYS_PFN(addr));
}

/*
 * The copy engine failed: in coherent mode device memory is ordinary
 * CPU-addressable memory (memremap_pages() put it in the direct map), so
 * the CPU copies instead. Private device memory has no CPU mapping.
 */
static void vhmm_cpu_copy(struct vhmm_device *vd, u16 dir, const u64 *src,
			  const u64 *dst, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		copy_highpage(vhmm_copy_page(vd, dst[i],
					     dir != VIRTIO_HMM_COPY_FROM_DEV),
			      vhmm_copy_page(vd, src[i],
					     dir != VIRTIO_HMM_COPY_TO_DEV));
		cond_resched();
	}
	atomic64_add(n, &vd->stats.cpu_copies);
}

/**
 * vhmm_copy_pages() - copy pages with the device's copy engine
 * @vd: the device
 * @dir: VIRTIO_HMM_COPY_*
 * @src: @n source addresses (guest-physical or device offsets)
 * @dst: @n destination addresses
 * @n: number of pages
 *
 * @copied: if not NULL, receives how many pages, from the first, were
 *	copied (requests of at most max_copy_pages complete whole or not at
 *	all): all @n on success, fewer on error
 *
 * A request that fails with -EIO (the device could not access a page) is
 * tried again, VHMM_COPY_TRIES times in all: the destination pages are not
 * in use until the migration completes, so a partial copy is harmless.
 * In coherent mode a request the copy engine keeps failing (-EIO) or that a
 * dead device cannot take (-ENODEV) is copied by the CPU instead (the
 * device memory is reachable), and counted in stats.cpu_copies; so is one
 * that timed out, once the fence has reset the device (it can no longer
 * carry the COPY out late).
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno; -ENOSPC when the device reports its
 * memory exhausted.
 */
int vhmm_copy_pages(struct vhmm_device *vd, u16 dir, const u64 *src,
		    const u64 *dst, unsigned long n, unsigned long *copied)
{
	unsigned long done = 0;
	unsigned int tries = 0;
	int ret = 0;

	while (done < n) {
		unsigned long nr = min_t(unsigned long, n - done,
					 vd->max_copy_pages);
		size_t out = sizeof(struct virtio_hmm_req_copy) +
			     nr * sizeof(struct virtio_hmm_copy_entry);
		struct virtio_hmm_copy_entry *e;
		struct virtio_hmm_req_copy *c;
		struct vhmm_req *req;
		unsigned long i;

		req = vhmm_req_alloc(out + sizeof(struct virtio_hmm_tail),
				     GFP_KERNEL);
		if (!req) {
			ret = -ENOMEM;
			break;
		}
		c = vhmm_req_data(req);
		c->head.type = cpu_to_le16(VIRTIO_HMM_T_COPY);
		c->head.flags = cpu_to_le16(dir);
		c->nr = cpu_to_le32(nr);
		e = (struct virtio_hmm_copy_entry *)(c + 1);
		for (i = 0; i < nr; i++) {
			e[i].src = cpu_to_le64(src[done + i]);
			e[i].dst = cpu_to_le64(dst[done + i]);
		}
		ret = vhmm_request(vd, req, out, sizeof(struct virtio_hmm_tail));
		vhmm_req_put(req);
		if (ret == -ETIMEDOUT) {
			/*
			 * The device still holds the COPY and may carry it
			 * out later, into pages the caller is about to free
			 * or reuse (system pages of a failed migration back,
			 * device pages back on the free list). Stop it first,
			 * as for an invalidation it does not acknowledge; then
			 * it is a dead device (-ENODEV: coherent memory is
			 * copied by the CPU below).
			 */
			dev_err(&vd->dev, "COPY of %lu pages not answered: resetting the device\n",
				nr);
			vhmm_device_fence_wait(vd);
			ret = -ENODEV;
		}
		if (ret == -EIO && ++tries < VHMM_COPY_TRIES) {
			atomic64_inc(&vd->stats.copy_retries);
			continue;
		}
		if (vd->coherent && (ret == -EIO || ret == -ENODEV)) {
			vhmm_cpu_copy(vd, dir, src + done, dst + done, nr);
			ret = 0;
		}
		if (ret) {
			if (ret != -ENOSPC && ret != -ENODEV)
				dev_err_ratelimited(&vd->dev,
						    "COPY dir %u of %lu pages: %d\n",
						    dir, nr, ret);
			break;
		}
		tries = 0;
		done += nr;
	}
	if (copied)
		*copied = done;
	return done < n ? ret : 0;
}

static struct page *vhmm_devmem_alloc(struct vhmm_device *vd)
{
	struct page *page;

	spin_lock(&vd->dm_lock);
	page = vd->dm_removing ? NULL : vd->dm_free_list;
	if (page) {
		vd->dm_free_list = page->zone_device_data;
		vd->dm_nr_free--;
	}
	spin_unlock(&vd->dm_lock);
	if (!page)
		return NULL;
	page->zone_device_data = NULL;
	zone_device_page_init(page);
	return page;
}

static void vhmm_devmem_page_free(struct page *page)
{
	struct vhmm_device *vd = vhmm_page_device(page);

	spin_lock(&vd->dm_lock);
	/* counted either way, so that remove sees what is still in use */
	vd->dm_nr_free++;
	if (!vd->dm_removing) {
		page->zone_device_data = vd->dm_free_list;
		vd->dm_free_list = page;
	}
	spin_unlock(&vd->dm_lock);
}

/*
 * Release the destination pages of dst[] except the first @copied set ones
 * (what a partial copy reached; 0 for none) and index @keep (ULONG_MAX for
 * none).
 */
static void vhmm_devmem_release_dst(unsigned long *dst, unsigned long npages,
				    unsigned long copied, unsigned long keep)
{
	unsigned long i, k = 0;

	for (i = 0; i < npages; i++) {
		struct page *dpage = migrate_pfn_to_page(dst[i]);

		if (!dpage || k++ < copied || i == keep)
			continue;
		unlock_page(dpage);
		put_page(dpage);
		dst[i] = 0;
	}
}

/*
 * Allocate system pages for the device pages selected in src[] and copy
 * them back with one COPY batch. With a vma, pages come from its policy
 * (migrate_vma); without (eviction), from anywhere.
 *
 * @fault is the index of the page a CPU fault needs (migrate_to_ram()), or
 * ULONG_MAX: its allocation failing fails the call with -ENOMEM (the other
 * pages then stay in device memory, not migrating is harmless), and when
 * its copy fails, that page is copied again alone (the pages the copy
 * reached before come back with it); the call succeeds when the fault
 * page came back. On failure dst[] still holds the pages a copy reached
 * (the caller's migrate_vma_pages() or migrate_device_pages() moves them);
 * the others are released.
 */
static int vhmm_devmem_copy_to_sys(struct vhmm_device *vd,
				   const unsigned long *src, unsigned long *dst,
				   unsigned long npages,
				   struct vm_area_struct *vma, unsigned long start,
				   unsigned long fault)
{
	unsigned long i, n = 0, fault_n = ULONG_MAX, copied;
	u64 *from, *to;
	int ret;

	from = kmalloc_array(npages, sizeof(*from), GFP_KERNEL);
	to = kmalloc_array(npages, sizeof(*to), GFP_KERNEL);
	if (!from || !to) {
		memset(dst, 0, npages * sizeof(*dst));
		ret = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		dst[i] = 0;
		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE) ||
		    !vhmm_devmem_is_ours(vd, spage))
			continue;
		if (vma)
			dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma,
					       start + (i << PAGE_SHIFT));
		else
			dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		if (!dpage) {
			if (i != fault)
				continue;
			/* without it the fault cannot be resolved */
			vhmm_devmem_release_dst(dst, i, 0, ULONG_MAX);
			ret = -ENOMEM;
			goto out_free;
		}
		lock_page(dpage);
		if (i == fault)
			fault_n = n;
		from[n] = vhmm_devmem_offset(vd, spage);
		to[n] = page_to_phys(dpage);
		n++;
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
	}
	ret = vhmm_copy_pages(vd, VIRTIO_HMM_COPY_FROM_DEV, from, to, n,
			      &copied);
	if (ret && fault_n != ULONG_MAX && fault_n >= copied && n > 1) {
		/* the fault page alone; what did copy comes back too */
		vhmm_devmem_release_dst(dst, npages, copied, fault);
		atomic64_inc(&vd->stats.fault_alone);
		ret = vhmm_copy_pages(vd, VIRTIO_HMM_COPY_FROM_DEV,
				      &from[fault_n], &to[fault_n], 1, NULL);
		n = copied + 1;
		if (ret) {
			/* the neighbours that did copy still come back */
			vhmm_devmem_release_dst(dst, npages, copied,
						ULONG_MAX);
			n = copied;
		}
	} else if (ret) {
		vhmm_devmem_release_dst(dst, npages, copied, ULONG_MAX);
		n = copied;
		if (fault_n < copied)
			ret = 0;
	}
	if (!ret || n) {
		atomic64_add(n, &vd->stats.pages_to_sys);
		/* no range for an eviction (no vma) */
		trace_vhmm_migrate_to_ram(vd->index, start, vma ?
					  start + (npages << PAGE_SHIFT) : 0,
					  n);
	}
out_free:
	kfree(to);
	kfree(from);
	return ret;
}

/*
 * A CPU access to a private device page: bring back the aligned window of
 * cpu_fault_pages pages around it (those of them that are ours, in this
 * vma), in one COPY, since the CPU is likely to touch its neighbours too.
 * Only the faulting page must come back: when the window does not copy, it
 * is copied alone; when no system page can be had for it, the fault is
 * VM_FAULT_OOM (the page allocator's own answer), not a refault forever.
 * A window larger than VHMM_FAULT_WINDOW_STACK whose arrays cannot be
 * allocated shrinks to that.
 */
static vm_fault_t vhmm_devmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct vhmm_device *vd = vhmm_page_device(vmf->page);
	unsigned long stack_src[VHMM_FAULT_WINDOW_STACK] = {};
	unsigned long stack_dst[VHMM_FAULT_WINDOW_STACK] = {};
	unsigned long window = READ_ONCE(cpu_fault_pages);
	unsigned long addr = vmf->address & PAGE_MASK;
	unsigned long *src = stack_src, *dst = stack_dst;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.pgmap_owner = vd,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	unsigned long fault, start;
	vm_fault_t vmret = 0;
	int ret;

	if (window > VHMM_FAULT_WINDOW_STACK) {
		src = kcalloc(2 * window, sizeof(*src), GFP_KERNEL | __GFP_NOWARN);
		dst = src + window;
		if (!src) {
			src = stack_src;
			dst = stack_dst;
			window = VHMM_FAULT_WINDOW_STACK;
		}
	}
	start = ALIGN_DOWN(addr, window * PAGE_SIZE);
	args.start = max(start, vmf->vma->vm_start);
	args.end = min(start + window * PAGE_SIZE, vmf->vma->vm_end);
	args.src = src;
	args.dst = dst;
	if (migrate_vma_setup(&args)) {
		vmret = VM_FAULT_SIGBUS;
		goto out;
	}
	fault = (addr - args.start) >> PAGE_SHIFT;
	/* someone else is migrating the page: fault again once it is done */
	if (!(src[fault] & MIGRATE_PFN_MIGRATE))
		fault = ULONG_MAX;
	ret = vhmm_devmem_copy_to_sys(vd, src, dst, args.npages, args.vma,
				      args.start, fault);
	/* what did copy migrates, also when the call failed */
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	/*
	 * A failure with no fault page of ours: the faulting page is someone
	 * else's to migrate, its data is where it was, and the fault is
	 * retried once they are done.
	 */
	if (ret && fault != ULONG_MAX)
		vmret = ret == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	else if (!ret)
		atomic64_inc(&vd->stats.cpu_faults);
out:
	if (src != stack_src)
		kfree(src);
	return vmret;
}

static const struct dev_pagemap_ops vhmm_devmem_ops = {
	.page_free = vhmm_devmem_page_free,
	.migrate_to_ram = vhmm_devmem_migrate_to_ram,
};

/*
 * Allocate device pages for the system pages selected in src[], copy. On
 * failure only what the copy reached migrates (the other system pages
 * keep the data): -ENOSPC when the device reported its memory exhausted
 * (*short_mem is set, as when the allocator runs out), another errno when
 * the copy failed.
 */
static int vhmm_devmem_copy_to_dev(struct vhmm_mirror *mirror,
				   struct migrate_vma *args, bool *short_mem)
{
	struct vhmm_device *vd = mirror->vd;
	unsigned long i, n = 0, npages = args->npages, copied;
	u64 *from, *to;
	int ret = -ENOMEM;

	from = kmalloc_array(npages, sizeof(*from), GFP_KERNEL);
	to = kmalloc_array(npages, sizeof(*to), GFP_KERNEL);
	if (!from || !to) {
		memset(args->dst, 0, npages * sizeof(*args->dst));
		goto out_free;
	}
	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (spage && is_zone_device_page(spage))
			continue;
		dpage = vhmm_devmem_alloc(vd);
		if (!dpage) {
			*short_mem = true;
			continue;
		}
		from[n] = page_to_phys(spage ? spage : ZERO_PAGE(0));
		to[n] = vhmm_devmem_offset(vd, dpage);
		n++;
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	ret = vhmm_copy_pages(vd, VIRTIO_HMM_COPY_TO_DEV, from, to, n, &copied);
	if (ret == -ENOSPC) {
		atomic64_inc(&vd->stats.devmem_full);
		*short_mem = true;
	}
	/*
	 * Private memory of a dead device cannot be copied back: what a
	 * partial copy reached stays in system memory too, and so does a
	 * whole batch when the device died after its copy (a fence by
	 * another thread).
	 */
	if (!vd->coherent && (ret == -ENODEV || READ_ONCE(vd->dead))) {
		vhmm_devmem_release_dst(args->dst, npages, 0, ULONG_MAX);
		ret = -ENODEV;
	} else if (ret) {
		vhmm_devmem_release_dst(args->dst, npages, copied, ULONG_MAX);
	}
out_free:
	kfree(to);
	kfree(from);
	return ret;
}

/**
 * vhmm_migrate_to_dev() - migrate a range of the mirror's mm to the device
 * @mirror: the mirror (its mm is the one migrated)
 * @start: page-aligned start
 * @end: page-aligned end
 * @short_of_memory: set when device memory ran out (the rest stays in
 *	system memory)
 *
 * Context: process context; takes @mirror->migrate_lock, @vd->migrate_sem
 * for reading, the mmap lock and (through the mirror API) @mirror->mutex.
 * Return: 0, -EINVAL when part of the range is not a readable mapping, or
 * the error of the copy engine (-EIO, -ENODEV, ...); pages that did not
 * migrate keep their data in system memory.
 */
int vhmm_migrate_to_dev(struct vhmm_mirror *mirror, unsigned long start,
			unsigned long end, bool *short_of_memory)
{
	struct vhmm_device *vd = mirror->vd;
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long *src, *dst;
	struct migrate_vma args = {};
	unsigned long addr, next, i, gen, moved, slots;
	unsigned long remap_start = ULONG_MAX, remap_end = 0;
	bool full = false;
	u64 *ptes;
	int ret = 0, copied;

	if (!vd->dm_ready)
		return -EOPNOTSUPP;
	slots = vhmm_migrate_slots(start, end);
	ptes = kvmalloc_array(3 * slots, sizeof(*ptes), GFP_KERNEL);
	if (!ptes)
		return -ENOMEM;
	src = (unsigned long *)(ptes + slots);
	dst = src + slots;
	if (!mmget_not_zero(mm)) {
		kvfree(ptes);
		return -EINVAL;
	}
	mutex_lock(&mirror->migrate_lock);
	down_read(&vd->migrate_sem);
	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);

		if (!vma || !(vma->vm_flags & VM_READ)) {
			ret = -EINVAL;
			break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		next = min3(end, vhmm_migrate_batch_end(addr), vma->vm_end);
		memset(&args, 0, sizeof(args));
		args.vma = vma;
		args.src = src;
		args.dst = dst;
		args.start = addr;
		args.end = next;
		/*
		 * The per-migration cookie: the notifier skips only this
		 * migration's own invalidation (mirror.c), never that of
		 * migrate_to_ram(), vhmm_migrate_to_sys() or another mirror.
		 */
		args.pgmap_owner = mirror;
		args.flags = MIGRATE_VMA_SELECT_SYSTEM;

		gen = vhmm_mirror_migrate_begin(mirror, addr, next);
		ret = migrate_vma_setup(&args);
		vhmm_mirror_migrate_collected(mirror, ret ? NULL : &args);
		if (ret)
			break;
		copied = vhmm_devmem_copy_to_dev(mirror, &args, &full);
		migrate_vma_pages(&args);
		moved = 0;
		for (i = 0; i < args.npages; i++)
			if (args.dst[i] && (args.src[i] & MIGRATE_PFN_MIGRATE))
				moved++;
		atomic64_add(moved, &vd->stats.pages_to_dev);
		trace_vhmm_migrate_to_dev(vd->index, mirror->asid, addr, next,
					  moved);
		if (!vhmm_mirror_migrate_map(mirror, gen, &args, ptes) && moved) {
			remap_start = min(remap_start, addr);
			remap_end = max(remap_end, next);
		}
		migrate_vma_finalize(&args);
		/*
		 * What a failed copy did not reach is still in system memory.
		 * Device memory exhausted is no error: the rest of the range
		 * stays in system memory too, without the setup and
		 * invalidation of batches that could not move a page.
		 */
		if (full)
			*short_of_memory = true;
		if (copied || full) {
			ret = copied == -ENOSPC ? 0 : copied;
			break;
		}
	}
	mmap_read_unlock(mm);
	up_read(&vd->migrate_sem);
	mutex_unlock(&mirror->migrate_lock);
	/* batches that an invalidation (a THP split) kept from mapping */
	if (remap_start < remap_end) {
		int err = vhmm_mirror_remap_devmem(mirror, remap_start,
						   remap_end);

		if (!ret)
			ret = err;
	}
	mmput(mm);
	kvfree(ptes);
	return ret;
}

/**
 * vhmm_migrate_to_sys() - migrate the device's pages in a range back
 * @mirror: the mirror (its mm is the one migrated)
 * @start: page-aligned start
 * @end: page-aligned end
 * @cpages: incremented by the number of pages migrated
 *
 * Context: process context; takes the mmap lock.
 * Return: 0, -EINVAL when part of the range is not a readable mapping, or
 * the error of the copy engine.
 */
int vhmm_migrate_to_sys(struct vhmm_mirror *mirror, unsigned long start,
			unsigned long end, unsigned long *cpages)
{
	struct vhmm_device *vd = mirror->vd;
	struct mm_struct *mm = mirror->notifier.mm;
	struct migrate_vma args = {};
	unsigned long addr, next, i, *src, *dst, slots;
	int ret = 0, copied;

	slots = vhmm_migrate_slots(start, end);
	src = kcalloc(2 * slots, sizeof(*src), GFP_KERNEL);
	if (!src)
		return -ENOMEM;
	dst = src + slots;
	if (!mmget_not_zero(mm)) {
		kfree(src);
		return -EINVAL;
	}
	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = next) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);

		if (!vma || !(vma->vm_flags & VM_READ)) {
			ret = -EINVAL;
			break;
		}
		next = min3(end, vhmm_migrate_batch_end(addr), vma->vm_end);
		memset(&args, 0, sizeof(args));
		args.vma = vma;
		args.src = src;
		args.dst = dst;
		args.start = addr;
		args.end = next;
		args.pgmap_owner = vd;
		args.flags = vd->coherent ? MIGRATE_VMA_SELECT_DEVICE_COHERENT :
					    MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		copied = vhmm_devmem_copy_to_sys(vd, src, dst, args.npages,
						 vma, addr, ULONG_MAX);
		migrate_vma_pages(&args);
		for (i = 0; i < args.npages; i++)
			if ((src[i] & MIGRATE_PFN_VALID) &&
			    (src[i] & MIGRATE_PFN_MIGRATE))
				(*cpages)++;
		migrate_vma_finalize(&args);
		/* what did not come back is still in device memory, intact */
		if (copied) {
			ret = copied;
			break;
		}
	}
	mmap_read_unlock(mm);
	mmput(mm);
	kfree(src);
	return ret;
}

static unsigned long vhmm_devmem_used(struct vhmm_device *vd)
{
	unsigned long used;

	spin_lock(&vd->dm_lock);
	used = vd->dm_nr_pages - vd->dm_nr_free;
	spin_unlock(&vd->dm_lock);
	return used;
}

/* One pass of migrate_device_range() over all device memory. */
static unsigned long vhmm_devmem_evict_pass(struct vhmm_device *vd,
					    unsigned long *src,
					    unsigned long *dst)
{
	unsigned long pfn, n, i, moved = 0;
	unsigned long end = vd->dm_base_pfn + vd->dm_nr_pages;

	for (pfn = vd->dm_base_pfn; pfn < end; pfn += n) {
		n = min_t(unsigned long, VHMM_EVICT_CHUNK, end - pfn);
		memset(src, 0, VHMM_EVICT_CHUNK * sizeof(*src));
		migrate_device_range(src, pfn, n);
		/* on a copy failure, what was copied still migrates */
		vhmm_devmem_copy_to_sys(vd, src, dst, n, NULL, 0, ULONG_MAX);
		migrate_device_pages(src, dst, n);
		for (i = 0; i < n; i++)
			if (dst[i] && (src[i] & MIGRATE_PFN_MIGRATE))
				moved++;
		migrate_device_finalize(src, dst, n);
	}
	return moved;
}

/**
 * vhmm_devmem_evict_all() - migrate every device page back to system memory
 * @vd: the device, still working; allocation is disabled for good
 *
 * A page that is busy (locked by a concurrent migration, or with extra
 * references) or whose copy failed is skipped by a pass; passes repeat,
 * 20 ms apart at first and at most 1 s apart, as long as some pass in the
 * last VHMM_EVICT_STALL moved pages. Every VHMM_EVICT_REPORT a warning
 * reports what is left. In coherent mode failed copies are done by the CPU
 * (vhmm_copy_pages()), so only busy pages can hold eviction up. Pages
 * still in device memory when eviction gives up keep their data there
 * until the device is reset (private mode: a later CPU access gets
 * SIGBUS), and memunmap_pages() in remove waits until their owners have
 * unmapped them.
 *
 * Context: process context (remove), may sleep.
 */
void vhmm_devmem_evict_all(struct vhmm_device *vd)
{
	unsigned long moved = 0, *src, *dst, used, start = jiffies;
	unsigned long progress = jiffies, report = jiffies + VHMM_EVICT_REPORT;
	unsigned int delay = 20, passes = 0;

	if (!vd->dm_ready)
		return;
	spin_lock(&vd->dm_lock);
	vd->dm_removing = true;
	spin_unlock(&vd->dm_lock);
	/*
	 * Wait for migrations to the device in progress: they may still
	 * install pages they allocated before the allocator closed.
	 */
	down_write(&vd->migrate_sem);
	up_write(&vd->migrate_sem);
	src = kcalloc(2 * VHMM_EVICT_CHUNK, sizeof(*src),
		      GFP_KERNEL | __GFP_NOFAIL);
	dst = src + VHMM_EVICT_CHUNK;
	while ((used = vhmm_devmem_used(vd))) {
		unsigned long n;

		if (passes++) {
			atomic64_inc(&vd->stats.evict_retries);
			if (time_after(jiffies, progress + VHMM_EVICT_STALL))
				break;
			if (time_after(jiffies, report)) {
				dev_warn(&vd->vdev->dev,
					 "eviction: %lu device pages left after %u s, %lu moved, %u passes\n",
					 used,
					 jiffies_to_msecs(jiffies - start) / 1000,
					 moved, passes - 1);
				report = jiffies + VHMM_EVICT_REPORT;
			}
			msleep(delay);
			delay = min(2 * delay, 1000u);
		}
		n = vhmm_devmem_evict_pass(vd, src, dst);
		if (n) {
			moved += n;
			progress = jiffies;
			delay = 20;
		}
	}
	kfree(src);
	atomic64_add(moved, &vd->stats.evictions);
	if (moved)
		dev_info(&vd->vdev->dev, "evicted %lu device pages\n", moved);
	if (used)
		dev_warn(&vd->vdev->dev,
			 "eviction gave up after %u s without progress: %lu device pages still in use, their data stays in device memory\n",
			 jiffies_to_msecs(VHMM_EVICT_STALL) / 1000, used);
}

/**
 * vhmm_devmem_init() - give the device memory struct pages
 * @vd: the device, config read
 *
 * Context: process context (probe).
 * Return: 0 or a negative errno.
 */
int vhmm_devmem_init(struct vhmm_device *vd)
{
	struct device *dev = &vd->vdev->dev;
	unsigned long npages, pfn;
	u64 size = ALIGN_DOWN(vd->devmem_size, SZ_2M);
	void *ptr;

	if (!size) {
		dev_warn(dev, "less than 2 MiB of device memory: no migration\n");
		return 0;
	}
	if (vd->coherent) {
		struct virtio_shm_region shm;

		if (!virtio_get_shm_region(vd->vdev, &shm,
					   VIRTIO_HMM_SHM_DEVMEM)) {
			dev_err(dev, "coherent device without shared memory region %u\n",
				VIRTIO_HMM_SHM_DEVMEM);
			return -ENODEV;
		}
		if (shm.len < size || !IS_ALIGNED(shm.addr, SZ_2M)) {
			dev_err(dev, "shared memory region %#llx+%#llx unusable for %#llx bytes\n",
				shm.addr, shm.len, size);
			return -EINVAL;
		}
		vd->pagemap.type = MEMORY_DEVICE_COHERENT;
		vd->pagemap.range.start = shm.addr;
		vd->pagemap.range.end = shm.addr + size - 1;
	} else {
		vd->dm_res = request_free_mem_region(&iomem_resource, size,
						     dev_name(&vd->dev));
		if (IS_ERR(vd->dm_res))
			return PTR_ERR(vd->dm_res);
		vd->pagemap.type = MEMORY_DEVICE_PRIVATE;
		vd->pagemap.range.start = vd->dm_res->start;
		vd->pagemap.range.end = vd->dm_res->end;
	}
	vd->pagemap.nr_range = 1;
	vd->pagemap.ops = &vhmm_devmem_ops;
	vd->pagemap.owner = vd;
	ptr = memremap_pages(&vd->pagemap, dev_to_node(dev));
	if (IS_ERR(ptr)) {
		if (vd->dm_res)
			release_mem_region(vd->dm_res->start,
					   resource_size(vd->dm_res));
		dev_err(dev, "memremap_pages: %ld\n", PTR_ERR(ptr));
		return PTR_ERR(ptr);
	}
	vd->dm_base_pfn = vd->pagemap.range.start >> PAGE_SHIFT;
	npages = size >> PAGE_SHIFT;
	for (pfn = vd->dm_base_pfn + npages; pfn-- > vd->dm_base_pfn;) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = vd->dm_free_list;
		vd->dm_free_list = page;
	}
	vd->dm_nr_pages = npages;
	vd->dm_nr_free = npages;
	vd->dm_ready = true;
	return 0;
}

/**
 * vhmm_devmem_fini() - undo vhmm_devmem_init()
 * @vd: the device; its pages were evicted
 *
 * Context: process context (probe failure, remove).
 */
void vhmm_devmem_fini(struct vhmm_device *vd)
{
	if (!vd->dm_ready)
		return;
	spin_lock(&vd->dm_lock);
	vd->dm_removing = true;
	vd->dm_free_list = NULL;
	spin_unlock(&vd->dm_lock);
	memunmap_pages(&vd->pagemap);
	if (vd->dm_res)
		release_mem_region(vd->dm_res->start,
				   resource_size(vd->dm_res));
	vd->dm_ready = false;
}
