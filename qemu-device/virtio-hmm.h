/*
 * virtio-hmm: a virtual shared-virtual-memory accelerator for Linux HMM
 *
 * The device state.  What is inside the device model (requests, page
 * tables, the engines) is in virtio-hmm-internal.h.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#ifndef QEMU_VIRTIO_HMM_H
#define QEMU_VIRTIO_HMM_H

#include "hw/virtio/virtio.h"
#include "exec/memory.h"
#include "sysemu/hostmem.h"
#include "sysemu/runstate.h"
#include "qemu/queue.h"
#include "qemu/thread.h"
#include "standard-headers/linux/virtio_hmm.h"

#define TYPE_VIRTIO_HMM "virtio-hmm-device"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOHMM, VIRTIO_HMM)

/* The device page size: the PTE flag bits are exactly its offset bits */
#define VIRTIO_HMM_PAGE_SIZE    (VIRTIO_HMM_PTE_FLAGS_MASK + 1)

/* The "mode" property */
typedef enum VirtIOHMMMode {
    VIRTIO_HMM_MODE_PRIVATE,    /* device memory reachable by the device only */
    VIRTIO_HMM_MODE_COHERENT,   /* also a CPU-addressable BAR */
    VIRTIO_HMM_MODE__MAX,
} VirtIOHMMMode;

/* The "backend" property: where device memory lives */
typedef enum VirtIOHMMBackend {
    VIRTIO_HMM_BACKEND_RAM,     /* QEMU RAM, or memdev= */
    VIRTIO_HMM_BACKEND_HOST,    /* host device-private memory (host module) */
    VIRTIO_HMM_BACKEND__MAX,
} VirtIOHMMBackend;

typedef struct VirtIOHMMReq VirtIOHMMReq;
typedef struct VirtIOHMMAS VirtIOHMMAS;
typedef struct VirtIOHMMBackendOps VirtIOHMMBackendOps;
typedef struct VirtIOHMMFaultRecord VirtIOHMMFaultRecord;
typedef QTAILQ_HEAD(, VirtIOHMMReq) VirtIOHMMReqList;

struct VirtIOHMM {
    VirtIODevice parent_obj;

    /* Properties */
    uint64_t vram_size;
    bool vram_size_set;         /* "vram-size" was given (not the default) */
    HostMemoryBackend *memdev;
    int mode;                   /* VirtIOHMMMode */
    int backend;                /* VirtIOHMMBackend */
    uint32_t max_asids;
    uint32_t max_page_tables;
    uint16_t requestq_size;
    uint16_t jobq_size;
    uint16_t faultq_size;
    uint32_t max_stalled_jobs;
    bool atomics;
    bool replayable_faults;

    /*
     * Fault injection, for testing drivers (the x-inject-* properties,
     * all off by default): fail every Nth COPY or MAP, delay COPY, UNMAP
     * and the start of jobs, drop or duplicate every Nth fault record,
     * report device memory exhausted.  Counters of what was injected:
     * @inject_copies, @inject_maps, @inject_vram_full_count and
     * @inject_jobs are updated where requests execute, like
     * @stats; @inject_records is under @lock; all survive reset.
     */
    uint32_t inject_copy_fail;
    uint32_t inject_copy_delay_us;
    uint32_t inject_drop_fault;
    uint32_t inject_dup_fault;
    bool inject_vram_full;
    uint32_t inject_inval_delay_us;
    uint32_t inject_map_fail;
    uint32_t inject_job_delay_us;
    uint32_t inject_job_delay_every;
    uint64_t inject_copies;     /* COPY requests seen */
    uint64_t inject_maps;       /* MAP requests that reached the change */
    uint64_t inject_records;    /* fault records generated */
    uint64_t inject_vram_full_count; /* COPYs refused as out of memory */
    uint64_t inject_jobs;       /* jobs started */

    /*
     * Set by the transport before realize: it maps device memory for the
     * CPU (virtio-hmm-pci's BAR 2), so mode=coherent can work.
     */
    bool transport_maps_devmem;

    /* Set at realize, constant afterwards */
    bool coherent;
    MemoryRegion vram;          /* device memory without memdev */
    MemoryRegion *devmem;       /* device memory: &vram or memdev's region */
    uint8_t *devmem_ptr;
    uint64_t devmem_size;
    AddressSpace devmem_as;     /* @devmem alone, for @devmem_cache */
    MemoryRegionCache devmem_cache; /* all of @devmem, writable */
    const VirtIOHMMBackendOps *backend_ops;  /* NULL: device memory is RAM */
    void *backend_state;
    VirtQueue *requestq;
    VirtQueue *jobq;
    VirtQueue *faultq;
    Error *migration_blocker;
    QEMUBH *bh;                 /* completions and fault records, BQL */
    VMChangeStateEntry *vmstate_entry;

    /*
     * BQL state.  @vq_gen counts resets of each virtqueue (a device reset
     * counts for all): a reset can happen inside any call into the virtio
     * core (a descriptor or an MSI-X vector may point at the device's own
     * registers), so whoever calls one compares the generation after it.
     */
    bool thread_started;        /* the worker exists (started on first kick) */
    bool stopped;               /* the VM is stopped: the device is quiescent */
    bool flushing;              /* in hmm_flush(): push from the BH instead */
    bool posting;               /* in hmm_post_faults() */
    bool recheck_queues;        /* kicks came while stopped: pop on resume */
    uint32_t vq_gen[VIRTIO_HMM_NR_VQS];

    /*
     * @lock protects the lists below and the worker state flags.  The
     * worker never takes the BQL; the BQL side (handle_output, the BH,
     * reset) takes @lock briefly and never calls the virtio core with it
     * held (see hmm_flush()).  Lock order: BQL -> @lock.
     */
    QemuMutex lock;
    QemuCond wakeup;            /* worker: work queued, or unpaused */
    QemuCond idle;              /* pausers: the worker left a request */
    QemuThread thread;
    VirtIOHMMReqList requests;   /* popped from the requestq */
    VirtIOHMMReqList jobs;       /* runnable jobs, time-sliced */
    VirtIOHMMReqList done;       /* to push, by hmm_flush() */
    VirtIOHMMReqList stalled;    /* jobs parked on a fault */
    QSIMPLEQ_HEAD(, VirtIOHMMFaultRecord) fault_records; /* to post */
    uint32_t nr_stalled;
    uint32_t nr_records;        /* in fault_records */
    bool stopping;              /* unrealize: the worker exits */
    unsigned paused;            /* reset, stop...: the worker takes no work */
    bool busy;                  /* a request runs with @lock dropped */
    uint64_t inline_requests;   /* requests and job slices run inline */

    /*
     * Worker-only state (also touched by reset and unrealize, with the
     * worker paused and idle, and by the inline path, ditto): the address
     * spaces (NULL: not created), the page-table pages in use, and the
     * statistics, host-endian.
     */
    VirtIOHMMAS **as;
    uint64_t pt_tables;
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
