/*
 * Helpers of the virtio-hmm qtests
 *
 * Requests and jobs are built in guest memory with the structs of
 * standard-headers/linux/virtio_hmm.h, queued on the device's virtqueues
 * through libqos and waited for in the used ring.  Everything runs on
 * global_qtest; a test gets its QVirtioHMM from the "virtio-hmm" libqos
 * interface (virtio-hmm.h).
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#ifndef TESTS_VIRTIO_HMM_LIB_H
#define TESTS_VIRTIO_HMM_LIB_H

#include "libqos/virtio-pci.h"
#include "virtio-hmm.h"

#define HMM_TIMEOUT_US      (30 * 1000 * 1000)
#define PAGE                4096ULL
#define TAIL                sizeof(struct virtio_hmm_tail)
#define REQQ                VIRTIO_HMM_VQ_REQUEST
#define JOBQ                VIRTIO_HMM_VQ_JOB
#define FAULTQ              VIRTIO_HMM_VQ_FAULT
#define PCI_SLOT_HP         0x06

/* Guest-physical addresses that are not RAM: unassigned, and HPET MMIO */
#define GPA_NOWHERE         (64ULL << 30)
#define GPA_MMIO            0xfed00000ULL

#define CFG32(h, field) cfg32(h, offsetof(struct virtio_hmm_config, field))

/* One element in flight */
typedef struct HMMElem {
    int q;
    uint32_t head;
    uint64_t out_addr, in_addr;
    size_t out_len, in_len;
} HMMElem;

/* Polls so far: the benchmark reports how many a request needs */
extern unsigned long hmm_polls;
/* Poll without qtest's clock_step (a test that runs with -accel tcg) */
extern bool hmm_no_clock;

/* The configuration space */
uint32_t cfg32(QVirtioHMM *h, size_t off);
uint64_t cfg64(QVirtioHMM *h, size_t off);

/* @pages zeroed pages of guest RAM */
uint64_t page_alloc(QVirtioHMM *h, unsigned int pages);
void fill_pattern(uint8_t *buf, size_t len, uint8_t seed);

/*
 * Queue one element and kick: @out (device-readable), then @in_len
 * device-writable bytes, in guest RAM (poisoned, so that unwritten data
 * shows) or, for hmm_submit_at(), at @in_addr, which need not be RAM.
 * hmm_queue() publishes the element in the available ring without
 * notifying the device; hmm_publish() publishes a chain added with
 * qvirtqueue_add().
 */
void hmm_submit(QVirtioHMM *h, HMMElem *e, int q, const void *out,
                size_t out_len, size_t in_len);
void hmm_submit_at(QVirtioHMM *h, HMMElem *e, int q, const void *out,
                   size_t out_len, uint64_t in_addr, size_t in_len);
void hmm_queue(QVirtioHMM *h, HMMElem *e, int q, const void *out,
               size_t out_len, size_t in_len);
void hmm_publish(QVirtioHMM *h, int q, uint32_t head);

/* Is the next used element of @e's queue there yet?  Then it must be @e. */
bool hmm_poll(QVirtioHMM *h, HMMElem *e, uint32_t *len);
/* Nothing comes back for a while (a stalled job) */
void hmm_assert_pending(QVirtioHMM *h, HMMElem *e);
/*
 * Wait for @e, copy its writable part without the tail into @in, return
 * the status and the tail count in *@count.
 */
uint32_t hmm_wait(QVirtioHMM *h, HMMElem *e, void *in, uint32_t *count);
/* hmm_submit() and hmm_wait() */
uint32_t hmm_do(QVirtioHMM *h, int q, const void *out, size_t out_len,
                void *in, size_t in_len, uint32_t *count);

/* Requests */
struct virtio_hmm_head mkhead(uint16_t type, uint32_t asid);
uint32_t hmm_as_req(QVirtioHMM *h, uint16_t type, uint32_t asid,
                    uint32_t *count);
uint32_t hmm_create_as(QVirtioHMM *h, uint32_t asid);
uint32_t hmm_destroy_as(QVirtioHMM *h, uint32_t asid, uint32_t *count);
uint32_t hmm_map(QVirtioHMM *h, uint32_t asid, uint64_t va,
                 uint32_t nr, const uint64_t *pte);
