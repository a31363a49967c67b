/*
 * virtio-hmm: memory access, the copy engine and the execution engine
 *
 * Every access of the engines to guest RAM goes through a
 * MemoryRegionCache of the device's DMA address space, made for that one
 * access: address_space_cache_init() translates once and gives a host
 * pointer only when the target is RAM that can be accessed directly
 * (for a store: not ROM), so the device never performs MMIO (not even a
 * read into a bounce buffer, as address_space_map() would) and never
 * takes the BQL.  After a store, address_space_cache_invalidate() marks
 * the range dirty and invalidates code that TCG translated from it, as a
 * DMA write by address_space_unmap() does.  Device memory is reached the
 * same way through s->devmem_cache, one cache for all of it, so that a
 * store into coherent device memory, which the guest may execute,
 * invalidates translated code too.
 *
 * Everything here is executor-only (virtio-hmm-internal.h).
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "qemu/rcu.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "virtio-hmm-internal.h"
#include "trace.h"

/* Memory access */

/* One access to guest RAM or device memory through a host pointer */
typedef struct HMMAccess {
    MemoryRegionCache cache;    /* guest RAM */
    bool devmem;                /* else: device memory at @off */
    uint64_t off;
} HMMAccess;

bool hmm_engine_init(VirtIOHMM *s, Error **errp)
{
    int64_t len;

    address_space_init(&s->devmem_as, s->devmem, "virtio-hmm-devmem");
    len = address_space_cache_init(&s->devmem_cache, &s->devmem_as, 0,
                                   s->devmem_size, true);
    if (len < s->devmem_size || s->devmem_cache.ptr != s->devmem_ptr) {
        error_setg(errp, "device memory is not writable RAM");
        hmm_engine_cleanup(s);
        return false;
    }
    return true;
}

void hmm_engine_cleanup(VirtIOHMM *s)
{
    address_space_cache_destroy(&s->devmem_cache);
    address_space_destroy(&s->devmem_as);
}

/*
 * Host pointer to @len bytes of guest RAM at @gpa, or NULL if that is not
 * all directly accessible RAM (MMIO, unassigned, ROM for a store).  Call
 * under RCU; end the access with hmm_access_end().
 */
static void *hmm_guest_begin(VirtIOHMM *s, HMMAccess *a, hwaddr gpa,
                             hwaddr len, bool is_write)
{
    int64_t l = address_space_cache_init(&a->cache, VIRTIO_DEVICE(s)->dma_as,
                                         gpa, len, is_write);

    a->devmem = false;
    if (l < (int64_t)len || !a->cache.ptr) {
        address_space_cache_destroy(&a->cache);
        qemu_log_mask(LOG_GUEST_ERROR,
                      "virtio-hmm: 0x%" HWADDR_PRIx "+0x%" HWADDR_PRIx
                      " is not guest RAM%s\n", gpa, len,
                      is_write ? " that the device may write" : "");
        return NULL;
    }
    return a->cache.ptr;
}

/* Host pointer to @len bytes of device memory at @off, or NULL */
static void *hmm_devmem_begin(VirtIOHMM *s, HMMAccess *a, uint64_t off,
                              uint64_t len)
{
    if (off >= s->devmem_size || len > s->devmem_size - off) {
        return NULL;
    }
    a->devmem = true;
    a->off = off;
    return s->devmem_ptr + off;
}

/* The other side of @len bytes at @off of @a; @written bytes were stored */
static void hmm_access_end(VirtIOHMM *s, HMMAccess *a, hwaddr off,
                           hwaddr written)
{
    if (a->devmem) {
        if (written) {
            address_space_cache_invalidate(&s->devmem_cache, a->off + off,
                                           written);
        }
        return;
    }
    if (written) {
        address_space_cache_invalidate(&a->cache, off, written);
    }
    address_space_cache_destroy(&a->cache);
}

