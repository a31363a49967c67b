/*
 * virtio-hmm PCI bindings
 *
 * Modern-only virtio PCI device.  In coherent mode the device memory is
 * also a 64-bit prefetchable memory BAR, described to the driver by a
 * virtio shared memory capability (VIRTIO_PCI_CAP_SHARED_MEMORY_CFG, id
 * VIRTIO_HMM_SHM_DEVMEM) so that virtio_get_shm_region() finds it.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"

#include "hw/pci/pci.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio-hmm.h"
#include "hw/virtio/virtio-pci.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "qom/object.h"
#include "standard-headers/linux/virtio_pci.h"

typedef struct VirtIOHMMPCI VirtIOHMMPCI;

/*
 * virtio-hmm-pci: This extends VirtioPCIProxy.
 */
#define TYPE_VIRTIO_HMM_PCI "virtio-hmm-pci-base"
DECLARE_INSTANCE_CHECKER(VirtIOHMMPCI, VIRTIO_HMM_PCI, TYPE_VIRTIO_HMM_PCI)

/* The device memory BAR (coherent mode); virtio-pci leaves BAR 2 free */
#define VIRTIO_HMM_PCI_DEVMEM_BAR 2

struct VirtIOHMMPCI {
    VirtIOPCIProxy parent_obj;
    VirtIOHMM vdev;
};

static Property virtio_hmm_pci_properties[] = {
    DEFINE_PROP_BIT("ioeventfd", VirtIOPCIProxy, flags,
                    VIRTIO_PCI_FLAG_USE_IOEVENTFD_BIT, true),
    /* config change, requestq, jobq, faultq */
    DEFINE_PROP_UINT32("vectors", VirtIOPCIProxy, nvectors,
                       VIRTIO_HMM_NR_VQS + 1),
    DEFINE_PROP_END_OF_LIST(),
};

/* The virtio shared memory capability of the device memory BAR */
static bool virtio_hmm_pci_add_shm_cap(VirtIOPCIProxy *proxy, uint8_t bar,
                                       uint64_t size, Error **errp)
{
    PCIDevice *dev = &proxy->pci_dev;
    struct virtio_pci_cap64 cap = {
        .cap.cap_len = sizeof(cap),
        .cap.cfg_type = VIRTIO_PCI_CAP_SHARED_MEMORY_CFG,
        .cap.bar = bar,
        .cap.id = VIRTIO_HMM_SHM_DEVMEM,
        .cap.offset = 0,
        .cap.length = cpu_to_le32((uint32_t)size),
        .offset_hi = 0,
        .length_hi = cpu_to_le32(size >> 32),
    };
    int offset;

    offset = pci_add_capability(dev, PCI_CAP_ID_VNDR, 0, cap.cap.cap_len,
                                errp);
    if (offset < 0) {
        return false;
    }
    /* cap_vndr and cap_next are filled in by pci_add_capability() */
    memcpy(dev->config + offset + PCI_CAP_FLAGS, &cap.cap.cap_len,
           cap.cap.cap_len - PCI_CAP_FLAGS);
    return true;
}

static void virtio_hmm_pci_realize(VirtIOPCIProxy *vpci_dev, Error **errp)
{
    VirtIOHMMPCI *dev = VIRTIO_HMM_PCI(vpci_dev);
    DeviceState *vdev = DEVICE(&dev->vdev);

    if (vpci_dev->flags & VIRTIO_PCI_FLAG_MODERN_PIO_NOTIFY) {
        error_setg(errp, "virtio-hmm-pci: 'modern-pio-notify' is not "
                   "supported (its BAR holds the device memory)");
        return;
    }
    virtio_pci_force_virtio_1(vpci_dev);
    /* BAR 2 below: the device may offer mode=coherent */
    dev->vdev.transport_maps_devmem = true;
    if (!qdev_realize(vdev, BUS(&vpci_dev->bus), errp)) {
        return;
    }

    /* Private device memory is never mapped into the guest. */
    if (dev->vdev.coherent) {
        pci_register_bar(&vpci_dev->pci_dev, VIRTIO_HMM_PCI_DEVMEM_BAR,
                         PCI_BASE_ADDRESS_SPACE_MEMORY |
                         PCI_BASE_ADDRESS_MEM_PREFETCH |
                         PCI_BASE_ADDRESS_MEM_TYPE_64,
                         dev->vdev.devmem);
        if (!virtio_hmm_pci_add_shm_cap(vpci_dev, VIRTIO_HMM_PCI_DEVMEM_BAR,
                                        dev->vdev.devmem_size, errp)) {
            /* a coherent device without its capability is no device */
            qdev_unrealize(vdev);
            return;
        }
    }
}

static void virtio_hmm_pci_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioPCIClass *k = VIRTIO_PCI_CLASS(klass);
    PCIDeviceClass *pcidev_k = PCI_DEVICE_CLASS(klass);

    k->realize = virtio_hmm_pci_realize;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    pcidev_k->vendor_id = PCI_VENDOR_ID_REDHAT_QUMRANET;
    pcidev_k->device_id = PCI_DEVICE_ID_VIRTIO_10_BASE + VIRTIO_ID_HMM;
    pcidev_k->revision = VIRTIO_PCI_ABI_VERSION;
    pcidev_k->class_id = PCI_CLASS_OTHERS;
    device_class_set_props(dc, virtio_hmm_pci_properties);
}

static void virtio_hmm_pci_instance_init(Object *obj)
{
    VirtIOHMMPCI *dev = VIRTIO_HMM_PCI(obj);

    virtio_instance_init_common(obj, &dev->vdev, sizeof(dev->vdev),
                                TYPE_VIRTIO_HMM);
    object_property_add_alias(obj, "stats", OBJECT(&dev->vdev), "stats");
}

static const VirtioPCIDeviceTypeInfo virtio_hmm_pci_info = {
    .base_name     = TYPE_VIRTIO_HMM_PCI,
    .generic_name  = "virtio-hmm-pci",
    .instance_size = sizeof(VirtIOHMMPCI),
    .instance_init = virtio_hmm_pci_instance_init,
    .class_init    = virtio_hmm_pci_class_init,
};

static void virtio_hmm_pci_register(void)
{
    virtio_pci_types_register(&virtio_hmm_pci_info);
}

type_init(virtio_hmm_pci_register)