/* Map @nr pages of guest RAM from @gpa with @flags; asserts S_OK */
void hmm_map_ram(QVirtioHMM *h, uint32_t asid, uint64_t va,
                 uint64_t gpa, uint32_t nr, uint64_t flags);
uint32_t hmm_unmap(QVirtioHMM *h, uint32_t asid, uint64_t va,
                   uint64_t length, uint32_t perm, uint32_t *count);
uint32_t hmm_query(QVirtioHMM *h, uint32_t asid, uint64_t va,
                   uint32_t nr, uint64_t *pte);
uint64_t hmm_query1(QVirtioHMM *h, uint32_t asid, uint64_t va);
uint32_t hmm_copy(QVirtioHMM *h, uint16_t dir, uint32_t nr,
                  const uint64_t *src, const uint64_t *dst,
                  uint32_t *count);
void hmm_copy1(QVirtioHMM *h, uint16_t dir, uint64_t src, uint64_t dst);
uint32_t hmm_fault_reply(QVirtioHMM *h, uint64_t tag, uint32_t asid,
                         uint32_t action, uint32_t *count);
void hmm_get_stats(QVirtioHMM *h, struct virtio_hmm_stats *st);

/* Jobs */
struct virtio_hmm_job_rw mkjob(uint16_t type, uint32_t asid,
                               uint64_t tag, uint64_t va,
                               uint64_t length);
void hmm_submit_read(QVirtioHMM *h, HMMElem *e, uint32_t asid,
                     uint64_t tag, uint64_t va, uint64_t length);
uint32_t hmm_job_read(QVirtioHMM *h, uint32_t asid, uint64_t va,
                      void *buf, uint64_t length, uint32_t *count);
uint32_t hmm_job_write(QVirtioHMM *h, uint32_t asid, uint64_t va,
                       const void *data, uint64_t length);
uint32_t hmm_job_fill(QVirtioHMM *h, uint32_t asid, uint64_t va,
                      uint64_t length, uint64_t pattern);
uint32_t hmm_job_copy(QVirtioHMM *h, uint32_t asid, uint64_t dst,
                      uint64_t src, uint64_t length);
struct virtio_hmm_job_atomic mkatomic(uint32_t asid, uint64_t va,
                                      uint32_t op, uint32_t size,
                                      uint64_t operand,
                                      uint64_t compare);
uint32_t hmm_job_atomic(QVirtioHMM *h, uint32_t asid, uint64_t va,
                        uint32_t op, uint32_t size, uint64_t operand,
                        uint64_t compare, uint64_t *old);
uint32_t hmm_job_chase(QVirtioHMM *h, uint32_t asid, uint64_t va,
                       uint32_t next_off, uint32_t value_off,
                       uint32_t value_size, uint32_t max_nodes,
                       struct virtio_hmm_chase_result *res);

/* Fault queue: one buffer in, one record out */
void hmm_add_fault_buf(QVirtioHMM *h, HMMElem *fe);
void hmm_wait_fault(QVirtioHMM *h, HMMElem *fe,
                    struct virtio_hmm_fault *rec);

/* The PCI transport */
QVirtioPCIDevice *hmm_pci(QVirtioHMM *h);
/* Guest-physical address of the common configuration field at @off */
uint64_t hmm_common_cfg_gpa(QVirtioHMM *h, unsigned int off);
uint8_t hmm_status(QVirtioHMM *h);
/* Wait until (device status & @mask) == @value */
void hmm_wait_status(QVirtioHMM *h, uint8_t mask, uint8_t value);
/* Point MSI-X table entry @entry at @addr, @data; returns @entry */
uint32_t hmm_msix_point(QVirtioHMM *h, uint16_t entry, uint64_t addr,
                        uint32_t data);

/*
 * A 64 KiB BIOS image whose reset vector jumps to 0000:7c00 (a temporary
 * file, removed at exit): a vCPU then runs only what a test puts there,
 * and machines whose firmware is not installed start
 */
const char *hmm_make_bios(void);

/* QMP qom-get: the value (unref it), or a uint */
QObject *hmm_qom_get(const char *path, const char *property);
uint64_t hmm_qom_get_uint(const char *path, const char *property);

#endif
