/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vhmm_host uapi: the ioctls of /dev/vhmm_host, the host half of virtio-hmm.
 *
 * A process (QEMU, for a virtio-hmm device with backend=host) opens
 * /dev/vhmm_host, registers one region of its own address space as device
 * memory (the region's pages move into host MEMORY_DEVICE_PRIVATE memory)
 * and then copies between addresses of its own address space. The module
 * reaches every address through hmm_range_fault() under an MMU interval
 * notifier on the opener's mm: nothing is ever pinned. A CPU access to a
 * region page brings that page back to system RAM transparently; the next
 * copy that touches it moves it back into device memory.
 *
 * The file is bound to the mm of the process that opened it; ioctls from
 * another mm fail with EINVAL, and so does open() from a kernel thread.
 * Closing the file (or the process exiting) releases everything: pages
 * still in device memory go back to system RAM if the process is alive,
 * or are freed with its address space.
 *
 * After fork() the region's pages are shared copy-on-write with the child,
 * as any private memory is: a copy into one gives the caller its own page
 * (in device memory again), and the child keeps the old data.
 *
 * Every field is marked (in) or (out).
 */
#ifndef _LINUX_VHMM_HOST_H
#define _LINUX_VHMM_HOST_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Most entries in one VHMM_HOST_IOC_COPY */
#define VHMM_HOST_COPY_MAX	256

/**
 * struct vhmm_host_region - a range of the caller's address space
 * @addr: (in) start address, page aligned
 * @size: (in) length in bytes, a non-zero multiple of the page size
 * @npages: (out) pages of the range moved into device memory by this call
 *
 * For VHMM_HOST_IOC_REGISTER the range must be private anonymous memory
 * (one or more mappings, no holes), and becomes the file's device memory;
 * a file has at most one region. REGISTER fails with ENOSPC, moving
 * nothing, when the module's device memory (device_pages_max of struct
 * vhmm_host_stats, less the pages in use) cannot hold the whole range.
 * For VHMM_HOST_IOC_MIGRATE the range must lie in the registered region;
 * pages that cannot move (pinned, or device memory full) stay in system
 * RAM, and @npages says how many moved.
 */
struct vhmm_host_region {
	__u64 addr;
	__u64 size;
	__u64 npages;
};

/**
 * struct vhmm_host_copy_entry - one copy of VHMM_HOST_IOC_COPY
 * @src: (in) source address in the caller's address space
 * @dst: (in) destination address in the caller's address space
 * @len: (in) bytes, at least 1; neither side may cross a page boundary
 *
 * Either side may be in the registered region (device memory) or
 * anywhere else the caller can read (@src) or write (@dst). The sides may
 * overlap.
 */
struct vhmm_host_copy_entry {
	__u64 src;
	__u64 dst;
	__u64 len;
};

/**
 * struct vhmm_host_copy - argument of VHMM_HOST_IOC_COPY
 * @entries: (in) user address of @nr struct vhmm_host_copy_entry
 * @nr: (in) number of entries, 1 to VHMM_HOST_COPY_MAX
 * @done: (out) entries copied, in order; all of them on success
 */
struct vhmm_host_copy {
	__u64 entries;
	__u32 nr;
	__u32 done;
};

/**
 * struct vhmm_host_stats - module-wide counters (VHMM_HOST_IOC_STATS, and
 * /sys/kernel/debug/vhmm_host/stats)
 * @device_pages: (out) device pages holding data now
 * @pages_allocated: (out) device pages handed out since the module loaded
 * @pages_freed: (out) device pages given back since the module loaded
 * @migrated_to_device: (out) pages moved from system RAM to device memory
 * @migrated_to_ram: (out) pages moved from device memory to system RAM
 * @cpu_faults: (out) CPU accesses that brought a device page back to RAM
 * @invalidations: (out) notifier callbacks that dropped cached translations
 * @range_faults: (out) translations made with hmm_range_fault()
 * @copies: (out) copy entries done
 * @open_files: (out) open files of /dev/vhmm_host
 * @leaked_pages: (out) device pages in use while no file is open
 * @device_pages_max: (out) device pages the module can hold in all (its
 *	max_chunks parameter)
 */
struct vhmm_host_stats {
	__u64 device_pages;
	__u64 pages_allocated;
	__u64 pages_freed;
	__u64 migrated_to_device;
	__u64 migrated_to_ram;
	__u64 cpu_faults;
	__u64 invalidations;
	__u64 range_faults;
	__u64 copies;
	__u64 open_files;
	__u64 leaked_pages;
	__u64 device_pages_max;
};

#define VHMM_HOST_IOC_MAGIC	0xB8

/* Register the device-memory region and move it into device memory */
#define VHMM_HOST_IOC_REGISTER	_IOWR(VHMM_HOST_IOC_MAGIC, 0x00, struct vhmm_host_region)
/* Move part of the region (back) into device memory */
#define VHMM_HOST_IOC_MIGRATE	_IOWR(VHMM_HOST_IOC_MAGIC, 0x01, struct vhmm_host_region)
/* Copy between addresses of the caller's address space */
#define VHMM_HOST_IOC_COPY	_IOWR(VHMM_HOST_IOC_MAGIC, 0x02, struct vhmm_host_copy)
/* Read the module-wide counters */
#define VHMM_HOST_IOC_STATS	_IOR(VHMM_HOST_IOC_MAGIC, 0x03, struct vhmm_host_stats)

#endif /* _LINUX_VHMM_HOST_H */
