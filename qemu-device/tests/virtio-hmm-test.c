/*
 * QTest testcases for the virtio-hmm device: every request and job
 *
 * Each test builds requests and jobs in guest memory, kicks the queue and
 * checks the used element, the status in the tail and the data.  The
 * malformed-request tests check the exact status and that the device
 * (and QEMU) still serves a valid request afterwards.  Helpers are in
 * virtio-hmm-lib.c; the other virtio-hmm-*-test.c files test one concern
 * each.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qnum.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_pci.h"
#include "hw/pci/pci_regs.h"
#include "virtio-hmm-lib.h"

/* Tests */

static void test_config(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t f = qvirtio_get_features(h->vdev);

    g_assert_cmphex(cfg64(h, offsetof(struct virtio_hmm_config, devmem_size)),
                    ==, 64 << 20);
    g_assert_cmpint(CFG32(h, page_size), ==, PAGE);
    g_assert_cmpint(CFG32(h, max_asids), ==, 64);
    g_assert_cmpint(CFG32(h, max_map_pages), >=, 1);
    g_assert_cmpint(CFG32(h, max_copy_pages), >=, 1);
    g_assert_cmpint(CFG32(h, max_job_bytes), >=, PAGE);
    g_assert_cmpint(CFG32(h, max_stalled_jobs), ==, 16);
    g_assert_cmpint(CFG32(h, max_page_tables), ==, 16384);
    g_assert_cmpint(CFG32(h, reserved), ==, 0);
    g_assert_true(f & (1ull << VIRTIO_HMM_F_ATOMICS));
    g_assert_true(f & (1ull << VIRTIO_HMM_F_REPLAYABLE_FAULTS));
    g_assert_false(f & (1ull << VIRTIO_HMM_F_COHERENT));
    g_assert_true(f & (1ull << VIRTIO_F_VERSION_1));
}

static void test_address_spaces(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint32_t max = CFG32(h, max_asids), count;
    uint64_t gpa = page_alloc(h, 2);
    uint8_t buf[16];

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_create_as(h, max - 1), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_BUSY);
    hmm_map_ram(h, 0, 0x10000, gpa, 2, VIRTIO_HMM_PTE_READ);
    g_assert_cmpint(hmm_destroy_as(h, 0, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 0);
    g_assert_cmpint(hmm_destroy_as(h, 0, NULL), ==, VIRTIO_HMM_S_NOASID);
    g_assert_cmpint(hmm_job_read(h, 0, 0x10000, buf, sizeof(buf), NULL), ==,
                    VIRTIO_HMM_S_NOASID);
    /* a new address space with the same id starts empty */
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(hmm_query1(h, 0, 0x10000), ==, 0);
    g_assert_cmpint(hmm_destroy_as(h, max - 1, NULL), ==, VIRTIO_HMM_S_OK);
}

static void test_map_query_unmap(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 0x7f0000000000ULL;
    uint64_t rwa = VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_PERM_MASK;
    uint64_t pte[4] = {
        0x100000 | rwa,
        0x200000 | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ,
        0x3000 | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ |
            VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_DEVMEM,
        0x400000 | rwa,
    };
    uint64_t got[5];
    uint32_t count;

    g_assert_cmpint(hmm_create_as(h, 3), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 3, va, 4, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_query(h, 3, va - PAGE, 5, got), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(got[0], ==, 0);
    g_assert_cmphex(got[1], ==, pte[0]);
    g_assert_cmphex(got[2], ==, pte[1]);
    g_assert_cmphex(got[3], ==, pte[2]);
    g_assert_cmphex(got[4], ==, pte[3]);

    /* removing WRITE also removes ATOMIC */
    g_assert_cmpint(hmm_unmap(h, 3, va, PAGE, VIRTIO_HMM_PTE_WRITE, &count),
                    ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmphex(hmm_query1(h, 3, va), ==,
                    0x100000 | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ);
    /* removing only ATOMIC keeps READ|WRITE */
    g_assert_cmpint(hmm_unmap(h, 3, va + 3 * PAGE, PAGE,
                              VIRTIO_HMM_PTE_ATOMIC, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmphex(hmm_query1(h, 3, va + 3 * PAGE), ==,
                    pte[3] & ~(uint64_t)VIRTIO_HMM_PTE_ATOMIC);
    /* perm 0 removes the entry; pages without an entry do not count */
    g_assert_cmpint(hmm_unmap(h, 3, va + PAGE, 8 * PAGE, 0, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 3);
    g_assert_cmphex(hmm_query1(h, 3, va + PAGE), ==, 0);
    g_assert_cmphex(hmm_query1(h, 3, va), !=, 0);
    /* an entry without VALID in a MAP removes the translation */
    pte[0] = 0;
    g_assert_cmpint(hmm_map(h, 3, va, 1, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(hmm_query1(h, 3, va), ==, 0);

    /* unmap everything: va 0, length 0 means "to the top" */
    pte[0] = 0x5000 | rwa;
    g_assert_cmpint(hmm_map(h, 3, 0, 1, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 3, ~0ULL - PAGE + 1, 1, pte), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 3, va, 1, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_unmap(h, 3, 0, 0, 0, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 3);
    g_assert_cmphex(hmm_query1(h, 3, 0), ==, 0);
    g_assert_cmphex(hmm_query1(h, 3, va), ==, 0);
    g_assert_cmphex(hmm_query1(h, 3, ~0ULL - PAGE + 1), ==, 0);
}

static void test_job_read_write(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 0x400000;
    uint64_t gpa = page_alloc(h, 3);
    uint8_t in[3 * PAGE], out[3 * PAGE], mem[3 * PAGE];
    uint32_t count;

    g_assert_cmpint(hmm_create_as(h, 1), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 1, va, gpa, 3, VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);

    /* WRITE across pages at an odd offset, checked in guest RAM */
    fill_pattern(in, sizeof(in), 1);
    g_assert_cmpint(hmm_job_write(h, 1, va + 123, in, 2 * PAGE + 77), ==,
                    VIRTIO_HMM_S_OK);
    qtest_memread(global_qtest, gpa, mem, sizeof(mem));
    g_assert_cmpint(mem[122], ==, 0);
    g_assert_cmpmem(mem + 123, 2 * PAGE + 77, in, 2 * PAGE + 77);
    g_assert_cmpint(mem[123 + 2 * PAGE + 77], ==, 0);

    /* READ it back through the device */
    fill_pattern(mem, sizeof(mem), 9);
    qtest_memwrite(global_qtest, gpa, mem, sizeof(mem));
    g_assert_cmpint(hmm_job_read(h, 1, va + 5, out, 3 * PAGE - 5, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 3 * PAGE - 5);
    g_assert_cmpmem(out, 3 * PAGE - 5, mem + 5, 3 * PAGE - 5);
}

static void test_job_fill_copy(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 0x800000;
    const uint64_t pattern = 0x0123456789abcdefULL;
    uint64_t gpa = page_alloc(h, 4);
    uint8_t mem[4 * PAGE], src[PAGE + 100];
    uint64_t i;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, va, gpa, 4, VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);

    g_assert_cmpint(hmm_job_fill(h, 0, va + 3, PAGE + 10, pattern), ==,
                    VIRTIO_HMM_S_OK);
    qtest_memread(global_qtest, gpa, mem, sizeof(mem));
    g_assert_cmpint(mem[2], ==, 0);
    for (i = 0; i < PAGE + 10; i++) {
        g_assert_cmphex(mem[3 + i], ==, (uint8_t)(pattern >> ((i % 8) * 8)));
    }
    g_assert_cmpint(mem[3 + PAGE + 10], ==, 0);

    /* COPY between two misaligned ranges in different pages */
    fill_pattern(src, sizeof(src), 42);
    qtest_memwrite(global_qtest, gpa + 2 * PAGE + 17, src, sizeof(src));
    g_assert_cmpint(hmm_job_copy(h, 0, va + 1000, va + 2 * PAGE + 17,
                                 sizeof(src)), ==, VIRTIO_HMM_S_OK);
    qtest_memread(global_qtest, gpa + 1000, mem, sizeof(src));
    g_assert_cmpmem(mem, sizeof(src), src, sizeof(src));
}

static void test_copy_engine(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 4);
    uint64_t src[2] = { gpa, gpa + PAGE }, dst[2] = { 5 * PAGE, 9 * PAGE };
    uint8_t a[2 * PAGE], b[2 * PAGE];
    uint32_t count;

    fill_pattern(a, sizeof(a), 3);
    qtest_memwrite(global_qtest, gpa, a, sizeof(a));
    g_assert_cmpint(hmm_copy(h, VIRTIO_HMM_COPY_TO_DEV, 2, src, dst, &count),
                    ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 2);
    hmm_copy1(h, VIRTIO_HMM_COPY_DEV_TO_DEV, 9 * PAGE, 12 * PAGE);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, 5 * PAGE, gpa + 2 * PAGE);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, 12 * PAGE, gpa + 3 * PAGE);
    qtest_memread(global_qtest, gpa + 2 * PAGE, b, sizeof(b));
    g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
}

/* Jobs through DEVMEM entries reach the same memory as the copy engine */
static void test_devmem_jobs(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1);
    uint64_t devoff = 20 * PAGE;
    uint8_t in[PAGE], out[PAGE];

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, 0x1000, devoff,  1, VIRTIO_HMM_PTE_READ |
                VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_DEVMEM);
    fill_pattern(in, sizeof(in), 77);
    g_assert_cmpint(hmm_job_write(h, 0, 0x1000, in, PAGE), ==,
                    VIRTIO_HMM_S_OK);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, devoff, gpa);
    qtest_memread(global_qtest, gpa, out, sizeof(out));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
}

static void atomic_checks(QVirtioHMM *h, uint64_t va, uint64_t *mem_gpa)
{
    uint64_t old;

    /* 8 bytes */
    g_assert_cmpint(hmm_job_atomic(h, 0, va, VIRTIO_HMM_ATOMIC_FETCH_ADD, 8,
                                   5, 0, &old), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 0x1111111111111111ULL);
    g_assert_cmpint(hmm_job_atomic(h, 0, va, VIRTIO_HMM_ATOMIC_XCHG, 8,
                                   0xdeadbeefcafef00dULL, 0, &old), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 0x1111111111111116ULL);
    g_assert_cmpint(hmm_job_atomic(h, 0, va, VIRTIO_HMM_ATOMIC_CMPXCHG, 8,
                                   7, 1, &old), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 0xdeadbeefcafef00dULL);       /* no swap */
    g_assert_cmpint(hmm_job_atomic(h, 0, va, VIRTIO_HMM_ATOMIC_CMPXCHG, 8,
                                   7, 0xdeadbeefcafef00dULL, &old), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 0xdeadbeefcafef00dULL);
    /* 4 bytes at va + 8: wraps at 32 bits, leaves its neighbours alone */
    g_assert_cmpint(hmm_job_atomic(h, 0, va + 8, VIRTIO_HMM_ATOMIC_FETCH_ADD,
                                   4, 2, 0, &old), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 0xffffffff);
    g_assert_cmpint(hmm_job_atomic(h, 0, va + 8, VIRTIO_HMM_ATOMIC_CMPXCHG,
                                   4, 9, 1, &old), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 1);
    g_assert_cmpint(hmm_job_atomic(h, 0, va + 8, VIRTIO_HMM_ATOMIC_XCHG,
                                   4, 0xabcd, 0, &old), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 9);
    if (mem_gpa) {
        g_assert_cmphex(qtest_readq(global_qtest, *mem_gpa), ==, 7);
        g_assert_cmphex(qtest_readl(global_qtest, *mem_gpa + 8), ==, 0xabcd);
        g_assert_cmphex(qtest_readl(global_qtest, *mem_gpa + 12), ==,
                        0x22222222);
    }
}

static void test_atomics(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 2);
    uint64_t devoff = 3 * PAGE;
    uint64_t pte = devoff | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_PERM_MASK |
                   VIRTIO_HMM_PTE_DEVMEM;
    uint32_t st;
    struct virtio_hmm_stats stats;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    /* guest RAM */
    qtest_writeq(global_qtest, gpa, 0x1111111111111111ULL);
    qtest_writel(global_qtest, gpa + 8, 0xffffffff);
    qtest_writel(global_qtest, gpa + 12, 0x22222222);
    hmm_map_ram(h, 0, 0x10000, gpa, 1, VIRTIO_HMM_PTE_PERM_MASK);
    atomic_checks(h, 0x10000, &gpa);

    /* device memory, seeded through the copy engine */
    qtest_writeq(global_qtest, gpa + PAGE, 0x1111111111111111ULL);
    qtest_writel(global_qtest, gpa + PAGE + 8, 0xffffffff);
    qtest_writel(global_qtest, gpa + PAGE + 12, 0x22222222);
    hmm_copy1(h, VIRTIO_HMM_COPY_TO_DEV, gpa + PAGE, devoff);
    g_assert_cmpint(hmm_map(h, 0, 0x20000, 1, &pte), ==, VIRTIO_HMM_S_OK);
    atomic_checks(h, 0x20000, NULL);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, devoff, gpa + PAGE);
    g_assert_cmphex(qtest_readq(global_qtest, gpa + PAGE), ==, 7);
    g_assert_cmphex(qtest_readl(global_qtest, gpa + PAGE + 8), ==, 0xabcd);

    hmm_get_stats(h, &stats);
    g_assert_cmpint(stats.atomics, ==, 14);

    /* read+write without ATOMIC: the job faults, and stalls */
    hmm_map_ram(h, 0, 0x30000, gpa, 1,
                VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);
    {
        struct virtio_hmm_job_atomic a = mkatomic(0, 0x30000,
                                                  VIRTIO_HMM_ATOMIC_XCHG, 8,
                                                  1, 0);
        struct virtio_hmm_fault rec;
        HMMElem e, fe;
        uint32_t count;

        a.head.tag = cpu_to_le64(0xa70);
        hmm_submit(h, &e, JOBQ, &a, sizeof(a),
                   sizeof(struct virtio_hmm_atomic_result) + TAIL);
        hmm_add_fault_buf(h, &fe);
        hmm_wait_fault(h, &fe, &rec);
        g_assert_cmphex(le64_to_cpu(rec.tag), ==, 0xa70);
        g_assert_cmphex(le64_to_cpu(rec.va), ==, 0x30000);
        g_assert_cmpint(le32_to_cpu(rec.access), ==, VIRTIO_HMM_ACCESS_ATOMIC);
        g_assert_cmpint(le32_to_cpu(rec.present), ==, 1);
        /* grant ATOMIC, retry */
        hmm_map_ram(h, 0, 0x30000, gpa, 1, VIRTIO_HMM_PTE_PERM_MASK);
        g_assert_cmpint(hmm_fault_reply(h, 0xa70, 0, VIRTIO_HMM_REPLY_RETRY,
                                        &count), ==, VIRTIO_HMM_S_OK);
        g_assert_cmpint(count, ==, 1);
        st = hmm_wait(h, &e, NULL, NULL);
        g_assert_cmpint(st, ==, VIRTIO_HMM_S_OK);
        g_assert_cmphex(qtest_readq(global_qtest, gpa), ==, 1);
    }
}

