/*
 * virtio-hmm: the device MMU (address spaces and page tables)
 *
 * Each address space is a radix tree of page-table pages of 512 entries,
 * like an x86-64 page table, over the 52-bit device virtual page number:
 * six levels of 9 bits (level 0 holds the entries of 4 KiB pages, level
 * 5 is the root and uses its first 128 entries).  An entry above level 0
 * is 0 or the address of the next table, which is 8-byte aligned, so its
 * bit 0 (VIRTIO_HMM_PTE_VALID in a leaf) is clear: a leaf entry at level 1
 * (a 2 MiB page, once the wire format has a flag for it) can sit in the
 * same slot, and the lookup already stops at a leaf at any level.  Only
 * level 0 holds leaves today.
 *
 * A table that becomes empty is freed at once, so the tables in use are
 * exactly those that hold entries.  Their number, across all address
 * spaces, is s->pt_tables, bounded by the "max-page-tables" property
 * (max_page_tables in the configuration): a MAP that needs more fails
 * with VIRTIO_HMM_S_NOSPC and changes nothing.  UNMAP walks only the
 * tables that exist and frees whole subtrees it covers; DESTROY_AS and
 * reset free every table without looking at leaf entries.
 *
 * Everything here is executor-only (virtio-hmm-internal.h).
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "qemu/log.h"
#include "virtio-hmm-internal.h"
#include "trace.h"

#define HMM_PAGE_BITS   12
#define HMM_PT_BITS     9
#define HMM_PT_ENTRIES  (1 << HMM_PT_BITS)
#define HMM_PT_LEVELS   6       /* 6 * 9 >= 64 - 12 page number bits */
#define HMM_PT_ROOT     (HMM_PT_LEVELS - 1)

QEMU_BUILD_BUG_ON(HMM_PAGE_SIZE != 1 << HMM_PAGE_BITS);
QEMU_BUILD_BUG_ON(HMM_PT_LEVELS * HMM_PT_BITS < 64 - HMM_PAGE_BITS);

typedef struct VirtIOHMMPtTable {
    uint64_t e[HMM_PT_ENTRIES];
    uint32_t used;              /* entries that are not 0 */
} VirtIOHMMPtTable;

struct VirtIOHMMAS {
    VirtIOHMMPtTable root;      /* level HMM_PT_ROOT, not counted */
    uint64_t pages;             /* valid leaf entries */
    uint64_t tables;            /* tables below the root */
};

static unsigned hmm_pt_index(uint64_t vpn, int level)
{
    return (vpn >> (level * HMM_PT_BITS)) & (HMM_PT_ENTRIES - 1);
}

/* Pages that one entry at @level covers */
static uint64_t hmm_pt_span(int level)
{
    return 1ULL << (level * HMM_PT_BITS);
}

static bool hmm_pt_is_table(uint64_t e)
{
    return e && !(e & VIRTIO_HMM_PTE_VALID);
}

static VirtIOHMMPtTable *hmm_pt_table(uint64_t e)
{
    return (VirtIOHMMPtTable *)(uintptr_t)e;
}

/* A new empty table, or NULL when the device has no room for one */
static VirtIOHMMPtTable *hmm_pt_alloc(VirtIOHMM *s, VirtIOHMMAS *as)
{
    if (s->pt_tables >= s->max_page_tables) {
        return NULL;
    }
    s->pt_tables++;
    as->tables++;
    return g_new0(VirtIOHMMPtTable, 1);
}

static void hmm_pt_free(VirtIOHMM *s, VirtIOHMMAS *as, VirtIOHMMPtTable *t)
{
    g_free(t);
    s->pt_tables--;
    as->tables--;
}

/*
 * Free the tables below @t, a table at @level (0: nothing to free).
 * Returns the leaf entries they held, and @t's own if it is at level 0.
 */
static uint64_t hmm_pt_free_below(VirtIOHMM *s, VirtIOHMMAS *as,
                                  VirtIOHMMPtTable *t, int level)
{
    uint64_t pages = 0;
    unsigned i;

    if (level == 0) {
        return t->used;
    }
    for (i = 0; i < HMM_PT_ENTRIES && t->used; i++) {
        if (hmm_pt_is_table(t->e[i])) {
            VirtIOHMMPtTable *child = hmm_pt_table(t->e[i]);

            pages += hmm_pt_free_below(s, as, child, level - 1);
            hmm_pt_free(s, as, child);
            t->e[i] = 0;
            t->used--;
        }
    }
    return pages;
}

