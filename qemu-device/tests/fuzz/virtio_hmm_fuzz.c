/*
 * virtio-hmm fuzzing targets: structure-aware, in the style of
 * virtio_blk_fuzz.c and virtio_scsi_fuzz.c
 *
 * The input is a sequence of operations.  Each starts with a fixed
 * 24-byte FuzzOp; some are followed by fixed-size entries (page-table
 * entries, copy entries, reply entries, data).  An operation becomes a
 * well-formed (or, where a field says so, deliberately malformed) chain
 * of a request or job of include/linux/virtio_hmm.h on the requestq,
 * jobq or faultq, or a queue reset, a device reset, a store into guest
 * memory, or a switch between the two devices of the machine: a
 * mode=private one (the libqos node, 04.0) and a mode=coherent one
 * (05.0, its device memory a PCI BAR).  Addresses come from selectors
 * that name guest RAM, device memory offsets, nothing at all, read-only MMIO,
 * the devices' own registers (common configuration, notify, MSI-X) and
 * the coherent device memory BAR.  The exact layout is in
 * tests/fuzz/README.md, and tests/fuzz/gen-seeds.py writes seeds in it.
 *
 * After each kick the target waits, bounded, until both devices are idle
 * (worker queues empty, completions pushed): a device that does not
 * settle in HMM_FUZZ_SETTLE_S seconds is reported as a hang (abort).
 *
 * Targets:
 *   virtio-hmm-fuzz        fork per input (fork_fuzz.c), fully isolated
 *   virtio-hmm-reset-fuzz  no fork: both devices are reset and set up
 *                          again before each input (faster; state outside
 *                          the devices, e.g. HPET registers, persists)
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"

#include "qemu/main-loop.h"
#include "sysemu/runstate.h"
#include "qom/object.h"
#include "hw/virtio/virtio-hmm.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/virtio.h"
#include "tests/qtest/libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_ring.h"
#include "standard-headers/linux/virtio_pci.h"
#include "standard-headers/linux/virtio_hmm.h"
#include "virtio-hmm/virtio-hmm.h"
#include "fuzz.h"
#include "fork_fuzz.h"
#include "qos_fuzz.h"

#define PAGE                4096ULL
#define TAIL                sizeof(struct virtio_hmm_tail)
#define NR_DEVS             2
#define DATA_PAGES          16          /* targets of PTEs, jobs, copies */
#define ARENA_PAGES         256         /* data pages, then buffers */
#define MAX_ENTRIES         16          /* per MAP, COPY, FAULT_REPLY */
#define MAX_BUF             (64 * 1024) /* job data, raw bodies */
#define HMM_FUZZ_SETTLE_S   10          /* a device's work after a kick */
#define HMM_FUZZ_INPUT_S    30          /* one input, all in all */
/*
 * CHASE walks at most max_job_bytes / 8 nodes (8 Mi), about a
 * microsecond each under ASan: a cyclic list of that length keeps the
 * device busy, legally, for 10 s and more, which the settle deadline
 * takes for a hang. Legal lengths above this one are walked as this one
 * (256 slices); the lengths the device must refuse stay as they are.
 */
#define HMM_FUZZ_CHASE_NODES (64 * 1024)
#define GPA_NOWHERE         (64ULL << 30)
#define VRAM_SIZE           (4ULL << 20)

/* One operation of the input */
typedef struct QEMU_PACKED FuzzOp {
    uint8_t op;         /* FUZZ_OP_*, modulo FUZZ_OP__MAX */
    uint8_t layout;     /* FUZZ_L_* bits: descriptor layout of the chain */
    uint8_t asid;       /* asid selector (fuzz_asid()) */
    uint8_t flags;      /* 0xf0 | f: head.flags = f; else 0 */
    uint8_t sel_a;      /* address selectors (fuzz_gpa(), fuzz_va()) */
    uint8_t sel_b;
    uint16_t n;         /* low byte: counts, sub-types; high: job tag */
    uint64_t x;         /* raw values: offsets, lengths, operands */
    uint64_t y;
} FuzzOp;

enum {
    FUZZ_OP_CREATE_AS,
    FUZZ_OP_DESTROY_AS,
    FUZZ_OP_MAP,            /* + n % (MAX_ENTRIES + 1) FuzzPte */
    FUZZ_OP_UNMAP,
    FUZZ_OP_QUERY,
    FUZZ_OP_COPY,           /* + n % (MAX_ENTRIES + 1) FuzzCopy */
    FUZZ_OP_FAULT_REPLY,    /* + n % (MAX_ENTRIES + 1) FuzzReply */
    FUZZ_OP_GET_STATS,
    FUZZ_OP_JOB_RW,         /* READ/WRITE/FILL/COPY; WRITE: + data */
    FUZZ_OP_JOB_ATOMIC,
    FUZZ_OP_JOB_CHASE,
    FUZZ_OP_FAULT_BUFS,     /* n % 8 + 1 faultq buffers */
    FUZZ_OP_QUEUE_RESET,
    FUZZ_OP_DEVICE_RESET,
    FUZZ_OP_RAW,            /* any type, + n % 256 body bytes */
    FUZZ_OP_MEMWRITE,       /* + n % 256 bytes into a data page */
    FUZZ_OP_SWITCH,         /* the other device */
    FUZZ_OP_SETTLE,         /* step the clock, run the main loop */
    FUZZ_OP_RUNSTATE,       /* stop the VM, or let it run again */
    FUZZ_OP__MAX,
};

