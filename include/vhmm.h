/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvhmm: the userspace library of virtio-hmm devices (/dev/virtio_hmm<N>).
 *
 * A virtio-hmm device shares the virtual address space of the process that
 * opened it: it reads, writes and runs jobs on the process's own pointers,
 * faulting pages into its MMU on demand, and can hold pages in its own
 * device memory. This library wraps the guest driver's ioctls
 * (include/linux/virtio_hmm_ioctl.h) in typed calls.
 *
 * Error convention
 *
 *   Every function that can fail returns 0 (or a non-negative count where
 *   documented) on success and a NEGATIVE errno value on failure, as kernel
 *   interfaces do: check "ret < 0" and use strerror(-ret) or
 *   vhmm_strerror(ret). errno is not part of the interface: its value after
 *   a call is unspecified. Output arguments are written only on success
 *   unless documented otherwise.
 *
 *   Errors every device call may return, in addition to those listed with
 *   each function:
 *     -EINVAL     a NULL handle or a NULL pointer where one is required
 *     -EBADFD     the handle was opened by another process (after fork(),
 *                 open the device again in the child)
 *     -ENODEV     the device was unplugged or its driver unbound
 *     -ETIMEDOUT  the device did not answer in time (the driver gave up)
 *     -ENOMEM     out of memory, in the library or in the driver
 *     -EFAULT     a buffer passed to the driver is not accessible
 *
 * Binding
 *
 *   vhmm_open() binds the device to the calling process: the driver
 *   creates a device address space mirroring the process's at open, and
 *   every call on the handle works on that address space. Threads of the
 *   process share the handle. A handle is not inherited meaningfully
 *   across fork(): the child gets -EBADFD and must open its own.
 *
 * Addresses passed to the page-granular calls (vhmm_mirror_read(),
 * vhmm_migrate_to_device(), ...) must be aligned to the device page size
 * (vhmm_info.page_size, the CPU page size) and the range must be mapped.
 *
 * Link with `pkg-config --libs vhmm` (shared) or
 * `pkg-config --libs --static vhmm` (static).
 */
#ifndef VHMM_H
#define VHMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VHMM_EXPORT __attribute__((visibility("default")))
#else
#define VHMM_EXPORT
#endif

/* Library version, also vhmm_version() */
#define VHMM_VERSION_MAJOR	1
#define VHMM_VERSION_MINOR	0

/** An open device; opaque. */
struct vhmm_dev;

/** Device memory mode */
enum vhmm_mode {
	VHMM_MODE_PRIVATE = 1,	/* only the device reaches its memory */
	VHMM_MODE_COHERENT = 2,	/* the CPU maps device memory (PCI BAR) */
};

/** What the device is (vhmm_get_info()) */
struct vhmm_info {
	enum vhmm_mode mode;
	uint32_t page_size;	/* device page size in bytes */
	uint64_t devmem_size;	/* bytes of device memory */
	uint64_t devmem_free;	/* bytes of device memory not in use */
	uint64_t features;	/* negotiated virtio feature bits */
};

/** Driver counters since the device was probed (vhmm_get_stats()) */
struct vhmm_stats {
	uint64_t faults;	/* device page faults resolved */
	uint64_t fault_batches;	/* fault-queue batches handled */
	uint64_t pages_to_dev;	/* pages migrated to device memory */
	uint64_t pages_to_sys;	/* pages migrated back to system memory */
	uint64_t bytes_to_dev;
	uint64_t bytes_to_sys;
	uint64_t cpu_faults;	/* CPU touched device-private pages */
	uint64_t evictions;	/* pages moved out on device removal */
	uint64_t invalidations;	/* mmu notifier invalidations sent */
	uint64_t devmem_used;	/* device pages in use now */
};

/** Atomic operations of the execution engine (vhmm_atomic()) */
enum vhmm_atomic_op {
	VHMM_ATOMIC_FETCH_ADD,	/* old = *addr; *addr += operand */
	VHMM_ATOMIC_XCHG,	/* old = *addr; *addr = operand */
	VHMM_ATOMIC_CMPXCHG,	/* old = *addr; if (old == compare) *addr = operand */
};

/** Result of vhmm_chase() */
struct vhmm_chase_result {
	uint64_t sum;		/* sum of the node values, modulo 2^64 */
	uint64_t nodes;		/* nodes visited */
	uint64_t faults;	/* device page faults resolved on the way */
};

/*
 * Page states reported by vhmm_snapshot(), one byte per page: a
 * combination of these bits. 0 means not present.
 */
#define VHMM_PAGE_READ		(1u << 0)	/* readable by the device */
#define VHMM_PAGE_WRITE		(1u << 1)	/* writable by the device */
#define VHMM_PAGE_HUGE		(1u << 2)	/* part of a PMD/PUD mapping */
#define VHMM_PAGE_ZERO		(1u << 3)	/* the shared zero page */
#define VHMM_PAGE_DEVICE	(1u << 4)	/* in this device's memory */
#define VHMM_PAGE_OTHER_DEVICE	(1u << 5)	/* in another device's memory */
#define VHMM_PAGE_ERROR		(1u << 7)	/* the CPU mapping is an error */