/* The entry that maps @vpn, a leaf at *@level (0: one page), or 0 */
static uint64_t hmm_pt_lookup(VirtIOHMMAS *as, uint64_t vpn, int *level)
{
    const VirtIOHMMPtTable *t = &as->root;
    int l;

    for (l = HMM_PT_ROOT; l > 0; l--) {
        uint64_t e = t->e[hmm_pt_index(vpn, l)];

        if (!hmm_pt_is_table(e)) {
            *level = l;
            return e;
        }
        t = hmm_pt_table(e);
    }
    *level = 0;
    return t->e[hmm_pt_index(vpn, 0)];
}

/*
 * The level-0 table that holds the entry of @vpn; with @create, missing
 * tables are made.  NULL if it does not exist, or there is no room.
 */
static VirtIOHMMPtTable *hmm_pt_leaf_table(VirtIOHMM *s, VirtIOHMMAS *as,
                                           uint64_t vpn, bool create)
{
    VirtIOHMMPtTable *t = &as->root;
    int l;

    for (l = HMM_PT_ROOT; l > 0; l--) {
        uint64_t *e = &t->e[hmm_pt_index(vpn, l)];

        if (!*e) {
            VirtIOHMMPtTable *n = create ? hmm_pt_alloc(s, as) : NULL;

            if (!n) {
                return NULL;
            }
            *e = (uintptr_t)n;
            t->used++;
        }
        /* only level 0 holds leaves: a 2 MiB leaf would be split here */
        t = hmm_pt_table(*e);
    }
    return t;
}

/* Free the empty tables on the path to @vpn, bottom-up */
static void hmm_pt_prune(VirtIOHMM *s, VirtIOHMMAS *as, uint64_t vpn)
{
    VirtIOHMMPtTable *path[HMM_PT_LEVELS];
    int l, depth = 0;

    path[HMM_PT_ROOT] = &as->root;
    for (l = HMM_PT_ROOT; l > 0; l--) {
        uint64_t e = path[l]->e[hmm_pt_index(vpn, l)];

        if (!hmm_pt_is_table(e)) {
            depth = l;
            break;
        }
        path[l - 1] = hmm_pt_table(e);
    }
    for (l = depth; l < HMM_PT_ROOT && !path[l]->used; l++) {
        hmm_pt_free(s, as, path[l]);
        path[l + 1]->e[hmm_pt_index(vpn, l + 1)] = 0;
        path[l + 1]->used--;
    }
}

/* Remove the entry of @vpn and the tables that become empty; was there one? */
static bool hmm_pt_clear(VirtIOHMM *s, VirtIOHMMAS *as, uint64_t vpn)
{
    VirtIOHMMPtTable *t = hmm_pt_leaf_table(s, as, vpn, false);
    uint64_t *e;

    if (!t) {
        return false;
    }
    e = &t->e[hmm_pt_index(vpn, 0)];
    if (!*e) {
        return false;
    }
    *e = 0;
    t->used--;
    as->pages--;
    hmm_pt_prune(s, as, vpn);
    return true;
}

/*
 * Remove the permissions @perm from the leaf entry @e (the whole entry
 * when @perm holds READ or is 0).  Returns true if the entry must be
 * removed; *@changed tells whether anything changed.
 */
static bool hmm_pte_reduce(uint64_t *e, uint32_t perm, bool *changed)
{
    uint64_t rm = perm;

    if (!perm || (perm & VIRTIO_HMM_PTE_READ)) {
        *changed = true;
        return true;
    }
    if (rm & VIRTIO_HMM_PTE_WRITE) {
        rm |= VIRTIO_HMM_PTE_ATOMIC;    /* atomics need write access */
    }
    *changed = (*e & rm) != 0;
    *e &= ~rm;
    return false;
}

