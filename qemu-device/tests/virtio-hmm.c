/*
 * libqos driver for the virtio-hmm device: the "virtio-hmm-pci" graph node
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/module.h"
#include "standard-headers/linux/virtio_ring.h"
#include "virtio-hmm.h"

const char *qvirtio_hmm_backend(void)
{
    return getenv("QTEST_VIRTIO_HMM_BACKEND");
}

static void qvirtio_hmm_cleanup(QVirtioHMM *hmm)
{
    int i;

    for (i = 0; i < VIRTIO_HMM_NR_VQS; i++) {
        if (hmm->vq[i]) {
            qvirtqueue_cleanup(hmm->vdev->bus, hmm->vq[i], hmm->alloc);
            hmm->vq[i] = NULL;
        }
    }
}

void qvirtio_hmm_setup(QVirtioHMM *hmm)
{
    QVirtioDevice *vdev = hmm->vdev;
    uint64_t features;
    int i;

    qvirtio_reset(vdev);
    qvirtio_hmm_cleanup(hmm);
    qvirtio_set_acknowledge(vdev);
    qvirtio_set_driver(vdev);
    features = qvirtio_get_features(vdev);
    features &= ~(QVIRTIO_F_BAD_FEATURE |
                  (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                  (1ull << VIRTIO_RING_F_EVENT_IDX));
    qvirtio_set_features(vdev, features);
    for (i = 0; i < VIRTIO_HMM_NR_VQS; i++) {
        hmm->vq[i] = qvirtqueue_setup(vdev, hmm->alloc, i);
        hmm->inflight[i] = 0;
    }
    qvirtio_set_driver_ok(vdev);
}

static void *qvirtio_hmm_pci_get_driver(void *object, const char *interface)
{
    QVirtioHMMPCI *dev = object;

    if (!g_strcmp0(interface, "virtio-hmm") ||
        !g_strcmp0(interface, "virtio-hmm-model")) {
        return &dev->hmm;
    }
    if (!g_strcmp0(interface, "virtio")) {
        return dev->hmm.vdev;
    }
    if (!g_strcmp0(interface, "pci-device")) {
        return dev->pci_vdev.pdev;
    }
    fprintf(stderr, "%s not present in virtio-hmm-pci\n", interface);
    g_assert_not_reached();
}

static void qvirtio_hmm_pci_destructor(QOSGraphObject *obj)
{
    QVirtioHMMPCI *dev = (QVirtioHMMPCI *)obj;

    qvirtio_hmm_cleanup(&dev->hmm);
    qvirtio_pci_destructor(&dev->pci_vdev.obj);
}

static void qvirtio_hmm_pci_start_hw(QOSGraphObject *obj)
{
    QVirtioHMMPCI *dev = (QVirtioHMMPCI *)obj;

    qvirtio_pci_start_hw(&dev->pci_vdev.obj);
    qvirtio_hmm_setup(&dev->hmm);
}

static void *qvirtio_hmm_pci_create(void *pci_bus, QGuestAllocator *alloc,
                                    void *addr)
{
    QVirtioHMMPCI *dev = g_new0(QVirtioHMMPCI, 1);
    QOSGraphObject *obj = &dev->pci_vdev.obj;

    virtio_pci_init(&dev->pci_vdev, pci_bus, addr);
    dev->hmm.vdev = &dev->pci_vdev.vdev;
    dev->hmm.pdev = dev->pci_vdev.pdev;
    dev->hmm.alloc = alloc;

    obj->get_driver = qvirtio_hmm_pci_get_driver;
    obj->start_hw = qvirtio_hmm_pci_start_hw;
    obj->destructor = qvirtio_hmm_pci_destructor;
    return obj;
}

static void qvirtio_hmm_register_nodes(void)
{
    QPCIAddress addr = {
        .devfn = QPCI_DEVFN(4, 0),
    };
    QOSGraphEdgeOptions opts = {
        .extra_device_opts = "addr=04.0",
    };
    const char *backend = qvirtio_hmm_backend();

    if (backend) {
        /* lives as long as the graph */
        opts.extra_device_opts = g_strdup_printf("addr=04.0,backend=%s",
                                                 backend);
    }

    add_qpci_address(&opts, &addr);
    qos_node_create_driver("virtio-hmm-pci", qvirtio_hmm_pci_create);
    qos_node_consumes("virtio-hmm-pci", "pci-bus", &opts);
    qos_node_produces("virtio-hmm-pci", "pci-device");
    qos_node_produces("virtio-hmm-pci", "virtio");
    qos_node_produces("virtio-hmm-pci", "virtio-hmm");
    /* the same, for the tests of the QEMU model (qos has a fan-out limit) */
    qos_node_produces("virtio-hmm-pci", "virtio-hmm-model");
}

libqos_init(qvirtio_hmm_register_nodes);
