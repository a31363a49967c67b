/*
 * QTest testcases for virtio-hmm: the device is quiescent while the VM is
 * stopped
 *
 * After QMP "stop" returns, the device neither writes guest RAM nor
 * completes anything: a job that was running stays where it is, new
 * requests and jobs wait.  After "cont" everything completes.
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
#include "virtio-hmm-lib.h"

static uint16_t used_idx(QVirtioHMM *h, int q)
{
    return qtest_readw(global_qtest, h->vq[q]->used + 2);
}

/* Wait until the used index of @q reaches @idx */
static void wait_used(QVirtioHMM *h, int q, uint16_t idx)
{
    gint64 start = g_get_monotonic_time();

    while (used_idx(h, q) != idx) {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
        g_usleep(1000);
    }
}

/* The status in @e's tail (its used element is there) */
static uint32_t tail_status(HMMElem *e)
{
    struct virtio_hmm_tail tail;

    qtest_memread(global_qtest, e->in_addr + e->in_len - TAIL, &tail, TAIL);
    return le32_to_cpu(tail.status);
}

static void test_run_state(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 1ULL << 40, va2 = 1ULL << 41;
    const uint64_t pattern = 0x0706050403020100ULL;
    uint64_t bytes = CFG32(h, max_job_bytes);
    uint64_t pages = bytes / PAGE, i;
    uint64_t scratch = page_alloc(h, 1), scratch2 = page_alloc(h, 1);
    uint32_t max_map = CFG32(h, max_map_pages);
    g_autofree uint64_t *pte = g_new(uint64_t, max_map);
    struct virtio_hmm_head stats = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    struct virtio_hmm_job_rw big, small;
    uint8_t before[PAGE], now[PAGE];
    uint16_t req_idx, job_idx;
    HMMElem job, job2, req;
    QObject *qom;

    /* a FILL over max_job_bytes of device memory, then a guest page */
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    for (i = 0; i < pages; i += max_map) {
        uint32_t k, n = MIN(pages - i, max_map);

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
    hmm_map_ram(h, 0, va2, scratch2, 1, VIRTIO_HMM_PTE_WRITE);

    big = mkjob(VIRTIO_HMM_T_JOB_FILL, 0, 0xb16, va, bytes);
    big.pattern = cpu_to_le64(pattern);
    hmm_submit(h, &job, JOBQ, &big, sizeof(big), TAIL);
    qtest_qmp_assert_success(global_qtest, "{'execute': 'stop'}");

    /* stopped: what was running stays put, what comes waits */
    req_idx = used_idx(h, REQQ);
    job_idx = used_idx(h, JOBQ);
    qtest_memread(global_qtest, scratch, before, sizeof(before));
    hmm_submit(h, &req, REQQ, &stats, sizeof(stats),
               sizeof(struct virtio_hmm_stats) + TAIL);
    small = mkjob(VIRTIO_HMM_T_JOB_FILL, 0, 0x5a1, va2, 8);
    small.pattern = cpu_to_le64(pattern);
    hmm_submit(h, &job2, JOBQ, &small, sizeof(small), TAIL);
    qom = hmm_qom_get("/machine/peripheral/hmm0", "stats");
    qobject_unref(qom);
    for (i = 0; i < 50; i++) {
        g_usleep(1000);
        g_assert_cmpint(used_idx(h, REQQ), ==, req_idx);
        g_assert_cmpint(used_idx(h, JOBQ), ==, job_idx);
        qtest_memread(global_qtest, scratch, now, sizeof(now));
        g_assert_cmpmem(before, sizeof(before), now, sizeof(now));
        g_assert_cmphex(qtest_readq(global_qtest, scratch2), ==, 0);
    }

    /* running again: all of it completes, the jobs in any order */
    qtest_qmp_assert_success(global_qtest, "{'execute': 'cont'}");
    g_assert_cmpint(hmm_wait(h, &req, NULL, NULL), ==, VIRTIO_HMM_S_OK);
    if (job_idx) {
        g_test_message("the long job was done before the stop");
    }
    wait_used(h, JOBQ, 2);
    g_assert_cmpint(tail_status(&job), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(tail_status(&job2), ==, VIRTIO_HMM_S_OK);
    g_assert_cmphex(qtest_readq(global_qtest, scratch), ==, pattern);
    g_assert_cmphex(qtest_readq(global_qtest, scratch2), ==, pattern);
}

static void register_virtio_hmm_runstate_test(void)
{
    QOSGraphTestOptions opts = { };

    opts.edge.extra_device_opts = "id=hmm0";
    qos_add_test("run-state", "virtio-hmm-model", test_run_state, &opts);
}

libqos_init(register_virtio_hmm_runstate_test);