/* FuzzOp.layout */
#define FUZZ_L_OUT_SPLIT    0x03    /* readable part in 1 + (l & 3) descs */
#define FUZZ_L_IN_SPLIT     0x04    /* writable part in two descs */
#define FUZZ_L_IN_AT        0x08    /* writable part at fuzz_gpa(sel_b, y) */
#define FUZZ_L_OUT_AT       0x10    /* readable part at fuzz_gpa(sel_b, y) */
#define FUZZ_L_SWAP         0x20    /* writable descriptors first */
#define FUZZ_L_SHORT        0x40    /* one byte short (in, or out if IN_AT) */
#define FUZZ_L_NO_KICK      0x80    /* publish, do not notify */

typedef struct QEMU_PACKED FuzzPte {
    uint8_t sel;        /* target: fuzz_gpa(), or device memory */
    uint8_t flags;      /* low PTE bits (VALID, READ, ...); 0xff: raw */
    uint16_t idx;       /* page index / offset */
} FuzzPte;

typedef struct QEMU_PACKED FuzzCopy {
    uint8_t src_sel, dst_sel;
    uint16_t src_idx, dst_idx;
} FuzzCopy;

typedef struct QEMU_PACKED FuzzReply {
    uint8_t tag;        /* tag of a job: jobs carry 0x100 + their tag byte */
    uint8_t asid;
    uint8_t action;     /* REPLY_RETRY, REPLY_CANCEL, or raw when > 1 */
    uint8_t pad;
} FuzzReply;

typedef struct FuzzDev {
    QVirtioHMM *h;
    QVirtioPCIDevice *pci;
    uint64_t cfg_gpa;           /* BAR 4: common configuration */
    uint64_t devcfg_gpa;        /* BAR 4: device configuration (read-only) */
    uint64_t notify_gpa;
    uint64_t msix_gpa;
    uint64_t shm_gpa;           /* BAR 2 (mode=coherent), or 0 */
    uint32_t next_desc[VIRTIO_HMM_NR_VQS];
    uint32_t max_asids;
    uint32_t max_chase_nodes;   /* max_job_bytes / 8 */
} FuzzDev;

typedef struct Fuzz {
    QTestState *qts;
    FuzzDev dev[NR_DEVS];
    FuzzDev *d;                 /* the current device */
    uint64_t arena;             /* ARENA_PAGES of guest RAM */
    uint64_t bump;              /* next buffer offset in the arena */
    const uint8_t *data;
    size_t size;
} Fuzz;

static Fuzz fz;
static QVirtioHMMPCI coherent_dev;
static VirtIOHMM *hmm_state[NR_DEVS];
static uint8_t data_pages_init[DATA_PAGES * PAGE];

/* Input */

static void take(void *p, size_t n)
{
    size_t k = MIN(n, fz.size);

    memcpy(p, fz.data, k);
    memset((uint8_t *)p + k, 0, n - k);
    fz.data += k;
    fz.size -= k;
}

/* Guest memory */

/* @len bytes of guest RAM for a buffer, 8-aligned, reused round-robin */
static uint64_t buf_alloc(size_t len)
{
    uint64_t start = DATA_PAGES * PAGE, end = ARENA_PAGES * PAGE;

    len = ROUND_UP(MAX(len, 1), 8);
    if (fz.bump < start || fz.bump + len > end) {
        fz.bump = start;
    }
    fz.bump += len;
    return fz.arena + fz.bump - len;
}

/*
 * A guest-physical address: mostly data pages, also the interesting
 * places that are not RAM.  @v adds the offset.
 */
static uint64_t fuzz_gpa(uint8_t sel, uint64_t v)
{
    FuzzDev *other = &fz.dev[fz.d == &fz.dev[0]];

    switch (sel % 16) {
    case 0 ... 5:
        return fz.arena + (v % DATA_PAGES) * PAGE;
    case 6:
        return fz.arena + (v % (DATA_PAGES * PAGE));   /* unaligned */
    case 7:
        return GPA_NOWHERE + (v % 16) * PAGE;
    case 8:
        /* MMIO that ignores writes (the machine has no HPET: see below) */
        return fz.d->devcfg_gpa + (v % sizeof(struct virtio_hmm_config));
    case 9:
        /* device_status, queue_reset... of the device itself */
        return fz.d->cfg_gpa + (v % 0x40);
    case 10:
        return other->cfg_gpa + (v % 0x40);
    case 11:
        return fz.d->notify_gpa + (v % 0x10);
    case 12:
        return fz.d->msix_gpa + (v % 0x40);
    case 13:
        return fz.dev[1].shm_gpa + (v % (VRAM_SIZE / PAGE)) * PAGE;
    case 14:
        return fz.arena + ((ARENA_PAGES - 1) * PAGE) + PAGE - 8; /* RAM end */
    default:
        return v;
    }
}