/* Without REPLAYABLE_FAULTS, a missing ATOMIC permission is S_FAULT */
static void test_atomic_fault_nonreplayable(void *obj, void *data,
                                            QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1);
    uint64_t old;

    g_assert_false(qvirtio_get_features(h->vdev) &
                   (1ull << VIRTIO_HMM_F_REPLAYABLE_FAULTS));
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    qtest_writeq(global_qtest, gpa, 42);
    hmm_map_ram(h, 0, 0x10000, gpa, 1,
                VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);
    g_assert_cmpint(hmm_job_atomic(h, 0, 0x10000, VIRTIO_HMM_ATOMIC_FETCH_ADD,
                                   8, 1, 0, &old), ==, VIRTIO_HMM_S_FAULT);
    g_assert_cmphex(qtest_readq(global_qtest, gpa), ==, 42);
}

/* Without REPLAYABLE_FAULTS, a job stops at the first fault: S_FAULT */
static void test_fault_nonreplayable(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1);
    uint8_t buf[2 * PAGE];
    uint32_t count;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, 0x10000, gpa, 1, VIRTIO_HMM_PTE_READ);
    g_assert_cmpint(hmm_job_read(h, 0, 0x10000 + 100, buf, PAGE, &count), ==,
                    VIRTIO_HMM_S_FAULT);
    g_assert_cmpint(count, ==, PAGE - 100);
    /* read-only entry: a WRITE job faults at once */
    g_assert_cmpint(hmm_job_write(h, 0, 0x10000, buf, 8), ==,
                    VIRTIO_HMM_S_FAULT);
}

/*
 * The invalidation guarantee: a long FILL job runs over max_job_bytes of
 * device memory whose last page is a page of guest RAM instead; an UNMAP
 * of that page completes while the job may still run.  Whatever the
 * timing, the page must not change after the UNMAP completed, and the job
 * either had filled it before (S_OK) or stops exactly there (S_FAULT).
 */
static void test_unmap_during_job(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 1ULL << 40;
    const uint64_t pattern = 0x0706050403020100ULL;
    uint64_t bytes = CFG32(h, max_job_bytes);
    uint64_t pages = bytes / PAGE, last = va + bytes - PAGE, i;
    uint64_t scratch = page_alloc(h, 1);
    g_autofree uint64_t *pte = g_new(uint64_t, CFG32(h, max_map_pages));
    uint8_t before[PAGE], after[PAGE];
    struct virtio_hmm_job_rw j;
    HMMElem job, unmap;
    struct virtio_hmm_req_unmap u = {
        .head = mkhead(VIRTIO_HMM_T_UNMAP, 0),
        .va = cpu_to_le64(last),
        .length = cpu_to_le64(PAGE),
    };
    uint32_t count, st;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    for (i = 0; i < pages; i += CFG32(h, max_map_pages)) {
        uint32_t k, n = MIN(pages - i, CFG32(h, max_map_pages));

        for (k = 0; k < n; k++) {
            pte[k] = ((i + k) * PAGE) | VIRTIO_HMM_PTE_VALID |
                     VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_DEVMEM;
        }
        if (i + n == pages) {
            pte[n - 1] = scratch | VIRTIO_HMM_PTE_VALID |
                         VIRTIO_HMM_PTE_WRITE;
        }
        g_assert_cmpint(hmm_map(h, 0, va + i * PAGE, n, pte), ==,
                        VIRTIO_HMM_S_OK);
    }

    j = mkjob(VIRTIO_HMM_T_JOB_FILL, 0, 0xf111, va, bytes);
    j.pattern = cpu_to_le64(pattern);
    hmm_submit(h, &job, JOBQ, &j, sizeof(j), TAIL);
    hmm_submit(h, &unmap, REQQ, &u, offsetof(typeof(u), tail), TAIL);
    g_assert_cmpint(hmm_wait(h, &unmap, NULL, NULL), ==, VIRTIO_HMM_S_OK);
    qtest_memread(global_qtest, scratch, before, sizeof(before));
    st = hmm_wait(h, &job, NULL, &count);
    qtest_memread(global_qtest, scratch, after, sizeof(after));
    g_assert_cmpmem(before, sizeof(before), after, sizeof(after));
    if (st == VIRTIO_HMM_S_OK) {
        g_assert_cmphex(ldq_le_p(after), ==, pattern);
        g_test_message("the job was past the page before the UNMAP");
    } else {
        g_assert_cmpint(st, ==, VIRTIO_HMM_S_FAULT);
        g_assert_cmpint(count, ==, bytes - PAGE);
        g_assert_cmphex(ldq_le_p(after), ==, 0);
        g_test_message("the UNMAP overtook the job");
    }
}

