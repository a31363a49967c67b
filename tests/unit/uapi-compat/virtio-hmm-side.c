// SPDX-License-Identifier: GPL-2.0
/* virtio-hmm's char device uapi, as the project's programs see it. */
#include <linux/virtio_hmm_ioctl.h>
#include "uapi-desc.h"

const struct uapi_desc uapi_virtio_hmm = DESC_INIT("linux/virtio_hmm_ioctl.h");

/* the virtio-hmm additions must not collide with the dmirror numbers */
const unsigned long uapi_virtio_hmm_extra[] = {
	VIRTIO_HMM_IOC_INFO, VIRTIO_HMM_IOC_FILL, VIRTIO_HMM_IOC_COPY,
	VIRTIO_HMM_IOC_ATOMIC, VIRTIO_HMM_IOC_CHASE, VIRTIO_HMM_IOC_STATS,
};
const unsigned int uapi_virtio_hmm_nr_extra =
	sizeof(uapi_virtio_hmm_extra) / sizeof(uapi_virtio_hmm_extra[0]);
