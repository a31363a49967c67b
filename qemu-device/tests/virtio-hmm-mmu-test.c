/*
 * QTest testcases for virtio-hmm: the device MMU's page-table memory
 *
 * Page tables are radix trees of 512-entry tables over the device page
 * number (docs/virtio-hmm.md, max_page_tables): the first page of an
 * empty address space needs 5 tables, a page in another 2 MiB range 1
 * more, in another 1 GiB range 2, in another 512 GiB range 3, in another
 * 256 TiB range 4.  With max-page-tables=16 the tests fill the device to
 * the table and check that a MAP beyond fails with S_NOSPC and changes
 * nothing, and that UNMAP, invalid MAP entries, DESTROY_AS and reset give
 * the tables back.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "virtio-hmm-lib.h"

#define RW  (VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE)

/* va of each page and the tables it adds: 16 in all */
static const struct {
    uint64_t va;
    unsigned int tables;
} fill[] = {
    { 0, 5 },
    { 2 * MiB, 1 },
    { 1 * GiB, 2 },
    { 512 * GiB, 3 },
    { 256 * TiB, 4 },
    { 4 * MiB, 1 },
};

static void fill_to_the_limit(QVirtioHMM *h, uint32_t asid, uint64_t gpa)
{
    unsigned int i, tables = 0;

    for (i = 0; i < ARRAY_SIZE(fill); i++) {
        hmm_map_ram(h, asid, fill[i].va, gpa, 1, RW);
        tables += fill[i].tables;
    }
    g_assert_cmpint(tables, ==, CFG32(h, max_page_tables));
}

static uint32_t map1(QVirtioHMM *h, uint32_t asid, uint64_t va, uint64_t gpa)
{
    uint64_t pte = gpa | VIRTIO_HMM_PTE_VALID | RW;

    return hmm_map(h, asid, va, 1, &pte);
}