/* Target of a translated access: device memory with DEVMEM, or guest RAM */
static void *hmm_target_begin(VirtIOHMM *s, HMMAccess *a, uint64_t pte,
                              uint64_t target, uint64_t len, bool is_write)
{
    if (pte & VIRTIO_HMM_PTE_DEVMEM) {
        return hmm_devmem_begin(s, a, target, len);
    }
    return hmm_guest_begin(s, a, target, len, is_write);
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
 * Read or write @len bytes at @va through the address space @as; the
 * range may cross pages.  Stops at the first fault or I/O error: it is
 * all-or-nothing only within one page.
 */
static uint32_t hmm_va_rw(VirtIOHMM *s, VirtIOHMMAS *as, VirtIOHMMReq *req,
                          uint64_t va, void *buf, uint64_t len, bool is_write)
{
    uint64_t need = is_write ? VIRTIO_HMM_PTE_WRITE : VIRTIO_HMM_PTE_READ;
    uint8_t *p = buf;

    while (len) {
        uint64_t piece = MIN(len, HMM_PAGE_SIZE - (va & HMM_PAGE_OFFSET_MASK));
        uint64_t pte, target, span;
        uint32_t st = hmm_translate(as, req, va, need, &pte, &target, &span);

        if (st != VIRTIO_HMM_S_OK) {
            return st;
        }
        piece = MIN(piece, span);
        WITH_RCU_READ_LOCK_GUARD() {
            HMMAccess a;
            uint8_t *host = hmm_target_begin(s, &a, pte, target, piece,
                                             is_write);
            bool ok;

            if (!host) {
                return VIRTIO_HMM_S_IOERR;
            }
            ok = hmm_move(s, is_write ? host : p, is_write ? p : host, piece);
            hmm_access_end(s, &a, 0, is_write ? piece : 0);
            if (!ok) {
                return VIRTIO_HMM_S_IOERR;
            }
        }
        va += piece;
        p += piece;
        len -= piece;
    }
    return VIRTIO_HMM_S_OK;
}

/* The copy engine (COPY requests) */

/* Host pointer for one side of a COPY entry; call under RCU */
static void *hmm_copy_begin(VirtIOHMM *s, HMMAccess *a, uint64_t addr,
                            bool devmem, bool is_write)
{
    if (devmem) {
        return hmm_devmem_begin(s, a, addr, HMM_PAGE_SIZE);
    }
    return hmm_guest_begin(s, a, addr, HMM_PAGE_SIZE, is_write);
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
    g_autofree HMMAccess *sa = g_new(HMMAccess, nr);
    g_autofree HMMAccess *da = g_new(HMMAccess, nr);
    uint32_t i, k, n = MIN(nr, fail_at);
    size_t done;

    WITH_RCU_READ_LOCK_GUARD() {
        for (i = 0; i < n; i++) {
            sp[i] = hmm_copy_begin(s, &sa[i], le64_to_cpu(ent[i].src),
                                   src_dev, false);
            if (!sp[i]) {
                break;
            }
            dp[i] = hmm_copy_begin(s, &da[i], le64_to_cpu(ent[i].dst),
                                   dst_dev, true);
            if (!dp[i]) {
                hmm_access_end(s, &sa[i], 0, 0);
                break;
            }
        }
        done = i ? s->backend_ops->copy_pages(s, dp, sp, i) : 0;
        for (k = 0; k < i; k++) {
            /* the page that failed may be written in part */
            hmm_access_end(s, &da[k], 0, k <= done ? HMM_PAGE_SIZE : 0);
            hmm_access_end(s, &sa[k], 0, 0);
        }
    }
    hmm_copy_count(s, dir, done);
    req->count = done;
    return done == nr ? VIRTIO_HMM_S_OK : VIRTIO_HMM_S_IOERR;
}

uint32_t hmm_copy(VirtIOHMM *s, VirtIOHMMReq *req)
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

        if (i == fail_at) {
            req->count = i;
            return VIRTIO_HMM_S_IOERR;
        }
        WITH_RCU_READ_LOCK_GUARD() {
            HMMAccess sa, da;
            void *sp = hmm_copy_begin(s, &sa, src, src_dev, false);
            void *dp = sp ? hmm_copy_begin(s, &da, dst, dst_dev, true) : NULL;

            if (!dp) {
                if (sp) {
                    hmm_access_end(s, &sa, 0, 0);
                }
                req->count = i;
                return VIRTIO_HMM_S_IOERR;
            }
            memmove(dp, sp, HMM_PAGE_SIZE);
            hmm_access_end(s, &da, 0, HMM_PAGE_SIZE);
            hmm_access_end(s, &sa, 0, 0);
        }
        hmm_copy_count(s, dir, 1);
    }
    req->count = nr;
    return VIRTIO_HMM_S_OK;
}