/* A page of device memory (offsets), a few past its end */
static uint64_t fuzz_devmem(uint64_t v)
{
    return (v % (VRAM_SIZE / PAGE + 4)) * PAGE;
}

/* A device virtual address: a small window where maps and jobs meet */
static uint64_t fuzz_va(uint8_t sel, uint64_t v)
{
    switch (sel % 8) {
    case 0 ... 3:
        return 0x100000 + (v % 32) * PAGE;
    case 4:
        return 0x100000 + (v % (32 * PAGE));            /* unaligned */
    case 5:
        return ~0ULL - PAGE + 1 - (v % 4) * PAGE;       /* the top */
    case 6:
        return (v % 4) << 47;                           /* PT boundaries */
    default:
        return v;
    }
}

static uint32_t fuzz_asid(uint8_t sel)
{
    switch (sel >> 6) {
    case 0:
    case 1:
        return sel % 4;
    case 2:
        return fz.d->max_asids - 1 + (sel & 1);         /* last, one past */
    default:
        return sel == 0xff ? UINT32_MAX : sel % 64;
    }
}

/* Chains */

static void desc_write(QVirtQueue *vq, uint32_t i, uint64_t addr,
                       uint32_t len, uint16_t flags, uint16_t next)
{
    uint64_t d = vq->desc + i * sizeof(struct vring_desc);

    qtest_writeq(fz.qts, d, addr);
    qtest_writel(fz.qts, d + 8, len);
    qtest_writew(fz.qts, d + 12, flags);
    qtest_writew(fz.qts, d + 14, next);
}

typedef struct Seg {
    uint64_t addr;
    uint32_t len;
    bool write;
} Seg;

/*
 * Queue a chain on @q of the current device: @out (device-readable) and
 * @in_len device-writable bytes, laid out as @op->layout says.
 */
static void submit(const FuzzOp *op, int q, const void *out, size_t out_len,
                   size_t in_len)
{
    FuzzDev *d = fz.d;
    QVirtQueue *vq = d->h->vq[q];
    uint8_t l = op->layout;
    Seg seg[8];
    int n = 0, i, nout = 1 + (l & FUZZ_L_OUT_SPLIT);
    uint64_t out_addr, in_addr;
    uint32_t head;

    if (!vq) {
        return;
    }
    if (l & FUZZ_L_SHORT) {
        if (l & FUZZ_L_IN_AT) {
            out_len -= !!out_len;
        } else {
            in_len -= !!in_len;
        }
    }
    if (l & FUZZ_L_OUT_AT) {
        out_addr = fuzz_gpa(op->sel_b, op->y);
    } else {
        out_addr = buf_alloc(out_len);
        qtest_memwrite(fz.qts, out_addr, out, out_len);
    }
    if (l & FUZZ_L_IN_AT) {
        in_addr = fuzz_gpa(op->sel_b, op->y);
    } else {
        in_addr = buf_alloc(in_len);
        qtest_memset(fz.qts, in_addr, 0xa5, in_len);
    }

    /* the readable part, split at fractions the op's bytes choose */
    if (out_len) {
        uint64_t off = 0;

        for (i = 0; i < nout; i++) {
            uint32_t len = i == nout - 1 ? out_len - off :
                           (out_len - off) * ((op->n >> (i * 4)) & 15) / 16;

            seg[n++] = (Seg){ out_addr + off, len, false };
            off += len;
        }
    }
    if (in_len || !out_len) {
        if ((l & FUZZ_L_IN_SPLIT) && in_len > TAIL) {
            seg[n++] = (Seg){ in_addr, in_len - TAIL, true };
            seg[n++] = (Seg){ in_addr + in_len - TAIL, TAIL, true };
        } else {
            seg[n++] = (Seg){ in_addr, in_len, true };
        }
    }
    if (l & FUZZ_L_SWAP) {
        for (i = 0; i < n / 2; i++) {
            Seg t = seg[i];

            seg[i] = seg[n - 1 - i];
            seg[n - 1 - i] = t;
        }
    }

    head = d->next_desc[q];
    for (i = 0; i < n; i++) {
        uint32_t idx = d->next_desc[q];

        d->next_desc[q] = (idx + 1) % vq->size;
        desc_write(vq, idx, seg[i].addr, seg[i].len,
                   (seg[i].write ? VRING_DESC_F_WRITE : 0) |
                   (i < n - 1 ? VRING_DESC_F_NEXT : 0),
                   d->next_desc[q]);
    }
    if (l & FUZZ_L_NO_KICK) {
        uint16_t idx = qtest_readw(fz.qts, vq->avail + 2);

        qtest_writew(fz.qts, vq->avail + 4 + 2 * (idx % vq->size), head);
        qtest_writew(fz.qts, vq->avail + 2, idx + 1);
    } else {
        qvirtqueue_kick(fz.qts, d->h->vdev, vq, head);
    }
}

static struct virtio_hmm_head mkhead(const FuzzOp *op, uint16_t type)
{
    struct virtio_hmm_head head = {
        .type = cpu_to_le16(type),
        .flags = cpu_to_le16((op->flags & 0xf0) == 0xf0 ? op->flags & 15 : 0),
        .asid = cpu_to_le32(fuzz_asid(op->asid)),
        .tag = cpu_to_le64(0x100 + (op->n >> 8)),
    };
    return head;
}

