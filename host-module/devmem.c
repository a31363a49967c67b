// SPDX-License-Identifier: GPL-2.0
/*
 * vhmm_host device memory: a pool of host MEMORY_DEVICE_PRIVATE pages and
 * the migrations into and out of it.
 *
 * Theory of operation (lib/test_hmm.c is the model):
 *
 * - The pool grows by chunks of VHMM_HOST_CHUNK_SIZE: a free physical range
 *   from request_free_mem_region() given struct pages by memremap_pages().
 *   Free device pages are linked through page->zone_device_data.
 * - A device page in use stands for device memory; its data lives in a
 *   system page that the module allocates (the fake device memory of
 *   test_hmm), pointed to by page->zone_device_data.
 * - migrate_vma_setup/pages/finalize move anonymous pages into the pool and
 *   back. Between setup and finalize the source pages are locked and
 *   unmapped, so nothing in that window grows the pool or allocates for
 *   the device: a migration to the device first takes the device pages it
 *   may need, with their backing pages, into a stash (struct
 *   vhmm_host_stash), without mmap_lock, and the window only hands them
 *   out. The way back allocates the destination page in the window, with
 *   the vma's policy, as the kernel's own migrate_to_ram() users do.
 * - A CPU access to a device page (by the process itself, a core dump, a
 *   debugger) ends in migrate_to_ram(), which brings that one page back to
 *   system RAM.
 * - Every device page in use holds a reference on the module, so the
 *   module cannot be unloaded while a page (of a forked child, say) is
 *   still mapped somewhere: rmmod fails with EBUSY instead of hanging.
 *
 * Locking (the order is in vhmm_host.h): pool->lock, which grows the pool,
 * is never taken under mmap_lock, a page lock or vf->lock; mmap_lock is
 * held for one batch of VHMM_HOST_MIGRATE_PAGES at a time. page_free() runs
 * wherever the last reference goes, page table locks included, and takes
 * pool->free_lock only.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include "vhmm_host.h"

#define VHMM_HOST_CHUNK_SIZE	(256UL << 20)
#define VHMM_HOST_MIGRATE_PAGES	32

static unsigned int max_chunks = 4;
module_param(max_chunks, uint, 0444);
MODULE_PARM_DESC(max_chunks, "Most 256 MiB chunks of device memory (default 4)");

struct vhmm_host_chunk {
	struct dev_pagemap pagemap;
	struct resource *res;
};

/**
 * struct vhmm_host_pool - the device memory of the module
 * @lock: protects @chunks and @nr_chunks (growing the pool)
 * @chunks: the chunks, @max_chunks slots
 * @nr_chunks: chunks in use
 * @free_lock: protects @free_pages
 * @free_pages: free device pages, linked through zone_device_data
 */
struct vhmm_host_pool {
	struct mutex lock;		/* see the lock order above */
	struct vhmm_host_chunk **chunks;
	unsigned int nr_chunks;
	spinlock_t free_lock;
	struct page *free_pages;
};

static struct vhmm_host_pool vhmm_host_pool;

/* The owner of the module's device pages, for hmm and migrate_vma */
void *vhmm_host_owner = &vhmm_host_pool;

static const struct dev_pagemap_ops vhmm_host_devmem_ops;

/*
 * Add one chunk to the pool. Context: process; takes the pool locks, and
 * memremap_pages() takes the memory-hotplug locks and allocates: never
 * under mmap_lock, a page lock or a file's vf->lock.
 */
