/*
 * virtio-hmm: a virtual shared-virtual-memory accelerator for Linux HMM
 *
 * The device has its own MMU (address spaces of page tables that map
 * device virtual pages to guest RAM or device memory), device memory, a
 * copy engine and an execution engine whose jobs work on device virtual
 * addresses and can stall on recoverable faults.  The wire format is
 * include/linux/virtio_hmm.h, specified in docs/virtio-hmm.md.  This file
 * is the virtio glue; virtio-hmm-internal.h says where the rest is.
 *
 * Theory of operation:
 *
 * - handle_output (BQL) pops requestq and jobq elements, checks that each
 *   has room for a head and a tail (else virtio_error) and queues them for
 *   the worker thread.  When the worker is idle and nothing is queued, a
 *   request that is cheap and bounded (see hmm_is_cheap(): no injected
 *   delay, no backend call, no UNMAP of more than max_map_pages pages, no
 *   DESTROY_AS), or a job's first time slice, runs right there with the
 *   worker paused (hmm_try_inline_locked()).
 * - One worker thread per device executes the rest: all queued requests
 *   first, in order, then one time slice of the first runnable job, then
 *   again.  Only one executor touches the page tables at a time, so a
 *   request that has completed (UNMAP, MAP, DESTROY_AS) is seen by every
 *   later job access: no access through a removed translation can happen
 *   once the request is in the used ring.
 * - The worker never takes the BQL and never performs MMIO
 *   (virtio-hmm-engine.c).  Finished elements go to s->done; hmm_flush()
 *   pushes them and notifies from the BQL side (bottom half, or the end of
 *   handle_output), without s->lock.
 * - Any call into the virtio core can reset the device or a virtqueue: a
 *   writable descriptor may point at the device's own common
 *   configuration (the bounce buffer is written back when the element is
 *   pushed), a used ring may be MMIO, an MSI-X vector may target a device
 *   register.  So s->lock is never held across such a call, the state is
 *   consistent before it, and s->vq_gen tells afterwards whether a reset
 *   happened meanwhile; reset and queue reset make no assumption about
 *   their caller.
 * - Reset (BQL) pauses the worker, waits until it is idle, drops all
 *   queued, stalled and finished elements and all address spaces.  Device
 *   memory is kept.  A queue reset drops what belongs to that queue.
 * - While the VM is stopped the device is quiescent: the worker is paused
 *   (after the request or slice it is in), nothing is popped, executed or
 *   pushed; on resume the queues are looked at again.  This is also what
 *   migration will need; until the state is migrated, a blocker refuses
 *   it.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "qapi/util.h"
#include "qapi/visitor.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "migration/blocker.h"
#include "sysemu/hostmem.h"
#include "sysemu/runstate.h"
#include "virtio-hmm-internal.h"
#include "trace.h"

#define HMM_QUEUE_SIZE_DEFAULT  128
#define HMM_VRAM_SIZE_DEFAULT   (64 * MiB)
/* Enough for one MAP of max_map_pages pages into an empty device */
#define HMM_MIN_PAGE_TABLES     16
/* 64 MiB of tables: 32 GiB mapped densely, 16384 sparse 2 MiB ranges */
#define HMM_PAGE_TABLES_DEFAULT 16384

/* Fault injection: delays stay well below a driver's request timeout */
#define HMM_INJECT_MAX_DELAY_US 1000000
/* longer than a driver's job wait, so that a job can outlive it */
#define HMM_INJECT_MAX_JOB_DELAY_US 30000000
#define HMM_MAX_ASIDS_LIMIT     65536

static const char *hmm_queue_name(VirtIOHMM *s, VirtQueue *vq)
{
    return vq == s->requestq ? "requestq" : vq == s->jobq ? "jobq" : "faultq";
}

/* Requests (requestq), executor */

static uint32_t hmm_do_request(VirtIOHMM *s, VirtIOHMMReq *req)
{
    switch (req->type) {
    case VIRTIO_HMM_T_CREATE_AS:
        return hmm_create_as(s, req);
    case VIRTIO_HMM_T_DESTROY_AS:
        return hmm_destroy_as(s, req);
    case VIRTIO_HMM_T_MAP:
        return hmm_map(s, req);
    case VIRTIO_HMM_T_UNMAP:
        return hmm_unmap(s, req);
    case VIRTIO_HMM_T_QUERY:
        return hmm_query(s, req);
    case VIRTIO_HMM_T_COPY:
        return hmm_copy(s, req);
    case VIRTIO_HMM_T_FAULT_REPLY:
        return hmm_fault_reply(s, req);
    case VIRTIO_HMM_T_GET_STATS:
        return hmm_get_stats(s, req);
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-hmm: request type 0x%x\n",
                      req->type);
        return VIRTIO_HMM_S_UNSUPP;
    }
}

/* Completion */

