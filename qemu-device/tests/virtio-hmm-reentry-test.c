/*
 * QTest testcases for virtio-hmm: a guest that points the device at its
 * own registers
 *
 * A writable descriptor at the device's common configuration reaches it
 * through QEMU's bounce buffer when the element is pushed: writing 0 to
 * device_status resets the device from inside the push.  An MSI-X vector
 * whose address is device_status does the same from inside a
 * notification.  QEMU must stay alive and the device usable after a
 * reset, whether the push comes from handle_output (a request that ran
 * inline), from the bottom half (a job the worker finished), from the
 * faultq, or from a config notification of virtio_error().  Also: the
 * elements that ran inline before a broken element are completed.
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

static uint64_t device_status_gpa(QVirtioHMM *h)
{
    return hmm_common_cfg_gpa(h, VIRTIO_PCI_COMMON_STATUS);
}

/* After the reset: a fresh device, which works */
static void assert_reset_and_usable(QVirtioHMM *h, uint32_t asid)
{
    struct virtio_hmm_stats st;

    qvirtio_hmm_setup(h);
    /* the address space that existed before is gone */
    g_assert_cmpint(hmm_create_as(h, asid), ==, VIRTIO_HMM_S_OK);
    hmm_get_stats(h, &st);
    g_assert_cmpint(st.requests, ==, 1);
    g_assert_cmpint(st.address_spaces, ==, 1);
}

/* A request that runs inline; its tail (S_OK = 0) lands on device_status */
static void test_mmio_tail_inline(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_CREATE_AS, 1);
    HMMElem e;

    hmm_submit_at(h, &e, REQQ, &head, sizeof(head), device_status_gpa(h),
                  TAIL);
    hmm_wait_status(h, 0xff, 0);
    assert_reset_and_usable(h, 1);
}

/* A job that the worker finishes after a fault; same tail */
static void test_mmio_tail_worker(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    const uint64_t pattern = 0x1122334455667788ULL;
    uint64_t gpa = page_alloc(h, 1);
    struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_FILL, 0, 0x100,
                                       0x10000, 8);
    struct virtio_hmm_fault rec;
    HMMElem job, fe;
    uint32_t count;

    j.pattern = cpu_to_le64(pattern);
    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_submit_at(h, &job, JOBQ, &j, sizeof(j), device_status_gpa(h), TAIL);
    hmm_add_fault_buf(h, &fe);
    hmm_wait_fault(h, &fe, &rec);
    g_assert_cmphex(le64_to_cpu(rec.tag), ==, 0x100);
    hmm_map_ram(h, 0, 0x10000, gpa, 1,
                VIRTIO_HMM_PTE_READ | VIRTIO_HMM_PTE_WRITE);
    g_assert_cmpint(hmm_fault_reply(h, 0x100, 0, VIRTIO_HMM_REPLY_RETRY,
                                    &count), ==, VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
    hmm_wait_status(h, 0xff, 0);
    /* the job ran before its completion reset the device */
    g_assert_cmphex(qtest_readq(global_qtest, gpa), ==, pattern);
    assert_reset_and_usable(h, 0);
}

/* A fault record (tag 0x100: its first byte is 0) posted at device_status */
static void test_mmio_faultq(void *obj, void *data, QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    gint64 start = g_get_monotonic_time();
    struct virtio_hmm_stats st;
    HMMElem job, fe;

    g_assert_cmpint(hmm_create_as(h, 0), ==, VIRTIO_HMM_S_OK);
    hmm_submit_read(h, &job, 0, 0x100, 0x9000, 8);
    do {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
        hmm_get_stats(h, &st);
    } while (!st.faults);
    hmm_submit_at(h, &fe, FAULTQ, NULL, 0, device_status_gpa(h),
                  sizeof(struct virtio_hmm_fault));
    /* the rest of the record may set NEEDS_RESET: wait for the reset */
    hmm_wait_status(h, VIRTIO_CONFIG_S_DRIVER_OK, 0);
    assert_reset_and_usable(h, 0);
}

