// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-hmm guest driver: probe, remove, virtqueues, request submission.
 *
 * Theory of operation
 *
 * A virtio-hmm device has three virtqueues. The requestq carries requests
 * (address spaces, page table updates, copies, fault replies) that the
 * device completes in order; the jobq carries execution-engine jobs that
 * run on process virtual addresses and may stall on a device page fault;
 * the faultq is pre-filled by the driver with buffers that the device fills
 * with fault records.
 *
 * Every request or job is a struct vhmm_req with two references: the
 * submitter's and the device's. The virtqueue callback (interrupt context)
 * completes the request and drops the device's reference; the submitter
 * waits with a timeout and drops its own. A submitter that times out thus
 * never frees buffers the device may still write; remove takes back what
 * the device still holds after it reset the device.
 *
 * io_lock orders submission against removal: submitters hold it for
 * reading while they add buffers, vhmm_device_fence() (remove, or an
 * invalidation the device did not acknowledge) takes it for writing to
 * mark the device dead, then resets it. Nothing waits for the device
 * while holding it.
 *
 * Remove mirrors probe: the char device goes first (no new opens), then
 * device memory is migrated back to system memory while the device still
 * works, then the device is marked dead, reset, and its buffers reclaimed.
 */

#include <linux/debugfs.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/virtio_config.h>
#include "vhmm.h"
#include "vhmm_trace.h"

static dev_t vhmm_devt;
static struct class *vhmm_class;
static DEFINE_IDA(vhmm_index_ida);
static struct dentry *vhmm_debugfs_root;

/**
 * vhmm_req_alloc() - allocate a request with @len bytes of wire data
 * @len: bytes of wire data, following the struct
 * @gfp: allocation flags
 *
 * Context: any context that may allocate with @gfp.
 * Return: the request holding the submitter's reference, or NULL.
 */
struct vhmm_req *vhmm_req_alloc(size_t len, gfp_t gfp)
{
	struct vhmm_req *req = kzalloc(sizeof(*req) + len, gfp);

	if (req)
		vhmm_req_init(req, NULL);
	return req;
}

/**
 * vhmm_req_init() - initialize a request embedded in a larger structure
 * @req: the request, at the start of a kmalloc'd allocation
 * @tail: where the device writes the status, or NULL to set it later
 *
 * Context: any context.
 */
void vhmm_req_init(struct vhmm_req *req, struct virtio_hmm_tail *tail)
{
	refcount_set(&req->ref, 1);
	init_completion(&req->done);
	req->tail = tail;
}

/**
 * vhmm_req_put() - drop a reference to a request, freeing it at zero
 * @req: the request
 *
 * Context: any context, including interrupts.
 */
void vhmm_req_put(struct vhmm_req *req)
{
	if (refcount_dec_and_test(&req->ref))
		kfree(req);
}

/**
 * vhmm_status_errno() - translate a device status into an errno
 * @status: VIRTIO_HMM_S_*
 *
 * Context: any context.
 * Return: 0 or a negative errno.
 */