/* Settle: the worker idle, every completion pushed */

/* A device of a stopped VM is quiescent: it keeps what it has queued */
static bool hmm_idle(VirtIOHMM *s)
{
    bool idle;

    qemu_mutex_lock(&s->lock);
    idle = !s->busy &&
           (s->stopped || (QTAILQ_EMPTY(&s->requests) &&
                           QTAILQ_EMPTY(&s->jobs) && QTAILQ_EMPTY(&s->done)));
    qemu_mutex_unlock(&s->lock);
    return idle;
}

static void settle(void)
{
    gint64 deadline = g_get_monotonic_time() +
                      HMM_FUZZ_SETTLE_S * G_USEC_PER_SEC;
    int i;

    for (;;) {
        bool idle = true;

        flush_events(fz.qts);
        for (i = 0; i < NR_DEVS; i++) {
            idle = idle && hmm_idle(hmm_state[i]);
        }
        if (idle) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            for (i = 0; i < NR_DEVS; i++) {
                VirtIOHMM *h = hmm_state[i];

                fprintf(stderr, "virtio-hmm-fuzz: device %d: busy %d "
                        "paused %u stopped %d requests %d jobs %d done %d "
                        "worker %d\n", i, h->busy, h->paused, h->stopped,
                        !QTAILQ_EMPTY(&h->requests), !QTAILQ_EMPTY(&h->jobs),
                        !QTAILQ_EMPTY(&h->done), h->thread_started);
            }
            fprintf(stderr, "virtio-hmm-fuzz: a device did not settle in "
                    "%d s\n", HMM_FUZZ_SETTLE_S);
            abort();
        }
        qemu_mutex_unlock_iothread();
        sched_yield();
        qemu_mutex_lock_iothread();
    }
}

/* Device and queue set-up */

static void dev_setup(FuzzDev *d)
{
    qvirtio_hmm_setup(d->h);
    memset(d->next_desc, 0, sizeof(d->next_desc));
}

static void queue_reset(FuzzDev *d, int q)
{
    QVirtioPCIDevice *p = d->pci;
    QVirtioHMM *h = d->h;

    qpci_io_writew(p->pdev, p->bar,
                   p->common_cfg_offset + VIRTIO_PCI_COMMON_Q_SELECT, q);
    qpci_io_writew(p->pdev, p->bar,
                   p->common_cfg_offset + VIRTIO_PCI_COMMON_Q_RESET, 1);
    /* and set it up again on fresh rings, as a driver does */
    qvirtqueue_cleanup(h->vdev->bus, h->vq[q], h->alloc);
    h->vq[q] = qvirtqueue_setup(h->vdev, h->alloc, q);
    d->next_desc[q] = 0;
}

/* Operations */

static void op_map(const FuzzOp *op)
{
    uint32_t nr = (op->n & 0xff) % (MAX_ENTRIES + 1), i;
    struct {
        struct virtio_hmm_req_map m;
        uint64_t pte[MAX_ENTRIES];
    } QEMU_PACKED r = { .m.head = mkhead(op, VIRTIO_HMM_T_MAP) };

    r.m.va = cpu_to_le64(fuzz_va(op->sel_a, op->x));
    /* the count the request claims: nr, or (flags bit) a raw one */
    r.m.nr_pages = cpu_to_le32((op->flags & 0xf0) == 0x10 ? op->y : nr);
    for (i = 0; i < nr; i++) {
        FuzzPte p;
        uint64_t pte;

        take(&p, sizeof(p));
        if (p.sel & 0x80) {
            pte = fuzz_devmem(p.idx) | VIRTIO_HMM_PTE_DEVMEM;
        } else {
            pte = fuzz_gpa(p.sel, p.idx) & ~VIRTIO_HMM_PTE_FLAGS_MASK;
        }
        pte |= p.flags == 0xff ? (uint64_t)p.idx & VIRTIO_HMM_PTE_FLAGS_MASK :
               p.flags & 0x1f;
        r.pte[i] = cpu_to_le64(pte);
    }
    submit(op, VIRTIO_HMM_VQ_REQUEST, &r, sizeof(r.m) + nr * 8, TAIL);
}

static void op_unmap(const FuzzOp *op)
{
    struct virtio_hmm_req_unmap u = {
        .head = mkhead(op, VIRTIO_HMM_T_UNMAP),
        .va = cpu_to_le64(fuzz_va(op->sel_a, op->x)),
        .perm = cpu_to_le32(op->n & 0xff),
    };
    uint64_t len;

    switch (op->sel_b % 4) {
    case 0:
        len = (op->y % 33) * PAGE;
        break;
    case 1:
        len = ~0ULL - le64_to_cpu(u.va) + 1;            /* to the top */
        break;
    default:
        len = op->y;
    }
    u.length = cpu_to_le64(len);
    submit(op, VIRTIO_HMM_VQ_REQUEST, &u, offsetof(typeof(u), tail), TAIL);
}