/* Fault, record (buffer added after the fault), MAP, RETRY, data */
static void test_fault_retry(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 0x200000;
    uint64_t gpa = page_alloc(h, 2);
    uint8_t mem[2 * PAGE], out[2 * PAGE];
    struct virtio_hmm_fault rec;
    struct virtio_hmm_stats stats;
    HMMElem job, fe;
    uint32_t count;

    fill_pattern(mem, sizeof(mem), 11);
    qtest_memwrite(global_qtest, gpa, mem, sizeof(mem));
    g_assert_cmpint(hmm_create_as(h, 2), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 2, va, gpa, 1, VIRTIO_HMM_PTE_READ);

    /* the second page is missing: the job stalls there */
    hmm_submit_read(h, &job, 2, 0xfeed, va, 2 * PAGE);
    hmm_assert_pending(h, &job);
    hmm_add_fault_buf(h, &fe);
    hmm_wait_fault(h, &fe, &rec);
    g_assert_cmphex(le64_to_cpu(rec.tag), ==, 0xfeed);
    g_assert_cmphex(le64_to_cpu(rec.va), ==, va + PAGE);
    g_assert_cmpint(le32_to_cpu(rec.asid), ==, 2);
    g_assert_cmpint(le32_to_cpu(rec.access), ==, VIRTIO_HMM_ACCESS_READ);
    g_assert_cmpint(le32_to_cpu(rec.present), ==, 0);
    hmm_assert_pending(h, &job);

    /* requests are not blocked by the stalled job */
    hmm_map_ram(h, 2, va + PAGE, gpa + PAGE, 1, VIRTIO_HMM_PTE_READ);
    g_assert_cmpint(hmm_fault_reply(h, 0xfeed, 2, VIRTIO_HMM_REPLY_RETRY,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmpint(hmm_wait(h, &job, out, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 2 * PAGE);
    g_assert_cmpmem(out, sizeof(out), mem, sizeof(mem));

    hmm_get_stats(h, &stats);
    g_assert_cmpint(stats.faults, ==, 1);
    g_assert_cmpint(stats.retries, ==, 1);
    g_assert_cmpint(stats.cancels, ==, 0);
}

/* Fault, CANCEL; an unknown tag is ignored */
static void test_fault_cancel(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    struct virtio_hmm_fault rec;
    struct virtio_hmm_stats stats;
    HMMElem job, fe;
    uint32_t count;
    uint8_t buf[16];

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_add_fault_buf(h, &fe);
    {
        struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_WRITE, 0, 0xc0de,
                                           0x5000, 8);
        uint8_t req[sizeof(j) + 8] = { 0 };

        memcpy(req, &j, sizeof(j));
        hmm_submit(h, &job, JOBQ, req, sizeof(req), TAIL);
    }
    hmm_wait_fault(h, &fe, &rec);
    g_assert_cmphex(le64_to_cpu(rec.tag), ==, 0xc0de);
    g_assert_cmpint(le32_to_cpu(rec.access), ==, VIRTIO_HMM_ACCESS_WRITE);

    g_assert_cmpint(hmm_fault_reply(h, 0xbad, 0, VIRTIO_HMM_REPLY_RETRY,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 0);
    g_assert_cmpint(hmm_fault_reply(h, 0xc0de, 1, VIRTIO_HMM_REPLY_RETRY,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 0);          /* wrong address space */
    hmm_assert_pending(h, &job);
    g_assert_cmpint(hmm_fault_reply(h, 0xc0de, 0, VIRTIO_HMM_REPLY_CANCEL,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmpint(hmm_wait(h, &job, NULL, NULL), ==, VIRTIO_HMM_S_CANCELED);
    /* nothing is stalled any more, and the device still works */
    hmm_get_stats(h, &stats);
    g_assert_cmpint(stats.faults, ==, 1);
    g_assert_cmpint(stats.cancels, ==, 1);
    hmm_map_ram(h, 0, 0x5000, page_alloc(h, 1), 1, VIRTIO_HMM_PTE_READ);
    g_assert_cmpint(hmm_job_read(h, 0, 0x5000, buf, sizeof(buf), NULL), ==,
                    VIRTIO_HMM_S_OK);
}

/* DESTROY_AS cancels the stalled jobs of that address space */
static void test_fault_destroy_as(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    struct virtio_hmm_fault rec;
    struct virtio_hmm_stats stats;
    HMMElem job, fe;
    uint32_t count;

    g_assert_cmpint(hmm_create_as(h, 5), ==, VIRTIO_HMM_S_OK);
    hmm_add_fault_buf(h, &fe);
    hmm_submit_read(h, &job, 5, 0x77, 0x9000, 64);
    hmm_wait_fault(h, &fe, &rec);
    g_assert_cmpint(hmm_destroy_as(h, 5, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmpint(hmm_wait(h, &job, NULL, NULL), ==, VIRTIO_HMM_S_CANCELED);
    hmm_get_stats(h, &stats);
    g_assert_cmpint(stats.cancels, ==, 1);
    g_assert_cmpint(stats.address_spaces, ==, 0);
}

/* max-stalled-jobs=1: the second faulting job fails with S_NOSPC */
static void test_fault_nospc(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    HMMElem job1, job2, fe;
    struct virtio_hmm_fault rec;
    uint32_t count;

    g_assert_cmpint(CFG32(h, max_stalled_jobs), ==, 1);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_add_fault_buf(h, &fe);
    hmm_submit_read(h, &job1, 0, 1, 0x1000, 8);
    hmm_wait_fault(h, &fe, &rec);
    hmm_submit_read(h, &job2, 0, 2, 0x2000, 8);
    g_assert_cmpint(hmm_wait(h, &job2, NULL, NULL), ==, VIRTIO_HMM_S_NOSPC);
    g_assert_cmpint(hmm_fault_reply(h, 1, 0, VIRTIO_HMM_REPLY_CANCEL, &count),
                    ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_wait(h, &job1, NULL, NULL), ==, VIRTIO_HMM_S_CANCELED);
}

/*
 * max-stalled-jobs=1, no faultq buffer: a retried job that faults again
 * while its first record still waits fails with S_NOSPC, so records of a
 * driver that never adds buffers cannot pile up.
 */
static void test_fault_records_bounded(void *obj, void *data,
                                       QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    gint64 start = g_get_monotonic_time();
    struct virtio_hmm_stats st;
    struct virtio_hmm_fault rec;
    HMMElem job, fe;
    uint32_t count;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_submit_read(h, &job, 0, 0x5e, 0x1000, 8);
    do {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
        hmm_get_stats(h, &st);
    } while (!st.faults);
    g_assert_cmpint(hmm_fault_reply(h, 0x5e, 0, VIRTIO_HMM_REPLY_RETRY,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmpint(hmm_wait(h, &job, NULL, NULL), ==, VIRTIO_HMM_S_NOSPC);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.faults, ==, 1);
    /* the first record is still delivered */
    hmm_add_fault_buf(h, &fe);
    hmm_wait_fault(h, &fe, &rec);
    g_assert_cmphex(le64_to_cpu(rec.tag), ==, 0x5e);
}

/* CHASE: a list whose nodes straddle pages, in two address-space pages */
static void test_job_chase(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 0x40000000;
    uint64_t gpa = page_alloc(h, 2);
    struct virtio_hmm_chase_result res;
    /* node: u32 value at +0, pointer at +4 (unaligned on purpose) */
    const uint64_t node[4] = { 0x10, PAGE - 6, PAGE + 500, 2000 };
    uint64_t expect_sum = 0;
    int i;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, va, gpa, 2, VIRTIO_HMM_PTE_READ);
    for (i = 0; i < 4; i++) {
        uint32_t v = 1000 * (i + 1) + 0x80000000u;
        uint64_t next = i < 3 ? va + node[i + 1] : 0;
        uint8_t b[12];

        stl_le_p(b, v);
        stq_le_p(b + 4, next);
        qtest_memwrite(global_qtest, gpa + node[i], b, sizeof(b));
        expect_sum += v;
    }
    g_assert_cmpint(hmm_job_chase(h, 0, va + node[0], 4, 0, 4, 100, &res), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmphex(res.sum, ==, expect_sum);
    g_assert_cmpint(res.nodes, ==, 4);
    g_assert_cmphex(res.last, ==, va + node[3]);

    /* max_nodes stops it; 1-byte values */
    g_assert_cmpint(hmm_job_chase(h, 0, va + node[0], 4, 0, 1, 2, &res), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(res.nodes, ==, 2);
    g_assert_cmphex(res.sum, ==, (uint8_t)1000 + (uint8_t)2000);
    g_assert_cmphex(res.last, ==, va + node[1]);
}

static void test_stats(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 2);
    struct virtio_hmm_stats st;
    uint8_t buf[100];
    uint32_t count;

    hmm_get_stats(h, &st);
    g_assert_cmpint(st.requests, ==, 0);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);     /* 1 */
    hmm_map_ram(h, 0, 0x1000, gpa, 2, VIRTIO_HMM_PTE_READ |
                VIRTIO_HMM_PTE_WRITE);                             /* 2 */
    g_assert_cmpint(hmm_job_write(h, 0, 0x1000, buf, sizeof(buf)), ==,
                    VIRTIO_HMM_S_OK);                              /* 3 */
    g_assert_cmpint(hmm_job_read(h, 0, 0x1000, buf, 60, NULL), ==,
                    VIRTIO_HMM_S_OK);                              /* 4 */
    hmm_copy1(h, VIRTIO_HMM_COPY_TO_DEV, gpa, 0);                  /* 5 */
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, 0, gpa);                /* 6 */
    hmm_copy1(h, VIRTIO_HMM_COPY_DEV_TO_DEV, 0, PAGE);             /* 7 */
    g_assert_cmpint(hmm_unmap(h, 0, 0x2000, PAGE, 0, &count), ==,
                    VIRTIO_HMM_S_OK);                              /* 8 */
    g_assert_cmpint(hmm_destroy_as(h, 9, NULL), ==,
                    VIRTIO_HMM_S_NOASID);                          /* 9 */
    g_assert_cmpint(hmm_create_as(h, 1), ==, VIRTIO_HMM_S_OK);     /* 10 */
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.requests, ==, 11);   /* with the first GET_STATS */
    g_assert_cmpint(st.errors, ==, 1);
    g_assert_cmpint(st.maps, ==, 2);
    g_assert_cmpint(st.unmaps, ==, 1);
    g_assert_cmpint(st.faults, ==, 0);
    g_assert_cmpint(st.pages_to_dev, ==, 1);
    g_assert_cmpint(st.pages_from_dev, ==, 1);
    g_assert_cmpint(st.pages_dev_to_dev, ==, 1);
    g_assert_cmpint(st.job_bytes, ==, 160);
    g_assert_cmpint(st.atomics, ==, 0);
    g_assert_cmpint(st.address_spaces, ==, 2);
    g_assert_cmpint(st.mapped_pages, ==, 1);
}

/* qom-get of the device's "stats" property, as a QDict (unref it) */
static QDict *qom_stats(void)
{
    QDict *rsp = qtest_qmp(global_qtest,
                           "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/hmm-stats', "
                           "'property': 'stats'}}");
    QDict *ret;

    g_assert(qdict_haskey(rsp, "return"));
    ret = qdict_get_qdict(rsp, "return");
    qobject_ref(ret);
    qobject_unref(rsp);
    return ret;
}

static uint64_t qom_stat(QDict *d, const char *field)
{
    QNum *n = qobject_to(QNum, qdict_get(d, field));
    uint64_t v;

    g_assert(n);
    g_assert(qnum_get_try_uint(n, &v));
    return v;
}

/* The "stats" QOM property (QMP qom-get) reads the GET_STATS counters */
static void test_stats_qom(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 2);
    struct virtio_hmm_stats st;
    QDict *a, *b, *rsp;
    uint8_t buf[100] = { 0 };

    a = qom_stats();
    g_assert_cmpint(qdict_size(a), ==, sizeof(st) / sizeof(uint64_t));
    g_assert_cmpuint(qom_stat(a, "requests"), ==, 0);
    g_assert_cmpuint(qom_stat(a, "address_spaces"), ==, 0);

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, 0x1000, gpa, 2, VIRTIO_HMM_PTE_READ |
                VIRTIO_HMM_PTE_WRITE);
    g_assert_cmpint(hmm_job_write(h, 0, 0x1000, buf, sizeof(buf)), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_destroy_as(h, 9, NULL), ==, VIRTIO_HMM_S_NOASID);

    b = qom_stats();
    g_assert_cmpuint(qom_stat(b, "requests"), ==, 4);
    g_assert_cmpuint(qom_stat(b, "errors"), ==, 1);
    g_assert_cmpuint(qom_stat(b, "maps"), ==, 2);
    g_assert_cmpuint(qom_stat(b, "mapped_pages"), ==, 2);
    g_assert_cmpuint(qom_stat(b, "address_spaces"), ==, 1);
    g_assert_cmpuint(qom_stat(b, "job_bytes"), ==, sizeof(buf));

    /* the same counters as the guest's GET_STATS (which counts itself) */
    hmm_get_stats(h, &st);
    g_assert_cmpuint(st.requests, ==, qom_stat(b, "requests"));
    g_assert_cmpuint(st.maps, ==, qom_stat(b, "maps"));
    g_assert_cmpuint(st.job_bytes, ==, qom_stat(b, "job_bytes"));
    qobject_unref(b);
    b = qom_stats();
    g_assert_cmpuint(qom_stat(b, "requests"), ==, st.requests + 1);

    /* read-only */
    rsp = qtest_qmp(global_qtest,
                    "{'execute': 'qom-set', 'arguments': "
                    "{'path': '/machine/peripheral/hmm-stats', "
                    "'property': 'stats', 'value': {}}}");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qobject_unref(a);
    qobject_unref(b);
}

/* Reset drops address spaces and statistics, keeps device memory */
static void test_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 2);
    uint8_t a[PAGE], b[PAGE];
    struct virtio_hmm_stats st;
    HMMElem job;
    uint64_t pte;

    fill_pattern(a, sizeof(a), 5);
    qtest_memwrite(global_qtest, gpa, a, sizeof(a));
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, 0x1000, gpa, 1, VIRTIO_HMM_PTE_READ);
    hmm_copy1(h, VIRTIO_HMM_COPY_TO_DEV, gpa, 7 * PAGE);
    /* leave a job stalled across the reset */
    hmm_submit_read(h, &job, 0, 1, 0x8000, 8);

    qvirtio_hmm_setup(h);

    hmm_get_stats(h, &st);
    g_assert_cmpint(st.requests, ==, 0);
    g_assert_cmpint(st.address_spaces, ==, 0);
    g_assert_cmpint(st.mapped_pages, ==, 0);
    g_assert_cmpint(hmm_query(h, 0, 0x1000, 1, &pte), ==,
                    VIRTIO_HMM_S_NOASID);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, 7 * PAGE, gpa + PAGE);
    qtest_memread(global_qtest, gpa + PAGE, b, sizeof(b));
    g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
}