typedef struct HMMUnmap {
    uint32_t perm;
    bool remove;                /* @perm removes whole entries */
    uint64_t changed;           /* entries removed or reduced */
} HMMUnmap;

/*
 * UNMAP the pages [@lo, @hi) under @t, the table at @level whose first
 * page is @base; empty tables below @t are freed.
 */
static void hmm_pt_unmap_range(VirtIOHMM *s, VirtIOHMMAS *as,
                               VirtIOHMMPtTable *t, int level, uint64_t base,
                               uint64_t lo, uint64_t hi, HMMUnmap *u)
{
    uint64_t span = hmm_pt_span(level);
    unsigned i = (lo - base) >> (level * HMM_PT_BITS);
    unsigned last = (hi - 1 - base) >> (level * HMM_PT_BITS);

    for (; i <= last && t->used; i++) {
        uint64_t *e = &t->e[i];
        uint64_t cbase = base + i * span;
        VirtIOHMMPtTable *child;
        bool ch;

        if (!*e) {
            continue;
        }
        if (level == 0) {
            if (hmm_pte_reduce(e, u->perm, &ch)) {
                *e = 0;
                t->used--;
                as->pages--;
            }
            u->changed += ch;
            continue;
        }
        child = hmm_pt_table(*e);
        if (u->remove && lo <= cbase && hi >= cbase + span) {
            /* the whole subtree goes */
            uint64_t pages = hmm_pt_free_below(s, as, child, level - 1);

            u->changed += pages;
            as->pages -= pages;
            child->used = 0;
        } else {
            hmm_pt_unmap_range(s, as, child, level - 1, cbase,
                               MAX(lo, cbase), MIN(hi, cbase + span), u);
        }
        if (!child->used) {
            hmm_pt_free(s, as, child);
            *e = 0;
            t->used--;
        }
    }
}

VirtIOHMMAS *hmm_as(VirtIOHMM *s, uint32_t asid)
{
    return asid < s->max_asids ? s->as[asid] : NULL;
}

static uint32_t hmm_perm_to_access(uint64_t perm)
{
    return (perm & VIRTIO_HMM_PTE_READ ? VIRTIO_HMM_ACCESS_READ : 0) |
           (perm & VIRTIO_HMM_PTE_WRITE ? VIRTIO_HMM_ACCESS_WRITE : 0) |
           (perm & VIRTIO_HMM_PTE_ATOMIC ? VIRTIO_HMM_ACCESS_ATOMIC : 0);
}

uint32_t hmm_translate(VirtIOHMMAS *as, VirtIOHMMReq *req, uint64_t va,
                       uint64_t need, uint64_t *pte, uint64_t *target,
                       uint64_t *span)
{
    int level;
    uint64_t e = hmm_pt_lookup(as, va >> HMM_PAGE_BITS, &level);

    if ((e & VIRTIO_HMM_PTE_VALID) && (e & need) == need) {
        uint64_t bytes = (uint64_t)HMM_PAGE_SIZE << (level * HMM_PT_BITS);
        uint64_t off = va & (bytes - 1);

        *pte = e;
        *target = (e & ~VIRTIO_HMM_PTE_FLAGS_MASK) + off;
        *span = bytes - off;
        return VIRTIO_HMM_S_OK;
    }
    req->fault_va = va;
    if (e & VIRTIO_HMM_PTE_VALID) {
        req->fault_present = 1;
        req->fault_access = hmm_perm_to_access(need & ~e);
    } else {
        req->fault_present = 0;
        req->fault_access = hmm_perm_to_access(need);
    }
    return VIRTIO_HMM_S_FAULT;
}

/* Destroy address space @asid; returns the pages it mapped */
static uint64_t hmm_as_free(VirtIOHMM *s, uint32_t asid)
{
    VirtIOHMMAS *as = s->as[asid];
    uint64_t pages = as->pages;

    hmm_pt_free_below(s, as, &as->root, HMM_PT_ROOT);
    assert(!as->tables);
    g_free(as);
    s->as[asid] = NULL;
    return pages;
}

void hmm_mmu_reset(VirtIOHMM *s)
{
    uint32_t i;

    for (i = 0; i < s->max_asids; i++) {
        if (s->as[i]) {
            hmm_as_free(s, i);
        }
    }
    assert(!s->pt_tables);
}

