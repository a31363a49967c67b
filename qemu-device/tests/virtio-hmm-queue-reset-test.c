/*
 * QTest testcases for virtio-hmm: per-virtqueue reset (VIRTIO_F_RING_RESET)
 *
 * The driver resets one queue through the modern common configuration
 * (queue_select, queue_reset) and sets it up again.  Nothing the device
 * held for the old ring (queued, running or stalled elements, their
 * completions, the fault records of dropped jobs) may land in the new
 * one, and the device must not need a reset afterwards.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/module.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_pci.h"
#include "virtio-hmm-lib.h"

/* Reset virtqueue @q and set it up again, as a driver does */
static void queue_reset(QVirtioHMM *h, int q)
{
    QVirtioPCIDevice *d = hmm_pci(h);

    g_assert_true(h->vdev->features & (1ull << VIRTIO_F_RING_RESET));
    qpci_io_writew(d->pdev, d->bar,
                   d->common_cfg_offset + VIRTIO_PCI_COMMON_Q_SELECT, q);
    qpci_io_writew(d->pdev, d->bar,
                   d->common_cfg_offset + VIRTIO_PCI_COMMON_Q_RESET, 1);
    g_assert_cmpint(qpci_io_readw(d->pdev, d->bar, d->common_cfg_offset +
                                  VIRTIO_PCI_COMMON_Q_RESET), ==, 0);
    g_assert_cmpint(qpci_io_readw(d->pdev, d->bar, d->common_cfg_offset +
                                  VIRTIO_PCI_COMMON_Q_ENABLE), ==, 0);
    qvirtqueue_cleanup(h->vdev->bus, h->vq[q], h->alloc);
    h->vq[q] = qvirtqueue_setup(h->vdev, h->alloc, q);
    h->inflight[q] = 0;
}

static uint16_t used_idx(QVirtioHMM *h, int q)
{
    return qtest_readw(global_qtest, h->vq[q]->used + 2);
}

static void wait_faults(QVirtioHMM *h, uint64_t n)
{
    gint64 start = g_get_monotonic_time();
    struct virtio_hmm_stats st;

    do {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
        hmm_get_stats(h, &st);
    } while (st.faults < n);
}

/*
 * A job stalled before a jobq reset is gone: a RETRY names no job, its
 * fault record is not posted, and it never completes into the new ring.
 */