void hmm_finish_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_tail tail;

    if (req->vq == s->jobq) {
        req->count = MIN(req->done, UINT32_MAX);
    }
    tail.status = cpu_to_le32(req->status);
    tail.count = cpu_to_le32(req->count);
    hmm_req_write(req, req->in_size - sizeof(tail), &tail, sizeof(tail));
    trace_virtio_hmm_complete(req->type, req->asid, req->tag, req->status,
                              req->count);
    s->stats.requests++;
    if (req->status != VIRTIO_HMM_S_OK) {
        s->stats.errors++;
    }
    QTAILQ_INSERT_TAIL(&s->done, req, next);
}

void hmm_complete_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    hmm_finish_locked(s, req);
    qemu_bh_schedule(s->bh);
}

void hmm_pause(VirtIOHMM *s)
{
    qemu_mutex_lock(&s->lock);
    s->paused++;
    while (s->busy) {
        qemu_cond_wait(&s->idle, &s->lock);
    }
    qemu_mutex_unlock(&s->lock);
}

void hmm_resume(VirtIOHMM *s)
{
    qemu_mutex_lock(&s->lock);
    assert(s->paused);
    if (!--s->paused) {
        qemu_cond_signal(&s->wakeup);
    }
    qemu_mutex_unlock(&s->lock);
}

/* The worker */

static void *hmm_worker(void *opaque)
{
    VirtIOHMM *s = opaque;

    rcu_register_thread();
    qemu_mutex_lock(&s->lock);
    while (!s->stopping) {
        VirtIOHMMReq *req;

        if (s->paused) {
            qemu_cond_wait(&s->wakeup, &s->lock);
            continue;
        }
        req = QTAILQ_FIRST(&s->requests);
        if (req) {
            QTAILQ_REMOVE(&s->requests, req, next);
            s->busy = true;
            qemu_mutex_unlock(&s->lock);
            req->status = hmm_do_request(s, req);
            qemu_mutex_lock(&s->lock);
            hmm_complete_locked(s, req);
        } else if (!QTAILQ_EMPTY(&s->jobs)) {
            VirtIOHMMJobState state;

            req = QTAILQ_FIRST(&s->jobs);
            QTAILQ_REMOVE(&s->jobs, req, next);
            s->busy = true;
            qemu_mutex_unlock(&s->lock);
            state = hmm_run_job(s, req);
            qemu_mutex_lock(&s->lock);
            switch (state) {
            case HMM_JOB_DONE:
                hmm_complete_locked(s, req);
                break;
            case HMM_JOB_MORE:
                QTAILQ_INSERT_TAIL(&s->jobs, req, next);
                break;
            case HMM_JOB_STALL:
                hmm_stall_locked(s, req);
                break;
            }
        } else {
            qemu_cond_wait(&s->wakeup, &s->lock);
            continue;
        }
        s->busy = false;
        qemu_cond_broadcast(&s->idle);
    }
    qemu_mutex_unlock(&s->lock);
    rcu_unregister_thread();
    return NULL;
}

/*
 * The worker starts with the first request rather than at realize, nor at
 * the first kick (DRIVER_OK with ioeventfd, and every VM start, kick each
 * queue once): a device that is never driven costs no thread, and a
 * process forked from a realized machine (QEMU's fork-based fuzzer, for
 * one) gets its own worker instead of the parent's, which fork() does not
 * copy.
 */
static void hmm_start_worker(VirtIOHMM *s)
{
    if (!s->thread_started) {
        qemu_thread_create(&s->thread, "virtio-hmm", hmm_worker, s,
                           QEMU_THREAD_JOINABLE);
        s->thread_started = true;
    }
}

/* BQL side */

/*
 * Post waiting fault records into faultq buffers.  A record leaves the
 * list before its buffer is pushed, so a reset inside the push finds
 * nothing half done.
 */
static void hmm_post_faults(VirtIOHMM *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    const uint32_t gen = s->vq_gen[VIRTIO_HMM_VQ_FAULT];
    bool notify = false, broken = false;

    if (s->posting) {
        /* re-entered from a push or notify below: finish from the BH */
        qemu_bh_schedule(s->bh);
        return;
    }
    s->posting = true;
    while (!s->stopped && s->vq_gen[VIRTIO_HMM_VQ_FAULT] == gen) {
        VirtIOHMMFaultRecord *f;
        VirtQueueElement *elem;
        bool none;

        qemu_mutex_lock(&s->lock);
        none = QSIMPLEQ_EMPTY(&s->fault_records);
        qemu_mutex_unlock(&s->lock);
        if (none) {
            break;
        }
        elem = virtqueue_pop(s->faultq, sizeof(*elem));
        if (!elem) {
            break;
        }
        if (s->vq_gen[VIRTIO_HMM_VQ_FAULT] != gen) {
            virtqueue_detach_element(s->faultq, elem, 0);
            g_free(elem);
            break;
        }
        if (elem->out_num ||
            iov_size(elem->in_sg, elem->in_num) < sizeof(f->rec)) {
            trace_virtio_hmm_bad_layout("faultq",
                                        iov_size(elem->out_sg, elem->out_num),
                                        iov_size(elem->in_sg, elem->in_num));
            virtqueue_detach_element(s->faultq, elem, 0);
            g_free(elem);
            broken = true;
            break;
        }
        qemu_mutex_lock(&s->lock);
        f = QSIMPLEQ_FIRST(&s->fault_records);
        if (f) {
            QSIMPLEQ_REMOVE_HEAD(&s->fault_records, next);
            s->nr_records--;
        }
        qemu_mutex_unlock(&s->lock);
        if (!f) {
            /* DESTROY_AS took them meanwhile */
            virtqueue_unpop(s->faultq, elem, 0);
            g_free(elem);
            break;
        }
        trace_virtio_hmm_fault_post(le64_to_cpu(f->rec.tag),
                                    le64_to_cpu(f->rec.va));
        iov_from_buf(elem->in_sg, elem->in_num, 0, &f->rec, sizeof(f->rec));
        g_free(f);
        virtqueue_push(s->faultq, elem, sizeof(f->rec));
        g_free(elem);
        notify = true;
    }
    s->posting = false;
    if (notify && s->vq_gen[VIRTIO_HMM_VQ_FAULT] == gen) {
        virtio_notify(vdev, s->faultq);
    }
    if (broken && s->vq_gen[VIRTIO_HMM_VQ_FAULT] == gen) {
        virtio_error(vdev, "virtio-hmm: faultq buffer must be a "
                     "device-writable struct virtio_hmm_fault");
    }
}