uint32_t hmm_create_as(VirtIOHMM *s, VirtIOHMMReq *req)
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
    s->as[req->asid] = g_new0(VirtIOHMMAS, 1);
    s->stats.address_spaces++;
    return VIRTIO_HMM_S_OK;
}

uint32_t hmm_destroy_as(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMReq *job, *tmp;
    uint32_t canceled = 0;
    uint64_t pages;

    if (req->out_size != offsetof(struct virtio_hmm_req_as, tail) ||
        req->in_size != HMM_TAIL_SIZE || req->flags) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (!hmm_as(s, req->asid)) {
        return VIRTIO_HMM_S_NOASID;
    }
    pages = hmm_as_free(s, req->asid);
    s->stats.unmaps += pages;
    s->stats.mapped_pages -= pages;
    s->stats.address_spaces--;

    /* Cancel its runnable and stalled jobs... */
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
    hmm_drop_records_locked(s, req->asid);
    qemu_mutex_unlock(&s->lock);
    req->count = canceled;
    trace_virtio_hmm_destroy_as(req->asid, pages, canceled);
    return VIRTIO_HMM_S_OK;
}

uint32_t hmm_map(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_map m;
    g_autofree uint64_t *ptes = NULL;
    VirtIOHMMAS *as;
    uint64_t va, first, mapped = 0, removed = 0;
    uint32_t nr, i, k, apply;

    if (req->out_size < sizeof(m) || !hmm_req_read(req, 0, &m, sizeof(m)) ||
        req->flags || m.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    va = le64_to_cpu(m.va);
    nr = le32_to_cpu(m.nr_pages);
    as = hmm_as(s, req->asid);
    if (!as) {
        return VIRTIO_HMM_S_NOASID;
    }
    if ((va & HMM_PAGE_OFFSET_MASK) || !nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_MAP_PAGES ||
        nr - 1 > (UINT64_MAX - va) >> HMM_PAGE_BITS) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->out_size != sizeof(m) + (size_t)nr * sizeof(uint64_t) ||
        req->in_size != HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    trace_virtio_hmm_map(req->asid, va, nr);
    first = va >> HMM_PAGE_BITS;

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

    /* Make room for every valid entry, or change nothing */
    for (i = 0; i < nr; i++) {
        if ((ptes[i] & VIRTIO_HMM_PTE_VALID) &&
            !hmm_pt_leaf_table(s, as, first + i, true)) {
            for (k = 0; k <= i; k++) {
                hmm_pt_prune(s, as, first + k);
            }
            trace_virtio_hmm_map_nospc(req->asid, va, nr, s->pt_tables);
            return VIRTIO_HMM_S_NOSPC;
        }
    }
    /* Injected failure: half of the entries, then S_IOERR (docs, 13.1) */
    apply = nr;
    if (hmm_inject_nth(s->inject_map_fail, &s->inject_maps)) {
        apply = nr / 2;
        trace_virtio_hmm_inject("map-fail", s->inject_maps);
    }
    /* Valid entries first: a removal may free a table they need */
    for (i = 0; i < apply; i++) {
        VirtIOHMMPtTable *t;
        uint64_t *e;

        if (!(ptes[i] & VIRTIO_HMM_PTE_VALID)) {
            continue;
        }
        t = hmm_pt_leaf_table(s, as, first + i, false);
        e = &t->e[hmm_pt_index(first + i, 0)];
        if (!*e) {
            t->used++;
            as->pages++;
            s->stats.mapped_pages++;
        }
        *e = ptes[i];
        mapped++;
    }
    for (i = 0; i < apply; i++) {
        if (!(ptes[i] & VIRTIO_HMM_PTE_VALID) &&
            hmm_pt_clear(s, as, first + i)) {
            s->stats.mapped_pages--;
            removed++;
        }
    }
    /* after the rest: the applied entries may share their tables */
    for (k = apply; k < nr; k++) {
        hmm_pt_prune(s, as, first + k);
    }
    s->stats.maps += mapped;
    s->stats.unmaps += removed;
    req->count = apply;
    return apply == nr ? VIRTIO_HMM_S_OK : VIRTIO_HMM_S_IOERR;
}

/* The UNMAP request @req's range in pages; false if it is malformed */
static bool hmm_unmap_parse(VirtIOHMMReq *req, struct virtio_hmm_req_unmap *u)
{
    const size_t len = offsetof(struct virtio_hmm_req_unmap, tail);

    return req->out_size == len && req->in_size == HMM_TAIL_SIZE &&
           hmm_req_read(req, 0, u, len) && !req->flags && !u->reserved;
}

bool hmm_unmap_is_small(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_unmap u;
    uint64_t length;

    if (s->inject_inval_delay_us) {
        return false;
    }
    if (!hmm_unmap_parse(req, &u)) {
        return true;                    /* fails at once */
    }
    length = le64_to_cpu(u.length);
    return length && length <= HMM_MAX_MAP_PAGES * HMM_PAGE_SIZE;
}

uint32_t hmm_unmap(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_unmap u;
    VirtIOHMMAS *as;
    uint64_t va, length, npages, pages_before;
    HMMUnmap un = { 0 };

    if (!hmm_unmap_parse(req, &u)) {
        return VIRTIO_HMM_S_INVAL;
    }
    va = le64_to_cpu(u.va);
    length = le64_to_cpu(u.length);
    un.perm = le32_to_cpu(u.perm);
    un.remove = !un.perm || (un.perm & VIRTIO_HMM_PTE_READ);
    as = hmm_as(s, req->asid);
    if (!as) {
        return VIRTIO_HMM_S_NOASID;
    }
    if ((va & HMM_PAGE_OFFSET_MASK) || (length & HMM_PAGE_OFFSET_MASK) ||
        (un.perm & ~VIRTIO_HMM_PTE_PERM_MASK)) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (length == 0) {
        /* "To the top": what ~0ULL - va + 1 wraps to for va 0 */
        npages = (0 - va) >> HMM_PAGE_BITS;
        if (!va) {
            npages = 1ULL << (64 - HMM_PAGE_BITS);
        }
    } else if (length - 1 > UINT64_MAX - va) {
        return VIRTIO_HMM_S_RANGE;
    } else {
        npages = length >> HMM_PAGE_BITS;
    }

    pages_before = as->pages;
    hmm_pt_unmap_range(s, as, &as->root, HMM_PT_ROOT, 0, va >> HMM_PAGE_BITS,
                       (va >> HMM_PAGE_BITS) + npages, &un);
    trace_virtio_hmm_unmap(req->asid, va, npages, un.perm, un.changed);
    if (s->inject_inval_delay_us) {
        /* a slow acknowledgement: the translations are already gone */
        g_usleep(s->inject_inval_delay_us);
    }
    s->stats.unmaps += un.changed;
    s->stats.mapped_pages -= pages_before - as->pages;
    req->count = MIN(un.changed, UINT32_MAX);
    return VIRTIO_HMM_S_OK;
}

uint32_t hmm_query(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_query q;
    VirtIOHMMAS *as;
    uint64_t va;
    uint32_t nr, i;

    if (req->out_size != sizeof(q) || !hmm_req_read(req, 0, &q, sizeof(q)) ||
        req->flags || q.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    va = le64_to_cpu(q.va);
    nr = le32_to_cpu(q.nr_pages);
    as = hmm_as(s, req->asid);
    if (!as) {
        return VIRTIO_HMM_S_NOASID;
    }
    if ((va & HMM_PAGE_OFFSET_MASK) || !nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_MAP_PAGES ||
        nr - 1 > (UINT64_MAX - va) >> HMM_PAGE_BITS) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->in_size != (size_t)nr * sizeof(uint64_t) + HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    trace_virtio_hmm_query(req->asid, va, nr);
    for (i = 0; i < nr; i++) {
        int level;
        uint64_t le = cpu_to_le64(hmm_pt_lookup(as, (va >> HMM_PAGE_BITS) + i,
                                                &level));

        hmm_req_write(req, i * sizeof(le), &le, sizeof(le));
    }
    req->count = nr;
    return VIRTIO_HMM_S_OK;
}