static void op_query(const FuzzOp *op)
{
    struct virtio_hmm_req_query r = {
        .head = mkhead(op, VIRTIO_HMM_T_QUERY),
        .va = cpu_to_le64(fuzz_va(op->sel_a, op->x)),
    };
    uint32_t nr = (op->n & 0xff) % (MAX_ENTRIES + 1);

    r.nr_pages = cpu_to_le32((op->flags & 0xf0) == 0x10 ? op->y : nr);
    submit(op, VIRTIO_HMM_VQ_REQUEST, &r, sizeof(r), nr * 8 + TAIL);
}

static uint64_t copy_addr(uint16_t dir, bool src, uint8_t sel, uint16_t idx)
{
    bool dev = dir == VIRTIO_HMM_COPY_DEV_TO_DEV ||
               (dir == VIRTIO_HMM_COPY_TO_DEV && !src) ||
               (dir == VIRTIO_HMM_COPY_FROM_DEV && src);

    /* the side the direction names, unless the selector's top bit flips */
    if (dev != !!(sel & 0x80)) {
        return fuzz_devmem(idx);
    }
    return fuzz_gpa(sel, idx);
}

static void op_copy(const FuzzOp *op)
{
    uint32_t nr = (op->n & 0xff) % (MAX_ENTRIES + 1), i;
    uint16_t dir = op->sel_a % 4;               /* 3: invalid */
    struct {
        struct virtio_hmm_req_copy c;
        struct virtio_hmm_copy_entry e[MAX_ENTRIES];
    } QEMU_PACKED r = { .c.head = mkhead(op, VIRTIO_HMM_T_COPY) };

    r.c.head.flags = cpu_to_le16(dir);
    r.c.nr = cpu_to_le32((op->flags & 0xf0) == 0x10 ? op->y : nr);
    for (i = 0; i < nr; i++) {
        FuzzCopy c;

        take(&c, sizeof(c));
        r.e[i].src = cpu_to_le64(copy_addr(dir, true, c.src_sel, c.src_idx));
        r.e[i].dst = cpu_to_le64(copy_addr(dir, false, c.dst_sel, c.dst_idx));
    }
    submit(op, VIRTIO_HMM_VQ_REQUEST, &r, sizeof(r.c) + nr * sizeof(r.e[0]),
           TAIL);
}

static void op_fault_reply(const FuzzOp *op)
{
    uint32_t nr = (op->n & 0xff) % (MAX_ENTRIES + 1), i;
    struct {
        struct virtio_hmm_req_fault_reply r;
        struct virtio_hmm_reply_entry e[MAX_ENTRIES];
    } QEMU_PACKED r = { .r.head = mkhead(op, VIRTIO_HMM_T_FAULT_REPLY) };

    r.r.nr = cpu_to_le32((op->flags & 0xf0) == 0x10 ? op->y : nr);
    for (i = 0; i < nr; i++) {
        FuzzReply e;

        take(&e, sizeof(e));
        r.e[i].tag = cpu_to_le64(0x100 + e.tag);
        r.e[i].asid = cpu_to_le32(fuzz_asid(e.asid));
        r.e[i].action = cpu_to_le32(e.action < 0x80 ? e.action & 1 : e.action);
    }
    submit(op, VIRTIO_HMM_VQ_REQUEST, &r, sizeof(r.r) + nr * sizeof(r.e[0]),
           TAIL);
}

static void op_job_rw(const FuzzOp *op)
{
    static const uint16_t types[] = {
        VIRTIO_HMM_T_JOB_READ, VIRTIO_HMM_T_JOB_WRITE,
        VIRTIO_HMM_T_JOB_FILL, VIRTIO_HMM_T_JOB_COPY,
    };
    uint16_t type = types[op->n & 3];
    g_autofree uint8_t *buf = NULL;
    struct virtio_hmm_job_rw j = { .head = mkhead(op, type) };
    uint64_t len, data = 0;

    j.va = cpu_to_le64(fuzz_va(op->sel_a, op->x));
    j.va2 = cpu_to_le64(fuzz_va(op->sel_b, op->x >> 32));
    j.pattern = cpu_to_le64(op->y);
    switch ((op->n >> 2) & 3) {
    case 0:
        len = (op->y >> 40) % 4096 + 1;     /* small */
        break;
    case 1:
        len = ((op->y >> 40) % 17) * PAGE;  /* pages, 0 included */
        break;
    case 2:
        len = 256 * 1024 + (op->y & 1);     /* around max_job_bytes? */
        break;
    default:
        len = op->y;                        /* raw */
    }
    j.length = cpu_to_le64(len);
    /* the data of READ and WRITE, bounded by MAX_BUF (a shorter buffer) */
    if (type == VIRTIO_HMM_T_JOB_READ || type == VIRTIO_HMM_T_JOB_WRITE) {
        data = MIN(len, MAX_BUF);
    }
    buf = g_malloc0(sizeof(j) + (type == VIRTIO_HMM_T_JOB_WRITE ? data : 0));
    memcpy(buf, &j, sizeof(j));
    if (type == VIRTIO_HMM_T_JOB_WRITE) {
        memset(buf + sizeof(j), op->n >> 8, data);
        submit(op, VIRTIO_HMM_VQ_JOB, buf, sizeof(j) + data, TAIL);
    } else {
        submit(op, VIRTIO_HMM_VQ_JOB, buf, sizeof(j),
               (type == VIRTIO_HMM_T_JOB_READ ? data : 0) + TAIL);
    }
}