/* Coherent mode: BAR 2, its shared memory capability, same memory */
static void test_coherent(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t size = 0, gpa = page_alloc(h, 1);
    uint8_t a[PAGE], b[PAGE];
    QPCIBar bar;
    uint8_t cap;
    bool found = false;

    g_assert_true(qvirtio_get_features(h->vdev) &
                  (1ull << VIRTIO_HMM_F_COHERENT));
    g_assert_nonnull(h->pdev);
    for (cap = qpci_find_capability(h->pdev, PCI_CAP_ID_VNDR, 0); cap;
         cap = qpci_find_capability(h->pdev, PCI_CAP_ID_VNDR, cap)) {
        size_t base = cap;

        if (qpci_config_readb(h->pdev, base + offsetof(struct virtio_pci_cap,
                                                       cfg_type)) !=
            VIRTIO_PCI_CAP_SHARED_MEMORY_CFG) {
            continue;
        }
        g_assert_false(found);
        found = true;
        g_assert_cmpint(qpci_config_readb(h->pdev, base +
                        offsetof(struct virtio_pci_cap, cap_len)), ==,
                        sizeof(struct virtio_pci_cap64));
        g_assert_cmpint(qpci_config_readb(h->pdev, base +
                        offsetof(struct virtio_pci_cap, id)), ==,
                        VIRTIO_HMM_SHM_DEVMEM);
        g_assert_cmpint(qpci_config_readb(h->pdev, base +
                        offsetof(struct virtio_pci_cap, bar)), ==, 2);
        g_assert_cmphex(qpci_config_readl(h->pdev, base +
                        offsetof(struct virtio_pci_cap, length)), ==, 4 << 20);
        g_assert_cmphex(qpci_config_readl(h->pdev, base +
                        offsetof(struct virtio_pci_cap64, length_hi)), ==, 0);
        g_assert_cmphex(qpci_config_readl(h->pdev, base +
                        offsetof(struct virtio_pci_cap, offset)), ==, 0);
    }
    g_assert_true(found);
    g_assert_cmphex(qpci_config_readl(h->pdev, PCI_BASE_ADDRESS_2) &
                    (PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH), ==,
                    PCI_BASE_ADDRESS_MEM_TYPE_64 |
                    PCI_BASE_ADDRESS_MEM_PREFETCH);
    bar = qpci_iomap(h->pdev, 2, &size);
    g_assert_cmphex(size, ==, 4 << 20);

    fill_pattern(a, sizeof(a), 99);
    qtest_memwrite(global_qtest, gpa, a, sizeof(a));
    hmm_copy1(h, VIRTIO_HMM_COPY_TO_DEV, gpa, 3 * PAGE);
    qpci_memread(h->pdev, bar, 3 * PAGE, b, sizeof(b));
    g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
    /* and the other way: a CPU store through the BAR, a device read */
    qpci_io_writeq(h->pdev, bar, 5 * PAGE + 8, 0x1234567890abcdefULL);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, 5 * PAGE, gpa);
    g_assert_cmphex(qtest_readq(global_qtest, gpa + 8), ==,
                    0x1234567890abcdefULL);
    qpci_iounmap(h->pdev, bar);
}

/* Device memory from a memory backend */
static void test_memdev(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 2);
    uint8_t a[PAGE], b[PAGE];
    uint32_t count;
    uint64_t src = gpa, dst = (8 << 20) - PAGE;

    g_assert_cmphex(cfg64(h, offsetof(struct virtio_hmm_config, devmem_size)),
                    ==, 8 << 20);
    fill_pattern(a, sizeof(a), 17);
    qtest_memwrite(global_qtest, gpa, a, sizeof(a));
    hmm_copy1(h, VIRTIO_HMM_COPY_TO_DEV, src, dst);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, dst, gpa + PAGE);
    qtest_memread(global_qtest, gpa + PAGE, b, sizeof(b));
    g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
    /* the last page is the last one */
    dst += PAGE;
    g_assert_cmpint(hmm_copy(h, VIRTIO_HMM_COPY_TO_DEV, 1, &src, &dst,
                             &count), ==, VIRTIO_HMM_S_RANGE);
}

/* Hot plug and unplug a second device: realize, worker, unrealize */
static void test_hotplug(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    QTestState *qts = global_qtest;

    if (!h->pdev || h->pdev->bus->not_hotpluggable) {
        g_test_skip("pci bus does not support hotplug");
        return;
    }
    qtest_qmp_device_add(qts, "virtio-hmm-pci", "hmm1",
                         "{'addr': %s, 'mode': 'coherent', "
                         "'vram-size': 4194304}", stringify(PCI_SLOT_HP));
    qpci_unplug_acpi_device_test(qts, "hmm1", PCI_SLOT_HP);
    /* the first device is unaffected */
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
}

/* Private mode: no device memory BAR */
static void test_private_no_bar(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;

    g_assert_cmphex(qpci_config_readl(h->pdev, PCI_BASE_ADDRESS_2), ==, 0);
}

/* atomics=off: no ATOMIC entries, no atomic jobs */
static void test_atomics_off(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1), old;
    uint64_t pte = gpa | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_PERM_MASK;

    g_assert_false(qvirtio_get_features(h->vdev) &
                   (1ull << VIRTIO_HMM_F_ATOMICS));
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 0, 0, 1, &pte), ==, VIRTIO_HMM_S_UNSUPP);
    hmm_map_ram(h, 0, 0, gpa, 1, VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);
    g_assert_cmpint(hmm_job_atomic(h, 0, 0, VIRTIO_HMM_ATOMIC_XCHG, 8, 1, 0,
                                   &old), ==, VIRTIO_HMM_S_UNSUPP);
}

/*
 * Malformed requests: each case sends one bad request or job and names the
 * exact status.  The fixture creates address space 0 with page 0x1000
 * mapped read-write to guest RAM (and the device then must still serve a
 * valid request, and count exactly one error).
 */
typedef struct BadCase {
    const char *group;          /* one qos test per group */
    const char *name;
    int q;
    uint32_t expect;
    /* fills @out (returns its length) and *@in_len */
    size_t (*build)(uint8_t *out, size_t *in_len);
} BadCase;

static size_t put_head(uint8_t *out, uint16_t type, uint32_t asid)
{
    struct virtio_hmm_head head = mkhead(type, asid);

    memcpy(out, &head, sizeof(head));
    return sizeof(head);
}

static size_t bad_unknown_request(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_head(out, 0x7f, 0);
}

static size_t bad_job_on_requestq(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_FILL, 0, 1, 0x1000, 8);

    memcpy(out, &j, sizeof(j));
    *in_len = TAIL;
    return sizeof(j);
}

static size_t bad_request_on_jobq(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_head(out, VIRTIO_HMM_T_CREATE_AS, 1);
}

static size_t bad_head_flags(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_CREATE_AS, 1);

    head.flags = cpu_to_le16(1);
    memcpy(out, &head, sizeof(head));
    *in_len = TAIL;
    return sizeof(head);
}

static size_t bad_asid_range(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_head(out, VIRTIO_HMM_T_CREATE_AS, 64);
}

static size_t bad_as_busy(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_head(out, VIRTIO_HMM_T_CREATE_AS, 0);
}

static size_t bad_destroy_noasid(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_head(out, VIRTIO_HMM_T_DESTROY_AS, 7);
}

static size_t bad_writable_too_long(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL + 8;
    return put_head(out, VIRTIO_HMM_T_CREATE_AS, 1);
}

static size_t bad_readable_too_long(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_head(out, VIRTIO_HMM_T_CREATE_AS, 1) + 8;
}

