/*
 * QTest testcases for virtio-hmm: how the engines reach memory, and where
 * they run
 *
 * - tcg-code: with -accel tcg, a vCPU spins on code in guest RAM that a
 *   job, the copy engine and an atomic then rewrite; the vCPU must run
 *   the new code, which takes the device's stores to invalidate what TCG
 *   translated from the page (a plain store into the RAM block does not).
 * - chase-*: CHASE is bounded (max_nodes) and its node arithmetic does not
 *   wrap around the top of the address space.
 * - inline-*: only cheap, bounded requests run in the notifying thread,
 *   under the BQL (the read-only QOM property x-inline-requests counts
 *   them); injected delays, backend calls, large UNMAPs and DESTROY_AS go
 *   to the worker.
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
#include "qapi/qmp/qdict.h"
#include "virtio-hmm-lib.h"

#define CODE_GPA        0x7c00ULL
#define FLAG_GPA        0x500ULL
#define CODE_VA         0x100000ULL

/* mov byte [0x500], @n; jmp $ (real mode) */
#define SET_FLAG_AND_SPIN(n) { 0xc6, 0x06, 0x00, 0x05, (n), 0xeb, 0xfe }

static void wait_flag(uint8_t value)
{
    gint64 start = g_get_monotonic_time();

    while (qtest_readb(global_qtest, FLAG_GPA) != value) {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
        g_usleep(1000);
    }
}

static void test_tcg_code(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint8_t code0[] = SET_FLAG_AND_SPIN(1);  /* at 7c00 */
    static const uint8_t code1[] = SET_FLAG_AND_SPIN(2);  /* at 7c05 */
    static const uint8_t code2[] = SET_FLAG_AND_SPIN(3);  /* at 7c0a */
    static const uint8_t code3[] = SET_FLAG_AND_SPIN(4);  /* at 7c1f */
    QVirtioHMM *h = obj;
    const uint64_t page = CODE_GPA & ~(PAGE - 1);
    const uint64_t off = CODE_GPA - page;
    uint64_t scratch = page_alloc(h, 1), old;
    uint8_t buf[PAGE];

    hmm_no_clock = true;
    qtest_writeb(global_qtest, FLAG_GPA, 0);
    qtest_memwrite(global_qtest, CODE_GPA, code0, sizeof(code0));
    qtest_memwrite(global_qtest, CODE_GPA + 0x1f, code3, sizeof(code3));
    qtest_qmp_assert_success(global_qtest, "{'execute': 'cont'}");
    wait_flag(1);               /* the vCPU spins at 7c05 */

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, CODE_VA, page, 1, VIRTIO_HMM_PTE_PERM_MASK);

    /* a WRITE job stores code over the loop */
    g_assert_cmpint(hmm_job_write(h, 0, CODE_VA + off + 5, code1,
                                  sizeof(code1)), ==, VIRTIO_HMM_S_OK);
    wait_flag(2);               /* spins at 7c0a */

    /* the copy engine brings back a page with code over the loop */
    qtest_memread(global_qtest, page, buf, sizeof(buf));
    memcpy(buf + off + 0xa, code2, sizeof(code2));
    qtest_memwrite(global_qtest, scratch, buf, sizeof(buf));
    hmm_copy1(h, VIRTIO_HMM_COPY_TO_DEV, scratch, 0);
    hmm_copy1(h, VIRTIO_HMM_COPY_FROM_DEV, 0, page);
    wait_flag(3);               /* spins at 7c0f: eb fe */

    /* an atomic turns that jmp $ into a jmp to 7c1f */
    g_assert_cmpint(hmm_job_atomic(h, 0, CODE_VA + off + 0x10,
                                   VIRTIO_HMM_ATOMIC_XCHG, 4, 0x1f - 0x11,
                                   0, &old), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(old, ==, 0xfe);
    wait_flag(4);
    hmm_no_clock = false;
}

/* max_nodes above max_job_bytes / 8 is S_RANGE, even for a short list */
static void test_chase_max_nodes(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1);
    uint32_t limit = CFG32(h, max_job_bytes) / sizeof(uint64_t);
    struct virtio_hmm_chase_result res;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, 0x1000, gpa, 1, VIRTIO_HMM_PTE_READ);
    /* one node that points at itself */
    qtest_writeq(global_qtest, gpa, 0x1000);
    qtest_writeq(global_qtest, gpa + 8, 1);
    g_assert_cmpint(hmm_job_chase(h, 0, 0x1000, 0, 8, 8, limit + 1, &res),
                    ==, VIRTIO_HMM_S_RANGE);
    g_assert_cmpint(hmm_job_chase(h, 0, 0x1000, 0, 8, 8, UINT32_MAX, &res),
                    ==, VIRTIO_HMM_S_RANGE);
    /* below the limit, a cycle ends at max_nodes */
    g_assert_cmpint(hmm_job_chase(h, 0, 0x1000, 0, 8, 8, 1000, &res), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(res.nodes, ==, 1000);
    g_assert_cmpint(res.sum, ==, 1000);
}

