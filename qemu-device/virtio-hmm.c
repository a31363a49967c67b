/*
 * virtio-hmm: a virtual shared-virtual-memory accelerator for Linux HMM
 *
 * The device has its own MMU (address spaces of page tables that map
 * device virtual pages to guest RAM or device memory), device memory, a
 * copy engine and an execution engine whose jobs work on device virtual
 * addresses and can stall on recoverable faults.  The wire format is
 * include/linux/virtio_hmm.h, specified in docs/virtio-hmm.md.
 *
 * Theory of operation:
 *
 * - handle_output (BQL) pops requestq and jobq elements, checks that each
 *   has room for a head and a tail (else virtio_error) and queues them for
 *   the worker thread; when the worker is idle and nothing is queued, it
 *   runs the request (or a job's first slice) itself with the worker
 *   paused, and completes it at once (hmm_try_inline_locked()).
 * - One worker thread per device executes them: all queued requests
 *   first, in order, then one time slice of the first runnable job, then
 *   again.  Only the worker (or handle_output while the worker is paused
 *   and idle) touches the page tables and runs jobs, so a
 *   request that has completed (UNMAP, MAP, DESTROY_AS) is seen by every
 *   later job access: no access through a removed translation can happen
 *   once the request is in the used ring.
 * - The worker never takes the BQL and never touches MMIO: guest memory
 *   is reached through vdev->dma_as, RAM only, under RCU.  Completions and
 *   fault records go back to the BQL side through a bottom half that does
 *   virtqueue_push/virtio_notify, and pops faultq buffers for the records.
 * - Reset (BQL) pauses the worker, waits until it is idle, drops all
 *   queued, stalled and finished elements and all address spaces.  Device
 *   memory is kept.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/rcu.h"
#include "qemu/units.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "exec/memory.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-hmm.h"
#include "migration/blocker.h"
#include "sysemu/hostmem.h"
#include "trace.h"

#define HMM_PAGE_SIZE           VIRTIO_HMM_PAGE_SIZE
#define HMM_PAGE_OFFSET_MASK    (HMM_PAGE_SIZE - 1)
#define HMM_PAGE_SHIFT          ctz64(HMM_PAGE_SIZE)

/* Device limits, advertised in the configuration space */
#define HMM_MAX_MAP_PAGES       1024
#define HMM_MAX_COPY_PAGES      256
#define HMM_MAX_JOB_BYTES       (64 * MiB)

/* Time slice of a job: so that a long job never delays a request long */
#define HMM_SLICE_BYTES         (16 * HMM_PAGE_SIZE)
#define HMM_SLICE_NODES         256

#define HMM_QUEUE_SIZE_DEFAULT  128

/* Fault injection: delays stay well below a driver's request timeout */
#define HMM_INJECT_MAX_DELAY_US 1000000
#define HMM_MAX_ASIDS_LIMIT     65536

/* A page table entry; the hash key is the virtual page number (first). */
typedef struct VirtIOHMMPte {
    uint64_t vpn;
    uint64_t pte;
} VirtIOHMMPte;

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

/* Element I/O */

static bool hmm_req_read(VirtIOHMMReq *req, size_t off, void *buf, size_t len)
{
    return iov_to_buf(req->elem.out_sg, req->elem.out_num, off, buf, len)
           == len;
}

static void hmm_req_write(VirtIOHMMReq *req, size_t off, const void *buf,
                          size_t len)
{
    iov_from_buf(req->elem.in_sg, req->elem.in_num, off, buf, len);
}

static bool hmm_has_feature(VirtIOHMM *s, unsigned int bit)
{
    return virtio_vdev_has_feature(VIRTIO_DEVICE(s), bit);
}

static GHashTable *hmm_as(VirtIOHMM *s, uint32_t asid)
{
    return asid < s->max_asids ? s->as[asid] : NULL;
}

static VirtIOHMMPte *hmm_pte_lookup(GHashTable *pt, uint64_t vpn)
{
    return g_hash_table_lookup(pt, &vpn);
}

static uint32_t hmm_perm_to_access(uint64_t perm)
{
    return (perm & VIRTIO_HMM_PTE_READ ? VIRTIO_HMM_ACCESS_READ : 0) |
           (perm & VIRTIO_HMM_PTE_WRITE ? VIRTIO_HMM_ACCESS_WRITE : 0) |
           (perm & VIRTIO_HMM_PTE_ATOMIC ? VIRTIO_HMM_ACCESS_ATOMIC : 0);
}

/* Memory access, worker side */

/*
 * Host pointer to @len bytes of guest RAM at @gpa, or NULL if that is not
 * all RAM (MMIO, ROM for a write, nothing).  Call under RCU; *@mr and
 * *@xlat are for memory_region_set_dirty().
 */
static void *hmm_guest_ptr(VirtIOHMM *s, hwaddr gpa, hwaddr len,
                           bool is_write, MemoryRegion **mr, hwaddr *xlat)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    hwaddr plen = len;

    *mr = address_space_translate(vdev->dma_as, gpa, xlat, &plen, is_write,
                                  MEMTXATTRS_UNSPECIFIED);
    if (plen < len || !memory_region_is_ram(*mr) ||
        memory_region_is_ram_device(*mr) || (is_write && (*mr)->readonly)) {
        qemu_log_mask(LOG_GUEST_ERROR,
                      "virtio-hmm: 0x%" HWADDR_PRIx "+0x%" HWADDR_PRIx
                      " is not guest RAM\n", gpa, len);
        return NULL;
    }
    return (uint8_t *)memory_region_get_ram_ptr(*mr) + *xlat;
}

/* Host pointer to @len bytes of device memory at @off, or NULL */
static void *hmm_devmem_ptr(VirtIOHMM *s, uint64_t off, uint64_t len,
                            MemoryRegion **mr, hwaddr *xlat)
{
    if (off >= s->devmem_size || len > s->devmem_size - off) {
        return NULL;
    }
    *mr = s->devmem;
    *xlat = off;
    return s->devmem_ptr + off;
}

/*
 * Target of a translated access: guest RAM or device memory, by the
 * PTE's DEVMEM flag.  Call under RCU.
 */
static void *hmm_target_ptr(VirtIOHMM *s, uint64_t pte, uint64_t va,
                            uint64_t len, bool is_write, MemoryRegion **mr,
                            hwaddr *xlat)
{
    uint64_t target = (pte & ~VIRTIO_HMM_PTE_FLAGS_MASK) +
                      (va & HMM_PAGE_OFFSET_MASK);

    if (pte & VIRTIO_HMM_PTE_DEVMEM) {
        return hmm_devmem_ptr(s, target, len, mr, xlat);
    }
    return hmm_guest_ptr(s, target, len, is_write, mr, xlat);
}

/* Copy between host addresses: through the backend, if there is one */
static bool hmm_move(VirtIOHMM *s, void *dst, const void *src, size_t len)
{
    if (s->backend_ops) {
        return s->backend_ops->copy(s, dst, src, len);
    }
    memmove(dst, src, len);
    return true;
}

/*
 * An atomic on a backend's device memory at @host: read, modify, write
 * through the backend.  Atomic because nothing but the worker accesses
 * private device memory (there is no BAR).  False on an I/O error.
 */
static bool hmm_backend_atomic(VirtIOHMM *s, void *host, VirtIOHMMReq *req,
                               uint64_t *old)
{
    uint8_t buf[sizeof(uint64_t)];
    uint64_t new;

    if (!hmm_move(s, buf, host, req->size)) {
        return false;
    }
    *old = req->size == sizeof(uint32_t) ? (uint32_t)ldl_le_p(buf)
                                         : ldq_le_p(buf);
    if (req->op == VIRTIO_HMM_ATOMIC_CMPXCHG &&
        *old != (req->size == sizeof(uint32_t) ? (uint32_t)req->compare
                                               : req->compare)) {
        return true;
    }
    new = req->op == VIRTIO_HMM_ATOMIC_FETCH_ADD ? *old + req->operand
                                                 : req->operand;
    if (req->size == sizeof(uint32_t)) {
        stl_le_p(buf, new);
    } else {
        stq_le_p(buf, new);
    }
    return hmm_move(s, host, buf, req->size);
}