static void test_queue_reset_jobq_stalled(void *obj, void *data,
                                          QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    uint64_t gpa = page_alloc(h, 1);
    uint8_t buf[8];
    HMMElem job, fe;
    uint32_t count;

    qtest_writeq(global_qtest, gpa, 0x600d);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_submit_read(h, &job, 0, 0x51, 0x9000, 8);
    wait_faults(h, 1);      /* stalled; its record waits for a buffer */

    queue_reset(h, JOBQ);
    hmm_map_ram(h, 0, 0x9000, gpa, 1, VIRTIO_HMM_PTE_READ);
    g_assert_cmpint(hmm_fault_reply(h, 0x51, 0, VIRTIO_HMM_REPLY_RETRY,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 0);
    hmm_add_fault_buf(h, &fe);
    hmm_assert_pending(h, &fe);

    /* the new ring works, and its first used element is its own */
    g_assert_cmpint(hmm_job_read(h, 0, 0x9000, buf, sizeof(buf), NULL), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmphex(ldq_le_p(buf), ==, 0x600d);
    g_assert_cmpint(used_idx(h, JOBQ), ==, 1);
    g_assert_false(hmm_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* Map max_job_bytes of device memory at @va, writable */
static void map_devmem(QVirtioHMM *h, uint64_t va)
{
    uint64_t pages = CFG32(h, max_job_bytes) / PAGE, i;
    uint32_t max_map = CFG32(h, max_map_pages), k;
    g_autofree uint64_t *pte = g_new(uint64_t, max_map);

    for (i = 0; i < pages; i += max_map) {
        uint32_t n = MIN(pages - i, max_map);

        for (k = 0; k < n; k++) {
            pte[k] = ((i + k) * PAGE) | VIRTIO_HMM_PTE_VALID |
                     VIRTIO_HMM_PTE_WRITE | VIRTIO_HMM_PTE_DEVMEM;
        }
        g_assert_cmpint(hmm_map(h, 0, va + i * PAGE, n, pte), ==,
                        VIRTIO_HMM_S_OK);
    }
}

/*
 * A long job keeps the worker busy; a slow COPY (x-inject-copy-delay-us)
 * and a GET_STATS queue for it; a requestq reset drops both, and neither
 * completes into the new ring.  The job, on the jobq, is not affected.
 */
static void test_queue_reset_requestq(void *obj, void *data,
                                      QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t va = 1ULL << 40;
    uint64_t src = page_alloc(h, 1), dst = 0;
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    size_t len = sizeof(struct virtio_hmm_req_copy) +
                 sizeof(struct virtio_hmm_copy_entry);
    g_autofree uint8_t *copy = g_malloc0(len);
    struct virtio_hmm_req_copy *c = (void *)copy;
    struct virtio_hmm_copy_entry *ent = (void *)(c + 1);
    struct virtio_hmm_job_rw j;
    struct virtio_hmm_stats st;
    HMMElem job, e1, e2;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    map_devmem(h, va);
    j = mkjob(VIRTIO_HMM_T_JOB_FILL, 0, 0x10b, va, CFG32(h, max_job_bytes));
    hmm_submit(h, &job, JOBQ, &j, sizeof(j), TAIL);

    c->head = mkhead(VIRTIO_HMM_T_COPY, 0);
    c->head.flags = cpu_to_le16(VIRTIO_HMM_COPY_TO_DEV);
    c->nr = cpu_to_le32(1);
    ent->src = cpu_to_le64(src);
    ent->dst = cpu_to_le64(dst);
    hmm_submit(h, &e1, REQQ, copy, len, TAIL);
    hmm_submit(h, &e2, REQQ, &head, sizeof(head),
               sizeof(struct virtio_hmm_stats) + TAIL);

    queue_reset(h, REQQ);
    hmm_get_stats(h, &st);
    g_assert_cmpint(used_idx(h, REQQ), ==, 1);
    g_assert_cmpint(hmm_wait(h, &job, NULL, NULL), ==, VIRTIO_HMM_S_OK);
    /* nothing came late either */
    g_assert_cmpint(used_idx(h, REQQ), ==, 1);
    g_assert_false(hmm_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* A faultq reset keeps the records: they go into the new buffers */
static void test_queue_reset_faultq(void *obj, void *data,
                                    QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    struct virtio_hmm_fault rec;
    HMMElem job, fe;
    uint32_t count;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_submit_read(h, &job, 0, 0x52, 0x9000, 8);
    wait_faults(h, 1);

    queue_reset(h, FAULTQ);
    hmm_add_fault_buf(h, &fe);
    hmm_wait_fault(h, &fe, &rec);
    g_assert_cmphex(le64_to_cpu(rec.tag), ==, 0x52);
    g_assert_cmphex(le64_to_cpu(rec.va), ==, 0x9000);
    g_assert_cmpint(hmm_fault_reply(h, 0x52, 0, VIRTIO_HMM_REPLY_CANCEL,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    g_assert_cmpint(hmm_wait(h, &job, NULL, NULL), ==, VIRTIO_HMM_S_CANCELED);
}

static void register_virtio_hmm_queue_reset_test(void)
{
    QOSGraphTestOptions opts = { };

    qos_add_test("queue-reset/jobq-stalled", "virtio-hmm-model",
                 test_queue_reset_jobq_stalled, NULL);
    qos_add_test("queue-reset/faultq", "virtio-hmm-model",
                 test_queue_reset_faultq,
                 NULL);
    opts.edge.extra_device_opts = "x-inject-copy-delay-us=200000";
    qos_add_test("queue-reset/requestq", "virtio-hmm-model",
                 test_queue_reset_requestq, &opts);
}

libqos_init(register_virtio_hmm_queue_reset_test);