/* The execution engine (jobs) */

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
        if (req->max_nodes > HMM_MAX_CHASE_NODES) {
            return VIRTIO_HMM_S_RANGE;
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
static uint32_t hmm_job_rw(VirtIOHMM *s, VirtIOHMMAS *as, VirtIOHMMReq *req,
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
            st = hmm_va_rw(s, as, req, va, buf, piece, false);
            if (st == VIRTIO_HMM_S_OK) {
                hmm_req_write(req, req->done, buf, piece);
            }
            break;
        case VIRTIO_HMM_T_JOB_WRITE:
            hmm_req_read(req, sizeof(struct virtio_hmm_job_rw) + req->done,
                         buf, piece);
            st = hmm_va_rw(s, as, req, va, buf, piece, true);
            break;
        case VIRTIO_HMM_T_JOB_FILL:
            for (i = 0; i < piece; i++) {
                buf[i] = req->pattern >> (((req->done + i) % 8) * 8);
            }
            st = hmm_va_rw(s, as, req, va, buf, piece, true);
            break;
        default: /* VIRTIO_HMM_T_JOB_COPY */
            piece = MIN(piece, HMM_PAGE_SIZE -
                               ((req->va2 + req->done) & HMM_PAGE_OFFSET_MASK));
            st = hmm_va_rw(s, as, req, va, buf, piece, false);
            if (st == VIRTIO_HMM_S_OK) {
                st = hmm_va_rw(s, as, req, req->va2 + req->done, buf, piece,
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

static uint32_t hmm_job_atomic(VirtIOHMM *s, VirtIOHMMAS *as,
                               VirtIOHMMReq *req)
{
    uint64_t need = VIRTIO_HMM_PTE_PERM_MASK;
    uint64_t pte, target, span, old = 0;
    struct virtio_hmm_atomic_result res;
    uint32_t st = hmm_translate(as, req, req->va, need, &pte, &target, &span);

    if (st != VIRTIO_HMM_S_OK) {
        return st;
    }
    WITH_RCU_READ_LOCK_GUARD() {
        HMMAccess a;
        void *host = hmm_target_begin(s, &a, pte, target, req->size, true);

        if (!host) {
            return VIRTIO_HMM_S_IOERR;
        }
        if (s->backend_ops && (pte & VIRTIO_HMM_PTE_DEVMEM)) {
            if (!hmm_backend_atomic(s, host, req, &old)) {
                hmm_access_end(s, &a, 0, req->size);
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
        hmm_access_end(s, &a, 0, req->size);
    }
    trace_virtio_hmm_job_atomic(req->op, req->va, req->size, old);
    s->stats.atomics++;
    res.old = cpu_to_le64(old);
    hmm_req_write(req, 0, &res, sizeof(res));
    req->done = 1;
    return VIRTIO_HMM_S_OK;
}

/* CHASE: one time slice */
static uint32_t hmm_job_chase(VirtIOHMM *s, VirtIOHMMAS *as,
                              VirtIOHMMReq *req, bool *more)
{
    /* the last byte of the value and of the pointer, from the node */
    const uint64_t value_end = (uint64_t)req->value_offset +
                               req->value_size - 1;
    const uint64_t next_end = (uint64_t)req->next_offset +
                              sizeof(uint64_t) - 1;
    unsigned budget = HMM_SLICE_NODES;

    while (req->cursor && req->done < req->max_nodes) {
        uint8_t val[sizeof(uint64_t)] = { 0 };
        uint64_t next;
        uint32_t st;

        if (!budget--) {
            *more = true;
            return VIRTIO_HMM_S_OK;
        }
        if (req->cursor > UINT64_MAX - MAX(value_end, next_end)) {
            /* the node passes the top of the address space */
            return VIRTIO_HMM_S_RANGE;
        }
        st = hmm_va_rw(s, as, req, req->cursor + req->value_offset, val,
                       req->value_size, false);
        if (st == VIRTIO_HMM_S_OK) {
            st = hmm_va_rw(s, as, req, req->cursor + req->next_offset, &next,
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

/*
 * x-inject-job-delay-us: the first time slice of every
 * x-inject-job-delay-every-th job starts late, with its translations
 * looked up only after the wait, as a slow or hung engine would.  A pause
 * (reset, VM stop) or unrealize cuts the wait short, so that they never
 * wait for it; the slice then runs as usual.
 */
static void hmm_inject_job_delay(VirtIOHMM *s)
{
    int64_t end;

    if (!s->inject_job_delay_us ||
        !hmm_inject_nth(s->inject_job_delay_every, &s->inject_jobs)) {
        return;
    }
    trace_virtio_hmm_inject("job-delay", s->inject_jobs);
    end = qemu_clock_get_us(QEMU_CLOCK_REALTIME) + s->inject_job_delay_us;
    for (;;) {
        int64_t now = qemu_clock_get_us(QEMU_CLOCK_REALTIME);
        bool cut;

        qemu_mutex_lock(&s->lock);
        cut = s->paused || s->stopping;
        qemu_mutex_unlock(&s->lock);
        if (cut || now >= end) {
            break;
        }
        g_usleep(MIN(10000, end - now));
    }
}

VirtIOHMMJobState hmm_run_job(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMAS *as;
    bool more = false;
    uint32_t st;

    if (!req->parsed) {
        req->parsed = true;
        st = hmm_job_parse(s, req);
        if (st != VIRTIO_HMM_S_OK) {
            req->status = st;
            return HMM_JOB_DONE;
        }
        hmm_inject_job_delay(s);
    }
    as = hmm_as(s, req->asid);
    if (!as) {
        req->status = VIRTIO_HMM_S_NOASID;
        return HMM_JOB_DONE;
    }
    trace_virtio_hmm_job(req->type, req->asid, req->tag, req->va, req->done);

    switch (req->type) {
    case VIRTIO_HMM_T_JOB_ATOMIC:
        st = hmm_job_atomic(s, as, req);
        break;
    case VIRTIO_HMM_T_JOB_CHASE:
        st = hmm_job_chase(s, as, req, &more);
        break;
    default:
        st = hmm_job_rw(s, as, req, &more);
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