/* The requestq's MSI-X message writes 0 to device_status */
static void test_mmio_msix_queue(void *obj, void *data,
                                 QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    QVirtioPCIDevice *d = hmm_pci(h);
    QVirtQueuePCI *vqpci = container_of(h->vq[REQQ], QVirtQueuePCI, vq);
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_CREATE_AS, 1);
    HMMElem e;

    qpci_msix_enable(d->pdev);
    qvirtqueue_pci_msix_setup(d, vqpci, alloc, 1);
    hmm_msix_point(h, 1, device_status_gpa(h), 0);
    hmm_submit(h, &e, REQQ, &head, sizeof(head), TAIL);
    hmm_wait_status(h, 0xff, 0);
    /* the used element was written before the notification */
    g_assert_cmpint(hmm_wait(h, &e, NULL, NULL), ==, VIRTIO_HMM_S_OK);
    qpci_msix_disable(d->pdev);
    assert_reset_and_usable(h, 1);
}

/* The config MSI-X message of virtio_error() writes 0 to device_status */
static void test_mmio_msix_config(void *obj, void *data,
                                  QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    QVirtioPCIDevice *d = hmm_pci(h);
    QVirtQueue *vq = h->vq[REQQ];
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    uint64_t addr = guest_alloc(alloc, sizeof(head));
    uint32_t free_head;

    g_assert_cmpint(hmm_create_as(h, 1), ==, VIRTIO_HMM_S_OK);
    qpci_msix_enable(d->pdev);
    qvirtio_pci_set_msix_configuration_vector(d, alloc, 0);
    hmm_msix_point(h, 0, device_status_gpa(h), 0);
    /* no writable part: the device cannot answer it, virtio_error() */
    qtest_memwrite(global_qtest, addr, &head, sizeof(head));
    free_head = qvirtqueue_add(global_qtest, vq, addr, sizeof(head), false,
                               false);
    qvirtqueue_kick(global_qtest, h->vdev, vq, free_head);
    hmm_wait_status(h, VIRTIO_CONFIG_S_DRIVER_OK, 0);
    qpci_msix_disable(d->pdev);
    assert_reset_and_usable(h, 1);
    guest_free(alloc, addr);
}

/*
 * Two elements in one kick: a request that runs inline, then a chain the
 * device cannot answer.  The first must still complete.
 */
static void test_inline_before_broken(void *obj, void *data,
                                      QGuestAllocator *alloc)
{
    QVirtioHMM *h = obj;
    QVirtQueue *vq = h->vq[REQQ];
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_CREATE_AS, 1);
    struct virtio_hmm_head bad = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    uint64_t addr = guest_alloc(alloc, sizeof(bad));
    uint32_t free_head;
    HMMElem e;

    hmm_queue(h, &e, REQQ, &head, sizeof(head), TAIL);
    qtest_memwrite(global_qtest, addr, &bad, sizeof(bad));
    free_head = qvirtqueue_add(global_qtest, vq, addr, sizeof(bad), false,
                               false);
    qvirtqueue_kick(global_qtest, h->vdev, vq, free_head);
    hmm_wait_status(h, VIRTIO_CONFIG_S_NEEDS_RESET,
                    VIRTIO_CONFIG_S_NEEDS_RESET);
    g_assert_cmpint(hmm_wait(h, &e, NULL, NULL), ==, VIRTIO_HMM_S_OK);
    guest_free(alloc, addr);
}

static void register_virtio_hmm_reentry_test(void)
{
    qos_add_test("mmio-descriptor/tail-inline", "virtio-hmm-model",
                 test_mmio_tail_inline, NULL);
    qos_add_test("mmio-descriptor/tail-worker", "virtio-hmm-model",
                 test_mmio_tail_worker, NULL);
    qos_add_test("mmio-descriptor/faultq", "virtio-hmm-model", test_mmio_faultq,
                 NULL);
    qos_add_test("mmio-descriptor/msix-queue", "virtio-hmm-model",
                 test_mmio_msix_queue, NULL);
    qos_add_test("mmio-descriptor/msix-config", "virtio-hmm-model",
                 test_mmio_msix_config, NULL);
    qos_add_test("inline-before-broken", "virtio-hmm-model",
                 test_inline_before_broken, NULL);
}

libqos_init(register_virtio_hmm_reentry_test);