/*
 * Push the finished elements, one at a time, then notify; then post fault
 * records.  BQL held, s->lock not held.  A reset inside a push drops what
 * is still on s->done, so the loop simply finds it empty; a queue that was
 * reset meanwhile is not notified.
 */
static void hmm_flush(VirtIOHMM *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    uint32_t gen[VIRTIO_HMM_NR_VQS];
    bool notify[VIRTIO_HMM_NR_VQS] = { false };
    unsigned int n = 0, q;

    if (s->flushing) {
        /* re-entered from a push or notify below: finish from the BH */
        qemu_bh_schedule(s->bh);
        return;
    }
    s->flushing = true;
    memcpy(gen, s->vq_gen, sizeof(gen));
    while (!s->stopped) {
        VirtIOHMMReq *req;

        qemu_mutex_lock(&s->lock);
        req = QTAILQ_FIRST(&s->done);
        if (req) {
            QTAILQ_REMOVE(&s->done, req, next);
        }
        qemu_mutex_unlock(&s->lock);
        if (!req) {
            break;
        }
        q = virtio_get_queue_index(req->vq);
        virtqueue_push(req->vq, &req->elem, req->in_size);
        g_free(req);
        notify[q] = true;
        n++;
    }
    if (n) {
        trace_virtio_hmm_notify(n);
    }
    for (q = 0; q < VIRTIO_HMM_NR_VQS; q++) {
        if (notify[q] && s->vq_gen[q] == gen[q]) {
            virtio_notify(vdev, virtio_get_queue(vdev, q));
        }
    }
    s->flushing = false;
    hmm_post_faults(s);
}

static void hmm_handle_queue(VirtIODevice *vdev, VirtQueue *vq);

static void hmm_bh(void *opaque)
{
    VirtIOHMM *s = opaque;
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    if (s->stopped) {
        return;                         /* the resume schedules us again */
    }
    if (s->recheck_queues) {
        /* kicks while the VM was stopped found nothing done */
        s->recheck_queues = false;
        hmm_handle_queue(vdev, s->requestq);
        hmm_handle_queue(vdev, s->jobq);
    }
    hmm_flush(s);
}

/*
 * Is @req cheap and bounded enough to run in the notifying thread, under
 * the BQL?  Jobs: a time slice is bounded, but not with a backend (every
 * access is an ioctl).  Requests: the batch limits of the configuration
 * bound all but UNMAP and DESTROY_AS; injected delays and backend calls
 * are never cheap.
 */
static bool hmm_is_cheap(VirtIOHMM *s, VirtIOHMMReq *req)
{
    if (req->vq == s->jobq) {
        /* a delayed job would sleep under the BQL */
        return !s->backend_ops &&
               !(s->inject_job_delay_us && s->inject_job_delay_every);
    }
    switch (req->type) {
    case VIRTIO_HMM_T_DESTROY_AS:
        return false;
    case VIRTIO_HMM_T_UNMAP:
        return hmm_unmap_is_small(s, req);
    case VIRTIO_HMM_T_COPY:
        return !s->backend_ops && !s->inject_copy_delay_us;
    default:
        return true;
    }
}

/*
 * The fast path: with the worker idle and nothing queued before it, run a
 * cheap request, or the first time slice of a job, right here, and
 * complete it without the two thread hand-offs (to the worker, then to the
 * bottom half) that otherwise dominate a round trip.  A job that needs
 * more slices or stalls goes on to the worker.  The worker stays paused
 * meanwhile, so the engines still have one user at a time and the
 * ordering rules of the worker hold.  Nothing in here calls into the
 * virtio core or performs MMIO, so nothing can re-enter the device.
 *
 * Called and returns with s->lock held. Returns false when @req must be
 * queued for the worker instead.
 */
