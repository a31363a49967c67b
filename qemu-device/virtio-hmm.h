/*
 * virtio-hmm: a virtual shared-virtual-memory accelerator for Linux HMM
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#ifndef QEMU_VIRTIO_HMM_H
#define QEMU_VIRTIO_HMM_H

#include "hw/virtio/virtio.h"
#include "sysemu/hostmem.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "standard-headers/linux/virtio_hmm.h"

#define TYPE_VIRTIO_HMM "virtio-hmm-device"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOHMM, VIRTIO_HMM)

/* The device page size: the PTE flag bits are exactly its offset bits */
#define VIRTIO_HMM_PAGE_SIZE    (VIRTIO_HMM_PTE_FLAGS_MASK + 1)

typedef struct VirtIOHMMReq VirtIOHMMReq;
typedef struct VirtIOHMMBackendOps VirtIOHMMBackendOps;
typedef struct VirtIOHMMFaultRecord VirtIOHMMFaultRecord;
typedef QTAILQ_HEAD(, VirtIOHMMReq) VirtIOHMMReqList;

struct VirtIOHMM {
    VirtIODevice parent_obj;

    /* Properties */
    uint64_t vram_size;
    HostMemoryBackend *memdev;
    char *mode;
    char *backend;
    uint32_t max_asids;
    uint16_t requestq_size;
    uint16_t jobq_size;
    uint16_t faultq_size;
    uint32_t max_stalled_jobs;
    bool atomics;
    bool replayable_faults;

    /*
     * Fault injection, for testing drivers (all off by default): fail
     * every Nth COPY, delay COPY and UNMAP, drop or duplicate every Nth
     * fault record, report device memory exhausted.  Counters of what was
     * injected: @inject_copies is worker-only, like @stats, and
     * @inject_records is under @lock; both survive reset.
     */
    uint32_t inject_copy_fail;
    uint32_t inject_copy_delay_us;
    uint32_t inject_drop_fault;
    uint32_t inject_dup_fault;
    bool inject_vram_full;
    uint32_t inject_inval_delay_us;
    uint64_t inject_copies;     /* COPY requests seen */
    uint64_t inject_records;    /* fault records generated */
    uint64_t inject_vram_full_count; /* COPYs refused as out of memory */

    /* Set at realize, constant afterwards */
    bool coherent;
    MemoryRegion vram;          /* device memory without memdev */
    MemoryRegion *devmem;       /* device memory: &vram or memdev's region */
    uint8_t *devmem_ptr;
    const VirtIOHMMBackendOps *backend_ops;  /* NULL: device memory is RAM */
    void *backend_state;
    uint64_t devmem_size;
    VirtQueue *requestq;
    VirtQueue *jobq;
    VirtQueue *faultq;
    Error *migration_blocker;
    QEMUBH *bh;                 /* completions and fault records, BQL */
    QemuThread thread;
    bool thread_started;        /* BQL: the worker exists (started on first kick) */

    /*
     * @lock protects the queues below and the worker state flags. The
     * worker never takes the BQL; the BQL side (handle_output, the BH,
     * reset) takes @lock briefly, so there is no lock order problem.
     */
    QemuMutex lock;
    QemuCond wakeup;            /* worker: work queued, or unpaused */
    QemuCond idle;              /* reset: the worker left a request */
    VirtIOHMMReqList requests;   /* popped from the requestq */
    VirtIOHMMReqList jobs;       /* runnable jobs, time-sliced */
    VirtIOHMMReqList done;       /* to push, by the BH */
    VirtIOHMMReqList stalled;    /* jobs parked on a fault */
    QSIMPLEQ_HEAD(, VirtIOHMMFaultRecord) fault_records; /* to post */
    uint32_t nr_stalled;
    uint32_t nr_records;        /* in fault_records */
    bool stopping;              /* unrealize: the worker exits */
    unsigned paused;            /* reset: the worker takes no new work */
    bool busy;                  /* the worker runs a request unlocked */

    /*
     * Worker-only state (also touched by reset and unrealize, with the
     * worker paused and idle): the page tables, one GHashTable of
     * VirtIOHMMPte per address space (NULL: not created), and the
     * statistics, host-endian.
     */
    GHashTable **as;
    struct virtio_hmm_stats stats;
};

/*
 * A device memory backend other than QEMU RAM (the default): "host" puts
 * device memory in host device-private memory through the host module
 * (virtio-hmm-host.c).  Device memory is still devmem_ptr[0..devmem_size)
 * of QEMU's address space, but QEMU never touches it itself: every access
 * of the copy and execution engines goes through @copy.
 */
struct VirtIOHMMBackendOps {
    /* BQL, at realize, once s->devmem is allocated; error_setg on failure */
    bool (*realize)(VirtIOHMM *s, Error **errp);
    /* BQL, at unrealize, the worker stopped */
    void (*unrealize)(VirtIOHMM *s);
    /*
     * Worker thread, under RCU: copy @len bytes from @src to @dst, host
     * addresses of QEMU (device memory, guest RAM, buffers); the ranges
     * may overlap.  False on failure.
     */
    bool (*copy)(VirtIOHMM *s, void *dst, const void *src, size_t len);
    /*
     * Worker thread, under RCU: the copy engine's batch, @n device pages
     * (VIRTIO_HMM_PAGE_SIZE each), dst[i] <- src[i] in order; one call
     * instead of @n.  Returns the number of pages copied, @n on success.
     */
    size_t (*copy_pages)(VirtIOHMM *s, void *const *dst,
                         void *const *src, size_t n);
};

#ifdef CONFIG_LINUX
extern const VirtIOHMMBackendOps virtio_hmm_host_ops;
#endif

#endif
