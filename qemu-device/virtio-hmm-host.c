/*
 * virtio-hmm backend=host: device memory in host device-private memory
 *
 * With backend=host the device memory (the RAM region of vram-size that
 * realize allocates) is registered with the host module, host-module/
 * (/dev/vhmm_host, uapi linux/vhmm_host.h), which moves it into host
 * MEMORY_DEVICE_PRIVATE pages.  From then on QEMU never touches it with
 * the CPU (if anything does, the host kernel brings the page back to RAM
 * transparently): every copy of the copy and execution engines goes
 * through VHMM_HOST_IOC_COPY, with both sides given as QEMU virtual
 * addresses.  The module reaches guest RAM with hmm_range_fault() under
 * an MMU interval notifier on QEMU's mm, so guest RAM is never pinned and
 * host-side invalidations (swap, page migration, KSM, munmap) drop the
 * module's cached translations.  QEMU caches no translation of its own:
 * GPA -> HVA is looked up for every access, under RCU.
 *
 * Guest-visible behaviour is that of the default backend.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <linux/vhmm_host.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/madvise.h"
#include "hw/virtio/virtio-hmm.h"
#include "trace.h"

#define VHMM_HOST_DEVICE "/dev/vhmm_host"

typedef struct VirtIOHMMHost {
    int fd;
} VirtIOHMMHost;

/*
 * The module refused the device memory (ENOSPC): say which property asked
 * for more than what, from the module's own counters.
 */
static void hmm_host_too_big(int fd, uint64_t size, Error **errp)
{
    const uint64_t page = qemu_real_host_page_size();
    struct vhmm_host_stats st;
    g_autofree char *want = size_to_str(size);
    g_autofree char *max = NULL;
    g_autofree char *avail = NULL;

    if (ioctl(fd, VHMM_HOST_IOC_STATS, &st) < 0) {
        error_setg_errno(errp, errno, "'vram-size' (%s) is more than the "
                         "vhmm_host module's free device memory", want);
        return;
    }
    max = size_to_str(st.device_pages_max * page);
    avail = size_to_str(st.device_pages_max > st.device_pages ?
                        (st.device_pages_max - st.device_pages) * page : 0);
    error_setg(errp, "'vram-size' (%s) is more than the vhmm_host module's "
               "free device memory: %s of %s (the module's max_chunks "
               "parameter sets its size)", want, avail, max);
}

static bool hmm_host_realize(VirtIOHMM *s, Error **errp)
{
    g_autofree VirtIOHMMHost *h = g_new0(VirtIOHMMHost, 1);
    struct vhmm_host_region r = {
        .addr = (uintptr_t)s->devmem_ptr,
        .size = s->devmem_size,
    };

    h->fd = qemu_open(VHMM_HOST_DEVICE, O_RDWR, errp);
    if (h->fd < 0) {
        if (errno == EACCES || errno == EPERM) {
            error_prepend(errp, "'backend=host' needs read and write "
                          "access to " VHMM_HOST_DEVICE ": ");
        } else {
            error_prepend(errp, "'backend=host' needs the vhmm_host host "
                          "module loaded: ");
        }
        return false;
    }
    if (ioctl(h->fd, VHMM_HOST_IOC_REGISTER, &r) < 0) {
        if (errno == ENOSPC) {
            hmm_host_too_big(h->fd, s->devmem_size, errp);
        } else {
            error_setg_errno(errp, errno, "cannot register %" PRIu64
                             " bytes of device memory with "
                             VHMM_HOST_DEVICE, s->devmem_size);
        }
        close(h->fd);
        return false;
    }
    trace_virtio_hmm_host_register(r.addr, r.size, r.npages);
    s->backend_state = g_steal_pointer(&h);
    return true;
}

static void hmm_host_unrealize(VirtIOHMM *s)
{
    VirtIOHMMHost *h = s->backend_state;

    /*
     * The device memory goes away with the device: drop its pages rather
     * than have the module copy them back to RAM when the file closes.
     */
    qemu_madvise(s->devmem_ptr, s->devmem_size, QEMU_MADV_DONTNEED);
    close(h->fd);
    g_free(h);
    s->backend_state = NULL;
}

/*
 * Copy through the module.  An entry must not cross a host page on either
 * side, so a range is cut where either side crosses one: at most three
 * entries per device page.
 */
static bool hmm_host_copy(VirtIOHMM *s, void *dst, const void *src,
                          size_t len)
{
    VirtIOHMMHost *h = s->backend_state;
    const uintptr_t page = qemu_real_host_page_size();
    struct vhmm_host_copy_entry ent[VHMM_HOST_COPY_MAX];
    struct vhmm_host_copy c = { .entries = (uintptr_t)ent };
    uintptr_t d = (uintptr_t)dst, sr = (uintptr_t)src;

    while (len) {
        c.nr = 0;
        while (len && c.nr < VHMM_HOST_COPY_MAX) {
            size_t n = MIN(len, MIN(page - (sr & (page - 1)),
                                    page - (d & (page - 1))));

            ent[c.nr].src = sr;
            ent[c.nr].dst = d;
            ent[c.nr].len = n;
            c.nr++;
            sr += n;
            d += n;
            len -= n;
        }
        c.done = 0;
        if (ioctl(h->fd, VHMM_HOST_IOC_COPY, &c) < 0) {
            trace_virtio_hmm_host_copy_error(ent[c.done].src, ent[c.done].dst,
                                             ent[c.done].len, errno);
            return false;
        }
    }
    return true;
}

/*
 * The copy engine's batch in as few ioctls as possible: VHMM_HOST_COPY_MAX
 * entries each, instead of one ioctl per page.  @first[k] is the page
 * that entry k belongs to, to tell how many whole pages a failed ioctl
 * copied.
 */
static size_t hmm_host_copy_pages(VirtIOHMM *s, void *const *dst,
                                  void *const *src, size_t n)
{
    VirtIOHMMHost *h = s->backend_state;
    const uintptr_t page = qemu_real_host_page_size();
    struct vhmm_host_copy_entry ent[VHMM_HOST_COPY_MAX];
    size_t first[VHMM_HOST_COPY_MAX];
    struct vhmm_host_copy c = { .entries = (uintptr_t)ent };
    size_t i = 0, off = 0;

    while (i < n) {
        size_t start = i;

        c.nr = 0;
        while (i < n && c.nr < VHMM_HOST_COPY_MAX) {
            uintptr_t sr = (uintptr_t)src[i] + off;
            uintptr_t d = (uintptr_t)dst[i] + off;
            size_t len = MIN(VIRTIO_HMM_PAGE_SIZE - off,
                             MIN(page - (sr & (page - 1)),
                                 page - (d & (page - 1))));

            ent[c.nr].src = sr;
            ent[c.nr].dst = d;
            ent[c.nr].len = len;
            first[c.nr] = i;
            c.nr++;
            off += len;
            if (off == VIRTIO_HMM_PAGE_SIZE) {
                off = 0;
                i++;
            }
        }
        c.done = 0;
        if (ioctl(h->fd, VHMM_HOST_IOC_COPY, &c) < 0) {
            trace_virtio_hmm_host_copy_error(ent[c.done].src, ent[c.done].dst,
                                             ent[c.done].len, errno);
            /* the page of the entry that failed is not (wholly) copied */
            return c.done < c.nr ? first[c.done] : start;
        }
    }
    return n;
}

const VirtIOHMMBackendOps virtio_hmm_host_ops = {
    .realize = hmm_host_realize,
    .unrealize = hmm_host_unrealize,
    .copy = hmm_host_copy,
    .copy_pages = hmm_host_copy_pages,
};