static bool hmm_try_inline_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMJobState state = HMM_JOB_DONE;

    if (s->busy || s->paused || !QTAILQ_EMPTY(&s->requests) ||
        !QTAILQ_EMPTY(&s->jobs) || !hmm_is_cheap(s, req)) {
        return false;
    }
    s->paused++;
    s->busy = true;
    s->inline_requests++;
    qemu_mutex_unlock(&s->lock);
    if (req->vq == s->requestq) {
        req->status = hmm_do_request(s, req);
    } else {
        state = hmm_run_job(s, req);
    }
    qemu_mutex_lock(&s->lock);
    s->busy = false;
    s->paused--;
    /*
     * Wake nobody who has nothing to do: the caller pushes the completion
     * itself, and a woken main loop or worker would only contend for the
     * BQL and s->lock with this vCPU.
     */
    switch (state) {
    case HMM_JOB_DONE:
        hmm_finish_locked(s, req);
        break;
    case HMM_JOB_MORE:
        QTAILQ_INSERT_TAIL(&s->jobs, req, next);
        break;
    case HMM_JOB_STALL:
        hmm_stall_locked(s, req);
        break;
    }
    /* more slices of this job, or jobs that a FAULT_REPLY made runnable */
    if (!QTAILQ_EMPTY(&s->jobs)) {
        qemu_cond_signal(&s->wakeup);
    }
    qemu_cond_broadcast(&s->idle);
    return true;
}

static void hmm_handle_queue(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);
    const char *name = hmm_queue_name(s, vq);
    const unsigned int q = virtio_get_queue_index(vq);
    const uint32_t gen = s->vq_gen[q];
    bool broken = false;
    VirtIOHMMReq *req;

    if (s->stopped || !vdev->vm_running) {
        s->recheck_queues = true;       /* see virtio_hmm_vm_state_change */
        return;
    }
    trace_virtio_hmm_kick(name);

    while (s->vq_gen[q] == gen && (req = virtqueue_pop(vq, sizeof(*req)))) {
        struct virtio_hmm_head head;

        if (s->vq_gen[q] != gen) {
            /* the pop itself reset the queue: this element is stale */
            virtqueue_detach_element(vq, &req->elem, 0);
            g_free(req);
            break;
        }
        /* virtqueue_pop() only initializes the element */
        memset((uint8_t *)req + sizeof(req->elem), 0,
               sizeof(*req) - sizeof(req->elem));
        req->out_size = iov_size(req->elem.out_sg, req->elem.out_num);
        req->in_size = iov_size(req->elem.in_sg, req->elem.in_num);
        if (req->out_size < sizeof(head) || req->in_size < HMM_TAIL_SIZE) {
            trace_virtio_hmm_bad_layout(name, req->out_size, req->in_size);
            virtqueue_detach_element(vq, &req->elem, 0);
            g_free(req);
            broken = true;
            break;
        }
        hmm_req_read(req, 0, &head, sizeof(head));
        req->vq = vq;
        req->type = le16_to_cpu(head.type);
        req->flags = le16_to_cpu(head.flags);
        req->asid = le32_to_cpu(head.asid);
        req->tag = le64_to_cpu(head.tag);

        /* even an inline request may leave work for it (job slices) */
        hmm_start_worker(s);
        qemu_mutex_lock(&s->lock);
        if (!hmm_try_inline_locked(s, req)) {
            QTAILQ_INSERT_TAIL(vq == s->requestq ? &s->requests : &s->jobs,
                               req, next);
            qemu_cond_signal(&s->wakeup);
        }
        qemu_mutex_unlock(&s->lock);
    }
    /* the elements that ran inline, also those before a broken one */
    hmm_flush(s);
    if (broken && s->vq_gen[q] == gen) {
        virtio_error(vdev, "virtio-hmm: %s element needs a readable "
                     "head and a writable tail", name);
    }
}

static void hmm_handle_faultq(VirtIODevice *vdev, VirtQueue *vq)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);

    if (s->stopped || !vdev->vm_running) {
        return;                         /* the resume posts them */
    }
    hmm_post_faults(s);
}

/* Reset */

/* Detach every element of @list; BQL held, s->lock not held */
static unsigned int hmm_detach_list(VirtIOHMMReqList *list)
{
    VirtIOHMMReq *req;
    unsigned int n = 0;

    while ((req = QTAILQ_FIRST(list))) {
        QTAILQ_REMOVE(list, req, next);
        virtqueue_detach_element(req->vq, &req->elem, 0);
        g_free(req);
        n++;
    }
    return n;
}

/* Move the elements of @vq (NULL: all) from @from to @to; s->lock held */
static void hmm_take_locked(VirtIOHMMReqList *to, VirtIOHMMReqList *from,
                            VirtQueue *vq, uint32_t *count)
{
    VirtIOHMMReq *req, *tmp;

    QTAILQ_FOREACH_SAFE(req, from, next, tmp) {
        if (!vq || req->vq == vq) {
            QTAILQ_REMOVE(from, req, next);
            QTAILQ_INSERT_TAIL(to, req, next);
            if (count) {
                (*count)--;
            }
        }
    }
}

/*
 * Drop the elements of @vq (NULL: of every queue) and, for the jobq or a
 * device reset, the fault records.  BQL held; callable from anywhere the
 * BQL is, including from inside a call into the virtio core of this
 * device's own code (see the top of the file).  The executor is paused
 * and idle meanwhile; the caller resumes it.
 */