int vhmm_status_errno(u32 status)
{
	switch (status) {
	case VIRTIO_HMM_S_OK:
		return 0;
	case VIRTIO_HMM_S_UNSUPP:
		return -EOPNOTSUPP;
	case VIRTIO_HMM_S_INVAL:
		return -EINVAL;
	case VIRTIO_HMM_S_RANGE:
		return -ERANGE;
	case VIRTIO_HMM_S_NOASID:
		return -ENXIO;
	case VIRTIO_HMM_S_BUSY:
		return -EBUSY;
	case VIRTIO_HMM_S_FAULT:
		return -EFAULT;
	case VIRTIO_HMM_S_CANCELED:
		return -ECANCELED;
	case VIRTIO_HMM_S_NOSPC:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

/* the request type in the header at the start of the first buffer */
static u16 vhmm_sg_type(struct scatterlist *sg)
{
	const struct virtio_hmm_head *hdr = sg_virt(sg);

	return sg->length >= sizeof(*hdr) ? le16_to_cpu(hdr->type) : 0;
}

/**
 * vhmm_submit_nowait() - add a request to a virtqueue
 * @vd: the device
 * @q: the virtqueue
 * @sgs: scatterlists, device-readable first
 * @out: number of device-readable scatterlists
 * @in: number of device-writable scatterlists
 * @req: the request; the device takes its own reference
 * @timeout: jiffies to wait for room in the ring
 *
 * Context: process context, may sleep; takes @vd->io_lock for reading and
 * @q->lock.
 * Return: 0 when the device has the request, -ENODEV when the device is
 * gone, -ETIMEDOUT when the ring stayed full, another errno from the ring.
 */
int vhmm_submit_nowait(struct vhmm_device *vd, struct vhmm_vq *q,
		       struct scatterlist *sgs[], unsigned int out,
		       unsigned int in, struct vhmm_req *req,
		       unsigned long timeout)
{
	unsigned long deadline = jiffies + timeout;
	unsigned long flags, seen = 0;
	int ret;

	req->tail->status = cpu_to_le32(VHMM_S_NOT_DONE);
	for (;;) {
		down_read(&vd->io_lock);
		if (vd->dead) {
			up_read(&vd->io_lock);
			return -ENODEV;
		}
		spin_lock_irqsave(&q->lock, flags);
		refcount_inc(&req->ref);
		ret = virtqueue_add_sgs(q->vq, sgs, out, in, req, GFP_ATOMIC);
		if (ret) {
			refcount_dec(&req->ref);
			seen = q->reaped;
		} else {
			virtqueue_kick(q->vq);
			trace_vhmm_req_submit(vd->index, q->index, req,
					      vhmm_sg_type(sgs[0]));
		}
		spin_unlock_irqrestore(&q->lock, flags);
		up_read(&vd->io_lock);
		if (ret != -ENOSPC)
			break;
		/*
		 * Ring full: wait for the device to give buffers back. Once
		 * the device is dead, remove may free @q->vq: nothing here
		 * looks at it (the loop's top then returns -ENODEV).
		 */
		wait_event_timeout(q->space, READ_ONCE(vd->dead) ||
				   READ_ONCE(q->reaped) != seen, HZ / 10);
		if (time_after(jiffies, deadline) && !READ_ONCE(vd->dead)) {
			dev_err(&vd->dev, "%s: ring stayed full\n", q->name);
			return -ETIMEDOUT;
		}
	}
	if (ret)
		dev_err(&vd->dev, "%s: add failed: %d\n", q->name, ret);
	return ret;
}

/**
 * vhmm_wait() - wait for the device to complete a request
 * @vd: the device
 * @q: the virtqueue it is on
 * @req: the request
 * @timeout: jiffies to wait
 *
 * Context: process context, may sleep.
 * Return: 0 when completed (status in @req->tail), -ETIMEDOUT otherwise;
 * then the device keeps its reference and the buffers.
 */
int vhmm_wait(struct vhmm_device *vd, struct vhmm_vq *q, struct vhmm_req *req,
	      unsigned long timeout)
{
	if (wait_for_completion_timeout(&req->done, timeout)) {
		trace_vhmm_req_wake(vd->index, q->index, req, 0);
		return 0;
	}
	trace_vhmm_req_wake(vd->index, q->index, req, -ETIMEDOUT);
	dev_err(&vd->dev, "%s: no answer from the device in %u ms\n",
		q->name, jiffies_to_msecs(timeout));
	return -ETIMEDOUT;
}

/**
 * vhmm_submit() - add a request to a virtqueue and wait for its completion
 * @vd: the device
 * @q: the virtqueue
 * @sgs: scatterlists, device-readable first
 * @out: number of device-readable scatterlists
 * @in: number of device-writable scatterlists
 * @req: the request; the caller keeps its reference and drops it after
 *	reading the result, also on error
 * @timeout: jiffies to wait for the device
 *
 * Context: process context, may sleep; see vhmm_submit_nowait().
 * Return: 0 when the device completed the request (its status is in
 * @req->tail), -ENODEV when the device is gone, -ETIMEDOUT when it did not
 * answer in time.
 */
int vhmm_submit(struct vhmm_device *vd, struct vhmm_vq *q,
		struct scatterlist *sgs[], unsigned int out, unsigned int in,
		struct vhmm_req *req, unsigned long timeout)
{
	int ret = vhmm_submit_nowait(vd, q, sgs, out, in, req, timeout);

	return ret ? ret : vhmm_wait(vd, q, req, timeout);
}

/**
 * vhmm_request() - run a plain request on the requestq
 * @vd: the device
 * @req: request whose wire data (vhmm_req_data()) holds @out_len
 *	device-readable bytes followed by @in_len device-writable bytes, the
 *	last sizeof(struct virtio_hmm_tail) of which are the tail
 * @out_len: device-readable bytes
 * @in_len: device-writable bytes, including the tail
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno (from the device status or the transport).
 */
int vhmm_request(struct vhmm_device *vd, struct vhmm_req *req,
		 size_t out_len, size_t in_len)
{
	struct scatterlist sg_out, sg_in, *sgs[2];
	u8 *data = vhmm_req_data(req);
	int ret;

	req->tail = (struct virtio_hmm_tail *)(data + out_len + in_len -
					       sizeof(*req->tail));
	sg_init_one(&sg_out, data, out_len);
	sg_init_one(&sg_in, data + out_len, in_len);
	sgs[0] = &sg_out;
	sgs[1] = &sg_in;
	ret = vhmm_submit(vd, &vd->reqq, sgs, 1, 1, req, VHMM_REQ_TIMEOUT);
	if (ret)
		return ret;
	/* taken back by remove */
	if (le32_to_cpu(req->tail->status) == VHMM_S_NOT_DONE &&
	    READ_ONCE(vd->dead))
		return -ENODEV;
	return vhmm_status_errno(le32_to_cpu(req->tail->status));
}

static void vhmm_vq_done(struct vhmm_vq *q)
{
	struct vhmm_device *vd = q->vq->vdev->priv;
	struct vhmm_req *req;
	unsigned long flags;
	unsigned int len;

	spin_lock_irqsave(&q->lock, flags);
	do {
		virtqueue_disable_cb(q->vq);
		while ((req = virtqueue_get_buf(q->vq, &len))) {
			WRITE_ONCE(q->reaped, q->reaped + 1);
			trace_vhmm_req_done(vd->index, q->index, req,
					    le32_to_cpu(req->tail->status));
			complete(&req->done);
			vhmm_req_put(req);
		}
	} while (!virtqueue_enable_cb(q->vq));
	spin_unlock_irqrestore(&q->lock, flags);
	wake_up(&q->space);
}

static void vhmm_reqq_cb(struct virtqueue *vq)
{
	struct vhmm_device *vd = vq->vdev->priv;

	vhmm_vq_done(&vd->reqq);
}

static void vhmm_jobq_cb(struct virtqueue *vq)
{
	struct vhmm_device *vd = vq->vdev->priv;

	vhmm_vq_done(&vd->jobq);
}

static void vhmm_faultq_cb(struct virtqueue *vq)
{
	struct vhmm_device *vd = vq->vdev->priv;

	queue_work(vd->fault_wq, &vd->fault_work);
}

/* Post every fault buffer; called once at probe, before the device runs. */
static int vhmm_faultq_fill(struct vhmm_device *vd)
{
	struct scatterlist sg;
	int i, ret;

	for (i = 0; i < VHMM_FAULT_BUFS; i++) {
		sg_init_one(&sg, &vd->fault_bufs[i], sizeof(vd->fault_bufs[i]));
		ret = virtqueue_add_inbuf(vd->faultq.vq, &sg, 1,
					  &vd->fault_bufs[i], GFP_KERNEL);
		if (ret == -ENOSPC && i > 0)
			break;
		if (ret)
			return ret;
	}
	virtqueue_kick(vd->faultq.vq);
	return 0;
}

/* Give back what the device still held when it was reset. */
static void vhmm_vq_reclaim(struct vhmm_vq *q)
{
	struct vhmm_req *req;

	while ((req = virtqueue_detach_unused_buf(q->vq))) {
		complete(&req->done);
		vhmm_req_put(req);
	}
}

/**
 * vhmm_device_fence() - reset the device for good
 * @vd: the device
 *
 * Marks the device dead (under @vd->io_lock held for writing: no request
 * is added after that), resets it, then gives back every request and job
 * the device still held (they complete with VHMM_S_NOT_DONE, their
 * submitters see -ENODEV), and completes @vd->fence_done. From then on the
 * device no longer accesses memory through any translation
 * (docs/virtio-hmm.md section 10): a submitter that needs that guarantee
 * and finds the device dead waits for @vd->fence_done. Remove calls this;
 * so does an invalidation that the device did not acknowledge in time
 * (through vhmm_device_fence_wait()): a stuck device costs the device,
 * never memory safety. The contents of device memory stay where they are.
 *
 * Context: process context, may sleep; takes @vd->io_lock, the virtqueue
 * locks and, in the transport's reset (no lock of ours held), the PCI MSI
 * descriptor lock, under which memory is allocated: never call it with a
 * mirror's mutex held or from reclaim (the notifier), use
 * vhmm_device_fence_wait() there. Idempotent: a second caller waits for
 * the first.
 */
void vhmm_device_fence(struct vhmm_device *vd)
{
	bool first;

	down_write(&vd->io_lock);
	first = !vd->dead;
	WRITE_ONCE(vd->dead, true);
	up_write(&vd->io_lock);
	/* submitters waiting for ring space: the device is gone */
	wake_up(&vd->reqq.space);
	wake_up(&vd->jobq.space);
	if (!first) {
		wait_for_completion(&vd->fence_done);
		return;
	}
	virtio_reset_device(vd->vdev);
	atomic64_inc(&vd->stats.fences);
	spin_lock_irq(&vd->reqq.lock);
	vhmm_vq_reclaim(&vd->reqq);
	spin_unlock_irq(&vd->reqq.lock);
	spin_lock_irq(&vd->jobq.lock);
	vhmm_vq_reclaim(&vd->jobq);
	spin_unlock_irq(&vd->jobq.lock);
	complete_all(&vd->fence_done);
}

static void vhmm_fence_work(struct work_struct *work)
{
	vhmm_device_fence(container_of(work, struct vhmm_device, fence_work));
}

/**
 * vhmm_device_fence_wait() - vhmm_device_fence() from the notifier
 * @vd: the device
 *
 * The reset runs on @vd->fence_wq (WQ_MEM_RECLAIM, so it runs under
 * memory pressure too), outside the caller's locks and reclaim context;
 * this waits until it is done. What remains: a task that holds the PCI
 * MSI descriptor lock and enters reclaim into our notifier while the
 * device is stuck would wait for a reset that needs that lock. It needs a
 * stuck device and an MSI (de)allocation at once.
 *
 * Context: process context, may sleep; any lock of the driver may be held.
 */
void vhmm_device_fence_wait(struct vhmm_device *vd)
{
	queue_work(vd->fence_wq, &vd->fence_work);
	wait_for_completion(&vd->fence_done);
}

static void vhmm_vq_init(struct vhmm_vq *q, struct virtqueue *vq)
{
	q->vq = vq;
	q->name = vq->name;
	q->index = vq->index;
	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->space);
}

static int vhmm_init_vqs(struct vhmm_device *vd)
{
	vq_callback_t *callbacks[VIRTIO_HMM_NR_VQS] = {
		[VIRTIO_HMM_VQ_REQUEST] = vhmm_reqq_cb,
		[VIRTIO_HMM_VQ_JOB] = vhmm_jobq_cb,
		[VIRTIO_HMM_VQ_FAULT] = vhmm_faultq_cb,
	};
	static const char * const names[VIRTIO_HMM_NR_VQS] = {
		[VIRTIO_HMM_VQ_REQUEST] = "requestq",
		[VIRTIO_HMM_VQ_JOB] = "jobq",
		[VIRTIO_HMM_VQ_FAULT] = "faultq",
	};
	struct virtqueue *vqs[VIRTIO_HMM_NR_VQS];
	int ret;

	ret = virtio_find_vqs(vd->vdev, VIRTIO_HMM_NR_VQS, vqs, callbacks,
			      names, NULL);
	if (ret)
		return ret;
	vhmm_vq_init(&vd->reqq, vqs[VIRTIO_HMM_VQ_REQUEST]);
	vhmm_vq_init(&vd->jobq, vqs[VIRTIO_HMM_VQ_JOB]);
	vhmm_vq_init(&vd->faultq, vqs[VIRTIO_HMM_VQ_FAULT]);
	return 0;
}

static int vhmm_stats_show(struct seq_file *m, void *unused)
{
	struct vhmm_device *vd = m->private;
	struct vhmm_stats *s = &vd->stats;
	unsigned long nr_free;

	spin_lock(&vd->dm_lock);
	nr_free = vd->dm_nr_free;
	spin_unlock(&vd->dm_lock);
	/* "name: count" lines, as device_stats (the mode is in sysfs) */
	seq_printf(m, "faults: %lld\n", atomic64_read(&s->faults));
	seq_printf(m, "fault_batches: %lld\n",
		   atomic64_read(&s->fault_batches));
	seq_printf(m, "pages_to_dev: %lld\n", atomic64_read(&s->pages_to_dev));
	seq_printf(m, "pages_to_sys: %lld\n", atomic64_read(&s->pages_to_sys));
	seq_printf(m, "bytes_to_dev: %lld\n",
		   atomic64_read(&s->pages_to_dev) << PAGE_SHIFT);
	seq_printf(m, "bytes_to_sys: %lld\n",
		   atomic64_read(&s->pages_to_sys) << PAGE_SHIFT);
	seq_printf(m, "cpu_faults: %lld\n", atomic64_read(&s->cpu_faults));
	seq_printf(m, "evictions: %lld\n", atomic64_read(&s->evictions));
	seq_printf(m, "invalidations: %lld\n",
		   atomic64_read(&s->invalidations));
	seq_printf(m, "copy_retries: %lld\n", atomic64_read(&s->copy_retries));
	seq_printf(m, "job_replays: %lld\n", atomic64_read(&s->job_replays));
	seq_printf(m, "devmem_full: %lld\n", atomic64_read(&s->devmem_full));
	seq_printf(m, "page_table_full: %lld\n",
		   atomic64_read(&s->page_table_full));
	seq_printf(m, "fences: %lld\n", atomic64_read(&s->fences));
	seq_printf(m, "fault_alone: %lld\n", atomic64_read(&s->fault_alone));
	seq_printf(m, "cpu_copies: %lld\n", atomic64_read(&s->cpu_copies));
	seq_printf(m, "evict_retries: %lld\n",
		   atomic64_read(&s->evict_retries));
	seq_printf(m, "devmem_pages: %lu\n", vd->dm_nr_pages);
	seq_printf(m, "devmem_used: %lu\n", vd->dm_nr_pages - nr_free);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vhmm_stats);

/* The device's own counters (GET_STATS), next to the driver's. */
static int vhmm_device_stats_show(struct seq_file *m, void *unused)
{
	struct vhmm_device *vd = m->private;
	struct virtio_hmm_stats *st;
	struct virtio_hmm_head *head;
	struct vhmm_req *req;
	int ret;

	req = vhmm_req_alloc(sizeof(*head) + sizeof(*st) +
			     sizeof(struct virtio_hmm_tail), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	head = vhmm_req_data(req);
	head->type = cpu_to_le16(VIRTIO_HMM_T_GET_STATS);
	st = (struct virtio_hmm_stats *)(head + 1);
	ret = vhmm_request(vd, req, sizeof(*head),
			   sizeof(*st) + sizeof(struct virtio_hmm_tail));
	if (!ret) {
		seq_printf(m, "requests: %llu\n", le64_to_cpu(st->requests));
		seq_printf(m, "errors: %llu\n", le64_to_cpu(st->errors));
		seq_printf(m, "maps: %llu\n", le64_to_cpu(st->maps));
		seq_printf(m, "unmaps: %llu\n", le64_to_cpu(st->unmaps));
		seq_printf(m, "faults: %llu\n", le64_to_cpu(st->faults));
		seq_printf(m, "retries: %llu\n", le64_to_cpu(st->retries));
		seq_printf(m, "cancels: %llu\n", le64_to_cpu(st->cancels));
		seq_printf(m, "pages_to_dev: %llu\n",
			   le64_to_cpu(st->pages_to_dev));
		seq_printf(m, "pages_from_dev: %llu\n",
			   le64_to_cpu(st->pages_from_dev));
		seq_printf(m, "pages_dev_to_dev: %llu\n",
			   le64_to_cpu(st->pages_dev_to_dev));
		seq_printf(m, "job_bytes: %llu\n", le64_to_cpu(st->job_bytes));
		seq_printf(m, "atomics: %llu\n", le64_to_cpu(st->atomics));
		seq_printf(m, "address_spaces: %llu\n",
			   le64_to_cpu(st->address_spaces));
		seq_printf(m, "mapped_pages: %llu\n",
			   le64_to_cpu(st->mapped_pages));
	}
	vhmm_req_put(req);
	return ret;
}
DEFINE_SHOW_ATTRIBUTE(vhmm_device_stats);

static ssize_t mode_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct vhmm_device *vd = container_of(dev, struct vhmm_device, dev);

	return sysfs_emit(buf, "%s\n", vd->coherent ? "coherent" : "private");
}
static DEVICE_ATTR_RO(mode);

static struct attribute *vhmm_dev_attrs[] = {
	&dev_attr_mode.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vhmm_dev);

static void vhmm_dev_release(struct device *dev)
{
	struct vhmm_device *vd = container_of(dev, struct vhmm_device, dev);

	/*
	 * here, not in remove: a file's release flushes the fault work, and
	 * its notifier may still queue the fence work (which then finds the
	 * device dead)
	 */
	if (vd->fault_wq)
		destroy_workqueue(vd->fault_wq);
	if (vd->fence_wq)
		destroy_workqueue(vd->fence_wq);
	ida_destroy(&vd->asids);
	kfree(vd->fault_bufs);
	kfree(vd);
}

static void vhmm_read_config(struct vhmm_device *vd)
{
	struct virtio_device *vdev = vd->vdev;

	virtio_cread_le(vdev, struct virtio_hmm_config, devmem_size,
			&vd->devmem_size);
	virtio_cread_le(vdev, struct virtio_hmm_config, max_asids,
			&vd->max_asids);
	virtio_cread_le(vdev, struct virtio_hmm_config, max_map_pages,
			&vd->max_map_pages);
	virtio_cread_le(vdev, struct virtio_hmm_config, max_copy_pages,
			&vd->max_copy_pages);
	virtio_cread_le(vdev, struct virtio_hmm_config, max_job_bytes,
			&vd->max_job_bytes);
	vd->atomics = virtio_has_feature(vdev, VIRTIO_HMM_F_ATOMICS);
	vd->coherent = virtio_has_feature(vdev, VIRTIO_HMM_F_COHERENT);
}

static int vhmm_validate_config(struct vhmm_device *vd)
{
	struct device *dev = &vd->vdev->dev;
	u32 page_size;

	virtio_cread_le(vd->vdev, struct virtio_hmm_config, page_size,
			&page_size);
	if (page_size != PAGE_SIZE) {
		dev_err(dev, "device page size %u, need %lu\n", page_size,
			PAGE_SIZE);
		return -EINVAL;
	}
	if (!vd->max_asids || !vd->max_map_pages || !vd->max_copy_pages ||
	    vd->max_job_bytes < PAGE_SIZE) {
		dev_err(dev, "config limits too small (asids %u map %u copy %u job %u)\n",
			vd->max_asids, vd->max_map_pages, vd->max_copy_pages,
			vd->max_job_bytes);
		return -EINVAL;
	}
	if (!virtio_has_feature(vd->vdev, VIRTIO_HMM_F_REPLAYABLE_FAULTS)) {
		dev_err(dev, "device lacks replayable faults\n");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int vhmm_probe(struct virtio_device *vdev)
{
	struct vhmm_device *vd;
	char name[16];
	int ret;

	vd = kzalloc(sizeof(*vd), GFP_KERNEL);
	if (!vd)
		return -ENOMEM;
	vd->vdev = vdev;
	vdev->priv = vd;
	init_rwsem(&vd->io_lock);
	init_rwsem(&vd->migrate_sem);
	mutex_init(&vd->mirrors_lock);
	INIT_LIST_HEAD(&vd->mirrors);
	ida_init(&vd->asids);
	xa_init_flags(&vd->jobs, XA_FLAGS_ALLOC1);
	spin_lock_init(&vd->dm_lock);
	INIT_WORK(&vd->fault_work, vhmm_fault_work);
	INIT_WORK(&vd->fence_work, vhmm_fence_work);
	init_completion(&vd->fence_done);
	device_initialize(&vd->dev);
	vd->dev.release = vhmm_dev_release;
	vd->dev.class = vhmm_class;
	vd->dev.parent = &vdev->dev;
	vd->dev.groups = vhmm_dev_groups;

	vd->fault_bufs = kcalloc(VHMM_FAULT_BUFS, sizeof(*vd->fault_bufs),
				 GFP_KERNEL);
	if (!vd->fault_bufs) {
		ret = -ENOMEM;
		goto err_put_dev;
	}
	vd->index = ida_alloc_max(&vhmm_index_ida, VHMM_MAX_DEVICES - 1,
				  GFP_KERNEL);
	if (vd->index < 0) {
		ret = vd->index;
		goto err_put_dev;
	}
	vd->dev.devt = MKDEV(MAJOR(vhmm_devt), vd->index);
	ret = dev_set_name(&vd->dev, "virtio_hmm%d", vd->index);
	if (ret)
		goto err_free_index;

	vhmm_read_config(vd);
	ret = vhmm_validate_config(vd);
	if (ret)
		goto err_free_index;

	vd->fault_wq = alloc_ordered_workqueue("virtio_hmm%d_faults",
					       WQ_MEM_RECLAIM, vd->index);
	if (!vd->fault_wq) {
		ret = -ENOMEM;
		goto err_free_index;
	}
	vd->fence_wq = alloc_workqueue("virtio_hmm%d_fence", WQ_MEM_RECLAIM,
				       1, vd->index);
	if (!vd->fence_wq) {
		ret = -ENOMEM;
		goto err_destroy_wq;
	}
	ret = vhmm_init_vqs(vd);
	if (ret)
		goto err_destroy_wq;
	ret = vhmm_faultq_fill(vd);
	if (ret)
		goto err_del_vqs;
	virtio_device_ready(vdev);

	ret = vhmm_devmem_init(vd);
	if (ret)
		goto err_reset;

	cdev_init(&vd->cdev, &vhmm_fops);
	vd->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&vd->cdev, &vd->dev);
	if (ret)
		goto err_devmem_fini;

	snprintf(name, sizeof(name), "virtio_hmm%d", vd->index);
	vd->debugfs = debugfs_create_dir(name, vhmm_debugfs_root);
	debugfs_create_file("stats", 0444, vd->debugfs, vd, &vhmm_stats_fops);
	debugfs_create_file("device_stats", 0444, vd->debugfs, vd,
			    &vhmm_device_stats_fops);

	dev_info(&vdev->dev, "%s: %s, %llu MiB device memory, %u asids%s\n",
		 name, vd->coherent ? "coherent" : "private",
		 vd->devmem_size >> 20, vd->max_asids,
		 vd->atomics ? ", atomics" : "");
	return 0;

err_devmem_fini:
	vhmm_devmem_fini(vd);
err_reset:
	virtio_reset_device(vdev);
err_del_vqs:
	vdev->config->del_vqs(vdev);
err_destroy_wq:
	if (vd->fence_wq)
		destroy_workqueue(vd->fence_wq);
	vd->fence_wq = NULL;
	destroy_workqueue(vd->fault_wq);
	vd->fault_wq = NULL;
err_free_index:
	ida_free(&vhmm_index_ida, vd->index);
err_put_dev:
	put_device(&vd->dev);
	return ret;
}

static void vhmm_remove(struct virtio_device *vdev)
{
	struct vhmm_device *vd = vdev->priv;
	int index = vd->index;

	debugfs_remove_recursive(vd->debugfs);
	cdev_device_del(&vd->cdev, &vd->dev);

	/* Bring device memory home while the copy engine still works. */
	vhmm_devmem_evict_all(vd);

	/* dead, reset, fail what the device still holds (unless fenced) */
	vhmm_device_fence(vd);
	/* then stop fault handling */
	cancel_work_sync(&vd->fault_work);
	while (virtqueue_detach_unused_buf(vd->faultq.vq))
		;
	vhmm_devmem_fini(vd);
	vdev->config->del_vqs(vdev);
	ida_free(&vhmm_index_ida, index);
	put_device(&vd->dev);
}

static const unsigned int vhmm_features[] = {
	VIRTIO_HMM_F_COHERENT,
	VIRTIO_HMM_F_ATOMICS,
	VIRTIO_HMM_F_REPLAYABLE_FAULTS,
};

static const struct virtio_device_id vhmm_id_table[] = {
	{ VIRTIO_ID_HMM, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, vhmm_id_table);

static struct virtio_driver vhmm_driver = {
	.feature_table = vhmm_features,
	.feature_table_size = ARRAY_SIZE(vhmm_features),
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.id_table = vhmm_id_table,
	.probe = vhmm_probe,
	.remove = vhmm_remove,
};

static int __init vhmm_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&vhmm_devt, 0, VHMM_MAX_DEVICES,
				  "virtio_hmm");
	if (ret)
		return ret;
	vhmm_class = class_create(THIS_MODULE, "virtio_hmm");
	if (IS_ERR(vhmm_class)) {
		ret = PTR_ERR(vhmm_class);
		goto err_unregister_chrdev;
	}
	vhmm_debugfs_root = debugfs_create_dir("virtio_hmm", NULL);
	ret = register_virtio_driver(&vhmm_driver);
	if (ret)
		goto err_destroy_class;
	return 0;

err_destroy_class:
	debugfs_remove_recursive(vhmm_debugfs_root);
	class_destroy(vhmm_class);
err_unregister_chrdev:
	unregister_chrdev_region(vhmm_devt, VHMM_MAX_DEVICES);
	return ret;
}

static void __exit vhmm_exit(void)
{
	unregister_virtio_driver(&vhmm_driver);
	debugfs_remove_recursive(vhmm_debugfs_root);
	class_destroy(vhmm_class);
	unregister_chrdev_region(vhmm_devt, VHMM_MAX_DEVICES);
}

module_init(vhmm_init);
module_exit(vhmm_exit);
MODULE_DESCRIPTION("virtio-hmm: shared virtual memory accelerator driver");
MODULE_LICENSE("GPL");
