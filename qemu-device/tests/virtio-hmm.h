/*
 * libqos driver for the virtio-hmm device
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#ifndef TESTS_LIBQOS_VIRTIO_HMM_H
#define TESTS_LIBQOS_VIRTIO_HMM_H

#include "libqos/qgraph.h"
#include "libqos/virtio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_hmm.h"

typedef struct QVirtioHMM QVirtioHMM;
typedef struct QVirtioHMMPCI QVirtioHMMPCI;

struct QVirtioHMM {
    QVirtioDevice *vdev;
    QPCIDevice *pdev;                   /* NULL on a non-PCI transport */
    QGuestAllocator *alloc;
    QVirtQueue *vq[VIRTIO_HMM_NR_VQS];
    unsigned int inflight[VIRTIO_HMM_NR_VQS];
};

struct QVirtioHMMPCI {
    QVirtioPCIDevice pci_vdev;
    QVirtioHMM hmm;
};

/*
 * (Re)initialize the device: reset, negotiate every device feature that
 * the test driver understands, set up the three virtqueues, DRIVER_OK.
 */
void qvirtio_hmm_setup(QVirtioHMM *hmm);
/*
 * The device's backend= under test: $QTEST_VIRTIO_HMM_BACKEND (e.g. "host"
 * in the host VM), NULL for the default
 */
const char *qvirtio_hmm_backend(void);

#endif