static int vhmm_host_add_chunk(void)
{
	struct vhmm_host_pool *pool = &vhmm_host_pool;
	struct vhmm_host_chunk *chunk;
	unsigned long pfn, first, last;
	struct resource *res;
	void *addr;
	int ret;

	mutex_lock(&pool->lock);
	/* Another thread may have grown the pool while this one waited */
	if (READ_ONCE(pool->free_pages)) {
		ret = 0;
		goto out_unlock;
	}
	if (pool->nr_chunks >= max_chunks) {
		ret = -ENOSPC;
		goto out_unlock;
	}
	chunk = kzalloc(sizeof(*chunk), GFP_KERNEL);
	if (!chunk) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	res = request_free_mem_region(&iomem_resource, VHMM_HOST_CHUNK_SIZE,
				      "vhmm_host");
	if (IS_ERR_OR_NULL(res)) {
		ret = res ? PTR_ERR(res) : -ENOMEM;
		goto err_free_chunk;
	}
	chunk->res = res;
	chunk->pagemap.type = MEMORY_DEVICE_PRIVATE;
	chunk->pagemap.range.start = res->start;
	chunk->pagemap.range.end = res->end;
	chunk->pagemap.nr_range = 1;
	chunk->pagemap.ops = &vhmm_host_devmem_ops;
	chunk->pagemap.owner = vhmm_host_owner;
	addr = memremap_pages(&chunk->pagemap, numa_node_id());
	if (IS_ERR_OR_NULL(addr)) {
		ret = addr ? PTR_ERR(addr) : -ENOMEM;
		goto err_release_region;
	}
	pool->chunks[pool->nr_chunks++] = chunk;

	first = chunk->pagemap.range.start >> PAGE_SHIFT;
	last = first + (range_len(&chunk->pagemap.range) >> PAGE_SHIFT);
	spin_lock(&pool->free_lock);
	for (pfn = first; pfn < last; pfn++) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = pool->free_pages;
		pool->free_pages = page;
	}
	spin_unlock(&pool->free_lock);
	mutex_unlock(&pool->lock);
	pr_info("added a %lu MiB chunk of device memory (%u of %u), PFNs [0x%lx 0x%lx)\n",
		VHMM_HOST_CHUNK_SIZE >> 20, pool->nr_chunks, max_chunks,
		first, last);
	return 0;

err_release_region:
	release_mem_region(res->start, resource_size(res));
err_free_chunk:
	kfree(chunk);
out_unlock:
	mutex_unlock(&pool->lock);
	return ret;
}

/*
 * A free device page off the pool's list, growing the pool by a chunk if
 * the list is empty. Context: process, no mmap_lock, no page lock.
 * Return: the page, or ERR_PTR(-ENOSPC) when all max_chunks are in use, or
 * another error of growing the pool.
 */
static struct page *vhmm_host_pool_take(void)
{
	struct vhmm_host_pool *pool = &vhmm_host_pool;
	struct page *dpage;
	int ret;

	for (;;) {
		spin_lock(&pool->free_lock);
		dpage = pool->free_pages;
		if (dpage)
			pool->free_pages = dpage->zone_device_data;
		spin_unlock(&pool->free_lock);
		if (dpage)
			return dpage;
		ret = vhmm_host_add_chunk();
		if (ret)
			return ERR_PTR(ret);
	}
}

/* Put a free device page back on the pool's list */
static void vhmm_host_pool_put(struct page *dpage)
{
	struct vhmm_host_pool *pool = &vhmm_host_pool;

	spin_lock(&pool->free_lock);
	dpage->zone_device_data = pool->free_pages;
	pool->free_pages = dpage;
	spin_unlock(&pool->free_lock);
}

/**
 * struct vhmm_host_stash - device pages taken before a migration's window
 * @pages: free device pages, each with its backing page in zone_device_data
 * @nr: pages in @pages
 */
struct vhmm_host_stash {
	struct page *pages[VHMM_HOST_MIGRATE_PAGES];
	unsigned int nr;
};

/*
 * Top the stash up to @want pages. Context: process, no mmap_lock: this
 * may grow the pool and allocates memory that may reclaim.
 * Return: 0, -ENOSPC when the pool is exhausted, -ENOMEM.
 */
