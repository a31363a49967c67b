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
 *   vhmm_map             a MAP of npages entries from va (the first entry,
 *                        and the driver function that asked for it)
 *   vhmm_req_submit      a request or job added to a virtqueue and kicked
 *   vhmm_req_done        the virtqueue callback took it back (the device
 *                        answered; status as the device wrote it)
 *   vhmm_req_wake        the submitter woke up with the answer (or timed out)
 *
 * The three vhmm_req_* events share req (a hash of the request's address:
 * %p prints no value before the random pool is ready): their
 * timestamps split one round trip into submit -> done (the device, the
 * notification and the interrupt) and done -> wake (the scheduler), see
 * scripts/profile.sh and docs/architecture.md, "Where a round trip goes".
 *
 * dev is N of /dev/virtio_hmm<N>; asid is the mirror's address space.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM virtio_hmm

#if !defined(_VHMM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VHMM_TRACE_H

#include <linux/hash.h>
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

TRACE_EVENT(vhmm_map,
	TP_PROTO(int dev, u32 asid, unsigned long va, unsigned long npages,
		 u64 pte, unsigned long caller),
	TP_ARGS(dev, asid, va, npages, pte, caller),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(u32, asid)
		__field(unsigned long, va)
		__field(unsigned long, npages)
		__field(u64, pte)
		__field(unsigned long, caller)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->asid = asid;
		__entry->va = va;
		__entry->npages = npages;
		__entry->pte = pte;
		__entry->caller = caller;
	),
	TP_printk("dev=%d asid=%u range=%#lx-%#lx npages=%lu pte=%#llx by %pS",
		  __entry->dev, __entry->asid, __entry->va,
		  __entry->va + (__entry->npages << PAGE_SHIFT),
		  __entry->npages, __entry->pte, (void *)__entry->caller)
);

#define vhmm_show_type(type)						\
	__print_symbolic(type,						\
			 { VIRTIO_HMM_T_CREATE_AS, "create_as" },	\
			 { VIRTIO_HMM_T_DESTROY_AS, "destroy_as" },	\
			 { VIRTIO_HMM_T_MAP, "map" },			\
			 { VIRTIO_HMM_T_UNMAP, "unmap" },		\
			 { VIRTIO_HMM_T_QUERY, "query" },		\
			 { VIRTIO_HMM_T_COPY, "copy" },			\
			 { VIRTIO_HMM_T_FAULT_REPLY, "fault_reply" },	\
			 { VIRTIO_HMM_T_GET_STATS, "get_stats" },	\
			 { VIRTIO_HMM_T_JOB_READ, "job_read" },		\
			 { VIRTIO_HMM_T_JOB_WRITE, "job_write" },	\
			 { VIRTIO_HMM_T_JOB_FILL, "job_fill" },		\
			 { VIRTIO_HMM_T_JOB_COPY, "job_copy" },		\
			 { VIRTIO_HMM_T_JOB_ATOMIC, "job_atomic" },	\
			 { VIRTIO_HMM_T_JOB_CHASE, "job_chase" })

TRACE_EVENT(vhmm_req_submit,
	TP_PROTO(int dev, unsigned int vq, const void *req, u16 type),
	TP_ARGS(dev, vq, req, type),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(unsigned int, vq)
		__field(u32, req)
		__field(u16, type)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->vq = vq;
		__entry->req = hash_ptr(req, 32);
		__entry->type = type;
	),
	TP_printk("dev=%d vq=%u req=%08x type=%s", __entry->dev, __entry->vq,
		  __entry->req, vhmm_show_type(__entry->type))
);

DECLARE_EVENT_CLASS(vhmm_req_class,
	TP_PROTO(int dev, unsigned int vq, const void *req, int result),
	TP_ARGS(dev, vq, req, result),
	TP_STRUCT__entry(
		__field(int, dev)
		__field(unsigned int, vq)
		__field(u32, req)
		__field(int, result)
	),
	TP_fast_assign(
		__entry->dev = dev;
		__entry->vq = vq;
		__entry->req = hash_ptr(req, 32);
		__entry->result = result;
	),
	TP_printk("dev=%d vq=%u req=%08x result=%d", __entry->dev, __entry->vq,
		  __entry->req, __entry->result)
);

/* result: the status the device wrote */
DEFINE_EVENT(vhmm_req_class, vhmm_req_done,
	TP_PROTO(int dev, unsigned int vq, const void *req, int result),
	TP_ARGS(dev, vq, req, result)
);

/* result: 0, or -ETIMEDOUT */
DEFINE_EVENT(vhmm_req_class, vhmm_req_wake,
	TP_PROTO(int dev, unsigned int vq, const void *req, int result),
	TP_ARGS(dev, vq, req, result)
);

#endif /* _VHMM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vhmm_trace
#include <trace/define_trace.h>