static void op_job_atomic(const FuzzOp *op)
{
    struct virtio_hmm_job_atomic a = {
        .head = mkhead(op, VIRTIO_HMM_T_JOB_ATOMIC),
        .va = cpu_to_le64(fuzz_va(op->sel_a, op->x)),
        .operand = cpu_to_le64(op->y),
        .compare = cpu_to_le64(op->y >> 8),
    };
    uint32_t opc = op->n & 0xf, size = (op->n >> 4) & 0xf;

    a.op = cpu_to_le32(opc < 8 ? opc % 3 : opc);
    a.size = cpu_to_le32(size < 8 ? (size & 1 ? 8 : 4) : size);
    submit(op, VIRTIO_HMM_VQ_JOB, &a, sizeof(a),
           sizeof(struct virtio_hmm_atomic_result) + TAIL);
}

static void op_job_chase(const FuzzOp *op)
{
    static const uint32_t sizes[] = { 1, 2, 4, 8, 0, 3, 16, 8 };
    uint32_t nodes = op->sel_b & 0x80 ? op->y >> 32 : (op->n & 0xff) % 64;
    struct virtio_hmm_job_chase c = {
        .head = mkhead(op, VIRTIO_HMM_T_JOB_CHASE),
        .va = cpu_to_le64(fuzz_va(op->sel_a, op->x)),
        .next_offset = cpu_to_le32(op->y & 0xfff),
        .value_offset = cpu_to_le32((op->y >> 12) & 0xfff),
        .value_size = cpu_to_le32(sizes[op->sel_b & 7]),
    };

    if (nodes > HMM_FUZZ_CHASE_NODES && nodes <= fz.d->max_chase_nodes) {
        nodes = HMM_FUZZ_CHASE_NODES;
    }
    c.max_nodes = cpu_to_le32(nodes);
    submit(op, VIRTIO_HMM_VQ_JOB, &c, sizeof(c),
           sizeof(struct virtio_hmm_chase_result) + TAIL);
}

static void op_fault_bufs(const FuzzOp *op)
{
    int i, nr = (op->n & 0xff) % 8 + 1;

    for (i = 0; i < nr; i++) {
        /* a proper buffer: device-writable, a whole record */
        submit(op, VIRTIO_HMM_VQ_FAULT, NULL, 0,
               sizeof(struct virtio_hmm_fault));
    }
}

static void op_raw(const FuzzOp *op)
{
    uint8_t body[sizeof(struct virtio_hmm_head) + 256];
    struct virtio_hmm_head head = mkhead(op, op->x & 0xffff);
    size_t n = op->n & 0xff;
    int q = op->sel_a % VIRTIO_HMM_NR_VQS;

    memcpy(body, &head, sizeof(head));
    take(body + sizeof(head), n);
    submit(op, q, body, (op->sel_b & 1) ? n : sizeof(head) + n,
           (op->y % 64) + ((op->sel_b & 2) ? 0 : TAIL));
}

static void op_memwrite(const FuzzOp *op)
{
    uint8_t buf[256];
    size_t n = op->n & 0xff;
    uint64_t gpa = fz.arena + op->x % (DATA_PAGES * PAGE - n);

    take(buf, n);
    if (op->sel_a & 1) {
        /* a pointer, for CHASE's lists: a device virtual address */
        qtest_writeq(fz.qts, gpa & ~7ULL, fuzz_va(op->sel_b, op->y));
    } else {
        qtest_memwrite(fz.qts, gpa, buf, n);
    }
}

/*
 * Stop or start the VM as the devices see it: the run state and its
 * change handlers, as vm_stop() and vm_start() do, without pausing and
 * resuming the vCPU threads, which a forked child does not have (and
 * under accel=qtest they run nothing).
 */
static void set_running(bool running)
{
    if (running) {
        runstate_set(RUN_STATE_RUNNING);
        vm_state_notify(true, RUN_STATE_RUNNING);
    } else {
        runstate_set(RUN_STATE_PAUSED);
        vm_state_notify(false, RUN_STATE_PAUSED);
    }
}