static size_t put_map(uint8_t *out, uint32_t asid, uint64_t va, uint32_t nr,
                      uint32_t nr_entries, uint64_t pte)
{
    struct virtio_hmm_req_map m = {
        .head = mkhead(VIRTIO_HMM_T_MAP, asid),
        .va = cpu_to_le64(va),
        .nr_pages = cpu_to_le32(nr),
    };
    uint32_t i;

    memcpy(out, &m, sizeof(m));
    for (i = 0; i < nr_entries; i++) {
        stq_le_p(out + sizeof(m) + i * 8, pte);
    }
    return sizeof(m) + nr_entries * 8;
}

#define RW_PTE(gpa) ((gpa) | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ | \
                     VIRTIO_HMM_PTE_WRITE)

static size_t bad_map_unaligned_va(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x1800, 1, 1, RW_PTE(0x100000));
}

static size_t bad_map_zero_pages(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x2000, 0, 0, 0);
}

static size_t bad_map_too_many_pages(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x2000, 100000, 1, RW_PTE(0x100000));
}

static size_t bad_map_va_wraps(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, ~0ULL - PAGE + 1, 2, 2, RW_PTE(0x100000));
}

static size_t bad_map_missing_entries(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x2000, 4, 2, RW_PTE(0x100000));
}

static size_t bad_map_unknown_flag(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x2000, 1, 1, RW_PTE(0x100000) | 0x400);
}

static size_t bad_map_devmem_range(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x2000, 1, 1,
                   RW_PTE(64ULL << 20) | VIRTIO_HMM_PTE_DEVMEM);
}

static size_t bad_map_atomic_readonly(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 0, 0x2000, 1, 1, 0x100000 | VIRTIO_HMM_PTE_VALID |
                   VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_ATOMIC);
}

static size_t bad_map_noasid(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_map(out, 9, 0x2000, 1, 1, RW_PTE(0x100000));
}

static size_t bad_map_reserved(uint8_t *out, size_t *in_len)
{
    size_t len = put_map(out, 0, 0x2000, 1, 1, RW_PTE(0x100000));

    stl_le_p(out + offsetof(struct virtio_hmm_req_map, reserved), 1);
    *in_len = TAIL;
    return len;
}

static size_t put_unmap(uint8_t *out, uint64_t va, uint64_t length,
                        uint32_t perm)
{
    struct virtio_hmm_req_unmap u = {
        .head = mkhead(VIRTIO_HMM_T_UNMAP, 0),
        .va = cpu_to_le64(va),
        .length = cpu_to_le64(length),
        .perm = cpu_to_le32(perm),
    };

    memcpy(out, &u, offsetof(typeof(u), tail));
    return offsetof(typeof(u), tail);
}

static size_t bad_unmap_unaligned_length(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_unmap(out, 0x1000, 100, 0);
}

static size_t bad_unmap_bad_perm(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_unmap(out, 0x1000, PAGE, VIRTIO_HMM_PTE_DEVMEM);
}

static size_t bad_unmap_wraps(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_unmap(out, ~0ULL - PAGE + 1, 2 * PAGE, 0);
}

static size_t bad_query_short_writable(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_req_query q = {
        .head = mkhead(VIRTIO_HMM_T_QUERY, 0),
        .va = cpu_to_le64(0x1000),
        .nr_pages = cpu_to_le32(4),
    };

    memcpy(out, &q, sizeof(q));
    *in_len = 2 * 8 + TAIL;
    return sizeof(q);
}

static size_t put_copy(uint8_t *out, uint16_t dir, uint32_t nr,
                       uint64_t src, uint64_t dst)
{
    struct virtio_hmm_req_copy c = {
        .head = mkhead(VIRTIO_HMM_T_COPY, 0),
        .nr = cpu_to_le32(nr),
    };

    c.head.flags = cpu_to_le16(dir);
    memcpy(out, &c, sizeof(c));
    stq_le_p(out + sizeof(c), src);
    stq_le_p(out + sizeof(c) + 8, dst);
    return sizeof(c) + 16;
}

static size_t bad_copy_direction(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_copy(out, VIRTIO_HMM_COPY_MAX_DIR + 1, 1, 0, 0);
}

static size_t bad_copy_unaligned(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_copy(out, VIRTIO_HMM_COPY_DEV_TO_DEV, 1, 8, PAGE);
}

static size_t bad_copy_devmem_range(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_copy(out, VIRTIO_HMM_COPY_FROM_DEV, 1, 64ULL << 20, 0x100000);
}

static size_t bad_copy_too_many(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_copy(out, VIRTIO_HMM_COPY_DEV_TO_DEV, 100000, 0, PAGE) - 16;
}

static size_t bad_copy_from_nowhere(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_copy(out, VIRTIO_HMM_COPY_TO_DEV, 1, GPA_NOWHERE, 0);
}

static size_t bad_copy_to_mmio(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL;
    return put_copy(out, VIRTIO_HMM_COPY_FROM_DEV, 1, 0, GPA_MMIO);
}

static size_t bad_fault_reply_action(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_req_fault_reply r = {
        .head = mkhead(VIRTIO_HMM_T_FAULT_REPLY, 0),
        .nr = cpu_to_le32(1),
    };
    struct virtio_hmm_reply_entry e = {
        .action = cpu_to_le32(VIRTIO_HMM_REPLY_CANCEL + 1),
    };

    memcpy(out, &r, sizeof(r));
    memcpy(out + sizeof(r), &e, sizeof(e));
    *in_len = TAIL;
    return sizeof(r) + sizeof(e);
}

static size_t bad_fault_reply_empty(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_req_fault_reply r = {
        .head = mkhead(VIRTIO_HMM_T_FAULT_REPLY, 0),
    };

    memcpy(out, &r, sizeof(r));
    *in_len = TAIL;
    return sizeof(r);
}

static size_t bad_get_stats_short(uint8_t *out, size_t *in_len)
{
    *in_len = TAIL + 16;
    return put_head(out, VIRTIO_HMM_T_GET_STATS, 0);
}

static size_t put_job(uint8_t *out, uint16_t type, uint32_t asid,
                      uint64_t va, uint64_t length, size_t *in_len)
{
    struct virtio_hmm_job_rw j = mkjob(type, asid, 0x99, va, length);

    memcpy(out, &j, sizeof(j));
    *in_len = TAIL;
    return sizeof(j);
}

static size_t bad_job_zero_length(uint8_t *out, size_t *in_len)
{
    return put_job(out, VIRTIO_HMM_T_JOB_FILL, 0, 0x1000, 0, in_len);
}

static size_t bad_job_too_long(uint8_t *out, size_t *in_len)
{
    return put_job(out, VIRTIO_HMM_T_JOB_FILL, 0, 0x1000,
                   (64ULL << 20) + 1, in_len);
}

static size_t bad_job_va_wraps(uint8_t *out, size_t *in_len)
{
    return put_job(out, VIRTIO_HMM_T_JOB_FILL, 0, ~0ULL - 3, 8, in_len);
}

static size_t bad_job_read_short_buffer(uint8_t *out, size_t *in_len)
{
    size_t len = put_job(out, VIRTIO_HMM_T_JOB_READ, 0, 0x1000, 64, in_len);

    *in_len = 32 + TAIL;
    return len;
}

static size_t bad_job_write_short_data(uint8_t *out, size_t *in_len)
{
    size_t len = put_job(out, VIRTIO_HMM_T_JOB_WRITE, 0, 0x1000, 64, in_len);

    return len + 32;
}

static size_t bad_job_noasid(uint8_t *out, size_t *in_len)
{
    return put_job(out, VIRTIO_HMM_T_JOB_FILL, 3, 0x1000, 8, in_len);
}

static size_t bad_job_flags(uint8_t *out, size_t *in_len)
{
    size_t len = put_job(out, VIRTIO_HMM_T_JOB_FILL, 0, 0x1000, 8, in_len);

    stw_le_p(out + offsetof(struct virtio_hmm_head, flags), 1);
    return len;
}

static size_t bad_job_ram_to_nowhere(uint8_t *out, size_t *in_len)
{
    /* page 0x3000 maps a guest-physical page that is not RAM */
    return put_job(out, VIRTIO_HMM_T_JOB_FILL, 0, 0x3000, 8, in_len);
}

static size_t bad_job_ram_to_mmio(uint8_t *out, size_t *in_len)
{
    /* page 0x4000 maps the HPET: the device must not touch MMIO */
    return put_job(out, VIRTIO_HMM_T_JOB_FILL, 0, 0x4000, 8, in_len);
}

static size_t put_atomic(uint8_t *out, uint64_t va, uint32_t op,
                         uint32_t size, size_t *in_len)
{
    struct virtio_hmm_job_atomic a = mkatomic(0, va, op, size, 1, 0);

    memcpy(out, &a, sizeof(a));
    *in_len = sizeof(struct virtio_hmm_atomic_result) + TAIL;
    return sizeof(a);
}

static size_t bad_atomic_unaligned(uint8_t *out, size_t *in_len)
{
    return put_atomic(out, 0x1004, VIRTIO_HMM_ATOMIC_FETCH_ADD, 8, in_len);
}

static size_t bad_atomic_size(uint8_t *out, size_t *in_len)
{
    return put_atomic(out, 0x1000, VIRTIO_HMM_ATOMIC_FETCH_ADD, 2, in_len);
}

static size_t bad_atomic_op(uint8_t *out, size_t *in_len)
{
    return put_atomic(out, 0x1000, VIRTIO_HMM_ATOMIC_MAX_OP + 1, 8, in_len);
}

static size_t bad_chase_value_size(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_job_chase c = {
        .head = mkhead(VIRTIO_HMM_T_JOB_CHASE, 0),
        .va = cpu_to_le64(0x1000),
        .value_size = cpu_to_le32(3),
        .max_nodes = cpu_to_le32(4),
    };

    memcpy(out, &c, sizeof(c));
    *in_len = sizeof(struct virtio_hmm_chase_result) + TAIL;
    return sizeof(c);
}

static size_t bad_chase_zero_nodes(uint8_t *out, size_t *in_len)
{
    struct virtio_hmm_job_chase c = {
        .head = mkhead(VIRTIO_HMM_T_JOB_CHASE, 0),
        .va = cpu_to_le64(0x1000),
        .value_size = cpu_to_le32(8),
    };

    memcpy(out, &c, sizeof(c));
    *in_len = sizeof(struct virtio_hmm_chase_result) + TAIL;
    return sizeof(c);
}

