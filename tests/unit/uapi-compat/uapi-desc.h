/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What one translation unit sees of the HMM dmirror uapi: compiled once
 * against lib/test_hmm_uapi.h and once against virtio_hmm_ioctl.h, compared
 * by uapi-compat.c.
 */
#ifndef UAPI_DESC_H
#define UAPI_DESC_H

#include <stddef.h>

#define UAPI_NR_IOCTLS	8
#define UAPI_NR_PROT	11

struct uapi_desc {
	const char *header;
	unsigned long ioctls[UAPI_NR_IOCTLS];
	size_t cmd_size;
	size_t off_addr, off_ptr, off_npages, off_cpages, off_faults;
	size_t sz_addr, sz_ptr, sz_npages, sz_cpages, sz_faults;
	long prot[UAPI_NR_PROT];
	long mem_private, mem_coherent;
};

/* one of these per translation unit; DESC_INIT fills it from the macros */
#define DESC_INIT(name) {						\
	.header = name,							\
	.ioctls = { HMM_DMIRROR_READ, HMM_DMIRROR_WRITE,		\
		    HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS, \
		    HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_EXCLUSIVE,	\
		    HMM_DMIRROR_CHECK_EXCLUSIVE, HMM_DMIRROR_RELEASE },	\
	.cmd_size = sizeof(struct hmm_dmirror_cmd),			\
	.off_addr = offsetof(struct hmm_dmirror_cmd, addr),		\
	.off_ptr = offsetof(struct hmm_dmirror_cmd, ptr),		\
	.off_npages = offsetof(struct hmm_dmirror_cmd, npages),		\
	.off_cpages = offsetof(struct hmm_dmirror_cmd, cpages),		\
	.off_faults = offsetof(struct hmm_dmirror_cmd, faults),		\
	.sz_addr = sizeof(((struct hmm_dmirror_cmd *)0)->addr),		\
	.sz_ptr = sizeof(((struct hmm_dmirror_cmd *)0)->ptr),		\
	.sz_npages = sizeof(((struct hmm_dmirror_cmd *)0)->npages),	\
	.sz_cpages = sizeof(((struct hmm_dmirror_cmd *)0)->cpages),	\
	.sz_faults = sizeof(((struct hmm_dmirror_cmd *)0)->faults),	\
	.prot = { HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE,	\
		  HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_WRITE,	\
		  HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD,		\
		  HMM_DMIRROR_PROT_ZERO,				\
		  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,			\
		  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,			\
		  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,			\
		  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE },		\
	.mem_private = HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,		\
	.mem_coherent = HMM_DMIRROR_MEMORY_DEVICE_COHERENT,		\
}

extern const struct uapi_desc uapi_test_hmm;
extern const struct uapi_desc uapi_virtio_hmm;

#endif