static void run(void)
{
    while (fz.size >= sizeof(FuzzOp)) {
        FuzzOp op;
        uint8_t type;

        take(&op, sizeof(op));
        op.x = le64_to_cpu(op.x);
        op.y = le64_to_cpu(op.y);
        op.n = le16_to_cpu(op.n);
        switch (op.op % FUZZ_OP__MAX) {
        case FUZZ_OP_CREATE_AS:
        case FUZZ_OP_DESTROY_AS:
        case FUZZ_OP_GET_STATS: {
            struct virtio_hmm_head head;

            type = op.op % FUZZ_OP__MAX == FUZZ_OP_CREATE_AS ?
                   VIRTIO_HMM_T_CREATE_AS :
                   op.op % FUZZ_OP__MAX == FUZZ_OP_DESTROY_AS ?
                   VIRTIO_HMM_T_DESTROY_AS : VIRTIO_HMM_T_GET_STATS;
            head = mkhead(&op, type);
            submit(&op, VIRTIO_HMM_VQ_REQUEST, &head, sizeof(head),
                   (type == VIRTIO_HMM_T_GET_STATS ?
                    sizeof(struct virtio_hmm_stats) : 0) + TAIL);
            break;
        }
        case FUZZ_OP_MAP:
            op_map(&op);
            break;
        case FUZZ_OP_UNMAP:
            op_unmap(&op);
            break;
        case FUZZ_OP_QUERY:
            op_query(&op);
            break;
        case FUZZ_OP_COPY:
            op_copy(&op);
            break;
        case FUZZ_OP_FAULT_REPLY:
            op_fault_reply(&op);
            break;
        case FUZZ_OP_JOB_RW:
            op_job_rw(&op);
            break;
        case FUZZ_OP_JOB_ATOMIC:
            op_job_atomic(&op);
            break;
        case FUZZ_OP_JOB_CHASE:
            op_job_chase(&op);
            break;
        case FUZZ_OP_FAULT_BUFS:
            op_fault_bufs(&op);
            break;
        case FUZZ_OP_QUEUE_RESET:
            queue_reset(fz.d, op.n % VIRTIO_HMM_NR_VQS);
            break;
        case FUZZ_OP_DEVICE_RESET:
            dev_setup(fz.d);
            break;
        case FUZZ_OP_RAW:
            op_raw(&op);
            break;
        case FUZZ_OP_MEMWRITE:
            op_memwrite(&op);
            break;
        case FUZZ_OP_SWITCH:
            fz.d = &fz.dev[op.n & 1];
            break;
        case FUZZ_OP_SETTLE:
            qtest_clock_step(fz.qts, op.x % 1000000);
            break;
        case FUZZ_OP_RUNSTATE:
            set_running(!runstate_is_running());
            break;
        }
        settle();
    }
    if (!runstate_is_running()) {
        set_running(true);
        settle();
    }
}

/* Set-up: the second (coherent) device, the arena, the device states */

static int find_hmm(Object *obj, void *opaque)
{
    int *n = opaque;

    if (object_dynamic_cast(obj, TYPE_VIRTIO_HMM) && *n < NR_DEVS) {
        VirtIOHMM *s = VIRTIO_HMM(obj);

        /* the private one first */
        hmm_state[s->coherent ? 1 : 0] = s;
        (*n)++;
    }
    return 0;
}

static void dev_init(FuzzDev *d, QVirtioHMM *h)
{
    QVirtioPCIDevice *p = container_of(h->vdev, QVirtioPCIDevice, vdev);
    QPCIDevice *pdev = p->pdev;

    d->h = h;
    d->pci = p;
    d->cfg_gpa = p->bar.addr + p->common_cfg_offset;
    d->devcfg_gpa = p->bar.addr + p->device_cfg_offset;
    d->notify_gpa = p->bar.addr + p->notify_cfg_offset;
    if (!pdev->msix_enabled) {
        qpci_msix_enable(pdev);
    }
    d->msix_gpa = pdev->msix_table_bar.addr + pdev->msix_table_off;
    d->max_asids = qvirtio_config_readl(h->vdev,
                       offsetof(struct virtio_hmm_config, max_asids));
    d->max_chase_nodes = qvirtio_config_readl(h->vdev,
                             offsetof(struct virtio_hmm_config,
                                      max_job_bytes)) / sizeof(uint64_t);
}

static void hmm_fuzz_pre(QTestState *s)
{
    QVirtioHMM *h0;
    QPCIAddress addr = { .devfn = QPCI_DEVFN(5, 0) };
    QPCIBar shm;
    uint64_t size;
    int n = 0, i;

    qos_init_path(s);
    counter_shm_init();
    fz.qts = s;
    h0 = fuzz_qos_obj;

    virtio_pci_init(&coherent_dev.pci_vdev, h0->pdev->bus, &addr);
    coherent_dev.hmm.vdev = &coherent_dev.pci_vdev.vdev;
    coherent_dev.hmm.pdev = coherent_dev.pci_vdev.pdev;
    coherent_dev.hmm.alloc = fuzz_qos_alloc;
    qvirtio_pci_start_hw(&coherent_dev.pci_vdev.obj);
    qvirtio_hmm_setup(&coherent_dev.hmm);
    shm = qpci_iomap(coherent_dev.hmm.pdev, 2, &size);
    g_assert(size == VRAM_SIZE);

    dev_init(&fz.dev[0], h0);
    dev_init(&fz.dev[1], &coherent_dev.hmm);
    fz.dev[1].shm_gpa = shm.addr;

    object_child_foreach_recursive(object_get_root(), find_hmm, &n);
    g_assert(n == NR_DEVS && hmm_state[0] && hmm_state[1]);

    fz.arena = guest_alloc(fuzz_qos_alloc, ARENA_PAGES * PAGE);
    g_assert(!(fz.arena & (PAGE - 1)));
    /* data pages: every 8-byte word names its page and offset */
    for (i = 0; i < DATA_PAGES * PAGE / 8; i++) {
        uint64_t w = cpu_to_le64(0xd00d000000000000ULL | (uint64_t)i * 8);

        memcpy(data_pages_init + i * 8, &w, 8);
    }
    qtest_memwrite(s, fz.arena, data_pages_init, sizeof(data_pages_init));
    flush_events(s);
    /*
     * fork() copies no thread: the worker must start in the child (on its
     * first element), never here
     */
    g_assert(!hmm_state[0]->thread_started && !hmm_state[1]->thread_started);
}