static unsigned int hmm_drop_elements(VirtIOHMM *s, VirtQueue *vq)
{
    VirtIOHMMReqList drop = QTAILQ_HEAD_INITIALIZER(drop);

    qemu_mutex_lock(&s->lock);
    s->paused++;
    while (s->busy) {
        qemu_cond_wait(&s->idle, &s->lock);
    }
    hmm_take_locked(&drop, &s->requests, vq, NULL);
    hmm_take_locked(&drop, &s->jobs, vq, NULL);
    hmm_take_locked(&drop, &s->stalled, vq, &s->nr_stalled);
    hmm_take_locked(&drop, &s->done, vq, NULL);
    if (!vq || vq == s->jobq) {
        /* records name jobs, and there are none left */
        hmm_drop_records_locked(s, UINT32_MAX);
    }
    qemu_mutex_unlock(&s->lock);
    return hmm_detach_list(&drop);
}

static void virtio_hmm_reset(VirtIODevice *vdev)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);
    unsigned int q, n;

    for (q = 0; q < VIRTIO_HMM_NR_VQS; q++) {
        s->vq_gen[q]++;
    }
    n = hmm_drop_elements(s, NULL);
    hmm_mmu_reset(s);
    memset(&s->stats, 0, sizeof(s->stats));
    hmm_resume(s);
    trace_virtio_hmm_reset(n);
}

/* VIRTIO_F_RING_RESET: the driver resets one virtqueue */
static void virtio_hmm_queue_reset(VirtIODevice *vdev, uint32_t queue_index)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);
    unsigned int n;

    if (queue_index >= VIRTIO_HMM_NR_VQS) {
        return;
    }
    s->vq_gen[queue_index]++;
    n = hmm_drop_elements(s, virtio_get_queue(vdev, queue_index));
    hmm_resume(s);
    trace_virtio_hmm_queue_reset(queue_index, n);
}

/*
 * Run state: quiescent while the VM is stopped.  Stopping waits for the
 * worker to leave the request or time slice it is in (bounded: a request
 * is bounded by the configuration's limits, a slice by HMM_SLICE_BYTES).
 */
static void virtio_hmm_vm_state_change(void *opaque, bool running,
                                       RunState state)
{
    VirtIOHMM *s = opaque;

    if (running == !s->stopped) {
        return;
    }
    trace_virtio_hmm_run_state(running);
    if (running) {
        s->stopped = false;
        hmm_resume(s);
        s->recheck_queues = true;
        qemu_bh_schedule(s->bh);
    } else {
        s->stopped = true;
        hmm_pause(s);
    }
}

/* Configuration and features */

static void virtio_hmm_get_config(VirtIODevice *vdev, uint8_t *config_data)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);
    struct virtio_hmm_config config = {
        .devmem_size = cpu_to_le64(s->devmem_size),
        .page_size = cpu_to_le32(HMM_PAGE_SIZE),
        .max_asids = cpu_to_le32(s->max_asids),
        .max_map_pages = cpu_to_le32(HMM_MAX_MAP_PAGES),
        .max_copy_pages = cpu_to_le32(HMM_MAX_COPY_PAGES),
        .max_job_bytes = cpu_to_le32(HMM_MAX_JOB_BYTES),
        .max_stalled_jobs = cpu_to_le32(s->max_stalled_jobs),
        .max_page_tables = cpu_to_le32(s->max_page_tables),
    };

    memcpy(config_data, &config, sizeof(config));
}

static uint64_t virtio_hmm_get_features(VirtIODevice *vdev, uint64_t features,
                                        Error **errp)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);

    if (s->coherent) {
        virtio_add_feature(&features, VIRTIO_HMM_F_COHERENT);
    }
    if (s->atomics) {
        virtio_add_feature(&features, VIRTIO_HMM_F_ATOMICS);
    }
    if (s->replayable_faults) {
        virtio_add_feature(&features, VIRTIO_HMM_F_REPLAYABLE_FAULTS);
    }
    return features;
}

/* Realize */

static bool hmm_check_queue_size(const char *name, uint16_t size, Error **errp)
{
    if (size < 2 || size > VIRTQUEUE_MAX_SIZE || !is_power_of_2(size)) {
        error_setg(errp, "'%s' must be a power of 2 between 2 and %d",
                   name, VIRTQUEUE_MAX_SIZE);
        return false;
    }
    return true;
}