static int vhmm_host_stash_fill(struct vhmm_host_stash *st, unsigned int want)
{
	while (st->nr < want) {
		struct page *dpage, *rpage;

		rpage = alloc_page(GFP_HIGHUSER);
		if (!rpage)
			return -ENOMEM;
		dpage = vhmm_host_pool_take();
		if (IS_ERR(dpage)) {
			__free_page(rpage);
			return PTR_ERR(dpage);
		}
		dpage->zone_device_data = rpage;
		st->pages[st->nr++] = dpage;
	}
	return 0;
}

/*
 * A device page from the stash, in use and locked, with its backing page;
 * NULL when the stash is empty. Context: inside a migration's window.
 */
static struct page *vhmm_host_stash_take(struct vhmm_host_stash *st)
{
	struct page *dpage, *rpage;

	if (!st->nr)
		return NULL;
	dpage = st->pages[--st->nr];
	rpage = dpage->zone_device_data;
	__module_get(THIS_MODULE);
	atomic64_inc(&vhmm_host_counters.pages_allocated);
	zone_device_page_init(dpage);
	dpage->zone_device_data = rpage;
	return dpage;
}

/* Give the pages left in the stash back */
static void vhmm_host_stash_drain(struct vhmm_host_stash *st)
{
	while (st->nr) {
		struct page *dpage = st->pages[--st->nr];

		__free_page(dpage->zone_device_data);
		vhmm_host_pool_put(dpage);
	}
}

/* dev_pagemap_ops.page_free: the last reference to a device page is gone */
static void vhmm_host_page_free(struct page *page)
{
	__free_page(page->zone_device_data);
	vhmm_host_pool_put(page);
	atomic64_inc(&vhmm_host_counters.pages_freed);
	module_put(THIS_MODULE);
}

/**
 * vhmm_host_devmem_data_page() - the page that holds the data of @page
 * @page: a page that hmm_range_fault() returned for the module's owner
 *
 * Context: any.
 * Return: the backing page of one of the module's device pages, @page
 * itself for a system page, NULL for another driver's device page.
 */
struct page *vhmm_host_devmem_data_page(struct page *page)
{
	if (!is_zone_device_page(page))
		return page;
	if (is_device_private_page(page) &&
	    page->pgmap->owner == vhmm_host_owner)
		return page->zone_device_data;
	return NULL;
}

/* Pages that migrate_vma_pages() moved */
static unsigned long vhmm_host_migrated(const struct migrate_vma *args)
{
	unsigned long i, n = 0;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_MIGRATE) &&
		    (args->dst[i] & MIGRATE_PFN_VALID))
			n++;
	return n;
}

/*
 * Give each collected system page a device page from @st with its data;
 * when the stash runs out (the pool is exhausted), the rest stays in
 * system RAM.
 */
static void vhmm_host_alloc_and_copy_to_device(struct migrate_vma *args,
					       struct vhmm_host_stash *st)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage, *dpage;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		/* NULL for pte_none() or the zero page */
		spage = migrate_pfn_to_page(args->src[i]);
		dpage = vhmm_host_stash_take(st);
		if (!dpage)
			return;
		if (spage)
			copy_highpage(dpage->zone_device_data, spage);
		else
			clear_highpage(dpage->zone_device_data);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

/*
 * Give each collected device page a system page with its data. Return
 * false if a page could not be allocated.
 */
static bool vhmm_host_alloc_and_copy_to_ram(struct migrate_vma *args)
{
	bool ok = true;
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		struct page *spage, *dpage;

		spage = migrate_pfn_to_page(args->src[i]);
		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, args->vma,
				       args->start + (i << PAGE_SHIFT));
		if (!dpage) {
			ok = false;
			continue;
		}
		lock_page(dpage);
		copy_highpage(dpage, spage->zone_device_data);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (args->src[i] & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	return ok;
}

/* vhmm_host_migrate() flags */
#define VHMM_HOST_TO_DEVICE	BIT(0)	/* into device memory, else back */
#define VHMM_HOST_STRICT	BIT(1)	/* only private anonymous memory */
#define VHMM_HOST_ALL		BIT(2)	/* -ENOSPC if the pool runs out */

