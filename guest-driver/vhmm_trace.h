/* SPDX-License-Identifier: GPL-2.0 */
/*
 * virtio-hmm guest driver: trace events.
 *
 * Enable them through tracefs, e.g.
 *   echo 1 > /sys/kernel/tracing/events/virtio_hmm/enable
 *
 *   vhmm_fault           a fault record taken from the faultq
 *   vhmm_fault_resolve   how the driver answered it: RETRY after resolving
 *                        [start, end), or CANCEL with err; "covered" when
 *                        an earlier record of the same batch resolved it
 *   vhmm_migrate_to_dev  one migrate_vma batch moved to device memory
 *   vhmm_migrate_to_ram  device pages copied back to system memory
 *   vhmm_invalidate      an mmu notifier invalidation seen by a mirror and
 *                        the range it unmapped in the device (0-0: none)
 *
 * dev is N of /dev/virtio_hmm<N>; asid is the mirror's address space.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM virtio_hmm

#if !defined(_VHMM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VHMM_TRACE_H

#include <linux/mmu_notifier.h>
#include <linux/tracepoint.h>
#include <linux/virtio_hmm.h>

#define vhmm_show_access(access)					\
	__print_flags(access, "|",					\
		      { VIRTIO_HMM_ACCESS_READ, "read" },		\
		      { VIRTIO_HMM_ACCESS_WRITE, "write" },		\
		      { VIRTIO_HMM_ACCESS_ATOMIC, "atomic" })

#define vhmm_show_event(event)						\
	__print_symbolic(event,						\
			 { MMU_NOTIFY_UNMAP, "unmap" },			\
			 { MMU_NOTIFY_CLEAR, "clear" },			\
			 { MMU_NOTIFY_PROTECTION_VMA, "protection_vma" },	\
			 { MMU_NOTIFY_PROTECTION_PAGE, "protection_page" },	\
			 { MMU_NOTIFY_SOFT_DIRTY, "soft_dirty" },	\
			 { MMU_NOTIFY_RELEASE, "release" },		\
			 { MMU_NOTIFY_MIGRATE, "migrate" },		\
			 { MMU_NOTIFY_EXCLUSIVE, "exclusive" })

TRACE_EVENT(vhmm_fault,
	TP_PROTO(int dev, u32 asid, u64 tag, u64 va, u32 access),
	TP_ARGS(dev, asid, tag, va, access),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, asid)
		__field(u64, tag)
		__field(u64, va)
		__field(u32, access)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->asid = asid;
		__entry->tag = tag;
		__entry->va = va;
		__entry->access = access;
	),
	TP_printk("dev=%d asid=%u tag=%llu va=%#llx access=%s",
		  __entry->dev, __entry->asid, __entry->tag, __entry->va,
		  vhmm_show_access(__entry->access))
);

TRACE_EVENT(vhmm_fault_resolve,
	TP_PROTO(int dev, u32 asid, u64 tag, unsigned long start,
		 unsigned long end, bool covered, int err),
	TP_ARGS(dev, asid, tag, start, end, covered, err),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, asid)
		__field(u64, tag)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(bool, covered)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->asid = asid;
		__entry->tag = tag;
		__entry->start = start;
		__entry->end = end;
		__entry->covered = covered;
		__entry->err = err;
	),
	TP_printk("dev=%d asid=%u tag=%llu range=%#lx-%#lx%s %s err=%d",
		  __entry->dev, __entry->asid, __entry->tag, __entry->start,
		  __entry->end, __entry->covered ? " (covered)" : "",
		  __entry->err ? "cancel" : "retry", __entry->err)
);

TRACE_EVENT(vhmm_migrate_to_dev,
	TP_PROTO(int dev, u32 asid, unsigned long start, unsigned long end,
		 unsigned long npages),
	TP_ARGS(dev, asid, start, end, npages),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, asid)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(unsigned long, npages)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->asid = asid;
		__entry->start = start;
		__entry->end = end;
		__entry->npages = npages;
	),
	TP_printk("dev=%d asid=%u range=%#lx-%#lx npages=%lu",
		  __entry->dev, __entry->asid, __entry->start, __entry->end,
		  __entry->npages)
);

TRACE_EVENT(vhmm_migrate_to_ram,
	TP_PROTO(int dev, unsigned long start, unsigned long end,
		 unsigned long npages),
	TP_ARGS(dev, start, end, npages),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(unsigned long, npages)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->start = start;
		__entry->end = end;
		__entry->npages = npages;
	),
	TP_printk("dev=%d range=%#lx-%#lx npages=%lu",
		  __entry->dev, __entry->start, __entry->end, __entry->npages)
);

TRACE_EVENT(vhmm_invalidate,
	TP_PROTO(int dev, u32 asid, const struct mmu_notifier_range *range,
		 unsigned long start, unsigned long end),
	TP_ARGS(dev, asid, range, start, end),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, asid)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(int, event)
		__field(unsigned long, unmap_start)
		__field(unsigned long, unmap_end)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->asid = asid;
		__entry->start = range->start;
		__entry->end = range->end;
		__entry->event = range->event;
		__entry->unmap_start = start < end ? start : 0;
		__entry->unmap_end = start < end ? end : 0;
	),
	TP_printk("dev=%d asid=%u range=%#lx-%#lx event=%s unmap=%#lx-%#lx",
		  __entry->dev, __entry->asid, __entry->start, __entry->end,
		  vhmm_show_event(__entry->event), __entry->unmap_start,
		  __entry->unmap_end)
);

#endif /* _VHMM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vhmm_trace
#include <trace/define_trace.h>