/* A node whose value or pointer passes the top of the address space */
static void test_chase_wrap(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 2);
    const uint64_t top = ~0ULL - PAGE + 1, node = ~0ULL - 7;
    struct virtio_hmm_chase_result res;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_map_ram(h, 0, 0, gpa, 1, VIRTIO_HMM_PTE_READ);
    hmm_map_ram(h, 0, top, gpa + PAGE, 1, VIRTIO_HMM_PTE_READ);
    qtest_writeq(global_qtest, gpa + PAGE + PAGE - 8, 0);   /* next: NULL */
    qtest_writeq(global_qtest, gpa + 8, 0x77);              /* at va 8 */

    /* value and pointer in the last 8 bytes: fine */
    g_assert_cmpint(hmm_job_chase(h, 0, node, 0, 0, 8, 10, &res), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(res.nodes, ==, 1);
    /* the value would be at va 8, past the top */
    g_assert_cmpint(hmm_job_chase(h, 0, node, 0, 16, 8, 10, &res), ==,
                    VIRTIO_HMM_S_RANGE);
    g_assert_cmpint(res.nodes, ==, 0);
    g_assert_cmpint(res.sum, ==, 0);
    /* so would the pointer */
    g_assert_cmpint(hmm_job_chase(h, 0, node, 8, 0, 8, 10, &res), ==,
                    VIRTIO_HMM_S_RANGE);
    g_assert_cmpint(res.nodes, ==, 0);
}

#define HMM_BACKEND_PATH "/machine/peripheral/hmm0/virtio-backend"

/* Run one request; did it run inline? */
static bool ran_inline(QVirtioHMM *h, uint32_t (*run)(QVirtioHMM *h))
{
    uint64_t before = hmm_qom_get_uint(HMM_BACKEND_PATH, "x-inline-requests");

    g_assert_cmpint(run(h), ==, VIRTIO_HMM_S_OK);
    return hmm_qom_get_uint(HMM_BACKEND_PATH, "x-inline-requests") ==
           before + 1;
}

static uint64_t inline_gpa;

static uint32_t run_create(QVirtioHMM *h)
{
    return hmm_create_as(h, 0);
}

static uint32_t run_map(QVirtioHMM *h)
{
    uint64_t pte[2] = {
        inline_gpa | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ,
        inline_gpa | VIRTIO_HMM_PTE_VALID | VIRTIO_HMM_PTE_READ,
    };

    return hmm_map(h, 0, 0x10000, 2, pte);
}

static uint32_t run_query(QVirtioHMM *h)
{
    uint64_t pte;

    return hmm_query(h, 0, 0x10000, 1, &pte);
}

static uint32_t run_unmap_small(QVirtioHMM *h)
{
    return hmm_unmap(h, 0, 0x10000, PAGE, 0, NULL);
}

static uint32_t run_unmap_all(QVirtioHMM *h)
{
    return hmm_unmap(h, 0, 0, 0, 0, NULL);
}

static uint32_t run_copy(QVirtioHMM *h)
{
    uint64_t src = inline_gpa, dst = 0;

    return hmm_copy(h, VIRTIO_HMM_COPY_TO_DEV, 1, &src, &dst, NULL);
}

static uint32_t run_job(QVirtioHMM *h)
{
    uint8_t buf[8];

    return hmm_job_read(h, 0, 0x10000 + PAGE, buf, sizeof(buf), NULL);
}

static uint32_t run_destroy(QVirtioHMM *h)
{
    return hmm_destroy_as(h, 0, NULL);
}

static bool backend_is_ram(void)
{
    return !qvirtio_hmm_backend() || !strcmp(qvirtio_hmm_backend(), "ram");
}

/* The default device: all cheap but UNMAP to the top and DESTROY_AS */
static void test_inline_default(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;

    inline_gpa = page_alloc(h, 1);
    g_assert_true(ran_inline(h, run_create));
    g_assert_true(ran_inline(h, run_map));
    g_assert_true(ran_inline(h, run_query));
    g_assert_true(ran_inline(h, run_unmap_small));
    g_assert_false(ran_inline(h, run_unmap_all));
    /* with a backend, every engine access is a call into it */
    g_assert_cmpint(ran_inline(h, run_copy), ==, backend_is_ram());
    g_assert_true(ran_inline(h, run_map));
    g_assert_cmpint(ran_inline(h, run_job), ==, backend_is_ram());
    g_assert_false(ran_inline(h, run_destroy));
}

/* x-inject-*-delay-us: the delayed requests never run inline */
static void test_inline_delays(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;

    inline_gpa = page_alloc(h, 1);
    g_assert_true(ran_inline(h, run_create));
    g_assert_true(ran_inline(h, run_map));
    g_assert_false(ran_inline(h, run_unmap_small));
    g_assert_false(ran_inline(h, run_copy));
    g_assert_true(ran_inline(h, run_query));
    /* a job would sleep under the BQL */
    g_assert_false(ran_inline(h, run_job));
}

static void register_virtio_hmm_engine_test(void)
{
    QOSGraphTestOptions opts = { };

    qos_add_test("chase-max-nodes", "virtio-hmm-model",

                 test_chase_max_nodes, NULL);
    qos_add_test("chase-wrap", "virtio-hmm-model", test_chase_wrap, NULL);
    opts.edge.extra_device_opts = "id=hmm0";
    qos_add_test("inline-default", "virtio-hmm-model",
                 test_inline_default, &opts);
    opts.edge.extra_device_opts = "id=hmm0,x-inject-inval-delay-us=1000,"
                                  "x-inject-copy-delay-us=1000,"
                                  "x-inject-job-delay-us=1000";
    qos_add_test("inline-delays", "virtio-hmm-model",
                 test_inline_delays, &opts);
    /* lives as long as the graph; the machine starts stopped */
    opts.edge.extra_device_opts = g_strdup_printf("id=hmm0 -accel tcg -S "
                                                  "-bios %s", hmm_make_bios());
    qos_add_test("tcg-code", "virtio-hmm-model", test_tcg_code, &opts);
}

libqos_init(register_virtio_hmm_engine_test);