static void test_map_limit(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1);
    uint64_t pte[2] = {
        gpa | VIRTIO_HMM_PTE_VALID | RW, gpa | VIRTIO_HMM_PTE_VALID | RW,
    };
    struct virtio_hmm_stats st;
    uint32_t count;
    unsigned int i;

    g_assert_cmpint(CFG32(h, max_page_tables), ==, 16);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    fill_to_the_limit(h, 0, gpa);

    /* a page that needs a new table: no room, nothing changes */
    g_assert_cmpint(map1(h, 0, 6 * MiB, gpa), ==, VIRTIO_HMM_S_NOSPC);
    g_assert_cmphex(hmm_query1(h, 0, 6 * MiB), ==, 0);
    /* two pages, the first in a table that exists: still nothing */
    g_assert_cmpint(hmm_map(h, 0, 6 * MiB - PAGE, 2, pte), ==,
                    VIRTIO_HMM_S_NOSPC);
    g_assert_cmphex(hmm_query1(h, 0, 6 * MiB - PAGE), ==, 0);
    /* pages in tables that exist need none */
    hmm_map_ram(h, 0, PAGE, gpa, 1, RW);
    hmm_map_ram(h, 0, 6 * MiB - PAGE, gpa, 1, RW);
    for (i = 0; i < ARRAY_SIZE(fill); i++) {
        g_assert_cmphex(hmm_query1(h, 0, fill[i].va), ==, pte[0]);
    }
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, ARRAY_SIZE(fill) + 2);

    /* an invalid MAP entry gives the 2 MiB range's table back */
    pte[0] = 0;
    g_assert_cmpint(hmm_map(h, 0, 2 * MiB, 1, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(map1(h, 0, 6 * MiB, gpa), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(map1(h, 0, 8 * MiB, gpa), ==, VIRTIO_HMM_S_NOSPC);
    /* and so does an UNMAP of the page at 6 MiB */
    g_assert_cmpint(hmm_unmap(h, 0, 6 * MiB, PAGE, 0, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmpint(map1(h, 0, 8 * MiB, gpa), ==, VIRTIO_HMM_S_OK);

    /* the limit is the device's: another address space has no room */
    g_assert_cmpint(hmm_create_as(h, 1), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(map1(h, 1, 0, gpa), ==, VIRTIO_HMM_S_NOSPC);
    /* unmapping everything gives all tables back */
    g_assert_cmpint(hmm_unmap(h, 0, 0, 0, 0, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, ARRAY_SIZE(fill) + 2);
    fill_to_the_limit(h, 1, gpa);
    g_assert_cmpint(map1(h, 0, 0, gpa), ==, VIRTIO_HMM_S_NOSPC);
    /* so does DESTROY_AS */
    g_assert_cmpint(hmm_destroy_as(h, 1, NULL), ==, VIRTIO_HMM_S_OK);
    fill_to_the_limit(h, 0, gpa);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, ARRAY_SIZE(fill));
    g_assert_cmpint(st.address_spaces, ==, 1);

    /* and a reset */
    qvirtio_hmm_setup(h);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    fill_to_the_limit(h, 0, gpa);
    g_assert_cmpint(map1(h, 0, 6 * MiB, gpa), ==, VIRTIO_HMM_S_NOSPC);
}

/* Far-apart pages: UNMAP walks only what exists, reductions included */
static void test_unmap_sparse(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t rwa = VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_PERM_MASK;
    const uint64_t va[] = {
        0, 2 * MiB, 1 * GiB, 1ULL << 47, 1ULL << 63, ~0ULL - PAGE + 1,
    };
    uint64_t gpa = page_alloc(h, 1), pte = gpa | rwa;
    struct virtio_hmm_stats st;
    uint32_t count;
    unsigned int i;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    for (i = 0; i < ARRAY_SIZE(va); i++) {
        g_assert_cmpint(hmm_map(h, 0, va[i], 1, &pte), ==, VIRTIO_HMM_S_OK);
    }
    /* WRITE (and ATOMIC) off everything from 1 GiB to the top */
    g_assert_cmpint(hmm_unmap(h, 0, 1 * GiB, 0 - 1 * GiB,
                              VIRTIO_HMM_PTE_WRITE, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 4);
    for (i = 0; i < ARRAY_SIZE(va); i++) {
        g_assert_cmphex(hmm_query1(h, 0, va[i]), ==,
                        i < 2 ? pte : gpa | VIRTIO_HMM_PTE_VALID |
                                      VIRTIO_HMM_PTE_READ);
    }
    /* ATOMIC is already gone there: nothing changes */
    g_assert_cmpint(hmm_unmap(h, 0, 1 * GiB, 0 - 1 * GiB,
                              VIRTIO_HMM_PTE_ATOMIC, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 0);
    /* remove [2 MiB, 2^63): three pages */
    g_assert_cmpint(hmm_unmap(h, 0, 2 * MiB, (1ULL << 63) - 2 * MiB, 0,
                              &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 3);
    for (i = 0; i < ARRAY_SIZE(va); i++) {
        g_assert_cmphex(hmm_query1(h, 0, va[i]) != 0, ==,
                        i == 0 || i >= 4);
    }
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, 3);
    /* everything, "to the top" */
    g_assert_cmpint(hmm_unmap(h, 0, 0, 0, 0, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 3);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, 0);
}

/*
 * x-inject-map-fail=2: every 2nd MAP applies the first half of its entries
 * and fails with S_IOERR (docs/virtio-hmm.md 13.1), tables of the rest
 * given back; the others are whole.
 */
static void test_inject_map_fail(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1), pte[4];
    struct virtio_hmm_stats st;
    unsigned int i;

    for (i = 0; i < ARRAY_SIZE(pte); i++) {
        pte[i] = gpa | VIRTIO_HMM_PTE_VALID | RW;
    }
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 0, 0, 4, pte), ==, VIRTIO_HMM_S_OK);
    /* 4 pages across a 2 MiB boundary: 2 in the table there, 2 in a new */
    g_assert_cmpint(hmm_map(h, 0, 2 * MiB - 2 * PAGE, 4, pte), ==,
                    VIRTIO_HMM_S_IOERR);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB - 2 * PAGE), ==, pte[0]);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB - PAGE), ==, pte[0]);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB), ==, 0);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB + PAGE), ==, 0);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, 6);
    /* the 3rd is whole again */
    g_assert_cmpint(hmm_map(h, 0, 2 * MiB, 1, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB), ==, pte[0]);
    /* the 4th fails: one entry, none of it */
    g_assert_cmpint(hmm_map(h, 0, 4 * MiB, 1, pte), ==, VIRTIO_HMM_S_IOERR);
    g_assert_cmphex(hmm_query1(h, 0, 4 * MiB), ==, 0);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, 7);
    /* a failing MAP into an empty address space keeps the tables it uses */
    g_assert_cmpint(hmm_map(h, 0, 6 * MiB, 1, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_create_as(h, 1), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 1, 0, 4, pte), ==, VIRTIO_HMM_S_IOERR);
    g_assert_cmphex(hmm_query1(h, 1, 0), ==, pte[0]);
    g_assert_cmphex(hmm_query1(h, 1, PAGE), ==, pte[0]);
    g_assert_cmphex(hmm_query1(h, 1, 2 * PAGE), ==, 0);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, 10);
}