/* Check the properties that need no memory; error_setg() names them */
static bool hmm_check_props(VirtIOHMM *s, Error **errp)
{
    const char *size_prop = s->memdev ? "memdev" : "vram-size";

    s->coherent = s->mode == VIRTIO_HMM_MODE_COHERENT;
    if (s->coherent && !s->transport_maps_devmem) {
        error_setg(errp, "'mode=coherent' needs a transport that maps "
                   "device memory for the CPU: use virtio-hmm-pci");
        return false;
    }
    switch (s->backend) {
    case VIRTIO_HMM_BACKEND_HOST:
#ifdef CONFIG_LINUX
        s->backend_ops = &virtio_hmm_host_ops;
        break;
#else
        error_setg(errp, "'backend=host' needs a Linux host");
        return false;
#endif
    default:
        s->backend_ops = NULL;
        break;
    }
    if (s->backend_ops && (s->coherent || s->memdev)) {
        error_setg(errp, "'backend=host' supports 'mode=private' without "
                   "'memdev' only");
        return false;
    }
    if (s->max_asids < 1 || s->max_asids > HMM_MAX_ASIDS_LIMIT) {
        error_setg(errp, "'max-asids' must be between 1 and %d",
                   HMM_MAX_ASIDS_LIMIT);
        return false;
    }
    if (s->max_page_tables < HMM_MIN_PAGE_TABLES) {
        error_setg(errp, "'max-page-tables' must be at least %d",
                   HMM_MIN_PAGE_TABLES);
        return false;
    }
    if (!hmm_check_queue_size("requestq-size", s->requestq_size, errp) ||
        !hmm_check_queue_size("jobq-size", s->jobq_size, errp) ||
        !hmm_check_queue_size("faultq-size", s->faultq_size, errp)) {
        return false;
    }
    if (s->max_stalled_jobs < 1 || s->max_stalled_jobs > s->jobq_size) {
        error_setg(errp, "'max-stalled-jobs' must be between 1 and "
                   "'jobq-size' (%u)", s->jobq_size);
        return false;
    }
    if (s->inject_copy_delay_us > HMM_INJECT_MAX_DELAY_US ||
        s->inject_inval_delay_us > HMM_INJECT_MAX_DELAY_US) {
        error_setg(errp, "'x-inject-copy-delay-us' and "
                   "'x-inject-inval-delay-us' must be at most %u",
                   HMM_INJECT_MAX_DELAY_US);
        return false;
    }
    if (s->inject_job_delay_us > HMM_INJECT_MAX_JOB_DELAY_US) {
        error_setg(errp, "'x-inject-job-delay-us' must be at most %u",
                   HMM_INJECT_MAX_JOB_DELAY_US);
        return false;
    }

    if (s->memdev) {
        if (s->vram_size_set) {
            error_setg(errp, "'vram-size' and 'memdev' are mutually "
                       "exclusive");
            return false;
        }
        if (host_memory_backend_is_mapped(s->memdev)) {
            error_setg(errp, "'memdev' %s is already in use",
                       object_get_canonical_path_component(OBJECT(s->memdev)));
            return false;
        }
        s->devmem_size = memory_region_size(
                             host_memory_backend_get_memory(s->memdev));
    } else {
        s->devmem_size = s->vram_size;
    }
    if (!s->devmem_size || (s->devmem_size & HMM_PAGE_OFFSET_MASK)) {
        error_setg(errp, "%s must be a non-zero multiple of %llu",
                   s->memdev ? "the size of 'memdev'" : "'vram-size'",
                   (unsigned long long)HMM_PAGE_SIZE);
        return false;
    }
    if (s->coherent &&
        (!is_power_of_2(s->devmem_size) || s->devmem_size < 2 * MiB)) {
        error_setg(errp, "'mode=coherent' needs a '%s' size that is a power "
                   "of 2 and at least 2 MiB", size_prop);
        return false;
    }
    return true;
}

static void virtio_hmm_device_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOHMM *s = VIRTIO_HMM(dev);
    unsigned int q;

    if (!hmm_check_props(s, errp)) {
        return;
    }
    if (s->memdev) {
        s->devmem = host_memory_backend_get_memory(s->memdev);
    } else {
        Error *local_err = NULL;

        memory_region_init_ram(&s->vram, OBJECT(s), "virtio-hmm.devmem",
                               s->devmem_size, &local_err);
        if (local_err) {
            g_autofree char *size = size_to_str(s->devmem_size);

            error_propagate_prepend(errp, local_err, "'vram-size=%s': ",
                                    size);
            return;
        }
        s->devmem = &s->vram;
    }
    s->devmem_ptr = memory_region_get_ram_ptr(s->devmem);

    error_setg(&s->migration_blocker, "virtio-hmm does not support "
               "migration: device page tables, stalled jobs and in-flight "
               "requests are not migrated");
    if (migrate_add_blocker(s->migration_blocker, errp) < 0) {
        goto err_blocker;
    }
    if (!hmm_engine_init(s, errp)) {
        goto err_engine;
    }
    if (s->backend_ops && !s->backend_ops->realize(s, errp)) {
        goto err_backend;
    }
    if (s->memdev) {
        host_memory_backend_set_mapped(s->memdev, true);
        /* what qom-get and info qtree show: the size in use */
        s->vram_size = s->devmem_size;
    }

    virtio_init(vdev, VIRTIO_ID_HMM, sizeof(struct virtio_hmm_config));
    s->requestq = virtio_add_queue(vdev, s->requestq_size, hmm_handle_queue);
    s->jobq = virtio_add_queue(vdev, s->jobq_size, hmm_handle_queue);
    s->faultq = virtio_add_queue(vdev, s->faultq_size, hmm_handle_faultq);

    s->as = g_new0(VirtIOHMMAS *, s->max_asids);
    qemu_mutex_init(&s->lock);
    qemu_cond_init(&s->wakeup);
    qemu_cond_init(&s->idle);
    QTAILQ_INIT(&s->requests);
    QTAILQ_INIT(&s->jobs);
    QTAILQ_INIT(&s->done);
    QTAILQ_INIT(&s->stalled);
    QSIMPLEQ_INIT(&s->fault_records);
    for (q = 0; q < VIRTIO_HMM_NR_VQS; q++) {
        s->vq_gen[q] = 0;
    }
    s->bh = qemu_bh_new(hmm_bh, s);
    s->stopped = !runstate_is_running();
    s->paused = s->stopped;
    s->vmstate_entry = qdev_add_vm_change_state_handler(dev,
                           virtio_hmm_vm_state_change, s);
    return;

