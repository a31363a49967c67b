// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-hmm guest driver: the character device /dev/virtio_hmm<N>.
 *
 * Theory of operation
 *
 * Each open creates a mirror of the opener's address space (mirror.c); a
 * process that got the file some other way (fork, SCM_RIGHTS) gets -EPERM
 * from every ioctl and must open the device itself.
 * The first eight ioctls are lib/test_hmm_uapi.h's, with test_hmm's
 * semantics, but carried out by the device instead of by the CPU:
 *
 *  - READ/WRITE run device READ/WRITE jobs whose data travels in a kernel
 *    bounce buffer (in the job's descriptor chain). A fault resolves the
 *    rest of the command's range, so a READ of an unmirrored range counts
 *    faults == 1, as with test_hmm.
 *  - MIGRATE_TO_DEV migrates with the copy engine (devmem.c), then reads
 *    the range back with a job that may not fault (-ENOENT for a page the
 *    device cannot reach), as test_hmm reads its own page table.
 *  - SNAPSHOT reports hmm_range_fault() without faulting; EXCLUSIVE takes
 *    pages exclusive and maps them PTE_ATOMIC; CHECK_EXCLUSIVE asks the
 *    device (QUERY) whether such entries are left; RELEASE migrates the
 *    device's pages of the range back to system memory.
 *
 * The rest drive the execution engine (FILL, COPY, ATOMIC, CHASE) and
 * report INFO and STATS. Large FILL and COPY commands are split into jobs
 * of at most max_job_bytes that are all submitted before waiting, so that
 * their faults arrive, and are resolved, in batches.
 */

#include <linux/fs.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include "vhmm.h"

#define VHMM_SNAPSHOT_CHUNK	64
#define VHMM_QUERY_CHUNK	512	/* CHECK_EXCLUSIVE entries per QUERY */
#define VHMM_MAX_PARALLEL_JOBS	8
#define VHMM_RANGE_JOB_BYTES	(64 * PAGE_SIZE)	/* FILL, COPY piece */
#define VHMM_MMAP_CHUNK		64	/* pages mmap() allocates at a time */

static void *vhmm_job_wire(struct vhmm_job *job)
{
	return job + 1;
}

static struct vhmm_job *vhmm_job_alloc(struct vhmm_mirror *mirror,
				       size_t wire)
{
	struct vhmm_job *job = kzalloc(sizeof(*job) + wire, GFP_KERNEL);

	if (!job)
		return NULL;
	vhmm_req_init(&job->req, NULL);
	job->mirror = mirror;
	atomic_set(&job->faults, 0);
	return job;
}

/* A READ, WRITE, FILL or COPY job and the scatterlists to submit it. */
struct vhmm_rw {
	struct vhmm_job *job;
	struct scatterlist hdr;
	struct scatterlist tail;
	struct scatterlist data[VHMM_JOB_MAX_PAGES];
	struct scatterlist *sgs[3];
	unsigned int out;
	unsigned int in;
};

static int vhmm_rw_prepare(struct vhmm_mirror *mirror, struct vhmm_rw *rw,
			   u16 type, u64 va, u64 len, u64 va2, u64 pattern,
			   void *data)
{
	struct virtio_hmm_job_rw *j;
	struct virtio_hmm_tail *tail;
	unsigned int i, n;

	rw->job = vhmm_job_alloc(mirror, sizeof(*j) + sizeof(*tail));
	if (!rw->job)
		return -ENOMEM;
	j = vhmm_job_wire(rw->job);
	tail = (struct virtio_hmm_tail *)(j + 1);
	rw->job->req.tail = tail;
	j->head.type = cpu_to_le16(type);
	j->va = cpu_to_le64(va);
	j->length = cpu_to_le64(len);
	j->va2 = cpu_to_le64(va2);
	j->pattern = cpu_to_le64(pattern);
	sg_init_one(&rw->hdr, j, sizeof(*j));
	sg_init_one(&rw->tail, tail, sizeof(*tail));
	rw->out = 0;
	rw->in = 0;
	rw->sgs[rw->out++] = &rw->hdr;
	if (data) {
		/* data is page aligned, len at most VHMM_JOB_MAX_PAGES pages */
		n = DIV_ROUND_UP(len, PAGE_SIZE);
		sg_init_table(rw->data, n);
		for (i = 0; i < n; i++) {
			void *p = data + i * PAGE_SIZE;
			struct page *pg = is_vmalloc_addr(p) ?
					  vmalloc_to_page(p) : virt_to_page(p);

			sg_set_page(&rw->data[i], pg,
				    min_t(u64, PAGE_SIZE, len - i * PAGE_SIZE),
				    0);
		}
		if (type == VIRTIO_HMM_T_JOB_WRITE)
			rw->sgs[rw->out++] = rw->data;
		else
			rw->sgs[rw->out + rw->in++] = rw->data;
	}
	rw->sgs[rw->out + rw->in++] = &rw->tail;
	return 0;
}

/*
 * Run jobs over [va, va + len) (and [va2, ...) for COPY), in pieces of
 * chunk bytes, at most VHMM_MAX_PARALLEL_JOBS in flight. A fault in a piece
 * resolves up to fault_end (or the piece's end when fault_end is 0).
 * Returns 0 or the first error, with *done the bytes completed in order.
 * On -ETIMEDOUT the device may still access data: the caller must not
 * free it.
 */
static int vhmm_rw_run(struct vhmm_mirror *mirror, u16 type, u64 va, u64 len,
		       u64 va2, u64 pattern, void *data, u64 fault_end,
		       bool nofault, unsigned int parallel, u64 chunk,
		       u64 *done, u64 *faults)
{
	struct vhmm_rw *rw;
	u64 off = 0;
	int ret = 0;

	/*
	 * No more job slots than pieces: a one-page READ needs one (without
	 * DIV_ROUND_UP, which wraps for a FILL of length ~0: no slot, and
	 * the loop below would spin).
	 */
	if (len)
		parallel = min_t(u64, parallel, div64_u64(len - 1, chunk) + 1);
	rw = kvcalloc(parallel, sizeof(*rw), GFP_KERNEL);
	if (!rw)
		return -ENOMEM;
	*done = 0;
	while (off < len && !ret) {
		int started[VHMM_MAX_PARALLEL_JOBS];
		unsigned int i, n = 0;

		for (n = 0; n < parallel && off < len; n++) {
			u64 l = min(chunk, len - off);
			struct vhmm_job *job;

			ret = vhmm_rw_prepare(mirror, &rw[n], type, va + off, l,
					      va2 ? va2 + off : 0, pattern,
					      data ? data + off : NULL);
			if (ret)
				break;
			job = rw[n].job;
			job->nofault = nofault;
			job->start = (va + off) & PAGE_MASK;
			job->end = fault_end ? fault_end :
				   PAGE_ALIGN(va + off + l);
			if (va2) {
				job->start2 = (va2 + off) & PAGE_MASK;
				job->end2 = PAGE_ALIGN(va2 + off + l);
			}
			started[n] = vhmm_job_start(job, rw[n].sgs, rw[n].out,
						    rw[n].in);
			off += l;
		}
		for (i = 0; i < n; i++) {
			int r = vhmm_job_finish(rw[i].job, started[i]);

			*faults += atomic_read(&rw[i].job->faults);
			if (!r && !ret)
				*done += min(chunk, len - *done);
			if (r && (!ret || r == -ETIMEDOUT))
				ret = r;
			vhmm_req_put(&rw[i].job->req);
		}
	}
	kvfree(rw);
	return ret;
}

static u64 vhmm_rw_chunk(struct vhmm_device *vd)
{
	return min_t(u64, vd->max_job_bytes,
		     VHMM_JOB_MAX_PAGES * PAGE_SIZE) & PAGE_MASK;
}

/*
 * READ or WRITE through a bounce buffer; test_hmm semantics. After the
 * first piece, the bounce buffer holds VHMM_MAX_PARALLEL_JOBS jobs' worth
 * (2 MiB of 64-page jobs), submitted together and waited for together:
 * one round trip for what took eight. The size of a command is the
 * caller's to choose, kernel memory is not. The buffer is not zeroed: a
 * READ copies out only what jobs that completed wrote in full, a WRITE
 * sends only what it copied in.
 */
static int vhmm_ioc_rw(struct vhmm_mirror *mirror, struct hmm_dmirror_cmd *cmd,
		       bool write, bool nofault)
{
	u64 size = cmd->npages << PAGE_SHIFT, chunk = vhmm_rw_chunk(mirror->vd);
	u64 round = chunk * VHMM_MAX_PARALLEL_JOBS;
	u64 off, n, done, faults = 0;
	char __user *uptr = u64_to_user_ptr(cmd->ptr);
	void *bounce;
	int ret = 0;

	bounce = kvmalloc(min(size, round), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	for (off = 0; off < size; off += n) {
		/*
		 * The first piece alone: a fault it takes resolves up to
		 * VHMM_FAULT_STEP pages ahead, so the pieces after it do not
		 * all fault at once (test_hmm counts one fault for a command
		 * of up to 4 MiB of unmirrored memory, and so do hmm-tests).
		 */
		n = min(off ? round : chunk, size - off);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (write && copy_from_user(bounce, uptr + off, n)) {
			ret = -EFAULT;
			break;
		}
		/* a fault resolves up to the end of the command */
		ret = vhmm_rw_run(mirror, write ? VIRTIO_HMM_T_JOB_WRITE :
				  VIRTIO_HMM_T_JOB_READ, cmd->addr + off, n, 0,
				  0, bounce, cmd->addr + size, nofault,
				  off ? VHMM_MAX_PARALLEL_JOBS : 1, chunk, &done,
				  &faults);
		if (ret == -ETIMEDOUT)
			return ret;	/* the device may still write it: leak it */
		if (!ret && !write && copy_to_user(uptr + off, bounce, n))
			ret = -EFAULT;
		if (ret)
			break;
		cmd->cpages += n >> PAGE_SHIFT;
	}
	cmd->faults = faults;
	kvfree(bounce);
	return ret;
}

static int vhmm_ioc_migrate_to_dev(struct vhmm_mirror *mirror,
				   struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	bool short_mem = false;
	int ret;

	ret = vhmm_migrate_to_dev(mirror, start, end, &short_mem);
	if (ret)
		return ret;
	/*
	 * Read back what the device sees. Pages that did not fit stay in
	 * system memory and are faulted in; otherwise, as with test_hmm, a
	 * page the migration did not map (shared, or another device's)
	 * fails with -ENOENT.
	 */
	ret = vhmm_ioc_rw(mirror, cmd, false, !short_mem);
	cmd->faults = 0;
	return ret;
}

static int vhmm_ioc_exclusive(struct vhmm_mirror *mirror,
			      struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	int ret;

	if (!mirror->vd->atomics)
		return -EOPNOTSUPP;
	ret = vhmm_mirror_exclusive(mirror, start, end);
	if (ret)
		return ret;
	return vhmm_ioc_rw(mirror, cmd, false, true);
}

static int vhmm_ioc_check_exclusive(struct vhmm_mirror *mirror,
				    struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long addr, i, n;
	u64 *ptes;
	int ret = 0;

	/* nothing outside what was ever mapped in the device can be atomic */
	mutex_lock(&mirror->mutex);
	start = max(start, mirror->lo);
	end = min(end, mirror->hi);
	mutex_unlock(&mirror->mutex);
	ptes = kmalloc_array(VHMM_QUERY_CHUNK, sizeof(*ptes), GFP_KERNEL);
	if (!ptes)
		return -ENOMEM;
	for (addr = start; addr < end && !ret; addr += n << PAGE_SHIFT) {
		n = min_t(unsigned long, VHMM_QUERY_CHUNK,
			  (end - addr) >> PAGE_SHIFT);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		ret = vhmm_mirror_query(mirror, addr, ptes, n);
		for (i = 0; !ret && i < n; i++) {
			u64 pte = ptes[i];

			/* private device memory is atomic by nature */
			if ((pte & VIRTIO_HMM_PTE_VALID) &&
			    (pte & VIRTIO_HMM_PTE_ATOMIC) &&
			    !((pte & VIRTIO_HMM_PTE_DEVMEM) &&
			      !mirror->vd->coherent))
				ret = -EPERM;
		}
	}
	kfree(ptes);
	return ret;
}

static unsigned char vhmm_snapshot_entry(struct vhmm_device *vd,
					 unsigned long entry)
{
	unsigned char perm;
	struct page *page;

	if (entry & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(entry & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;
	page = hmm_pfn_to_page(entry);
	if (is_device_private_page(page))
		perm = page->pgmap->owner == vd ?
		       HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
		       HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		perm = page->pgmap->owner == vd ?
		       HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
		       HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		perm = HMM_DMIRROR_PROT_ZERO;
	else
		perm = HMM_DMIRROR_PROT_NONE;
	perm |= entry & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE :
					HMM_DMIRROR_PROT_READ;
	if (hmm_pfn_to_map_order(entry) + PAGE_SHIFT == PMD_SHIFT)
		perm |= HMM_DMIRROR_PROT_PMD;
	else if (hmm_pfn_to_map_order(entry) + PAGE_SHIFT == PUD_SHIFT)
		perm |= HMM_DMIRROR_PROT_PUD;
	return perm;
}

static bool vhmm_snapshot_invalidate(struct mmu_interval_notifier *mni,
				     const struct mmu_notifier_range *range,
				     unsigned long cur_seq)
{
	/* any invalidation restarts the snapshot: the sequence is enough */
	mmu_interval_set_seq(mni, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops vhmm_snapshot_ops = {
	.invalidate = vhmm_snapshot_invalidate,
};

static int vhmm_snapshot_range(struct vhmm_mirror *mirror,
			       struct hmm_range *range, unsigned char *perm)
{
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct mmu_interval_notifier notifier;
	unsigned long i, n;
	int ret;

	range->notifier = &notifier;
	ret = mmu_interval_notifier_insert(&notifier, mm, range->start,
					   range->end - range->start,
					   &vhmm_snapshot_ops);
	if (ret)
		return ret;
	for (;;) {
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			break;
		}
		range->notifier_seq = mmu_interval_read_begin(&notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY)
			continue;
		if (ret)
			break;
		if (mmu_interval_read_retry(&notifier, range->notifier_seq))
			continue;
		n = (range->end - range->start) >> PAGE_SHIFT;
		for (i = 0; i < n; i++)
			perm[i] = vhmm_snapshot_entry(mirror->vd,
						      range->hmm_pfns[i]);
		break;
	}
	mmu_interval_notifier_remove(&notifier);
	return ret;
}

static int vhmm_ioc_snapshot(struct vhmm_mirror *mirror,
			     struct hmm_dmirror_cmd *cmd)
{
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long start = cmd->addr;
	unsigned long end = start + (cmd->npages << PAGE_SHIFT);
	unsigned long pfns[VHMM_SNAPSHOT_CHUNK];
	unsigned char perm[VHMM_SNAPSHOT_CHUNK];
	char __user *uptr = u64_to_user_ptr(cmd->ptr);
	struct hmm_range range = {
		.hmm_pfns = pfns,
		.dev_private_owner = mirror->vd,
	};
	unsigned long addr, n;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EINVAL;
	for (addr = start; addr < end; addr = range.end) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
		range.start = addr;
		range.end = min(addr + (VHMM_SNAPSHOT_CHUNK << PAGE_SHIFT), end);
		ret = vhmm_snapshot_range(mirror, &range, perm);
		if (ret)
			break;
		n = (range.end - range.start) >> PAGE_SHIFT;
		if (copy_to_user(uptr, perm, n)) {
			ret = -EFAULT;
			break;
		}
		cmd->cpages += n;
		uptr += n;
	}
	mmput(mm);
	return ret;
}

static long vhmm_ioc_dmirror(struct vhmm_mirror *mirror, unsigned int ioc,
			     void __user *uarg)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long cpages = 0;
	int ret;

	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (cmd.addr & ~PAGE_MASK)
		return -EINVAL;
	if (cmd.npages > (ULONG_MAX >> PAGE_SHIFT) ||
	    cmd.addr >= cmd.addr + (cmd.npages << PAGE_SHIFT))
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (ioc) {
	case HMM_DMIRROR_READ:
		ret = vhmm_ioc_rw(mirror, &cmd, false, false);
		break;
	case HMM_DMIRROR_WRITE:
		ret = vhmm_ioc_rw(mirror, &cmd, true, false);
		break;
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = vhmm_ioc_migrate_to_dev(mirror, &cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = vhmm_migrate_to_sys(mirror, cmd.addr,
					  cmd.addr + (cmd.npages << PAGE_SHIFT),
					  &cpages);
		cmd.cpages = cpages;
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = vhmm_ioc_snapshot(mirror, &cmd);
		break;
	case HMM_DMIRROR_EXCLUSIVE:
		ret = vhmm_ioc_exclusive(mirror, &cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = vhmm_ioc_check_exclusive(mirror, &cmd);
		break;
	case HMM_DMIRROR_RELEASE:
		ret = vhmm_migrate_to_sys(mirror, cmd.addr,
					  cmd.addr + (cmd.npages << PAGE_SHIFT),
					  &cpages);
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	if (copy_to_user(uarg, &cmd, sizeof(cmd)))
		return -EFAULT;
	return 0;
}

static long vhmm_ioc_range_job(struct vhmm_mirror *mirror, bool copy,
			       void __user *uarg)
{
	struct vhmm_device *vd = mirror->vd;
	struct virtio_hmm_range_job r;
	u64 done = 0, faults = 0;
	int ret;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (!r.length || r.addr + r.length < r.addr ||
	    (copy && r.src + r.length < r.src) || (copy && !r.src))
		return -EINVAL;
	ret = vhmm_rw_run(mirror, copy ? VIRTIO_HMM_T_JOB_COPY :
			  VIRTIO_HMM_T_JOB_FILL,
			  copy ? r.src : r.addr, r.length, copy ? r.addr : 0,
			  r.pattern, NULL, 0, false, VHMM_MAX_PARALLEL_JOBS,
			  min_t(u64, vd->max_job_bytes, VHMM_RANGE_JOB_BYTES),
			  &done, &faults);
	r.faults = faults;
	if (ret)
		return ret;
	return copy_to_user(uarg, &r, sizeof(r)) ? -EFAULT : 0;
}

/* A job with fixed-size arguments and result: ATOMIC, CHASE. */
static int vhmm_small_job(struct vhmm_mirror *mirror, const void *args,
			  size_t args_len, void *result, size_t result_len,
			  u64 *faults)
{
	struct scatterlist sg_out, sg_in, *sgs[2];
	struct virtio_hmm_tail *tail;
	struct vhmm_job *job;
	u8 *wire;
	int ret;

	job = vhmm_job_alloc(mirror, args_len + result_len + sizeof(*tail));
	if (!job)
		return -ENOMEM;
	wire = vhmm_job_wire(job);
	memcpy(wire, args, args_len);
	tail = (struct virtio_hmm_tail *)(wire + args_len + result_len);
	job->req.tail = tail;
	job->single = true;
	sg_init_one(&sg_out, wire, args_len);
	sg_init_one(&sg_in, wire + args_len, result_len + sizeof(*tail));
	sgs[0] = &sg_out;
	sgs[1] = &sg_in;
	ret = vhmm_job_run(job, sgs, 1, 1);
	*faults = atomic_read(&job->faults);
	if (!ret)
		memcpy(result, wire + args_len, result_len);
	vhmm_req_put(&job->req);
	return ret;
}

static long vhmm_ioc_atomic(struct vhmm_mirror *mirror, void __user *uarg)
{
	struct virtio_hmm_atomic_result res;
	struct virtio_hmm_job_atomic j = {};
	struct virtio_hmm_atomic a;
	int ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (!mirror->vd->atomics)
		return -EOPNOTSUPP;
	if ((a.size != 4 && a.size != 8) || (a.addr & (a.size - 1)) ||
	    a.op > VIRTIO_HMM_ATOMIC_MAX_OP)
		return -EINVAL;
	j.head.type = cpu_to_le16(VIRTIO_HMM_T_JOB_ATOMIC);
	j.va = cpu_to_le64(a.addr);
	j.operand = cpu_to_le64(a.operand);
	j.compare = cpu_to_le64(a.compare);
	j.op = cpu_to_le32(a.op);
	j.size = cpu_to_le32(a.size);
	ret = vhmm_small_job(mirror, &j, sizeof(j), &res, sizeof(res),
			     &a.faults);
	if (ret)
		return ret;
	a.old = le64_to_cpu(res.old);
	return copy_to_user(uarg, &a, sizeof(a)) ? -EFAULT : 0;
}

static long vhmm_ioc_chase(struct vhmm_mirror *mirror, void __user *uarg)
{
	struct virtio_hmm_chase_result res;
	struct virtio_hmm_job_chase j = {};
	struct virtio_hmm_chase c;
	int ret;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (c.value_size != 1 && c.value_size != 2 && c.value_size != 4 &&
	    c.value_size != 8)
		return -EINVAL;
	j.head.type = cpu_to_le16(VIRTIO_HMM_T_JOB_CHASE);
	j.va = cpu_to_le64(c.addr);
	j.next_offset = cpu_to_le32(c.next_offset);
	j.value_offset = cpu_to_le32(c.value_offset);
	j.value_size = cpu_to_le32(c.value_size);
	j.max_nodes = cpu_to_le32(c.max_nodes);
	ret = vhmm_small_job(mirror, &j, sizeof(j), &res, sizeof(res),
			     &c.faults);
	if (ret)
		return ret;
	c.sum = le64_to_cpu(res.sum);
	c.nodes = le64_to_cpu(res.nodes);
	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

static long vhmm_ioc_info(struct vhmm_device *vd, void __user *uarg)
{
	struct virtio_hmm_info info = {
		.mode = vd->coherent ? HMM_DMIRROR_MEMORY_DEVICE_COHERENT :
				       HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
		.page_size = PAGE_SIZE,
		.devmem_size = (u64)vd->dm_nr_pages << PAGE_SHIFT,
		.features = vd->vdev->features,
	};

	spin_lock(&vd->dm_lock);
	info.devmem_free = (u64)vd->dm_nr_free << PAGE_SHIFT;
	spin_unlock(&vd->dm_lock);
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long vhmm_ioc_stats(struct vhmm_device *vd, void __user *uarg)
{
	struct vhmm_stats *s = &vd->stats;
	struct virtio_hmm_ioc_stats st = {
		.faults = atomic64_read(&s->faults),
		.fault_batches = atomic64_read(&s->fault_batches),
		.pages_to_dev = atomic64_read(&s->pages_to_dev),
		.pages_to_sys = atomic64_read(&s->pages_to_sys),
		.cpu_faults = atomic64_read(&s->cpu_faults),
		.evictions = atomic64_read(&s->evictions),
		.invalidations = atomic64_read(&s->invalidations),
	};

	st.bytes_to_dev = st.pages_to_dev << PAGE_SHIFT;
	st.bytes_to_sys = st.pages_to_sys << PAGE_SHIFT;
	spin_lock(&vd->dm_lock);
	st.devmem_used = vd->dm_nr_pages - vd->dm_nr_free;
	spin_unlock(&vd->dm_lock);
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long vhmm_fops_ioctl(struct file *filp, unsigned int ioc,
			    unsigned long arg)
{
	struct vhmm_mirror *mirror = filp->private_data;
	void __user *uarg = (void __user *)arg;

	/*
	 * The file mirrors the address space of the process that opened it;
	 * another process that holds it (inherited across fork, passed over
	 * a socket) must not reach that memory through the device.
	 */
	if (current->mm != mirror->notifier.mm)
		return -EPERM;
	if (READ_ONCE(mirror->vd->dead))
		return -ENODEV;
	switch (ioc) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_MIGRATE_TO_DEV:
	case HMM_DMIRROR_MIGRATE_TO_SYS:
	case HMM_DMIRROR_SNAPSHOT:
	case HMM_DMIRROR_EXCLUSIVE:
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
		return vhmm_ioc_dmirror(mirror, ioc, uarg);
	case VIRTIO_HMM_IOC_INFO:
		return vhmm_ioc_info(mirror->vd, uarg);
	case VIRTIO_HMM_IOC_FILL:
		return vhmm_ioc_range_job(mirror, false, uarg);
	case VIRTIO_HMM_IOC_COPY:
		return vhmm_ioc_range_job(mirror, true, uarg);
	case VIRTIO_HMM_IOC_ATOMIC:
		return vhmm_ioc_atomic(mirror, uarg);
	case VIRTIO_HMM_IOC_CHASE:
		return vhmm_ioc_chase(mirror, uarg);
	case VIRTIO_HMM_IOC_STATS:
		return vhmm_ioc_stats(mirror->vd, uarg);
	default:
		return -ENOTTY;
	}
}

/*
 * As test_hmm: a mapping of zeroed, ordinary pages (hmm-tests' mixedmap),
 * inserted at mmap() time so that a SNAPSHOT sees them. The caller can ask
 * for any length: the pages are charged to its memory cgroup
 * (__GFP_ACCOUNT), allocated and inserted VHMM_MMAP_CHUNK at a time, and a
 * fatal signal (the OOM killer's too) stops it; on error mmap_region()
 * unmaps what was inserted.
 */
static int vhmm_fops_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct page *pages[VHMM_MMAP_CHUNK];
	unsigned long addr, n, i, got, left;
	int ret = 0;

	for (addr = vma->vm_start; addr < vma->vm_end && !ret;
	     addr += n << PAGE_SHIFT) {
		if (fatal_signal_pending(current))
			return -EINTR;
		n = min_t(unsigned long, VHMM_MMAP_CHUNK,
			  (vma->vm_end - addr) >> PAGE_SHIFT);
		for (got = 0; got < n; got++) {
			pages[got] = alloc_page(GFP_HIGHUSER | __GFP_ZERO |
						__GFP_ACCOUNT);
			if (!pages[got])
				break;
		}
		left = got;
		ret = got < n ? -ENOMEM :
		      vm_insert_pages(vma, addr, pages, &left);
		/* the page tables hold their own references */
		for (i = 0; i < got; i++)
			put_page(pages[i]);
		cond_resched();
	}
	return ret;
}

static int vhmm_fops_open(struct inode *inode, struct file *filp)
{
	struct vhmm_device *vd = container_of(inode->i_cdev,
					      struct vhmm_device, cdev);
	struct vhmm_mirror *mirror;

	get_device(&vd->dev);
	mirror = READ_ONCE(vd->dead) ? ERR_PTR(-ENODEV) :
				       vhmm_mirror_create(vd);
	if (IS_ERR(mirror)) {
		put_device(&vd->dev);
		return PTR_ERR(mirror);
	}
	filp->private_data = mirror;
	return 0;
}

static int vhmm_fops_release(struct inode *inode, struct file *filp)
{
	struct vhmm_mirror *mirror = filp->private_data;
	struct vhmm_device *vd = mirror->vd;

	vhmm_mirror_destroy(mirror);
	put_device(&vd->dev);
	return 0;
}

const struct file_operations vhmm_fops = {
	.owner = THIS_MODULE,
	.open = vhmm_fops_open,
	.release = vhmm_fops_release,
	.mmap = vhmm_fops_mmap,
	.unlocked_ioctl = vhmm_fops_ioctl,
	.llseek = noop_llseek,
};