/* MAP one page; with x-inject-map-fail=2 the odd one fails, so again */
static void map1_again(QVirtioHMM *h, uint32_t asid, uint64_t va,
                       uint64_t gpa)
{
    uint32_t st = map1(h, asid, va, gpa);

    if (st == VIRTIO_HMM_S_IOERR) {
        st = map1(h, asid, va, gpa);
    }
    g_assert_cmpint(st, ==, VIRTIO_HMM_S_OK);
}

/*
 * x-inject-map-fail=2 with max-page-tables=16: a failing MAP's removals
 * in its applied half happen, those in the other half do not, and the
 * tables made for the entries it did not apply are given back: the
 * device still fills to exactly its 16 tables.
 */
static void test_inject_map_fail_tables(void *obj, void *data,
                                        QGuestAllocator *alloc)
{
    /* pages that need 3, 4, 1, 1 new tables */
    static const uint64_t fill_va[] = {
        512 * GiB, 256 * TiB, 4 * MiB, 6 * MiB,
    };
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1), rw = gpa | VIRTIO_HMM_PTE_VALID | RW;
    uint64_t pte[4] = { rw, rw, rw, rw };
    struct virtio_hmm_stats st;
    uint32_t count;
    unsigned int i;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    /* 1st MAP: pages 0-1; 2nd fails: pages 2-3 of 2-5 */
    g_assert_cmpint(hmm_map(h, 0, 0, 2, pte), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(hmm_map(h, 0, 2 * PAGE, 4, pte), ==,
                    VIRTIO_HMM_S_IOERR);
    g_assert_cmphex(hmm_query1(h, 0, 3 * PAGE), ==, rw);
    g_assert_cmphex(hmm_query1(h, 0, 4 * PAGE), ==, 0);
    /* 3rd: page 0 and 2 removed, 1 and 3 stay */
    pte[0] = pte[2] = 0;
    g_assert_cmpint(hmm_map(h, 0, 0, 4, pte), ==, VIRTIO_HMM_S_OK);
    /* 4th fails: page 0 mapped, 1 removed; not page 2 mapped, 3 removed */
    pte[0] = pte[2] = rw;
    pte[1] = pte[3] = 0;
    g_assert_cmpint(hmm_map(h, 0, 0, 4, pte), ==, VIRTIO_HMM_S_IOERR);
    g_assert_cmphex(hmm_query1(h, 0, 0), ==, rw);
    g_assert_cmphex(hmm_query1(h, 0, PAGE), ==, 0);
    g_assert_cmphex(hmm_query1(h, 0, 2 * PAGE), ==, 0);
    g_assert_cmphex(hmm_query1(h, 0, 3 * PAGE), ==, rw);
    /* 5th: 2 more tables; 6th fails, its new table at 2 MiB goes back */
    g_assert_cmpint(map1(h, 0, 1 * GiB, gpa), ==, VIRTIO_HMM_S_OK);
    pte[0] = pte[1] = pte[2] = pte[3] = rw;
    g_assert_cmpint(hmm_map(h, 0, 2 * MiB - 2 * PAGE, 4, pte), ==,
                    VIRTIO_HMM_S_IOERR);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB - PAGE), ==, rw);
    g_assert_cmphex(hmm_query1(h, 0, 2 * MiB), ==, 0);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.mapped_pages, ==, 5);

    /*
     * 5 + 2 tables in use: 9 more fit (every other MAP failing on the
     * way, its tables given back), not 10. A table kept for the 6th MAP's
     * unapplied half would make the 6 MiB page not fit.
     */
    for (i = 0; i < ARRAY_SIZE(fill_va); i++) {
        map1_again(h, 0, fill_va[i], gpa);
    }
    g_assert_cmpint(map1(h, 0, 8 * MiB, gpa), ==, VIRTIO_HMM_S_NOSPC);
    /* unmapping everything gives every table back */
    g_assert_cmpint(hmm_unmap(h, 0, 0, 0, 0, &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 5 + ARRAY_SIZE(fill_va));
}

static void register_virtio_hmm_mmu_test(void)
{
    QOSGraphTestOptions opts = { };
    QOSGraphTestOptions inject = {
        .edge.extra_device_opts = "x-inject-map-fail=2",
    };

    qos_add_test("unmap-sparse", "virtio-hmm-model", test_unmap_sparse, NULL);
    opts.edge.extra_device_opts = "max-page-tables=16";
    qos_add_test("map-limit", "virtio-hmm-model", test_map_limit, &opts);
    qos_add_test("inject-map-fail", "virtio-hmm-model", test_inject_map_fail,
                 &inject);
    inject.edge.extra_device_opts = "x-inject-map-fail=2,max-page-tables=16";
    qos_add_test("inject-map-fail-tables", "virtio-hmm-model",
                 test_inject_map_fail_tables, &inject);
}

libqos_init(register_virtio_hmm_mmu_test);