err_backend:
    hmm_engine_cleanup(s);
err_engine:
    migrate_del_blocker(s->migration_blocker);
err_blocker:
    error_free(s->migration_blocker);
    s->migration_blocker = NULL;
    if (!s->memdev) {
        object_unparent(OBJECT(&s->vram));
    }
}

static void virtio_hmm_device_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOHMM *s = VIRTIO_HMM(dev);

    qemu_del_vm_change_state_handler(s->vmstate_entry);
    if (s->thread_started) {
        qemu_mutex_lock(&s->lock);
        s->stopping = true;
        qemu_cond_signal(&s->wakeup);
        qemu_mutex_unlock(&s->lock);
        qemu_thread_join(&s->thread);
    }

    hmm_drop_elements(s, NULL);
    hmm_mmu_reset(s);
    if (s->backend_ops) {
        s->backend_ops->unrealize(s);
    }
    hmm_engine_cleanup(s);
    qemu_bh_delete(s->bh);
    qemu_cond_destroy(&s->idle);
    qemu_cond_destroy(&s->wakeup);
    qemu_mutex_destroy(&s->lock);
    g_free(s->as);
    virtio_delete_queue(s->faultq);
    virtio_delete_queue(s->jobq);
    virtio_delete_queue(s->requestq);
    virtio_cleanup(vdev);
    migrate_del_blocker(s->migration_blocker);
    error_free(s->migration_blocker);
    if (s->memdev) {
        host_memory_backend_set_mapped(s->memdev, false);
    }
}

/* Properties */

/* "vram-size": a size that remembers whether it was set */
static void hmm_get_vram_size(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    VirtIOHMM *s = VIRTIO_HMM(obj);

    visit_type_size(v, name, &s->vram_size, errp);
}

static void hmm_set_vram_size(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    VirtIOHMM *s = VIRTIO_HMM(obj);

    if (visit_type_size(v, name, &s->vram_size, errp)) {
        s->vram_size_set = true;
    }
}

static void hmm_set_default_uint(ObjectProperty *op, const Property *prop)
{
    object_property_set_default_uint(op, prop->defval.u);
}

static const PropertyInfo hmm_prop_vram_size = {
    .name = "size",
    .description = "device memory size, exclusive with memdev",
    .get = hmm_get_vram_size,
    .set = hmm_set_vram_size,
    .set_default_value = hmm_set_default_uint,
};

/* Enum properties, as qdev's own (hw/core/qdev-properties.c) */
static void hmm_get_enum(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    Property *prop = opaque;
    int *ptr = object_field_prop_ptr(obj, prop);

    visit_type_enum(v, name, ptr, prop->info->enum_table, errp);
}

static void hmm_set_enum(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    Property *prop = opaque;
    int *ptr = object_field_prop_ptr(obj, prop);

    visit_type_enum(v, name, ptr, prop->info->enum_table, errp);
}

static void hmm_set_default_enum(ObjectProperty *op, const Property *prop)
{
    object_property_set_default_str(op,
        qapi_enum_lookup(prop->info->enum_table, prop->defval.i));
}

static const QEnumLookup hmm_mode_lookup = {
    .array = (const char *const[]) {
        [VIRTIO_HMM_MODE_PRIVATE] = "private",
        [VIRTIO_HMM_MODE_COHERENT] = "coherent",
    },
    .size = VIRTIO_HMM_MODE__MAX,
};

static const PropertyInfo hmm_prop_mode = {
    .name = "VirtIOHMMMode",
    .description = "device memory: private, or coherent (a CPU-addressable "
                   "BAR)",
    .enum_table = &hmm_mode_lookup,
    .get = hmm_get_enum,
    .set = hmm_set_enum,
    .set_default_value = hmm_set_default_enum,
};

static const QEnumLookup hmm_backend_lookup = {
    .array = (const char *const[]) {
        [VIRTIO_HMM_BACKEND_RAM] = "ram",
        [VIRTIO_HMM_BACKEND_HOST] = "host",
    },
    .size = VIRTIO_HMM_BACKEND__MAX,
};

