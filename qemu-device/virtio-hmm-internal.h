/*
 * virtio-hmm: what the parts of the device model share
 *
 * The device model is split by concern:
 *
 *   virtio-hmm.c         virtio glue: queues, the worker, completions,
 *                        reset and queue reset, run state, realize,
 *                        properties
 *   virtio-hmm-mmu.c     address spaces and their radix page tables:
 *                        CREATE_AS, DESTROY_AS, MAP, UNMAP, QUERY
 *   virtio-hmm-engine.c  memory access, the copy engine (COPY) and the
 *                        execution engine (jobs)
 *   virtio-hmm-fault.c   faults (stalled jobs, fault records,
 *                        FAULT_REPLY) and counters (GET_STATS, the QOM
 *                        "stats" property)
 *
 * Who may touch what (VirtIOHMM in virtio-hmm.h says it per field):
 *
 * - The page tables, the statistics and the engines belong to whoever
 *   executes requests: the worker thread, or handle_output on the BQL side
 *   while the worker is paused and idle (the inline path), or reset with
 *   the worker paused and idle.  There is always exactly one.  Functions
 *   that run requests say "Executor" below.
 * - The request lists, fault records and worker flags are under s->lock.
 * - The virtio core (pop, push, notify, detach, virtio_error) is called
 *   with the BQL held and s->lock not held, from virtio-hmm.c only.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#ifndef QEMU_VIRTIO_HMM_INTERNAL_H
#define QEMU_VIRTIO_HMM_INTERNAL_H

#include "qemu/iov.h"
#include "qemu/units.h"
#include "hw/virtio/virtio-hmm.h"

#define HMM_PAGE_SIZE           VIRTIO_HMM_PAGE_SIZE
#define HMM_PAGE_OFFSET_MASK    (HMM_PAGE_SIZE - 1)
#define HMM_PAGE_SHIFT          ctz64(HMM_PAGE_SIZE)
#define HMM_TAIL_SIZE           sizeof(struct virtio_hmm_tail)

/* Device limits, advertised in the configuration space */
#define HMM_MAX_MAP_PAGES       1024
#define HMM_MAX_COPY_PAGES      256
#define HMM_MAX_JOB_BYTES       (64 * MiB)
/* CHASE reads at most max_job_bytes of next pointers */
#define HMM_MAX_CHASE_NODES     (HMM_MAX_JOB_BYTES / sizeof(uint64_t))

/* Time slice of a job: so that a long job never delays a request long */
#define HMM_SLICE_BYTES         (16 * HMM_PAGE_SIZE)
#define HMM_SLICE_NODES         256

struct VirtIOHMMFaultRecord {
    struct virtio_hmm_fault rec;        /* little-endian, ready to post */
    QSIMPLEQ_ENTRY(VirtIOHMMFaultRecord) next;
};

typedef enum {
    HMM_JOB_DONE,       /* req->status is final */
    HMM_JOB_MORE,       /* time slice used up */
    HMM_JOB_STALL,      /* faulted, replayable: req->fault_* describe it */
} VirtIOHMMJobState;

struct VirtIOHMMReq {
    VirtQueueElement elem;              /* first: virtqueue_pop() */
    VirtQueue *vq;
    QTAILQ_ENTRY(VirtIOHMMReq) next;
    size_t out_size;                    /* device-readable bytes */
    size_t in_size;                     /* device-writable bytes */
    uint16_t type;                      /* head, host-endian */
    uint16_t flags;
    uint32_t asid;
    uint64_t tag;
    uint32_t status;                    /* tail */
    uint32_t count;

    /* Jobs: parameters (host-endian) and progress across time slices */
    bool parsed;
    uint64_t va;
    uint64_t length;
    uint64_t va2;
    uint64_t pattern;
    uint64_t operand;
    uint64_t compare;
    uint32_t op;
    uint32_t size;
    uint32_t next_offset;
    uint32_t value_offset;
    uint32_t value_size;
    uint32_t max_nodes;
    uint64_t done;                      /* bytes, or nodes for CHASE */
    uint64_t cursor;                    /* CHASE: next node */
    uint64_t sum;                       /* CHASE */
    uint64_t last;                      /* CHASE */

    /* The fault that stalled (or failed) the job */
    uint64_t fault_va;
    uint32_t fault_access;
    uint32_t fault_present;
};