/*
 * Migrate the pages of [@start, @end) of @mm one way, one batch of
 * VHMM_HOST_MIGRATE_PAGES at a time, each under mmap_lock for read. With
 * VHMM_HOST_STRICT every page of the range must be in a private anonymous
 * mapping (else -EINVAL); without, holes and other mappings are skipped.
 * Into device memory, the device pages of a batch are stashed before
 * mmap_lock is taken; when the pool is exhausted the rest of the range
 * stays in system RAM, or with VHMM_HOST_ALL the call fails with -ENOSPC
 * (what moved so far stays moved). A fatal signal stops a migration into
 * device memory with -EINTR; the way back always runs to the end.
 */
static long vhmm_host_migrate(struct mm_struct *mm, unsigned long start,
			      unsigned long end, unsigned int flags)
{
	bool to_device = flags & VHMM_HOST_TO_DEVICE;
	bool strict = flags & VHMM_HOST_STRICT;
	unsigned long src[VHMM_HOST_MIGRATE_PAGES];
	unsigned long dst[VHMM_HOST_MIGRATE_PAGES];
	struct migrate_vma args = {
		.src = src,
		.dst = dst,
		.pgmap_owner = vhmm_host_owner,
		.flags = to_device ? MIGRATE_VMA_SELECT_SYSTEM :
				     MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	struct vhmm_host_stash stash = { .nr = 0 };
	unsigned long addr, next, moved = 0;
	bool exhausted = false;
	long ret = 0;

	if (!mmget_not_zero(mm))
		return -ESRCH;
	for (addr = start; addr < end && !exhausted; addr = next) {
		struct vm_area_struct *vma;

		if (to_device) {
			if (fatal_signal_pending(current)) {
				ret = -EINTR;
				break;
			}
			ret = vhmm_host_stash_fill(&stash,
				min_t(unsigned long, (end - addr) >> PAGE_SHIFT,
				      VHMM_HOST_MIGRATE_PAGES));
			if (ret == -ENOSPC && !(flags & VHMM_HOST_ALL)) {
				/* this batch gets what the stash has */
				exhausted = true;
				ret = 0;
			}
			if (ret)
				break;
		}
		mmap_read_lock(mm);
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start >= end) {
			mmap_read_unlock(mm);
			if (strict)
				ret = -EINVAL;
			break;
		}
		if (vma->vm_start > addr || !vma_is_anonymous(vma)) {
			next = vma->vm_start > addr ? vma->vm_start : vma->vm_end;
			mmap_read_unlock(mm);
			if (strict) {
				ret = -EINVAL;
				break;
			}
			continue;
		}
		next = min3(end, vma->vm_end,
			    addr + (VHMM_HOST_MIGRATE_PAGES << PAGE_SHIFT));
		memset(dst, 0, sizeof(dst));
		args.vma = vma;
		args.start = addr;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (!ret) {
			if (to_device)
				vhmm_host_alloc_and_copy_to_device(&args, &stash);
			else
				vhmm_host_alloc_and_copy_to_ram(&args);
			migrate_vma_pages(&args);
			moved += vhmm_host_migrated(&args);
			migrate_vma_finalize(&args);
		}
		mmap_read_unlock(mm);
		if (ret)
			break;
	}
	vhmm_host_stash_drain(&stash);
	mmput(mm);

	atomic64_add(moved, to_device ? &vhmm_host_counters.migrated_to_device :
					&vhmm_host_counters.migrated_to_ram);
	return ret ? ret : moved;
}

/**
 * vhmm_host_migrate_to_device() - move a range into device memory
 * @mm: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 * @all: fail with -ENOSPC if the pool cannot hold every page
 *
 * Every page of the range must be in a private anonymous mapping. Pages
 * that cannot move (pinned, locked elsewhere; without @all, the pool
 * exhausted) stay in system RAM. On an error, what moved stays moved.
 *
 * Context: process; takes mmap_lock for read and may grow the pool; must
 * not hold mmap_lock or a file's vf->lock.
 * Return: pages moved, or -EINVAL (not all private anonymous memory),
 * -ENOSPC, -ENOMEM, -EINTR (fatal signal), -ESRCH (@mm is gone).
 */