static const PropertyInfo hmm_prop_backend = {
    .name = "VirtIOHMMBackend",
    .description = "device memory in QEMU RAM, or in host device-private "
                   "memory through the host module",
    .enum_table = &hmm_backend_lookup,
    .get = hmm_get_enum,
    .set = hmm_set_enum,
    .set_default_value = hmm_set_default_enum,
};

static Property virtio_hmm_properties[] = {
    DEFINE_PROP_UNSIGNED("vram-size", VirtIOHMM, vram_size,
                         HMM_VRAM_SIZE_DEFAULT, hmm_prop_vram_size, uint64_t),
    DEFINE_PROP_LINK("memdev", VirtIOHMM, memdev, TYPE_MEMORY_BACKEND,
                     HostMemoryBackend *),
    DEFINE_PROP_SIGNED("mode", VirtIOHMM, mode, VIRTIO_HMM_MODE_PRIVATE,
                       hmm_prop_mode, int),
    DEFINE_PROP_SIGNED("backend", VirtIOHMM, backend, VIRTIO_HMM_BACKEND_RAM,
                       hmm_prop_backend, int),
    DEFINE_PROP_UINT32("max-asids", VirtIOHMM, max_asids, 64),
    DEFINE_PROP_UINT32("max-page-tables", VirtIOHMM, max_page_tables,
                       HMM_PAGE_TABLES_DEFAULT),
    DEFINE_PROP_UINT16("requestq-size", VirtIOHMM, requestq_size,
                       HMM_QUEUE_SIZE_DEFAULT),
    DEFINE_PROP_UINT16("jobq-size", VirtIOHMM, jobq_size,
                       HMM_QUEUE_SIZE_DEFAULT),
    DEFINE_PROP_UINT16("faultq-size", VirtIOHMM, faultq_size,
                       HMM_QUEUE_SIZE_DEFAULT),
    DEFINE_PROP_UINT32("max-stalled-jobs", VirtIOHMM, max_stalled_jobs, 16),
    DEFINE_PROP_BOOL("atomics", VirtIOHMM, atomics, true),
    DEFINE_PROP_BOOL("replayable-faults", VirtIOHMM, replayable_faults, true),
    /* fault injection for driver testing, see docs/virtio-hmm.md 13.1 */
    DEFINE_PROP_UINT32("x-inject-copy-fail", VirtIOHMM, inject_copy_fail, 0),
    DEFINE_PROP_UINT32("x-inject-copy-delay-us", VirtIOHMM,
                       inject_copy_delay_us, 0),
    DEFINE_PROP_UINT32("x-inject-drop-fault", VirtIOHMM, inject_drop_fault,
                       0),
    DEFINE_PROP_UINT32("x-inject-dup-fault", VirtIOHMM, inject_dup_fault, 0),
    DEFINE_PROP_BOOL("x-inject-vram-full", VirtIOHMM, inject_vram_full,
                     false),
    DEFINE_PROP_UINT32("x-inject-inval-delay-us", VirtIOHMM,
                       inject_inval_delay_us, 0),
    DEFINE_PROP_UINT32("x-inject-map-fail", VirtIOHMM, inject_map_fail, 0),
    DEFINE_PROP_UINT32("x-inject-job-delay-us", VirtIOHMM,
                       inject_job_delay_us, 0),
    DEFINE_PROP_UINT32("x-inject-job-delay-every", VirtIOHMM,
                       inject_job_delay_every, 1),
    DEFINE_PROP_END_OF_LIST(),
};

/* The read-only QOM property "x-inline-requests" (debugging, tests) */
static void virtio_hmm_get_inline(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    VirtIOHMM *s = VIRTIO_HMM(obj);
    uint64_t n;

    qemu_mutex_lock(&s->lock);
    n = s->inline_requests;
    qemu_mutex_unlock(&s->lock);
    visit_type_uint64(v, name, &n, errp);
}

static void virtio_hmm_instance_init(Object *obj)
{
    VirtIOHMM *s = VIRTIO_HMM(obj);

    /* the defaults were set through the setter: nothing was given yet */
    s->vram_size_set = false;
}

static void virtio_hmm_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, virtio_hmm_properties);
    hmm_stats_class_init(klass);
    object_class_property_add(klass, "x-inline-requests", "uint64",
                              virtio_hmm_get_inline, NULL, NULL, NULL);
    object_class_property_set_description(klass, "x-inline-requests",
        "requests and job time slices run in the notifying thread, "
        "read-only");
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    vdc->realize = virtio_hmm_device_realize;
    vdc->unrealize = virtio_hmm_device_unrealize;
    vdc->get_config = virtio_hmm_get_config;
    vdc->get_features = virtio_hmm_get_features;
    vdc->reset = virtio_hmm_reset;
    vdc->queue_reset = virtio_hmm_queue_reset;
}

static const TypeInfo virtio_hmm_info = {
    .name = TYPE_VIRTIO_HMM,
    .parent = TYPE_VIRTIO_DEVICE,
    .instance_size = sizeof(VirtIOHMM),
    .instance_init = virtio_hmm_instance_init,
    .class_init = virtio_hmm_class_init,
};

static void virtio_hmm_register_types(void)
{
    type_register_static(&virtio_hmm_info);
}

type_init(virtio_hmm_register_types)