static const BadCase bad_cases[] = {
    { "generic", "unknown-request-type", REQQ, VIRTIO_HMM_S_UNSUPP,
      bad_unknown_request },
    { "generic", "job-on-requestq", REQQ, VIRTIO_HMM_S_UNSUPP,
      bad_job_on_requestq },
    { "generic", "request-on-jobq", JOBQ, VIRTIO_HMM_S_UNSUPP,
      bad_request_on_jobq },
    { "generic", "head-flags", REQQ, VIRTIO_HMM_S_INVAL,
      bad_head_flags },
    { "generic", "asid-out-of-range", REQQ, VIRTIO_HMM_S_RANGE,
      bad_asid_range },
    { "generic", "create-existing-as", REQQ, VIRTIO_HMM_S_BUSY,
      bad_as_busy },
    { "generic", "destroy-missing-as", REQQ, VIRTIO_HMM_S_NOASID,
      bad_destroy_noasid },
    { "generic", "writable-too-long", REQQ, VIRTIO_HMM_S_INVAL,
      bad_writable_too_long },
    { "generic", "readable-too-long", REQQ, VIRTIO_HMM_S_INVAL,
      bad_readable_too_long },
    { "map", "map-unaligned-va", REQQ, VIRTIO_HMM_S_INVAL,
      bad_map_unaligned_va },
    { "map", "map-zero-pages", REQQ, VIRTIO_HMM_S_INVAL,
      bad_map_zero_pages },
    { "map", "map-too-many-pages", REQQ, VIRTIO_HMM_S_RANGE,
      bad_map_too_many_pages },
    { "map", "map-va-wraps", REQQ, VIRTIO_HMM_S_RANGE,
      bad_map_va_wraps },
    { "map", "map-missing-entries", REQQ, VIRTIO_HMM_S_INVAL,
      bad_map_missing_entries },
    { "map", "map-unknown-flag", REQQ, VIRTIO_HMM_S_INVAL,
      bad_map_unknown_flag },
    { "map", "map-devmem-out-of-range", REQQ, VIRTIO_HMM_S_RANGE,
      bad_map_devmem_range },
    { "map", "map-atomic-read-only", REQQ, VIRTIO_HMM_S_INVAL,
      bad_map_atomic_readonly },
    { "map", "map-missing-as", REQQ, VIRTIO_HMM_S_NOASID,
      bad_map_noasid },
    { "map", "map-reserved", REQQ, VIRTIO_HMM_S_INVAL,
      bad_map_reserved },
    { "unmap-query", "unmap-unaligned-length", REQQ, VIRTIO_HMM_S_INVAL,
      bad_unmap_unaligned_length },
    { "unmap-query", "unmap-bad-perm", REQQ, VIRTIO_HMM_S_INVAL,
      bad_unmap_bad_perm },
    { "unmap-query", "unmap-wraps", REQQ, VIRTIO_HMM_S_RANGE,
      bad_unmap_wraps },
    { "unmap-query", "query-short-writable", REQQ, VIRTIO_HMM_S_INVAL,
      bad_query_short_writable },
    { "copy", "copy-bad-direction", REQQ, VIRTIO_HMM_S_INVAL,
      bad_copy_direction },
    { "copy", "copy-unaligned", REQQ, VIRTIO_HMM_S_INVAL,
      bad_copy_unaligned },
    { "copy", "copy-devmem-out-of-range", REQQ, VIRTIO_HMM_S_RANGE,
      bad_copy_devmem_range },
    { "copy", "copy-too-many", REQQ, VIRTIO_HMM_S_RANGE,
      bad_copy_too_many },
    { "copy", "copy-from-unassigned", REQQ, VIRTIO_HMM_S_IOERR,
      bad_copy_from_nowhere },
    { "copy", "copy-to-mmio", REQQ, VIRTIO_HMM_S_IOERR,
      bad_copy_to_mmio },
    { "fault-reply-stats", "fault-reply-bad-action", REQQ, VIRTIO_HMM_S_INVAL,
      bad_fault_reply_action },
    { "fault-reply-stats", "fault-reply-empty", REQQ, VIRTIO_HMM_S_INVAL,
      bad_fault_reply_empty },
    { "fault-reply-stats", "get-stats-short", REQQ, VIRTIO_HMM_S_INVAL,
      bad_get_stats_short },
    { "job", "job-zero-length", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_job_zero_length },
    { "job", "job-too-long", JOBQ, VIRTIO_HMM_S_RANGE,
      bad_job_too_long },
    { "job", "job-va-wraps", JOBQ, VIRTIO_HMM_S_RANGE,
      bad_job_va_wraps },
    { "job", "job-read-short-buffer", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_job_read_short_buffer },
    { "job", "job-write-short-data", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_job_write_short_data },
    { "job", "job-missing-as", JOBQ, VIRTIO_HMM_S_NOASID,
      bad_job_noasid },
    { "job", "job-flags", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_job_flags },
    { "job", "job-unassigned-target", JOBQ, VIRTIO_HMM_S_IOERR,
      bad_job_ram_to_nowhere },
    { "job", "job-mmio-target", JOBQ, VIRTIO_HMM_S_IOERR,
      bad_job_ram_to_mmio },
    { "atomic-chase", "atomic-unaligned", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_atomic_unaligned },
    { "atomic-chase", "atomic-bad-size", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_atomic_size },
    { "atomic-chase", "atomic-bad-op", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_atomic_op },
    { "atomic-chase", "chase-bad-value-size", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_chase_value_size },
    { "atomic-chase", "chase-zero-nodes", JOBQ, VIRTIO_HMM_S_INVAL,
      bad_chase_zero_nodes },
};

static void malformed_case(QVirtioHMM *h, const BadCase *bc)
{
    uint64_t gpa = page_alloc(h, 1), before[4], after[4];
    uint64_t pte[4] = {
        RW_PTE(gpa), RW_PTE(gpa), RW_PTE(GPA_NOWHERE), RW_PTE(GPA_MMIO),
    };
    uint8_t out[256] = { 0 }, buf[8];
    struct virtio_hmm_stats st;
    size_t out_len, in_len = 0;

    g_test_message("malformed request: %s", bc->name);
    qtest_memset(global_qtest, gpa, 0x5a, PAGE);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 0, 0x1000, 4, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_query(h, 0, 0x1000, 4, before), ==, VIRTIO_HMM_S_OK);

    out_len = bc->build(out, &in_len);
    g_assert_cmpint(out_len, <=, sizeof(out));
    g_assert_cmpint(hmm_do(h, bc->q, out, out_len, NULL, in_len, NULL), ==,
                    bc->expect);

    /* alive, consistent, one error counted, and the fixture untouched */
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.errors, ==, 1);
    g_assert_cmpint(hmm_query(h, 0, 0x1000, 4, after), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpmem(before, sizeof(before), after, sizeof(after));
    g_assert_cmpint(hmm_job_read(h, 0, 0x1000, buf, sizeof(buf), NULL), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmphex(ldq_le_p(buf), ==, 0x5a5a5a5a5a5a5a5aULL);
    guest_free(h->alloc, gpa);
}

/* Every case of one group, each on a freshly reset device */
static void test_malformed(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const char *group = data;
    size_t i, n = 0;

    for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        if (strcmp(bad_cases[i].group, group)) {
            continue;
        }
        if (n++) {
            qvirtio_hmm_setup(h);
        }
        malformed_case(h, &bad_cases[i]);
    }
    g_assert_cmpint(n, >, 0);
}

/*
 * Random requests and jobs (seeded by the test's random seed): fields mix
 * edge values and noise, sizes are often a little off.  Targets stay in a
 * scratch page of guest RAM, device memory or non-RAM addresses, so that
 * the test's own rings are never overwritten.  Every element must complete
 * with a defined status, and the device must stay consistent.
 */
static uint64_t fuzz_value(void)
{
    static const uint64_t edge[] = {
        0, 1, 2, 3, 4, 7, 8, PAGE - 1, PAGE, PAGE + 1, 64 << 20,
        (64 << 20) + 1, 0x1000, 0x2000, 0x7fffffff, 0xffffffff,
        ~0ULL - PAGE + 1, ~0ULL - 7, ~0ULL,
    };

    if (g_test_rand_bit()) {
        return edge[g_test_rand_int_range(0, ARRAY_SIZE(edge))];
    }
    return ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
}

static uint64_t fuzz_pte(uint64_t scratch)
{
    uint64_t flags = g_test_rand_int_range(0, 0x40);

    switch (g_test_rand_int_range(0, 4)) {
    case 0:
        return scratch | (flags & ~(uint64_t)VIRTIO_HMM_PTE_DEVMEM);
    case 1:
        return (fuzz_value() & ~VIRTIO_HMM_PTE_FLAGS_MASK) |
               VIRTIO_HMM_PTE_DEVMEM | flags;
    case 2:
        return GPA_MMIO | (flags & ~(uint64_t)VIRTIO_HMM_PTE_DEVMEM);
    default:
        return fuzz_value() & ~(uint64_t)VIRTIO_HMM_PTE_VALID;
    }
}

/* Sizes that fit @type, small counts, addresses near the fixture */
static void fuzz_layout(uint8_t *out, uint16_t type, uint64_t scratch,
                        size_t *out_len, size_t *in_len)
{
    uint32_t nr = g_test_rand_int_range(0, 5), k;
    uint64_t len = g_test_rand_int_range(0, 3 * PAGE);
    uint64_t va = g_test_rand_int_range(0, 5 * PAGE);

    if (g_test_rand_int_range(0, 4)) {
        stq_le_p(out + 16, va);
    }
    *in_len = TAIL;
    switch (type) {
    case VIRTIO_HMM_T_MAP:
    case VIRTIO_HMM_T_QUERY:
        stq_le_p(out + 16, va & ~(PAGE - 1));
        stl_le_p(out + 24, nr);
        stl_le_p(out + 28, 0);
        for (k = 0; k < nr; k++) {
            stq_le_p(out + 32 + k * 8, fuzz_pte(scratch));
        }
        *out_len = type == VIRTIO_HMM_T_MAP ? 32 + nr * 8 : 32;
        *in_len = type == VIRTIO_HMM_T_MAP ? TAIL : nr * 8 + TAIL;
        break;
    case VIRTIO_HMM_T_UNMAP:
        stq_le_p(out + 24, len & ~(PAGE - 1));
        stl_le_p(out + 32, g_test_rand_int_range(0, 16));
        stl_le_p(out + 36, 0);
        *out_len = offsetof(struct virtio_hmm_req_unmap, tail);
        break;
    case VIRTIO_HMM_T_COPY:
    case VIRTIO_HMM_T_FAULT_REPLY:
        stl_le_p(out + 16, nr);
        stl_le_p(out + 20, 0);
        for (k = 0; k < nr; k++) {
            uint64_t dev = g_test_rand_int_range(0, 64) * PAGE;

            stq_le_p(out + 24 + k * 16, g_test_rand_bit() ? scratch : dev);
            stq_le_p(out + 32 + k * 16, g_test_rand_bit() ? scratch : dev);
            if (type == VIRTIO_HMM_T_FAULT_REPLY) {
                stl_le_p(out + 36 + k * 16, g_test_rand_int_range(0, 3));
            }
        }
        if (type == VIRTIO_HMM_T_COPY) {
            stw_le_p(out + 2, g_test_rand_int_range(0, 4));
        }
        *out_len = 24 + nr * 16;
        break;
    case VIRTIO_HMM_T_GET_STATS:
        *in_len = sizeof(struct virtio_hmm_stats) + TAIL;
        /* fall through */
    case VIRTIO_HMM_T_CREATE_AS:
    case VIRTIO_HMM_T_DESTROY_AS:
        *out_len = sizeof(struct virtio_hmm_head);
        break;
    case VIRTIO_HMM_T_JOB_READ:
    case VIRTIO_HMM_T_JOB_WRITE:
    case VIRTIO_HMM_T_JOB_FILL:
    case VIRTIO_HMM_T_JOB_COPY:
        len = MIN(len, 256);
        stq_le_p(out + 24, len);
        stq_le_p(out + 32, g_test_rand_int_range(0, 5 * PAGE));
        *out_len = sizeof(struct virtio_hmm_job_rw) +
                   (type == VIRTIO_HMM_T_JOB_WRITE ? len : 0);
        *in_len = (type == VIRTIO_HMM_T_JOB_READ ? len : 0) + TAIL;
        break;
    case VIRTIO_HMM_T_JOB_ATOMIC:
        stl_le_p(out + 40, g_test_rand_int_range(0, 4));
        stl_le_p(out + 44, g_test_rand_bit() ? 4 : 8);
        *out_len = sizeof(struct virtio_hmm_job_atomic);
        *in_len = sizeof(struct virtio_hmm_atomic_result) + TAIL;
        break;
    case VIRTIO_HMM_T_JOB_CHASE:
        stl_le_p(out + 32, 1 << g_test_rand_int_range(0, 4));
        stl_le_p(out + 36, g_test_rand_int_range(0, 1000));
        *out_len = sizeof(struct virtio_hmm_job_chase);
        *in_len = sizeof(struct virtio_hmm_chase_result) + TAIL;
        break;
    default:
        *out_len = sizeof(struct virtio_hmm_head);
        break;
    }
}