long vhmm_host_migrate_to_device(struct mm_struct *mm, unsigned long start,
				 unsigned long end, bool all)
{
	return vhmm_host_migrate(mm, start, end,
				 VHMM_HOST_TO_DEVICE | VHMM_HOST_STRICT |
				 (all ? VHMM_HOST_ALL : 0));
}

/**
 * vhmm_host_migrate_to_ram() - bring the device pages of a range back
 * @mm: the address space
 * @start: page-aligned start
 * @end: page-aligned end
 *
 * Holes and other mappings in the range are skipped.
 *
 * Context: process; takes mmap_lock for read; must not hold mmap_lock or a
 * file's vf->lock.
 * Return: pages moved, or a negative errno (-ESRCH if @mm is gone).
 */
long vhmm_host_migrate_to_ram(struct mm_struct *mm, unsigned long start,
			      unsigned long end)
{
	return vhmm_host_migrate(mm, start, end, 0);
}

/*
 * dev_pagemap_ops.migrate_to_ram: a CPU access to a device page. Runs
 * under mmap_lock for read with the faulting page locked; the
 * destination page is allocated in the window (it may reclaim, which may
 * call the notifier: no vf->lock is held here).
 */
static vm_fault_t vhmm_host_cpu_fault(struct vm_fault *vmf)
{
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address,
		.end = vmf->address + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = vhmm_host_owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	bool ok;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	ok = vhmm_host_alloc_and_copy_to_ram(&args);
	migrate_vma_pages(&args);
	atomic64_add(vhmm_host_migrated(&args),
		     &vhmm_host_counters.migrated_to_ram);
	migrate_vma_finalize(&args);
	atomic64_inc(&vhmm_host_counters.cpu_faults);
	return ok ? 0 : VM_FAULT_OOM;
}

static const struct dev_pagemap_ops vhmm_host_devmem_ops = {
	.page_free	= vhmm_host_page_free,
	.migrate_to_ram	= vhmm_host_cpu_fault,
};

/**
 * vhmm_host_devmem_max_pages() - the most device pages the pool can hold
 *
 * Context: any.
 * Return: max_chunks chunks' worth of pages.
 */
unsigned long vhmm_host_devmem_max_pages(void)
{
	return (unsigned long)max_chunks * (VHMM_HOST_CHUNK_SIZE >> PAGE_SHIFT);
}

/**
 * vhmm_host_devmem_init() - set up the (empty) pool
 *
 * Context: module init.
 * Return: 0 or -ENOMEM.
 */
int vhmm_host_devmem_init(void)
{
	struct vhmm_host_pool *pool = &vhmm_host_pool;

	mutex_init(&pool->lock);
	spin_lock_init(&pool->free_lock);
	pool->chunks = kcalloc(max_chunks, sizeof(*pool->chunks), GFP_KERNEL);
	return pool->chunks || !max_chunks ? 0 : -ENOMEM;
}

/**
 * vhmm_host_devmem_exit() - give the pool back
 *
 * No device page is in use: each holds a reference on the module.
 *
 * Context: module exit.
 */
void vhmm_host_devmem_exit(void)
{
	struct vhmm_host_pool *pool = &vhmm_host_pool;
	unsigned int i;

	for (i = 0; i < pool->nr_chunks; i++) {
		struct vhmm_host_chunk *chunk = pool->chunks[i];

		memunmap_pages(&chunk->pagemap);
		release_mem_region(chunk->res->start,
				   resource_size(chunk->res));
		kfree(chunk);
	}
	pool->free_pages = NULL;
	kfree(pool->chunks);
}