/* Element I/O (any thread: the element's buffers are mapped) */

static inline bool hmm_req_read(VirtIOHMMReq *req, size_t off, void *buf,
                                size_t len)
{
    return iov_to_buf(req->elem.out_sg, req->elem.out_num, off, buf, len)
           == len;
}

static inline void hmm_req_write(VirtIOHMMReq *req, size_t off,
                                 const void *buf, size_t len)
{
    iov_from_buf(req->elem.in_sg, req->elem.in_num, off, buf, len);
}

static inline bool hmm_has_feature(VirtIOHMM *s, unsigned int bit)
{
    return virtio_vdev_has_feature(VIRTIO_DEVICE(s), bit);
}

/* Fault injection: is this the Nth event (N = @every, 0: never)? */
static inline bool hmm_inject_nth(uint32_t every, uint64_t *seen)
{
    return every && ++*seen % every == 0;
}

/* virtio-hmm-mmu.c: address spaces and page tables (Executor) */

VirtIOHMMAS *hmm_as(VirtIOHMM *s, uint32_t asid);
/*
 * Translate @va for an access that needs the permissions @need: the leaf
 * entry in *@pte and the target address of @va (guest-physical, or a
 * device memory offset with VIRTIO_HMM_PTE_DEVMEM) in *@target, valid for
 * *@span bytes from @va.  On a missing entry or permission, record the
 * fault in @req and return VIRTIO_HMM_S_FAULT.
 */
uint32_t hmm_translate(VirtIOHMMAS *as, VirtIOHMMReq *req, uint64_t va,
                       uint64_t need, uint64_t *pte, uint64_t *target,
                       uint64_t *span);
/* Free every address space and page table (reset, unrealize) */
void hmm_mmu_reset(VirtIOHMM *s);
uint32_t hmm_create_as(VirtIOHMM *s, VirtIOHMMReq *req);
uint32_t hmm_destroy_as(VirtIOHMM *s, VirtIOHMMReq *req);
uint32_t hmm_map(VirtIOHMM *s, VirtIOHMMReq *req);
uint32_t hmm_unmap(VirtIOHMM *s, VirtIOHMMReq *req);
uint32_t hmm_query(VirtIOHMM *s, VirtIOHMMReq *req);
/*
 * Is @req (an UNMAP) cheap enough for the inline path: no injected delay
 * and a range of at most HMM_MAX_MAP_PAGES pages?  Any thread.
 */
bool hmm_unmap_is_small(VirtIOHMM *s, VirtIOHMMReq *req);

/* virtio-hmm-engine.c: memory access and the engines (Executor) */

bool hmm_engine_init(VirtIOHMM *s, Error **errp);
void hmm_engine_cleanup(VirtIOHMM *s);
uint32_t hmm_copy(VirtIOHMM *s, VirtIOHMMReq *req);
/* Run one time slice of the job @req (parsed on its first slice) */
VirtIOHMMJobState hmm_run_job(VirtIOHMM *s, VirtIOHMMReq *req);

/* virtio-hmm-fault.c: faults and counters */

/* Executor: the requests */
uint32_t hmm_fault_reply(VirtIOHMM *s, VirtIOHMMReq *req);
uint32_t hmm_get_stats(VirtIOHMM *s, VirtIOHMMReq *req);
/* s->lock held: park a faulted job, or complete it with S_NOSPC */
void hmm_stall_locked(VirtIOHMM *s, VirtIOHMMReq *req);
/* s->lock held: forget the fault records of @asid (all: UINT32_MAX) */
void hmm_drop_records_locked(VirtIOHMM *s, uint32_t asid);
/* QOM: the read-only "stats" property */
void hmm_stats_class_init(ObjectClass *klass);

/* virtio-hmm.c: completion */

/*
 * s->lock held: write @req's tail and queue it for hmm_flush(); the
 * _locked variant does not schedule the bottom half.
 */
void hmm_finish_locked(VirtIOHMM *s, VirtIOHMMReq *req);
void hmm_complete_locked(VirtIOHMM *s, VirtIOHMMReq *req);
/* s->lock not held: pause the worker and wait until it is idle; resume */
void hmm_pause(VirtIOHMM *s);
void hmm_resume(VirtIOHMM *s);

#endif