/*
 * Hangs.  QEMU blocks SIGALRM, so libFuzzer's -timeout never fires: the
 * no-fork target has a watchdog thread, the fork-based one waits for its
 * child with a deadline.  Either aborts, and libFuzzer keeps the input.
 */
static gint64 input_deadline;

static void *watchdog(void *opaque)
{
    for (;;) {
        gint64 d = qatomic_read(&input_deadline);

        if (d && g_get_monotonic_time() > d) {
            fprintf(stderr, "virtio-hmm-fuzz: an input ran for more than "
                    "%d s\n", HMM_FUZZ_INPUT_S);
            abort();
        }
        g_usleep(G_USEC_PER_SEC / 4);
    }
    return NULL;
}

static gint64 deadline(void)
{
    return g_get_monotonic_time() + HMM_FUZZ_INPUT_S * G_USEC_PER_SEC;
}

static void start(const unsigned char *data, size_t size)
{
    fz.data = data;
    fz.size = size;
    fz.d = &fz.dev[0];
    fz.bump = 0;
}

static void hmm_fork_fuzz(QTestState *s, const unsigned char *data,
                          size_t size)
{
    gint64 end = deadline();
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        start(data, size);
        run();
        flush_events(s);
        _Exit(0);
    }
    g_assert(pid > 0);
    flush_events(s);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (g_get_monotonic_time() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "virtio-hmm-fuzz: an input ran for more than "
                    "%d s\n", HMM_FUZZ_INPUT_S);
            abort();
        }
        g_usleep(20);
    }
}

static void hmm_reset_fuzz(QTestState *s, const unsigned char *data,
                           size_t size)
{
    static QemuThread wd;
    int i;

    if (!qatomic_read(&input_deadline)) {
        qemu_thread_create(&wd, "fuzz-watchdog", watchdog, NULL,
                           QEMU_THREAD_DETACHED);
    }
    qatomic_set(&input_deadline, deadline());
    /* as after a driver's probe: both devices fresh, the data pages too */
    for (i = 0; i < NR_DEVS; i++) {
        dev_setup(&fz.dev[i]);
    }
    qtest_memwrite(s, fz.arena, data_pages_init, sizeof(data_pages_init));
    start(data, size);
    run();
    settle();
    qatomic_set(&input_deadline, INT64_MAX);
}

static void *hmm_fuzz_cmdline(GString *cmd_line, void *arg)
{
    /*
     * The libqos node is the private device at 04.0.  Debian's firmware
     * paths: this build installs no blobs.  ioeventfd=off: a kick runs
     * the device's handler inside the notify write, as the qtests see it,
     * without a trip through the main loop; and with ioeventfd on,
     * DRIVER_OK fires each queue's notifier once, which would start the
     * worker in the parent (the fork-based target needs it in the child).
     * hpet=off: a fuzzed completion that programs the HPET makes every
     * later clock step fire its timer forever (and the no-fork target
     * would keep that from one input to the next).
     */
    g_string_append_printf(cmd_line,
                           " -nodefaults -L /usr/share/seabios"
                           " -L /usr/share/qemu"
                           " -machine hpet=off"
                           " -global virtio-hmm-pci.ioeventfd=off"
                           " -global virtio-hmm-device.vram-size=%llu"
                           " -device virtio-hmm-pci,addr=05.0,mode=coherent ",
                           VRAM_SIZE);
    /* HMM_FUZZ_TRACE=virtio_hmm_complete: what each request came to */
    if (getenv("HMM_FUZZ_TRACE")) {
        g_string_append_printf(cmd_line, " -trace '%s' ",
                               getenv("HMM_FUZZ_TRACE"));
    }
    return arg;
}

static void register_virtio_hmm_fuzz_targets(void)
{
    fuzz_add_qos_target(&(FuzzTarget){
                .name = "virtio-hmm-fuzz",
                .description = "Fuzz virtio-hmm (private and coherent) with "
                               "well-formed requests and jobs, forking for "
                               "each input",
                .pre_vm_init = &counter_shm_init,
                .pre_fuzz = &hmm_fuzz_pre,
                .fuzz = hmm_fork_fuzz,},
                "virtio-hmm",
                &(QOSGraphTestOptions){.before = hmm_fuzz_cmdline}
                );

    fuzz_add_qos_target(&(FuzzTarget){
                .name = "virtio-hmm-reset-fuzz",
                .description = "Fuzz virtio-hmm (private and coherent) with "
                               "well-formed requests and jobs, resetting "
                               "the devices before each input (no fork)",
                .pre_fuzz = &hmm_fuzz_pre,
                .fuzz = hmm_reset_fuzz,},
                "virtio-hmm",
                &(QOSGraphTestOptions){.before = hmm_fuzz_cmdline}
                );
}

fuzz_target_init(register_virtio_hmm_fuzz_targets);