static void test_fuzz(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint16_t types[] = {
        VIRTIO_HMM_T_CREATE_AS, VIRTIO_HMM_T_DESTROY_AS, VIRTIO_HMM_T_MAP,
        VIRTIO_HMM_T_UNMAP, VIRTIO_HMM_T_QUERY, VIRTIO_HMM_T_COPY,
        VIRTIO_HMM_T_FAULT_REPLY, VIRTIO_HMM_T_GET_STATS,
        VIRTIO_HMM_T_JOB_READ, VIRTIO_HMM_T_JOB_WRITE, VIRTIO_HMM_T_JOB_FILL,
        VIRTIO_HMM_T_JOB_COPY, VIRTIO_HMM_T_JOB_ATOMIC,
        VIRTIO_HMM_T_JOB_CHASE, 0, 0x7fff,
    };
    QVirtioHMM *h = obj;
    uint64_t scratch = page_alloc(h, 1);
    struct virtio_hmm_stats st;
    unsigned int i, n = 400, errors = 0;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    for (i = 0; i < n; i++) {
        uint8_t out[512];
        uint64_t *w = (uint64_t *)out;
        uint16_t type = types[g_test_rand_int_range(0, ARRAY_SIZE(types))];
        bool job = type >= VIRTIO_HMM_T_JOB_READ;
        size_t out_len, in_len, k;
        uint32_t status;

        for (k = 0; k < sizeof(out) / 8; k++) {
            w[k] = cpu_to_le64(g_test_rand_bit() ? fuzz_value() : 0);
        }
        /* head: mostly a plausible asid and no flags */
        stw_le_p(out, type);
        stw_le_p(out + 2, g_test_rand_int_range(0, 8) ? 0 : fuzz_value());
        stl_le_p(out + 4, g_test_rand_int_range(0, 4) ?
                 g_test_rand_int_range(0, 3) : fuzz_value());
        out_len = g_test_rand_int_range(sizeof(struct virtio_hmm_head),
                                        sizeof(out) / 2);
        in_len = g_test_rand_int_range(TAIL, 128) & ~7;
        if (g_test_rand_int_range(0, 4)) {
            fuzz_layout(out, type, scratch, &out_len, &in_len);
        }
        status = hmm_do(h, job ? JOBQ : REQQ, out, out_len, NULL, in_len,
                        NULL);
        g_assert_cmpint(status, <=, VIRTIO_HMM_S_NOSPC);
        g_assert_cmpint(status, !=, VIRTIO_HMM_S_CANCELED);
        errors += status != VIRTIO_HMM_S_OK;
    }
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.requests, ==, n + 1);
    g_assert_cmpint(st.errors, ==, errors);
    g_test_message("%u random requests, %u errors", n, errors);
    g_assert_cmpint(errors, <, n);
    /* still sane: a fresh address space works */
    g_assert_cmpint(hmm_destroy_as(h, 9, NULL), ==, VIRTIO_HMM_S_NOASID);
}

/*
 * Broken descriptor layouts: the device sets NEEDS_RESET (virtio_error),
 * and works again after a reset.
 */
typedef enum {
    LAYOUT_NO_WRITABLE,         /* requestq: no room for the tail */
    LAYOUT_SHORT_HEAD,          /* jobq: readable part shorter than a head */
    LAYOUT_FAULT_READABLE,      /* faultq: a device-readable buffer */
} BrokenLayout;

static void test_broken_layout(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    BrokenLayout layout = GPOINTER_TO_INT(data);
    QTestState *qts = global_qtest;
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    uint64_t addr = guest_alloc(h->alloc, PAGE);
    gint64 start = g_get_monotonic_time();
    QVirtQueue *vq;
    uint32_t free_head;
    HMMElem job;

    qtest_memwrite(qts, addr, &head, sizeof(head));
    switch (layout) {
    case LAYOUT_NO_WRITABLE:
        vq = h->vq[REQQ];
        free_head = qvirtqueue_add(qts, vq, addr, sizeof(head), false, false);
        break;
    case LAYOUT_SHORT_HEAD:
        vq = h->vq[JOBQ];
        free_head = qvirtqueue_add(qts, vq, addr, sizeof(head) - 1, false,
                                   true);
        qvirtqueue_add(qts, vq, addr + 512, TAIL, true, false);
        break;
    default:
        /* a stalled job, so that a fault record waits for this buffer */
        g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
        hmm_submit_read(h, &job, 0, 1, 0x1000, 8);
        vq = h->vq[FAULTQ];
        free_head = qvirtqueue_add(qts, vq, addr, PAGE, false, false);
        break;
    }
    qvirtqueue_kick(qts, h->vdev, vq, free_head);
    while (!(h->vdev->bus->get_status(h->vdev) & VIRTIO_CONFIG_S_NEEDS_RESET)) {
        qtest_clock_step(qts, 100);
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
    }

    /* QEMU is alive and the device recovers after a reset */
    qvirtio_hmm_setup(h);
    g_assert_false(h->vdev->bus->get_status(h->vdev) &
                   VIRTIO_CONFIG_S_NEEDS_RESET);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    guest_free(h->alloc, addr);
}

/*
 * Benchmark, registered only with -m perf (timings never decide a test):
 * requests per second of the device's request handling, driven through
 * qtest with the helpers above, one BENCH line per point for
 * scripts/bench-report.py.  A request is about 19 qtest commands, each a
 * socket round trip (write it to guest memory, add descriptors, kick, poll
 * the used ring, read the tail), so GET_STATS, which does next to nothing
 * in the device, is the floor that the harness alone costs.
 */
#define BENCH_MIN_US        200000      /* measured time in each run */
#define BENCH_MIN_REQS      10          /* requests in each run */

typedef struct BenchTimer {
    gint64 us, t0;
    unsigned long reqs, polls, p0;
} BenchTimer;

static void bench_start(BenchTimer *t)
{
    t->p0 = hmm_polls;
    t->t0 = g_get_monotonic_time();
}

static void bench_stop(BenchTimer *t)
{
    t->us += g_get_monotonic_time() - t->t0;
    t->polls += hmm_polls - t->p0;
    t->reqs++;
}