/* ---- library ---- */

/** vhmm_version() - "MAJOR.MINOR" of the library that is linked in */
VHMM_EXPORT const char *vhmm_version(void);

/**
 * vhmm_strerror() - message for a negative errno returned by this library
 * Never NULL; thread-safe (returns a static string for unknown values).
 */
VHMM_EXPORT const char *vhmm_strerror(int err);

/** vhmm_mode_name() - "private", "coherent" or "unknown" */
VHMM_EXPORT const char *vhmm_mode_name(enum vhmm_mode mode);

/**
 * vhmm_feature_name() - name of virtio feature bit @bit ("atomics",
 * "version_1", ...), or NULL if the library does not know it.
 */
VHMM_EXPORT const char *vhmm_feature_name(unsigned int bit);

/* ---- devices ---- */

/**
 * vhmm_list() - the indices N of the present /dev/virtio_hmm<N> devices
 * @indices: filled with up to @max indices in increasing order (may be
 *	NULL when @max is 0)
 * @max: room in @indices
 *
 * Reads /sys/class/virtio_hmm; does not open the devices.
 * Return: the number of devices present (which may exceed @max: only @max
 * are stored), 0 when the driver is not loaded; -EINVAL if @indices is
 * NULL and @max is not 0; -EIO (or another negative errno) if sysfs cannot
 * be read.
 */
VHMM_EXPORT int vhmm_list(int *indices, unsigned int max);

/**
 * vhmm_open() - open /dev/virtio_hmm<@index> and bind the calling process
 * @index: device index, 0 or more
 * @devp: receives the handle
 *
 * Return: 0; -EINVAL for a negative @index or NULL @devp; -ENOENT if the
 * device node does not exist; -EACCES/-EPERM without permission; -EBUSY
 * if the device has no address space left for this process; -ENODEV if
 * the device is being removed; -ENOTTY if the node is not a virtio-hmm
 * device; -ENOMEM.
 */
VHMM_EXPORT int vhmm_open(int index, struct vhmm_dev **devp);

/**
 * vhmm_open_path() - open a device node by path (any name, e.g. a symlink)
 * @path: the device node
 * @devp: receives the handle
 *
 * Return: as vhmm_open(); -EINVAL for a NULL argument.
 */
VHMM_EXPORT int vhmm_open_path(const char *path, struct vhmm_dev **devp);

/**
 * vhmm_close() - release the handle and the device address space
 * Pages in device memory stay there (the CPU migrates them back on
 * touch, or vhmm_migrate_to_system() before closing). NULL is a no-op.
 */
VHMM_EXPORT void vhmm_close(struct vhmm_dev *dev);

/** vhmm_fd() - the file descriptor under the handle, or -EINVAL */
VHMM_EXPORT int vhmm_fd(const struct vhmm_dev *dev);

/**
 * vhmm_index() - N of /dev/virtio_hmm<N>, from the node's device number
 * Return: N, -EINVAL for NULL, -ENODEV if the node is not listed in sysfs.
 */
VHMM_EXPORT int vhmm_index(const struct vhmm_dev *dev);

/**
 * vhmm_get_info() - mode, page size, device memory and features
 * Return: 0 or a negative errno (see the error convention).
 */
VHMM_EXPORT int vhmm_get_info(struct vhmm_dev *dev, struct vhmm_info *info);

/**
 * vhmm_get_stats() - the driver's counters for the device (all users)
 * Return: 0 or a negative errno (see the error convention).
 */
VHMM_EXPORT int vhmm_get_stats(struct vhmm_dev *dev, struct vhmm_stats *st);

/* ---- mirroring: the device works on the process's pages ---- */

/**
 * vhmm_mirror_read() - the device reads @npages pages at @addr into @buf
 * @addr: page-aligned address in this process
 * @buf: @npages pages of room
 * @faults: if not NULL, the device page faults it took (0 when the range
 *	was already mirrored)
 *
 * Return: 0; -EINVAL for an unaligned @addr, zero or overflowing
 * @npages; -EFAULT (or -EPERM) when part of the range is not mapped
 * readable; see the error convention.
 */
VHMM_EXPORT int vhmm_mirror_read(struct vhmm_dev *dev, const void *addr,
				 void *buf, uint64_t npages, uint64_t *faults);

/**
 * vhmm_mirror_write() - the device writes @buf to @npages pages at @addr
 *
 * Return: as vhmm_mirror_read(); -EPERM/-EFAULT when part of the range is
 * not writable.
 */
VHMM_EXPORT int vhmm_mirror_write(struct vhmm_dev *dev, void *addr,
				  const void *buf, uint64_t npages,
				  uint64_t *faults);