/*
 * Translate @va for an access that needs the permissions @need.  On a
 * missing entry or permission, record the fault in @req and return
 * VIRTIO_HMM_S_FAULT.
 */
static uint32_t hmm_translate(GHashTable *pt, VirtIOHMMReq *req, uint64_t va,
                              uint64_t need, uint64_t *pte)
{
    VirtIOHMMPte *e = hmm_pte_lookup(pt, va >> HMM_PAGE_SHIFT);

    if (e && (e->pte & VIRTIO_HMM_PTE_VALID) && (e->pte & need) == need) {
        *pte = e->pte;
        return VIRTIO_HMM_S_OK;
    }
    req->fault_va = va;
    if (e && (e->pte & VIRTIO_HMM_PTE_VALID)) {
        req->fault_present = 1;
        req->fault_access = hmm_perm_to_access(need & ~e->pte);
    } else {
        req->fault_present = 0;
        req->fault_access = hmm_perm_to_access(need);
    }
    return VIRTIO_HMM_S_FAULT;
}

/*
 * Read or write @len bytes at @va through the page table @pt; the range
 * may cross pages.  Stops at the first fault or I/O error: it is
 * all-or-nothing only within one page.
 */
static uint32_t hmm_va_rw(VirtIOHMM *s, GHashTable *pt, VirtIOHMMReq *req,
                          uint64_t va, void *buf, uint64_t len, bool is_write)
{
    uint8_t *p = buf;

    while (len) {
        uint64_t piece = MIN(len, HMM_PAGE_SIZE - (va & HMM_PAGE_OFFSET_MASK));
        uint64_t need = is_write ? VIRTIO_HMM_PTE_WRITE : VIRTIO_HMM_PTE_READ;
        uint64_t pte;
        MemoryRegion *mr;
        hwaddr xlat;
        uint8_t *host;
        uint32_t st = hmm_translate(pt, req, va, need, &pte);

        if (st != VIRTIO_HMM_S_OK) {
            return st;
        }
        WITH_RCU_READ_LOCK_GUARD() {
            host = hmm_target_ptr(s, pte, va, piece, is_write, &mr, &xlat);
            if (!host) {
                return VIRTIO_HMM_S_IOERR;
            }
            if (!hmm_move(s, is_write ? host : p, is_write ? p : host,
                          piece)) {
                return VIRTIO_HMM_S_IOERR;
            }
            if (is_write) {
                memory_region_set_dirty(mr, xlat, piece);
            }
        }
        va += piece;
        p += piece;
        len -= piece;
    }
    return VIRTIO_HMM_S_OK;
}

/* Address spaces and page tables */

static GHashTable *hmm_pt_new(void)
{
    return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
}

static void hmm_as_destroy(VirtIOHMM *s, uint32_t asid, uint64_t *pages)
{
    uint64_t n = g_hash_table_size(s->as[asid]);

    s->stats.unmaps += n;
    s->stats.mapped_pages -= n;
    s->stats.address_spaces--;
    g_hash_table_destroy(s->as[asid]);
    s->as[asid] = NULL;
    if (pages) {
        *pages = n;
    }
}

/*
 * Remove the permissions @perm from @e (the whole entry when @perm holds
 * READ or is 0).  Returns true if the entry must be removed; *@changed
 * tells whether anything changed.
 */
static bool hmm_pte_reduce(VirtIOHMMPte *e, uint32_t perm, bool *changed)
{
    uint64_t rm = perm;

    if (!perm || (perm & VIRTIO_HMM_PTE_READ)) {
        *changed = true;
        return true;
    }
    if (rm & VIRTIO_HMM_PTE_WRITE) {
        rm |= VIRTIO_HMM_PTE_ATOMIC;    /* atomics need write access */
    }
    *changed = (e->pte & rm) != 0;
    e->pte &= ~rm;
    return false;
}

/* Requests (requestq), worker side */

#define HMM_TAIL_SIZE sizeof(struct virtio_hmm_tail)

static uint32_t hmm_create_as(VirtIOHMM *s, VirtIOHMMReq *req)
{
    if (req->out_size != offsetof(struct virtio_hmm_req_as, tail) ||
        req->in_size != HMM_TAIL_SIZE || req->flags) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (req->asid >= s->max_asids) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (s->as[req->asid]) {
        return VIRTIO_HMM_S_BUSY;
    }
    trace_virtio_hmm_create_as(req->asid);
    s->as[req->asid] = hmm_pt_new();
    s->stats.address_spaces++;
    return VIRTIO_HMM_S_OK;
}

/* Called with s->lock held: complete @req with @status */
static void hmm_complete_locked(VirtIOHMM *s, VirtIOHMMReq *req);

static uint32_t hmm_destroy_as(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMReq *job, *tmp;
    VirtIOHMMFaultRecord *f, *ftmp;
    uint32_t canceled = 0;
    uint64_t pages;

    if (req->out_size != offsetof(struct virtio_hmm_req_as, tail) ||
        req->in_size != HMM_TAIL_SIZE || req->flags) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (!hmm_as(s, req->asid)) {
        return VIRTIO_HMM_S_NOASID;
    }
    hmm_as_destroy(s, req->asid, &pages);

    /* Cancel its runnable and stalled jobs */
    qemu_mutex_lock(&s->lock);
    QTAILQ_FOREACH_SAFE(job, &s->jobs, next, tmp) {
        if (job->asid == req->asid) {
            QTAILQ_REMOVE(&s->jobs, job, next);
            job->status = VIRTIO_HMM_S_CANCELED;
            hmm_complete_locked(s, job);
            canceled++;
        }
    }
    QTAILQ_FOREACH_SAFE(job, &s->stalled, next, tmp) {
        if (job->asid == req->asid) {
            QTAILQ_REMOVE(&s->stalled, job, next);
            s->nr_stalled--;
            s->stats.cancels++;
            job->status = VIRTIO_HMM_S_CANCELED;
            hmm_complete_locked(s, job);
            canceled++;
        }
    }
    /* ... and forget the fault records not posted yet */
    QSIMPLEQ_FOREACH_SAFE(f, &s->fault_records, next, ftmp) {
        if (le32_to_cpu(f->rec.asid) == req->asid) {
            QSIMPLEQ_REMOVE(&s->fault_records, f, VirtIOHMMFaultRecord, next);
            s->nr_records--;
            g_free(f);
        }
    }
    qemu_mutex_unlock(&s->lock);
    req->count = canceled;
    trace_virtio_hmm_destroy_as(req->asid, pages, canceled);
    return VIRTIO_HMM_S_OK;
}