static bool bench_more(const BenchTimer *t)
{
    return t->us < BENCH_MIN_US || t->reqs < BENCH_MIN_REQS;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One BENCH line from @runs timers, one per run */
static void bench_print(const char *test, uint32_t size, const BenchTimer *t,
                        unsigned int runs)
{
    g_autofree double *rate = g_new(double, runs);
    unsigned long reqs = 0, polls = 0;
    gint64 us = 0;
    unsigned int i;
    double median;

    for (i = 0; i < runs; i++) {
        rate[i] = t[i].reqs * 1e6 / MAX(t[i].us, 1);
        reqs += t[i].reqs;
        polls += t[i].polls;
        us += t[i].us;
    }
    qsort(rate, runs, sizeof(*rate), bench_cmp);
    median = runs % 2 ? rate[runs / 2]
                      : (rate[runs / 2 - 1] + rate[runs / 2]) / 2;
    printf("BENCH device=qemu-virtio-hmm test=%s size=%u unit=req/s "
           "median=%.1f min=%.1f max=%.1f runs=%u\n",
           test, size, median, rate[0], rate[runs - 1], runs);
    fflush(stdout);
    g_test_message("%s size=%u: %.1f us a request, %.2f polls a request, "
                   "%lu requests", test, size, (double)us / reqs,
                   (double)polls / reqs, reqs);
}

enum {
    BENCH_GET_STATS,
    BENCH_MAP,              /* + size index, for each of the 3 sizes */
    BENCH_UNMAP = BENCH_MAP + 3,
    BENCH_COPY_TO_DEV = BENCH_UNMAP + 3,
    BENCH_COPY_FROM_DEV = BENCH_COPY_TO_DEV + 3,
    BENCH_POINTS = BENCH_COPY_FROM_DEV + 3,
};

/*
 * The runs of every point take turns (run 1 of each point, then run 2...),
 * so that a burst of load on the host spreads over all the points.
 */
static void bench_request_rate(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 1ULL << 32;
    const char *env = g_getenv("VHMM_BENCH_RUNS");
    unsigned int runs = MAX(env ? atoi(env) : 5, 1);
    uint32_t max_map = CFG32(h, max_map_pages);
    uint32_t max_copy = CFG32(h, max_copy_pages);
    const uint32_t map_sizes[3] = { 1, 64, max_map };
    const uint32_t copy_sizes[3] = { 1, 64, max_copy };
    uint64_t ram = page_alloc(h, MAX(max_map, max_copy));
    struct virtio_hmm_head stats = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    g_autofree BenchTimer *timers = g_new0(BenchTimer, BENCH_POINTS * runs);
    g_autofree uint64_t *src = g_new(uint64_t, max_copy);
    g_autofree uint64_t *dst = g_new(uint64_t, max_copy);
    uint32_t count, i, s, r;
    BenchTimer *a, *b;
    gint64 t0;

#define BENCH_TIMER(point, run) (&timers[(point) * runs + (run)])

    /* What one qtest command costs: a request takes a few dozen */
    t0 = g_get_monotonic_time();
    for (i = 0; i < 1000; i++) {
        qtest_readl(global_qtest, ram);
    }
    g_test_message("qtest round trip (readl): %.1f us",
                   (g_get_monotonic_time() - t0) / 1000.0);

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    /* Warm up: the first requests start the worker, fault in memory */
    for (i = 0; i < 20; i++) {
        g_assert_cmpint(hmm_do(h, REQQ, &stats, sizeof(stats), NULL,
                               sizeof(struct virtio_hmm_stats) + TAIL,
                               NULL), ==, VIRTIO_HMM_S_OK);
    }
    for (i = 0; i < max_copy; i++) {
        src[i] = ram + i * PAGE;        /* guest RAM */
        dst[i] = i * PAGE;              /* device memory */
    }

    for (r = 0; r < runs; r++) {
        /* The floor: the statistics are written but not read back */
        a = BENCH_TIMER(BENCH_GET_STATS, r);
        while (bench_more(a)) {
            bench_start(a);
            g_assert_cmpint(hmm_do(h, REQQ, &stats, sizeof(stats), NULL,
                                   sizeof(struct virtio_hmm_stats) + TAIL,
                                   NULL), ==, VIRTIO_HMM_S_OK);
            bench_stop(a);
        }

        /* MAP of an empty range, then UNMAP (invalidate) of what it mapped */
        for (s = 0; s < ARRAY_SIZE(map_sizes); s++) {
            uint32_t nr = map_sizes[s];

            a = BENCH_TIMER(BENCH_MAP + s, r);
            b = BENCH_TIMER(BENCH_UNMAP + s, r);
            while (bench_more(a) || bench_more(b)) {
                bench_start(a);
                hmm_map_ram(h, 0, va, ram, nr,
                            VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);
                bench_stop(a);
                bench_start(b);
                g_assert_cmpint(hmm_unmap(h, 0, va, nr * PAGE, 0, &count),
                                ==, VIRTIO_HMM_S_OK);
                bench_stop(b);
                g_assert_cmpint(count, ==, nr);
            }
        }

        /* COPY guest RAM page i to device page i, and back */
        for (s = 0; s < ARRAY_SIZE(copy_sizes); s++) {
            uint32_t nr = copy_sizes[s];

            a = BENCH_TIMER(BENCH_COPY_TO_DEV + s, r);
            while (bench_more(a)) {
                bench_start(a);
                g_assert_cmpint(hmm_copy(h, VIRTIO_HMM_COPY_TO_DEV, nr, src,
                                         dst, &count), ==, VIRTIO_HMM_S_OK);
                bench_stop(a);
                g_assert_cmpint(count, ==, nr);
            }
            b = BENCH_TIMER(BENCH_COPY_FROM_DEV + s, r);
            while (bench_more(b)) {
                bench_start(b);
                g_assert_cmpint(hmm_copy(h, VIRTIO_HMM_COPY_FROM_DEV, nr, dst,
                                         src, &count), ==, VIRTIO_HMM_S_OK);
                bench_stop(b);
                g_assert_cmpint(count, ==, nr);
            }
        }
    }

    bench_print("get_stats", 0, BENCH_TIMER(BENCH_GET_STATS, 0), runs);
    for (s = 0; s < ARRAY_SIZE(map_sizes); s++) {
        bench_print("map", map_sizes[s], BENCH_TIMER(BENCH_MAP + s, 0), runs);
        bench_print("unmap", map_sizes[s], BENCH_TIMER(BENCH_UNMAP + s, 0),
                    runs);
    }
    for (s = 0; s < ARRAY_SIZE(copy_sizes); s++) {
        bench_print("copy_to_dev", copy_sizes[s],
                    BENCH_TIMER(BENCH_COPY_TO_DEV + s, 0), runs);
        bench_print("copy_from_dev", copy_sizes[s],
                    BENCH_TIMER(BENCH_COPY_FROM_DEV + s, 0), runs);
    }
#undef BENCH_TIMER
}

/*
 * With a backend other than RAM: the device refuses the configurations that
 * backend cannot serve (coherent mode, memdev=) at realize, with an error
 * that names them, and the device that is running is not affected.
 */
static void test_backend_unsupported(void *obj, void *data,
                                     QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    QTestState *qts = global_qtest;
    const char *what = data;
    QDict *resp;
    const char *desc;

    if (!strcmp(what, "memdev")) {
        qtest_qmp_assert_success(qts, "{'execute': 'object-add', "
                                 "'arguments': {'qom-type': "
                                 "'memory-backend-ram', 'id': 'hmm-mem', "
                                 "'size': 8388608}}");
        resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                         "{'driver': 'virtio-hmm-pci', 'id': 'hmm1', "
                         "'backend': %s, 'memdev': 'hmm-mem'}}",
                         qvirtio_hmm_backend());
    } else {
        resp = qtest_qmp(qts, "{'execute': 'device_add', 'arguments': "
                         "{'driver': 'virtio-hmm-pci', 'id': 'hmm1', "
                         "'backend': %s, 'mode': 'coherent', "
                         "'vram-size': 4194304}}", qvirtio_hmm_backend());
    }
    g_assert(resp);
    g_assert(qdict_haskey(resp, "error"));
    desc = qdict_get_str(qdict_get_qdict(resp, "error"), "desc");
    g_assert(strstr(desc, "supports 'mode=private' without 'memdev' only"));
    qobject_unref(resp);
    /* the first device is unaffected */
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
}

static void register_virtio_hmm_test(void)
{
    QOSGraphTestOptions opts = { };
    char *name;
    size_t i;

    qos_add_test("config", "virtio-hmm", test_config, NULL);
    qos_add_test("address-spaces", "virtio-hmm", test_address_spaces, NULL);
    qos_add_test("map-query-unmap", "virtio-hmm", test_map_query_unmap, NULL);
    qos_add_test("job-read-write", "virtio-hmm", test_job_read_write, NULL);
    qos_add_test("job-fill-copy", "virtio-hmm", test_job_fill_copy, NULL);
    qos_add_test("job-chase", "virtio-hmm", test_job_chase, NULL);
    qos_add_test("copy-engine", "virtio-hmm", test_copy_engine, NULL);
    qos_add_test("devmem-jobs", "virtio-hmm", test_devmem_jobs, NULL);
    qos_add_test("atomics", "virtio-hmm", test_atomics, NULL);
    qos_add_test("fault-retry", "virtio-hmm", test_fault_retry, NULL);
    qos_add_test("fault-cancel", "virtio-hmm", test_fault_cancel, NULL);
    qos_add_test("fault-destroy-as", "virtio-hmm", test_fault_destroy_as,
                 NULL);
    qos_add_test("stats", "virtio-hmm", test_stats, NULL);
    qos_add_test("reset", "virtio-hmm", test_reset, NULL);
    qos_add_test("private-no-bar", "virtio-hmm", test_private_no_bar, NULL);
    qos_add_test("hotplug", "virtio-hmm", test_hotplug, NULL);

    opts.edge.extra_device_opts = "id=hmm-stats";
    qos_add_test("stats-qom", "virtio-hmm", test_stats_qom, &opts);
    opts.edge.extra_device_opts = "max-stalled-jobs=1";
    qos_add_test("fault-nospc", "virtio-hmm", test_fault_nospc, &opts);
    qos_add_test("fault-records-bounded", "virtio-hmm",
                 test_fault_records_bounded, &opts);
    opts.edge.extra_device_opts = "replayable-faults=off";
    qos_add_test("fault-nonreplayable", "virtio-hmm",
                 test_fault_nonreplayable, &opts);
    qos_add_test("atomic-fault-nonreplayable", "virtio-hmm",
                 test_atomic_fault_nonreplayable, &opts);
    qos_add_test("fuzz", "virtio-hmm", test_fuzz, &opts);
    qos_add_test("unmap-during-job", "virtio-hmm", test_unmap_during_job,
                 &opts);
    opts.edge.extra_device_opts = "atomics=off";
    qos_add_test("atomics-off", "virtio-hmm", test_atomics_off, &opts);
    if (qvirtio_hmm_backend() && strcmp(qvirtio_hmm_backend(), "ram")) {
        /* the device must refuse these at realize */
        opts.edge.extra_device_opts = NULL;
        opts.arg = (void *)"coherent";
        qos_add_test("coherent", "virtio-hmm", test_backend_unsupported,
                     &opts);
        opts.arg = (void *)"memdev";
        qos_add_test("memdev", "virtio-hmm", test_backend_unsupported,
                     &opts);
        opts.arg = NULL;
    } else {
        opts.edge.extra_device_opts = "mode=coherent,vram-size=4M";
        qos_add_test("coherent", "virtio-hmm", test_coherent, &opts);
        /* test options go after the -device argument: add the backend there */
        opts.edge.extra_device_opts = "memdev=hmm-mem "
            "-object memory-backend-ram,id=hmm-mem,size=8M";
        qos_add_test("memdev", "virtio-hmm", test_memdev, &opts);
    }

    opts.edge.extra_device_opts = NULL;
    for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        if (i && !strcmp(bad_cases[i].group, bad_cases[i - 1].group)) {
            continue;
        }
        opts.arg = (void *)bad_cases[i].group;
        name = g_strdup_printf("malformed/%s", bad_cases[i].group);
        qos_add_test(name, "virtio-hmm", test_malformed, &opts);
        g_free(name);
    }
    opts.arg = GINT_TO_POINTER(LAYOUT_NO_WRITABLE);
    qos_add_test("broken-layout/no-writable-tail", "virtio-hmm",
                 test_broken_layout, &opts);
    opts.arg = GINT_TO_POINTER(LAYOUT_SHORT_HEAD);
    qos_add_test("broken-layout/short-head", "virtio-hmm",
                 test_broken_layout, &opts);
    opts.arg = GINT_TO_POINTER(LAYOUT_FAULT_READABLE);
    qos_add_test("broken-layout/readable-fault-buffer", "virtio-hmm",
                 test_broken_layout, &opts);

    /* scripts/bench-qtest.sh: qos-test -m perf -p .../virtio-hmm-tests/bench */
    if (g_test_perf()) {
        qos_add_test("bench", "virtio-hmm", bench_request_rate, NULL);
    }
}

libqos_init(register_virtio_hmm_test);