/**
 * vhmm_prefetch() - mirror a range in the device's MMU without migrating
 * @addr: page-aligned start
 * @npages: pages
 * @faults: if not NULL, the device faults taken (0: already mirrored)
 *
 * Faults the range into the device page table for reading, so that later
 * jobs on it run without faults; pages stay where they are.
 * Return: as vhmm_mirror_read().
 */
VHMM_EXPORT int vhmm_prefetch(struct vhmm_dev *dev, const void *addr,
			      uint64_t npages, uint64_t *faults);

/**
 * vhmm_snapshot() - where each page of a range is, without faulting
 * @prot: @npages bytes, each a combination of VHMM_PAGE_* bits
 *
 * Return: 0; -EINVAL for an unaligned @addr or a bad @npages; -EFAULT if
 * @prot is not writable; -EBUSY if the range kept changing.
 */
VHMM_EXPORT int vhmm_snapshot(struct vhmm_dev *dev, const void *addr,
			      uint64_t npages, uint8_t *prot);

/* ---- migration ---- */

/**
 * vhmm_migrate_to_device() - move anonymous pages into device memory
 * @addr: page-aligned start of a private anonymous range
 * @npages: pages
 * @readback: NULL, or @npages pages that receive the range's contents as
 *	the device reads them after the migration (a data check)
 *
 * Pages that do not fit in device memory stay in system memory. A CPU
 * access to a migrated page brings it back (private mode) or reaches it in
 * place (coherent mode).
 * Return: 0; -EINVAL for an unaligned @addr, a bad @npages or a range not
 * entirely mapped readable; -ENOENT when a page could not be migrated nor
 * reached (e.g. a shared page); -EOPNOTSUPP if the device has no device
 * memory; see the error convention.
 */
VHMM_EXPORT int vhmm_migrate_to_device(struct vhmm_dev *dev, void *addr,
				       uint64_t npages, void *readback);

/**
 * vhmm_migrate_to_system() - move this device's pages of a range back
 * @migrated: if not NULL, the number of pages moved
 *
 * Return: 0; -EINVAL for an unaligned @addr, a bad @npages or a range not
 * entirely mapped readable; see the error convention.
 */
VHMM_EXPORT int vhmm_migrate_to_system(struct vhmm_dev *dev, void *addr,
				       uint64_t npages, uint64_t *migrated);

/* ---- execution engine: jobs on virtual addresses, byte granular ---- */

/**
 * vhmm_fill() - the device writes an 8-byte pattern over [addr, addr+len)
 * @pattern: repeated from @addr, in little-endian byte order
 * @faults: if not NULL, device faults resolved
 *
 * Return: 0; -EINVAL for a zero or overflowing @len; -EFAULT/-EPERM when
 * part of the range is not writable; see the error convention.
 */
VHMM_EXPORT int vhmm_fill(struct vhmm_dev *dev, void *addr, uint64_t len,
			  uint64_t pattern, uint64_t *faults);

/**
 * vhmm_copy() - the device copies @len bytes from @src to @dst
 *
 * Return: as vhmm_fill(); -EINVAL also for a NULL @src.
 */
VHMM_EXPORT int vhmm_copy(struct vhmm_dev *dev, void *dst, const void *src,
			  uint64_t len, uint64_t *faults);

/**
 * vhmm_atomic() - one device atomic on the process's memory
 * @addr: naturally aligned to @size
 * @op: VHMM_ATOMIC_*
 * @size: 4 or 8 bytes
 * @operand: the value added, exchanged or stored
 * @compare: VHMM_ATOMIC_CMPXCHG's expected value, ignored otherwise
 * @old: if not NULL, the value before the operation
 *
 * Return: 0; -EINVAL for a bad @op, @size or alignment; -EOPNOTSUPP if
 * the device has no atomics (QEMU property atomics=off); -EFAULT/-EPERM
 * when @addr is not writable; see the error convention.
 */
VHMM_EXPORT int vhmm_atomic(struct vhmm_dev *dev, void *addr,
			    enum vhmm_atomic_op op, unsigned int size,
			    uint64_t operand, uint64_t compare, uint64_t *old);

/**
 * vhmm_chase() - the device walks a linked list in the process's memory
 * @head: first node (NULL: an empty list)
 * @next_offset: offset of the next pointer in a node
 * @value_offset: offset of the value in a node
 * @value_size: 1, 2, 4 or 8
 * @max_nodes: stop after this many nodes
 * @res: sum, nodes visited and faults
 *
 * Return: 0; -EINVAL for a bad @value_size or NULL @res; -EFAULT/-EPERM
 * when a node is not readable; see the error convention.
 */
VHMM_EXPORT int vhmm_chase(struct vhmm_dev *dev, const void *head,
			   uint32_t next_offset, uint32_t value_offset,
			   uint32_t value_size, uint32_t max_nodes,
			   struct vhmm_chase_result *res);

#ifdef __cplusplus
}
#endif

#endif /* VHMM_H */