static uint32_t hmm_map(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_map m;
    g_autofree uint64_t *ptes = NULL;
    GHashTable *pt;
    uint64_t va, mapped = 0, removed = 0;
    uint32_t nr, i;

    if (req->out_size < sizeof(m) || !hmm_req_read(req, 0, &m, sizeof(m)) ||
        req->flags || m.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    va = le64_to_cpu(m.va);
    nr = le32_to_cpu(m.nr_pages);
    pt = hmm_as(s, req->asid);
    if (!pt) {
        return VIRTIO_HMM_S_NOASID;
    }
    if ((va & HMM_PAGE_OFFSET_MASK) || !nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_MAP_PAGES ||
        nr - 1 > (UINT64_MAX - va) >> HMM_PAGE_SHIFT) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->out_size != sizeof(m) + (size_t)nr * sizeof(uint64_t) ||
        req->in_size != HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    trace_virtio_hmm_map(req->asid, va, nr);

    /* Check every entry before changing anything */
    ptes = g_new(uint64_t, nr);
    hmm_req_read(req, sizeof(m), ptes, (size_t)nr * sizeof(uint64_t));
    for (i = 0; i < nr; i++) {
        uint64_t p = le64_to_cpu(ptes[i]);

        ptes[i] = p;
        if (!(p & VIRTIO_HMM_PTE_VALID)) {
            continue;
        }
        if (p & VIRTIO_HMM_PTE_FLAGS_MASK &
            ~(uint64_t)(VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_PERM_MASK |
                        VIRTIO_HMM_PTE_DEVMEM)) {
            return VIRTIO_HMM_S_INVAL;
        }
        if (p & VIRTIO_HMM_PTE_ATOMIC) {
            if (!hmm_has_feature(s, VIRTIO_HMM_F_ATOMICS)) {
                return VIRTIO_HMM_S_UNSUPP;
            }
            if ((p & (VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE)) !=
                (VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE)) {
                return VIRTIO_HMM_S_INVAL;
            }
        }
        if ((p & VIRTIO_HMM_PTE_DEVMEM) &&
            (p & ~VIRTIO_HMM_PTE_FLAGS_MASK) >= s->devmem_size) {
            return VIRTIO_HMM_S_RANGE;
        }
    }

    for (i = 0; i < nr; i++) {
        uint64_t vpn = (va >> HMM_PAGE_SHIFT) + i;
        VirtIOHMMPte *e = hmm_pte_lookup(pt, vpn);

        if (ptes[i] & VIRTIO_HMM_PTE_VALID) {
            if (!e) {
                e = g_new(VirtIOHMMPte, 1);
                e->vpn = vpn;
                g_hash_table_add(pt, e);
                s->stats.mapped_pages++;
            }
            e->pte = ptes[i];
            mapped++;
        } else if (e) {
            g_hash_table_remove(pt, &vpn);
            s->stats.mapped_pages--;
            removed++;
        }
    }
    s->stats.maps += mapped;
    s->stats.unmaps += removed;
    req->count = nr;
    return VIRTIO_HMM_S_OK;
}

static uint32_t hmm_unmap(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_unmap u;
    GHashTable *pt;
    uint64_t va, length, first, npages, changed = 0, removed = 0;
    uint32_t perm;
    bool ch;

    const size_t len = offsetof(struct virtio_hmm_req_unmap, tail);

    if (req->out_size != len || req->in_size != HMM_TAIL_SIZE ||
        !hmm_req_read(req, 0, &u, len) || req->flags || u.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    va = le64_to_cpu(u.va);
    length = le64_to_cpu(u.length);
    perm = le32_to_cpu(u.perm);
    pt = hmm_as(s, req->asid);
    if (!pt) {
        return VIRTIO_HMM_S_NOASID;
    }
    if ((va & HMM_PAGE_OFFSET_MASK) || (length & HMM_PAGE_OFFSET_MASK) ||
        (perm & ~VIRTIO_HMM_PTE_PERM_MASK)) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (length == 0) {
        /* "To the top": what ~0ULL - va + 1 wraps to for va 0 */
        npages = va ? (0 - va) >> HMM_PAGE_SHIFT
                    : 1ULL << (64 - HMM_PAGE_SHIFT);
    } else if (length - 1 > UINT64_MAX - va) {
        return VIRTIO_HMM_S_RANGE;
    } else {
        npages = length >> HMM_PAGE_SHIFT;
    }
    first = va >> HMM_PAGE_SHIFT;

    if (npages <= g_hash_table_size(pt)) {
        uint64_t i;

        for (i = 0; i < npages; i++) {
            uint64_t vpn = first + i;
            VirtIOHMMPte *e = hmm_pte_lookup(pt, vpn);

            if (!e) {
                continue;
            }
            if (hmm_pte_reduce(e, perm, &ch)) {
                g_hash_table_remove(pt, &vpn);
                removed++;
            }
            changed += ch;
        }
    } else {
        GHashTableIter iter;
        VirtIOHMMPte *e;

        g_hash_table_iter_init(&iter, pt);
        while (g_hash_table_iter_next(&iter, (gpointer *)&e, NULL)) {
            if (e->vpn - first >= npages) {
                continue;
            }
            if (hmm_pte_reduce(e, perm, &ch)) {
                g_hash_table_iter_remove(&iter);
                removed++;
            }
            changed += ch;
        }
    }
    trace_virtio_hmm_unmap(req->asid, va, npages, perm, changed);
    if (s->inject_inval_delay_us) {
        /* a slow acknowledgement: the translations are already gone */
        g_usleep(s->inject_inval_delay_us);
    }
    s->stats.unmaps += changed;
    s->stats.mapped_pages -= removed;
    req->count = MIN(changed, UINT32_MAX);
    return VIRTIO_HMM_S_OK;
}

static uint32_t hmm_query(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_query q;
    GHashTable *pt;
    uint64_t va;
    uint32_t nr, i;

    if (req->out_size != sizeof(q) || !hmm_req_read(req, 0, &q, sizeof(q)) ||
        req->flags || q.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    va = le64_to_cpu(q.va);
    nr = le32_to_cpu(q.nr_pages);
    pt = hmm_as(s, req->asid);
    if (!pt) {
        return VIRTIO_HMM_S_NOASID;
    }
    if ((va & HMM_PAGE_OFFSET_MASK) || !nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_MAP_PAGES ||
        nr - 1 > (UINT64_MAX - va) >> HMM_PAGE_SHIFT) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->in_size != (size_t)nr * sizeof(uint64_t) + HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    trace_virtio_hmm_query(req->asid, va, nr);
    for (i = 0; i < nr; i++) {
        VirtIOHMMPte *e = hmm_pte_lookup(pt, (va >> HMM_PAGE_SHIFT) + i);
        uint64_t le = cpu_to_le64(e ? e->pte : 0);

        hmm_req_write(req, i * sizeof(le), &le, sizeof(le));
    }
    req->count = nr;
    return VIRTIO_HMM_S_OK;
}

/* Host pointer for one side of a COPY entry; call under RCU */
static void *hmm_copy_ptr(VirtIOHMM *s, uint64_t addr, bool devmem,
                          bool is_write, MemoryRegion **mr, hwaddr *xlat)
{
    if (devmem) {
        return hmm_devmem_ptr(s, addr, HMM_PAGE_SIZE, mr, xlat);
    }
    return hmm_guest_ptr(s, addr, HMM_PAGE_SIZE, is_write, mr, xlat);
}

/* Fault injection: is this the Nth event (N = @every, 0: never)? */
static bool hmm_inject_nth(uint32_t every, uint64_t *seen)
{
    return every && ++*seen % every == 0;
}

static void hmm_copy_count(VirtIOHMM *s, uint16_t dir, uint64_t pages)
{
    switch (dir) {
    case VIRTIO_HMM_COPY_TO_DEV:
        s->stats.pages_to_dev += pages;
        break;
    case VIRTIO_HMM_COPY_FROM_DEV:
        s->stats.pages_from_dev += pages;
        break;
    default:
        s->stats.pages_dev_to_dev += pages;
        break;
    }
}

/*
 * COPY through a backend: translate the whole batch, then hand it to the
 * backend at once (with backend=host, one ioctl per VHMM_HOST_COPY_MAX
 * pages instead of one per page).  Same result as the loop in hmm_copy():
 * entries are copied in order, and on an error @req->count says how many
 * were.
 */
static uint32_t hmm_copy_backend(VirtIOHMM *s, VirtIOHMMReq *req,
                                 uint16_t dir,
                                 const struct virtio_hmm_copy_entry *ent,
                                 uint32_t nr, uint32_t fail_at)
{
    bool src_dev = dir != VIRTIO_HMM_COPY_TO_DEV;
    bool dst_dev = dir != VIRTIO_HMM_COPY_FROM_DEV;
    g_autofree void **sp = g_new(void *, nr);
    g_autofree void **dp = g_new(void *, nr);
    g_autofree MemoryRegion **dmr = g_new(MemoryRegion *, nr);
    g_autofree hwaddr *dx = g_new(hwaddr, nr);
    uint32_t i, n = MIN(nr, fail_at);
    size_t done;

    WITH_RCU_READ_LOCK_GUARD() {
        for (i = 0; i < n; i++) {
            MemoryRegion *smr;
            hwaddr sx;

            sp[i] = hmm_copy_ptr(s, le64_to_cpu(ent[i].src), src_dev, false,
                                 &smr, &sx);
            dp[i] = hmm_copy_ptr(s, le64_to_cpu(ent[i].dst), dst_dev, true,
                                 &dmr[i], &dx[i]);
            if (!sp[i] || !dp[i]) {
                break;
            }
        }
        done = i ? s->backend_ops->copy_pages(s, dp, sp, i) : 0;
        for (i = 0; i < done; i++) {
            memory_region_set_dirty(dmr[i], dx[i], HMM_PAGE_SIZE);
        }
    }
    hmm_copy_count(s, dir, done);
    req->count = done;
    return done == nr ? VIRTIO_HMM_S_OK : VIRTIO_HMM_S_IOERR;
}

static uint32_t hmm_copy(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_copy c;
    g_autofree struct virtio_hmm_copy_entry *ent = NULL;
    uint16_t dir = req->flags;
    bool src_dev, dst_dev;
    uint32_t nr, i, fail_at;

    if (req->out_size < sizeof(c) || !hmm_req_read(req, 0, &c, sizeof(c)) ||
        dir > VIRTIO_HMM_COPY_MAX_DIR || c.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    nr = le32_to_cpu(c.nr);
    if (!nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_COPY_PAGES) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->out_size != sizeof(c) + (size_t)nr * sizeof(*ent) ||
        req->in_size != HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    src_dev = dir != VIRTIO_HMM_COPY_TO_DEV;
    dst_dev = dir != VIRTIO_HMM_COPY_FROM_DEV;
    trace_virtio_hmm_copy(dir, nr);

    ent = g_new(struct virtio_hmm_copy_entry, nr);
    hmm_req_read(req, sizeof(c), ent, (size_t)nr * sizeof(*ent));
    for (i = 0; i < nr; i++) {
        uint64_t src = le64_to_cpu(ent[i].src), dst = le64_to_cpu(ent[i].dst);

        if ((src | dst) & HMM_PAGE_OFFSET_MASK) {
            return VIRTIO_HMM_S_INVAL;
        }
        if ((src_dev && src >= s->devmem_size) ||
            (dst_dev && dst >= s->devmem_size)) {
            return VIRTIO_HMM_S_RANGE;
        }
    }

    /* Injected failures: not what a conforming device does (docs, 13.1) */
    if (s->inject_copy_delay_us) {
        g_usleep(s->inject_copy_delay_us);
    }
    if (s->inject_vram_full && dst_dev) {
        trace_virtio_hmm_inject("vram-full", ++s->inject_vram_full_count);
        return VIRTIO_HMM_S_NOSPC;
    }
    fail_at = nr;
    if (hmm_inject_nth(s->inject_copy_fail, &s->inject_copies)) {
        /* half-way, so that a partial copy must be harmless too */
        fail_at = nr / 2;
        trace_virtio_hmm_inject("copy-fail", s->inject_copies);
    }

    if (s->backend_ops) {
        return hmm_copy_backend(s, req, dir, ent, nr, fail_at);
    }
    for (i = 0; i < nr; i++) {
        uint64_t src = le64_to_cpu(ent[i].src), dst = le64_to_cpu(ent[i].dst);
        MemoryRegion *smr, *dmr;
        hwaddr sx, dx;

        if (i == fail_at) {
            req->count = i;
            return VIRTIO_HMM_S_IOERR;
        }

        WITH_RCU_READ_LOCK_GUARD() {
            void *sp = hmm_copy_ptr(s, src, src_dev, false, &smr, &sx);
            void *dp = hmm_copy_ptr(s, dst, dst_dev, true, &dmr, &dx);

            if (!sp || !dp) {
                req->count = i;
                return VIRTIO_HMM_S_IOERR;
            }
            if (!hmm_move(s, dp, sp, HMM_PAGE_SIZE)) {
                req->count = i;
                return VIRTIO_HMM_S_IOERR;
            }
            memory_region_set_dirty(dmr, dx, HMM_PAGE_SIZE);
        }
        hmm_copy_count(s, dir, 1);
    }
    req->count = nr;
    return VIRTIO_HMM_S_OK;
}

static uint32_t hmm_fault_reply(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_fault_reply r;
    g_autofree struct virtio_hmm_reply_entry *ent = NULL;
    uint32_t nr, i, matched = 0;

    if (req->out_size < sizeof(r) || !hmm_req_read(req, 0, &r, sizeof(r)) ||
        req->flags || r.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    nr = le32_to_cpu(r.nr);
    if (!nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_COPY_PAGES) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->out_size != sizeof(r) + (size_t)nr * sizeof(*ent) ||
        req->in_size != HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    ent = g_new(struct virtio_hmm_reply_entry, nr);
    hmm_req_read(req, sizeof(r), ent, (size_t)nr * sizeof(*ent));
    for (i = 0; i < nr; i++) {
        if (le32_to_cpu(ent[i].action) > VIRTIO_HMM_REPLY_CANCEL) {
            return VIRTIO_HMM_S_INVAL;
        }
    }

    qemu_mutex_lock(&s->lock);
    for (i = 0; i < nr; i++) {
        uint64_t tag = le64_to_cpu(ent[i].tag);
        uint32_t asid = le32_to_cpu(ent[i].asid);
        uint32_t action = le32_to_cpu(ent[i].action);
        VirtIOHMMReq *job, *tmp;
        int n = 0;

        QTAILQ_FOREACH_SAFE(job, &s->stalled, next, tmp) {
            if (job->tag != tag || job->asid != asid) {
                continue;
            }
            QTAILQ_REMOVE(&s->stalled, job, next);
            s->nr_stalled--;
            n++;
            if (action == VIRTIO_HMM_REPLY_RETRY) {
                s->stats.retries++;
                QTAILQ_INSERT_TAIL(&s->jobs, job, next);
            } else {
                s->stats.cancels++;
                job->status = VIRTIO_HMM_S_CANCELED;
                hmm_complete_locked(s, job);
            }
        }
        trace_virtio_hmm_fault_reply(tag, asid, action, n);
        matched += n > 0;
    }
    qemu_mutex_unlock(&s->lock);
    req->count = matched;
    return VIRTIO_HMM_S_OK;
}

static uint32_t hmm_get_stats(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_stats le;
    const uint64_t *src = (const uint64_t *)&s->stats;
    uint64_t *dst = (uint64_t *)&le;
    size_t i;

    if (req->out_size != sizeof(struct virtio_hmm_head) ||
        req->in_size != sizeof(le) + HMM_TAIL_SIZE || req->flags) {
        return VIRTIO_HMM_S_INVAL;
    }
    QEMU_BUILD_BUG_ON(sizeof(le) % sizeof(uint64_t));
    for (i = 0; i < sizeof(le) / sizeof(uint64_t); i++) {
        dst[i] = cpu_to_le64(src[i]);
    }
    trace_virtio_hmm_get_stats(s->stats.requests);
    hmm_req_write(req, 0, &le, sizeof(le));
    return VIRTIO_HMM_S_OK;
}

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

/* Jobs (jobq), worker side */

/* Check and decode a job on its first time slice */
static uint32_t hmm_job_parse(VirtIOHMM *s, VirtIOHMMReq *req)
{
    switch (req->type) {
    case VIRTIO_HMM_T_JOB_READ:
    case VIRTIO_HMM_T_JOB_WRITE:
    case VIRTIO_HMM_T_JOB_FILL:
    case VIRTIO_HMM_T_JOB_COPY: {
        struct virtio_hmm_job_rw j;
        size_t out = sizeof(j), in = HMM_TAIL_SIZE;

        if (req->out_size < sizeof(j) || !hmm_req_read(req, 0, &j, sizeof(j))) {
            return VIRTIO_HMM_S_INVAL;
        }
        req->va = le64_to_cpu(j.va);
        req->length = le64_to_cpu(j.length);
        req->va2 = le64_to_cpu(j.va2);
        req->pattern = le64_to_cpu(j.pattern);
        if (req->flags || !req->length) {
            return VIRTIO_HMM_S_INVAL;
        }
        if (req->length > HMM_MAX_JOB_BYTES ||
            req->length - 1 > UINT64_MAX - req->va ||
            (req->type == VIRTIO_HMM_T_JOB_COPY &&
             req->length - 1 > UINT64_MAX - req->va2)) {
            return VIRTIO_HMM_S_RANGE;
        }
        if (req->type == VIRTIO_HMM_T_JOB_READ) {
            in += req->length;
        } else if (req->type == VIRTIO_HMM_T_JOB_WRITE) {
            out += req->length;
        }
        if (req->out_size != out || req->in_size != in) {
            return VIRTIO_HMM_S_INVAL;
        }
        return VIRTIO_HMM_S_OK;
    }
    case VIRTIO_HMM_T_JOB_ATOMIC: {
        struct virtio_hmm_job_atomic j;

        if (!hmm_has_feature(s, VIRTIO_HMM_F_ATOMICS)) {
            return VIRTIO_HMM_S_UNSUPP;
        }
        if (req->out_size != sizeof(j) ||
            !hmm_req_read(req, 0, &j, sizeof(j)) ||
            req->in_size != sizeof(struct virtio_hmm_atomic_result) +
                            HMM_TAIL_SIZE || req->flags) {
            return VIRTIO_HMM_S_INVAL;
        }
        req->va = le64_to_cpu(j.va);
        req->operand = le64_to_cpu(j.operand);
        req->compare = le64_to_cpu(j.compare);
        req->op = le32_to_cpu(j.op);
        req->size = le32_to_cpu(j.size);
        if ((req->size != sizeof(uint32_t) && req->size != sizeof(uint64_t)) ||
            (req->va & (req->size - 1)) || req->op > VIRTIO_HMM_ATOMIC_MAX_OP) {
            return VIRTIO_HMM_S_INVAL;
        }
        return VIRTIO_HMM_S_OK;
    }
    case VIRTIO_HMM_T_JOB_CHASE: {
        struct virtio_hmm_job_chase j;

        if (req->out_size != sizeof(j) ||
            !hmm_req_read(req, 0, &j, sizeof(j)) ||
            req->in_size != sizeof(struct virtio_hmm_chase_result) +
                            HMM_TAIL_SIZE || req->flags) {
            return VIRTIO_HMM_S_INVAL;
        }
        req->va = req->cursor = le64_to_cpu(j.va);
        req->next_offset = le32_to_cpu(j.next_offset);
        req->value_offset = le32_to_cpu(j.value_offset);
        req->value_size = le32_to_cpu(j.value_size);
        req->max_nodes = le32_to_cpu(j.max_nodes);
        if (!req->max_nodes || req->value_size > sizeof(uint64_t) ||
            !is_power_of_2(req->value_size)) {
            return VIRTIO_HMM_S_INVAL;
        }
        return VIRTIO_HMM_S_OK;
    }
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-hmm: job type 0x%x\n",
                      req->type);
        return VIRTIO_HMM_S_UNSUPP;
    }
}

/* READ, WRITE, FILL, COPY: one time slice */
static uint32_t hmm_job_rw(VirtIOHMM *s, GHashTable *pt, VirtIOHMMReq *req,
                           bool *more)
{
    uint64_t budget = HMM_SLICE_BYTES;
    uint8_t buf[HMM_PAGE_SIZE];

    while (req->done < req->length) {
        uint64_t va = req->va + req->done;
        uint64_t piece = MIN(req->length - req->done,
                             HMM_PAGE_SIZE - (va & HMM_PAGE_OFFSET_MASK));
        uint32_t st;
        uint64_t i;

        if (!budget) {
            *more = true;
            return VIRTIO_HMM_S_OK;
        }
        switch (req->type) {
        case VIRTIO_HMM_T_JOB_READ:
            st = hmm_va_rw(s, pt, req, va, buf, piece, false);
            if (st == VIRTIO_HMM_S_OK) {
                hmm_req_write(req, req->done, buf, piece);
            }
            break;
        case VIRTIO_HMM_T_JOB_WRITE:
            hmm_req_read(req, sizeof(struct virtio_hmm_job_rw) + req->done,
                         buf, piece);
            st = hmm_va_rw(s, pt, req, va, buf, piece, true);
            break;
        case VIRTIO_HMM_T_JOB_FILL:
            for (i = 0; i < piece; i++) {
                buf[i] = req->pattern >> (((req->done + i) % 8) * 8);
            }
            st = hmm_va_rw(s, pt, req, va, buf, piece, true);
            break;
        default: /* VIRTIO_HMM_T_JOB_COPY */
            piece = MIN(piece, HMM_PAGE_SIZE -
                               ((req->va2 + req->done) & HMM_PAGE_OFFSET_MASK));
            st = hmm_va_rw(s, pt, req, va, buf, piece, false);
            if (st == VIRTIO_HMM_S_OK) {
                st = hmm_va_rw(s, pt, req, req->va2 + req->done, buf, piece,
                               true);
            }
            break;
        }
        if (st != VIRTIO_HMM_S_OK) {
            return st;
        }
        req->done += piece;
        s->stats.job_bytes += piece;
        budget -= MIN(budget, piece);
    }
    return VIRTIO_HMM_S_OK;
}

static uint32_t hmm_job_atomic(VirtIOHMM *s, GHashTable *pt, VirtIOHMMReq *req)
{
    uint64_t need = VIRTIO_HMM_PTE_PERM_MASK;
    uint64_t pte, old = 0;
    struct virtio_hmm_atomic_result res;
    MemoryRegion *mr;
    hwaddr xlat;
    uint32_t st = hmm_translate(pt, req, req->va, need, &pte);

    if (st != VIRTIO_HMM_S_OK) {
        return st;
    }
    WITH_RCU_READ_LOCK_GUARD() {
        void *host = hmm_target_ptr(s, pte, req->va, req->size, true,
                                    &mr, &xlat);

        if (!host) {
            return VIRTIO_HMM_S_IOERR;
        }
        if (s->backend_ops && (pte & VIRTIO_HMM_PTE_DEVMEM)) {
            if (!hmm_backend_atomic(s, host, req, &old)) {
                return VIRTIO_HMM_S_IOERR;
            }
        /* A compare-and-swap loop: atomic against MTTCG vCPUs, any endian */
        } else if (req->size == sizeof(uint32_t)) {
            uint32_t *p = host, cur = qatomic_read(p), prev, new;

            for (;;) {
                old = le32_to_cpu(cur);
                if (req->op == VIRTIO_HMM_ATOMIC_CMPXCHG &&
                    old != (uint32_t)req->compare) {
                    break;
                }
                new = req->op == VIRTIO_HMM_ATOMIC_FETCH_ADD ?
                      old + req->operand : req->operand;
                prev = qatomic_cmpxchg(p, cur, cpu_to_le32(new));
                if (prev == cur) {
                    break;
                }
                cur = prev;
            }
        } else {
            uint64_t *p = host, cur = qatomic_read__nocheck(p), prev, new;

            for (;;) {
                old = le64_to_cpu(cur);
                if (req->op == VIRTIO_HMM_ATOMIC_CMPXCHG &&
                    old != req->compare) {
                    break;
                }
                new = req->op == VIRTIO_HMM_ATOMIC_FETCH_ADD ?
                      old + req->operand : req->operand;
                prev = qatomic_cmpxchg__nocheck(p, cur, cpu_to_le64(new));
                if (prev == cur) {
                    break;
                }
                cur = prev;
            }
        }
        memory_region_set_dirty(mr, xlat, req->size);
    }
    trace_virtio_hmm_job_atomic(req->op, req->va, req->size, old);
    s->stats.atomics++;
    res.old = cpu_to_le64(old);
    hmm_req_write(req, 0, &res, sizeof(res));
    req->done = 1;
    return VIRTIO_HMM_S_OK;
}

/* CHASE: one time slice */
static uint32_t hmm_job_chase(VirtIOHMM *s, GHashTable *pt, VirtIOHMMReq *req,
                              bool *more)
{
    unsigned budget = HMM_SLICE_NODES;

    while (req->cursor && req->done < req->max_nodes) {
        uint8_t val[sizeof(uint64_t)] = { 0 };
        uint64_t next;
        uint32_t st;

        if (!budget--) {
            *more = true;
            return VIRTIO_HMM_S_OK;
        }
        st = hmm_va_rw(s, pt, req, req->cursor + req->value_offset, val,
                       req->value_size, false);
        if (st == VIRTIO_HMM_S_OK) {
            st = hmm_va_rw(s, pt, req, req->cursor + req->next_offset, &next,
                           sizeof(next), false);
        }
        if (st != VIRTIO_HMM_S_OK) {
            return st;
        }
        req->sum += ldq_le_p(val);
        req->last = req->cursor;
        req->cursor = le64_to_cpu(next);
        req->done++;
        s->stats.job_bytes += req->value_size + sizeof(next);
    }
    return VIRTIO_HMM_S_OK;
}

/* Run one time slice of @req. */
static VirtIOHMMJobState hmm_run_job(VirtIOHMM *s, VirtIOHMMReq *req)
{
    GHashTable *pt;
    bool more = false;
    uint32_t st;

    if (!req->parsed) {
        req->parsed = true;
        st = hmm_job_parse(s, req);
        if (st != VIRTIO_HMM_S_OK) {
            req->status = st;
            return HMM_JOB_DONE;
        }
    }
    pt = hmm_as(s, req->asid);
    if (!pt) {
        req->status = VIRTIO_HMM_S_NOASID;
        return HMM_JOB_DONE;
    }
    trace_virtio_hmm_job(req->type, req->asid, req->tag, req->va, req->done);

    switch (req->type) {
    case VIRTIO_HMM_T_JOB_ATOMIC:
        st = hmm_job_atomic(s, pt, req);
        break;
    case VIRTIO_HMM_T_JOB_CHASE:
        st = hmm_job_chase(s, pt, req, &more);
        break;
    default:
        st = hmm_job_rw(s, pt, req, &more);
        break;
    }
    if (st == VIRTIO_HMM_S_FAULT) {
        trace_virtio_hmm_job_fault(req->tag, req->asid, req->fault_va,
                                   req->fault_access, req->fault_present);
        if (hmm_has_feature(s, VIRTIO_HMM_F_REPLAYABLE_FAULTS)) {
            return HMM_JOB_STALL;
        }
    }
    if (st == VIRTIO_HMM_S_OK && more) {
        return HMM_JOB_MORE;
    }
    if (req->type == VIRTIO_HMM_T_JOB_CHASE) {
        struct virtio_hmm_chase_result res = {
            .sum = cpu_to_le64(req->sum),
            .nodes = cpu_to_le64(req->done),
            .last = cpu_to_le64(req->last),
        };

        hmm_req_write(req, 0, &res, sizeof(res));
    }
    req->status = st;
    return HMM_JOB_DONE;
}

/* Completion */

/* Write the tail and queue @req for virtqueue_push (hmm_bh()). */
static void hmm_finish_locked(VirtIOHMM *s, VirtIOHMMReq *req)
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

static void hmm_complete_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    hmm_finish_locked(s, req);
    qemu_bh_schedule(s->bh);
}

/* Park a faulted job, or fail it when too many are parked. */
static void hmm_stall_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMFaultRecord *f;

    /*
     * Each stalled job needs at most one record: more waiting records than
     * that are stale ones of retried jobs, which a driver that keeps
     * retrying without adding faultq buffers would otherwise pile up.
     */
    if (s->nr_stalled >= s->max_stalled_jobs ||
        s->nr_records >= s->max_stalled_jobs) {
        req->status = VIRTIO_HMM_S_NOSPC;
        hmm_complete_locked(s, req);
        return;
    }
    QTAILQ_INSERT_TAIL(&s->stalled, req, next);
    s->nr_stalled++;
    trace_virtio_hmm_job_stall(req->tag, req->asid, s->nr_stalled);

    f = g_new0(VirtIOHMMFaultRecord, 1);
    f->rec.tag = cpu_to_le64(req->tag);
    f->rec.va = cpu_to_le64(req->fault_va);
    f->rec.asid = cpu_to_le32(req->asid);
    f->rec.access = cpu_to_le32(req->fault_access);
    f->rec.present = cpu_to_le32(req->fault_present);
    s->stats.faults++;
    s->inject_records++;
    if (s->inject_drop_fault &&
        s->inject_records % s->inject_drop_fault == 0) {
        /* lost: the job stays stalled until a FAULT_REPLY names it */
        trace_virtio_hmm_inject("drop-fault", s->inject_records);
        g_free(f);
        return;
    }
    if (s->inject_dup_fault && s->inject_records % s->inject_dup_fault == 0) {
        VirtIOHMMFaultRecord *dup = g_memdup2(f, sizeof(*f));

        trace_virtio_hmm_inject("dup-fault", s->inject_records);
        QSIMPLEQ_INSERT_TAIL(&s->fault_records, dup, next);
        s->nr_records++;
    }
    QSIMPLEQ_INSERT_TAIL(&s->fault_records, f, next);
    s->nr_records++;
    qemu_bh_schedule(s->bh);
}

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

/* BQL side */

/* Post waiting fault records into faultq buffers. */
static void hmm_post_faults(VirtIOHMM *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    bool notify = false, broken = false;

    qemu_mutex_lock(&s->lock);
    while (!QSIMPLEQ_EMPTY(&s->fault_records)) {
        VirtIOHMMFaultRecord *f = QSIMPLEQ_FIRST(&s->fault_records);
        VirtQueueElement *elem = virtqueue_pop(s->faultq, sizeof(*elem));

        if (!elem) {
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
        trace_virtio_hmm_fault_post(le64_to_cpu(f->rec.tag),
                                    le64_to_cpu(f->rec.va));
        iov_from_buf(elem->in_sg, elem->in_num, 0, &f->rec, sizeof(f->rec));
        virtqueue_push(s->faultq, elem, sizeof(f->rec));
        g_free(elem);
        QSIMPLEQ_REMOVE_HEAD(&s->fault_records, next);
        s->nr_records--;
        g_free(f);
        notify = true;
    }
    qemu_mutex_unlock(&s->lock);
    if (notify) {
        virtio_notify(vdev, s->faultq);
    }
    if (broken) {
        virtio_error(vdev, "virtio-hmm: faultq buffer must be a "
                     "device-writable struct virtio_hmm_fault");
    }
}

static void hmm_bh(void *opaque)
{
    VirtIOHMM *s = opaque;
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    bool notify_req = false, notify_job = false;
    VirtIOHMMReq *req;
    unsigned int n = 0;

    qemu_mutex_lock(&s->lock);
    while ((req = QTAILQ_FIRST(&s->done))) {
        QTAILQ_REMOVE(&s->done, req, next);
        n++;
        virtqueue_push(req->vq, &req->elem, req->in_size);
        if (req->vq == s->requestq) {
            notify_req = true;
        } else {
            notify_job = true;
        }
        g_free(req);
    }
    qemu_mutex_unlock(&s->lock);
    if (n) {
        trace_virtio_hmm_notify(n);
    }
    if (notify_req) {
        virtio_notify(vdev, s->requestq);
    }
    if (notify_job) {
        virtio_notify(vdev, s->jobq);
    }
    hmm_post_faults(s);
}

/*
 * The worker starts with the first request rather than at realize: a device
 * that is never driven costs no thread, and a process forked from a
 * realized machine (QEMU's fork-based fuzzer, for one) gets its own worker
 * instead of the parent's, which fork() does not copy.
 */
static void hmm_start_worker(VirtIOHMM *s)
{
    if (!s->thread_started) {
        qemu_thread_create(&s->thread, "virtio-hmm", hmm_worker, s,
                           QEMU_THREAD_JOINABLE);
        s->thread_started = true;
    }
}

/*
 * The fast path: with the worker idle and nothing queued before it, run a
 * request, or the first time slice of a job, right here in the notifying
 * thread, and complete it without the two thread hand-offs (to the worker,
 * then to the bottom half) that otherwise dominate a round trip. Requests
 * are bounded by the batch limits of the config space, a slice by
 * HMM_SLICE_BYTES; a job that needs more slices or stalls goes on to the
 * worker. The worker stays paused meanwhile, so the engines still have one
 * user at a time and the ordering rules of the worker hold.
 *
 * Called and returns with s->lock held. Returns false when @req must be
 * queued for the worker instead.
 */
static bool hmm_try_inline_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMJobState state = HMM_JOB_DONE;

    if (s->busy || s->paused || !QTAILQ_EMPTY(&s->requests) ||
        !QTAILQ_EMPTY(&s->jobs)) {
        return false;
    }
    s->paused++;
    s->busy = true;
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
    const char *name = vq == s->requestq ? "requestq" : "jobq";
    bool inline_done = false;
    VirtIOHMMReq *req;

    hmm_start_worker(s);
    trace_virtio_hmm_kick(name);

    while ((req = virtqueue_pop(vq, sizeof(*req)))) {
        struct virtio_hmm_head head;

        /* virtqueue_pop() only initializes the element */
        memset((uint8_t *)req + sizeof(req->elem), 0,
               sizeof(*req) - sizeof(req->elem));
        req->out_size = iov_size(req->elem.out_sg, req->elem.out_num);
        req->in_size = iov_size(req->elem.in_sg, req->elem.in_num);
        if (req->out_size < sizeof(head) || req->in_size < HMM_TAIL_SIZE) {
            trace_virtio_hmm_bad_layout(name, req->out_size, req->in_size);
            virtqueue_detach_element(vq, &req->elem, 0);
            g_free(req);
            virtio_error(vdev, "virtio-hmm: %s element needs a readable "
                         "head and a writable tail", name);
            return;
        }
        hmm_req_read(req, 0, &head, sizeof(head));
        req->vq = vq;
        req->type = le16_to_cpu(head.type);
        req->flags = le16_to_cpu(head.flags);
        req->asid = le32_to_cpu(head.asid);
        req->tag = le64_to_cpu(head.tag);

        qemu_mutex_lock(&s->lock);
        if (hmm_try_inline_locked(s, req)) {
            inline_done = true;
        } else {
            QTAILQ_INSERT_TAIL(vq == s->requestq ? &s->requests : &s->jobs,
                               req, next);
            qemu_cond_signal(&s->wakeup);
        }
        qemu_mutex_unlock(&s->lock);
    }
    if (inline_done) {
        /* push and notify now rather than from the bottom half */
        hmm_bh(s);
    }
}

static void hmm_handle_faultq(VirtIODevice *vdev, VirtQueue *vq)
{
    hmm_post_faults(VIRTIO_HMM(vdev));
}

static void hmm_drop_list(VirtIOHMMReqList *list)
{
    VirtIOHMMReq *req;

    while ((req = QTAILQ_FIRST(list))) {
        QTAILQ_REMOVE(list, req, next);
        virtqueue_detach_element(req->vq, &req->elem, 0);
        g_free(req);
    }
}

/*
 * Drop every queued, stalled and finished element, every fault record and
 * every address space.  BQL held, the worker paused and idle or gone.
 */
static void hmm_drop_all(VirtIOHMM *s)
{
    VirtIOHMMFaultRecord *f;
    uint32_t i;

    hmm_drop_list(&s->requests);
    hmm_drop_list(&s->jobs);
    hmm_drop_list(&s->stalled);
    hmm_drop_list(&s->done);
    s->nr_stalled = 0;
    while ((f = QSIMPLEQ_FIRST(&s->fault_records))) {
        QSIMPLEQ_REMOVE_HEAD(&s->fault_records, next);
        g_free(f);
    }
    s->nr_records = 0;
    for (i = 0; i < s->max_asids; i++) {
        if (s->as[i]) {
            g_hash_table_destroy(s->as[i]);
            s->as[i] = NULL;
        }
    }
    memset(&s->stats, 0, sizeof(s->stats));
}

static void virtio_hmm_reset(VirtIODevice *vdev)
{
    VirtIOHMM *s = VIRTIO_HMM(vdev);

    trace_virtio_hmm_reset();
    qemu_mutex_lock(&s->lock);
    s->paused++;
    while (s->busy) {
        qemu_cond_wait(&s->idle, &s->lock);
    }
    hmm_drop_all(s);
    s->paused--;
    qemu_mutex_unlock(&s->lock);
}

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

static bool hmm_check_queue_size(const char *name, uint16_t size, Error **errp)
{
    if (size < 2 || size > VIRTQUEUE_MAX_SIZE || !is_power_of_2(size)) {
        error_setg(errp, "'%s' must be a power of 2 between 2 and %d",
                   name, VIRTQUEUE_MAX_SIZE);
        return false;
    }
    return true;
}

static void virtio_hmm_device_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOHMM *s = VIRTIO_HMM(dev);

    if (!s->mode || !strcmp(s->mode, "private")) {
        s->coherent = false;
    } else if (!strcmp(s->mode, "coherent")) {
        s->coherent = true;
    } else {
        error_setg(errp, "'mode' must be 'private' or 'coherent', not '%s'",
                   s->mode);
        return;
    }
    if (!s->backend || !strcmp(s->backend, "ram")) {
        s->backend_ops = NULL;
#ifdef CONFIG_LINUX
    } else if (!strcmp(s->backend, "host")) {
        s->backend_ops = &virtio_hmm_host_ops;
#endif
    } else {
        error_setg(errp, "'backend' must be 'ram' or 'host', not '%s'",
                   s->backend);
        return;
    }
    if (s->backend_ops && (s->coherent || s->memdev)) {
        error_setg(errp, "'backend=%s' supports 'mode=private' without "
                   "'memdev' only", s->backend);
        return;
    }
    if (s->max_asids < 1 || s->max_asids > HMM_MAX_ASIDS_LIMIT) {
        error_setg(errp, "'max-asids' must be between 1 and %d",
                   HMM_MAX_ASIDS_LIMIT);
        return;
    }
    if (!hmm_check_queue_size("requestq-size", s->requestq_size, errp) ||
        !hmm_check_queue_size("jobq-size", s->jobq_size, errp) ||
        !hmm_check_queue_size("faultq-size", s->faultq_size, errp)) {
        return;
    }
    if (s->max_stalled_jobs < 1 || s->max_stalled_jobs > s->jobq_size) {
        error_setg(errp, "'max-stalled-jobs' must be between 1 and "
                   "'jobq-size' (%u)", s->jobq_size);
        return;
    }
    if (s->inject_copy_delay_us > HMM_INJECT_MAX_DELAY_US ||
        s->inject_inval_delay_us > HMM_INJECT_MAX_DELAY_US) {
        error_setg(errp, "'inject-copy-delay-us' and 'inject-inval-delay-us' "
                   "must be at most %u", HMM_INJECT_MAX_DELAY_US);
        return;
    }

    if (s->memdev) {
        if (s->vram_size) {
            error_setg(errp, "'vram-size' and 'memdev' are mutually "
                       "exclusive");
            return;
        }
        if (host_memory_backend_is_mapped(s->memdev)) {
            error_setg(errp, "'memdev' %s is already in use",
                       object_get_canonical_path_component(OBJECT(s->memdev)));
            return;
        }
        s->devmem = host_memory_backend_get_memory(s->memdev);
        s->devmem_size = memory_region_size(s->devmem);
    } else {
        s->devmem_size = s->vram_size ? s->vram_size : 64 * MiB;
    }
    if (!s->devmem_size || (s->devmem_size & HMM_PAGE_OFFSET_MASK)) {
        error_setg(errp, "'%s' size must be a non-zero multiple of %llu",
                   s->memdev ? "memdev" : "vram-size",
                   (unsigned long long)HMM_PAGE_SIZE);
        return;
    }
    if (s->coherent &&
        (!is_power_of_2(s->devmem_size) || s->devmem_size < 2 * MiB)) {
        error_setg(errp, "'mode=coherent' needs a '%s' size that is a power "
                   "of 2 and at least 2 MiB",
                   s->memdev ? "memdev" : "vram-size");
        return;
    }
    if (!s->memdev) {
        Error *local_err = NULL;

        memory_region_init_ram(&s->vram, OBJECT(s), "virtio-hmm.devmem",
                               s->devmem_size, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            return;
        }
        s->devmem = &s->vram;
    }

    error_setg(&s->migration_blocker, "virtio-hmm does not support "
               "migration: device page tables, stalled jobs and in-flight "
               "requests are not migrated");
    if (migrate_add_blocker(s->migration_blocker, errp) < 0) {
        error_free(s->migration_blocker);
        s->migration_blocker = NULL;
        if (!s->memdev) {
            object_unparent(OBJECT(&s->vram));
        }
        return;
    }
    if (s->memdev) {
        host_memory_backend_set_mapped(s->memdev, true);
    }
    s->devmem_ptr = memory_region_get_ram_ptr(s->devmem);
    if (s->backend_ops && !s->backend_ops->realize(s, errp)) {
        migrate_del_blocker(s->migration_blocker);
        error_free(s->migration_blocker);
        s->migration_blocker = NULL;
        object_unparent(OBJECT(&s->vram));
        return;
    }

    virtio_init(vdev, VIRTIO_ID_HMM, sizeof(struct virtio_hmm_config));
    s->requestq = virtio_add_queue(vdev, s->requestq_size, hmm_handle_queue);
    s->jobq = virtio_add_queue(vdev, s->jobq_size, hmm_handle_queue);
    s->faultq = virtio_add_queue(vdev, s->faultq_size, hmm_handle_faultq);

    s->as = g_new0(GHashTable *, s->max_asids);
    qemu_mutex_init(&s->lock);
    qemu_cond_init(&s->wakeup);
    qemu_cond_init(&s->idle);
    QTAILQ_INIT(&s->requests);
    QTAILQ_INIT(&s->jobs);
    QTAILQ_INIT(&s->done);
    QTAILQ_INIT(&s->stalled);
    QSIMPLEQ_INIT(&s->fault_records);
    s->bh = qemu_bh_new(hmm_bh, s);
}

static void virtio_hmm_device_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOHMM *s = VIRTIO_HMM(dev);

    if (s->thread_started) {
        qemu_mutex_lock(&s->lock);
        s->stopping = true;
        qemu_cond_signal(&s->wakeup);
        qemu_mutex_unlock(&s->lock);
        qemu_thread_join(&s->thread);
    }

    hmm_drop_all(s);
    if (s->backend_ops) {
        s->backend_ops->unrealize(s);
    }
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

/*
 * The read-only QOM property "stats" (QMP qom-get): the GET_STATS counters,
 * a struct of uint64 members named as in struct virtio_hmm_stats. The
 * worker owns the counters, so they are copied with it paused and idle.
 */
static const struct {
    const char *name;
    size_t offset;
} hmm_stats_fields[] = {
#define HMM_STAT(f) { #f, offsetof(struct virtio_hmm_stats, f) }
    HMM_STAT(requests), HMM_STAT(errors), HMM_STAT(maps), HMM_STAT(unmaps),
    HMM_STAT(faults), HMM_STAT(retries), HMM_STAT(cancels),
    HMM_STAT(pages_to_dev), HMM_STAT(pages_from_dev),
    HMM_STAT(pages_dev_to_dev), HMM_STAT(job_bytes), HMM_STAT(atomics),
    HMM_STAT(address_spaces), HMM_STAT(mapped_pages),
#undef HMM_STAT
};
QEMU_BUILD_BUG_ON(ARRAY_SIZE(hmm_stats_fields) * sizeof(uint64_t) !=
                  sizeof(struct virtio_hmm_stats));

static void virtio_hmm_get_stats_prop(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VirtIOHMM *s = VIRTIO_HMM(obj);
    struct virtio_hmm_stats st;
    size_t i;

    qemu_mutex_lock(&s->lock);
    s->paused++;
    while (s->busy) {
        qemu_cond_wait(&s->idle, &s->lock);
    }
    st = s->stats;
    s->paused--;
    qemu_cond_signal(&s->wakeup);
    qemu_mutex_unlock(&s->lock);

    if (!visit_start_struct(v, name, NULL, 0, errp)) {
        return;
    }
    for (i = 0; i < ARRAY_SIZE(hmm_stats_fields); i++) {
        uint64_t val;

        memcpy(&val, (uint8_t *)&st + hmm_stats_fields[i].offset,
               sizeof(val));
        if (!visit_type_uint64(v, hmm_stats_fields[i].name, &val, errp)) {
            goto out;
        }
    }
    visit_check_struct(v, errp);
out:
    visit_end_struct(v, NULL);
}

static Property virtio_hmm_properties[] = {
    DEFINE_PROP_SIZE("vram-size", VirtIOHMM, vram_size, 0),
    DEFINE_PROP_LINK("memdev", VirtIOHMM, memdev, TYPE_MEMORY_BACKEND,
                     HostMemoryBackend *),
    DEFINE_PROP_STRING("mode", VirtIOHMM, mode),
    DEFINE_PROP_STRING("backend", VirtIOHMM, backend),
    DEFINE_PROP_UINT32("max-asids", VirtIOHMM, max_asids, 64),
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
    DEFINE_PROP_UINT32("inject-copy-fail", VirtIOHMM, inject_copy_fail, 0),
    DEFINE_PROP_UINT32("inject-copy-delay-us", VirtIOHMM,
                       inject_copy_delay_us, 0),
    DEFINE_PROP_UINT32("inject-drop-fault", VirtIOHMM, inject_drop_fault, 0),
    DEFINE_PROP_UINT32("inject-dup-fault", VirtIOHMM, inject_dup_fault, 0),
    DEFINE_PROP_BOOL("inject-vram-full", VirtIOHMM, inject_vram_full, false),
    DEFINE_PROP_UINT32("inject-inval-delay-us", VirtIOHMM,
                       inject_inval_delay_us, 0),
    DEFINE_PROP_END_OF_LIST(),
};

static void virtio_hmm_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, virtio_hmm_properties);
    object_class_property_add(klass, "stats", "VirtIOHMMStats",
                              virtio_hmm_get_stats_prop, NULL, NULL, NULL);
    object_class_property_set_description(klass, "stats",
        "device statistics (GET_STATS counters), read-only");
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    vdc->realize = virtio_hmm_device_realize;
    vdc->unrealize = virtio_hmm_device_unrealize;
    vdc->get_config = virtio_hmm_get_config;
    vdc->get_features = virtio_hmm_get_features;
    vdc->reset = virtio_hmm_reset;
}

static const TypeInfo virtio_hmm_info = {
    .name = TYPE_VIRTIO_HMM,
    .parent = TYPE_VIRTIO_DEVICE,
    .instance_size = sizeof(VirtIOHMM),
    .class_init = virtio_hmm_class_init,
};

static void virtio_hmm_register_types(void)
{
    type_register_static(&virtio_hmm_info);
}

type_init(virtio_hmm_register_types)
