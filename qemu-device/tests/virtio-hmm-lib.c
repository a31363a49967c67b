/*
 * Helpers of the virtio-hmm qtests: requests and jobs built in guest
 * memory, submitted, waited for (virtio-hmm-lib.h)
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "libqtest-single.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qapi/qmp/qdict.h"
#include "qapi/qmp/qnum.h"
#include "hw/pci/pci_regs.h"
#include "virtio-hmm-lib.h"

uint32_t cfg32(QVirtioHMM *h, size_t off)
{
    return qvirtio_config_readl(h->vdev, off);
}

uint64_t cfg64(QVirtioHMM *h, size_t off)
{
    return qvirtio_config_readq(h->vdev, off);
}

uint64_t page_alloc(QVirtioHMM *h, unsigned int pages)
{
    uint64_t gpa = guest_alloc(h->alloc, pages * PAGE);

    g_assert_cmphex(gpa & (PAGE - 1), ==, 0);
    qtest_memset(global_qtest, gpa, 0, pages * PAGE);
    return gpa;
}

/*
 * Add one chain to @q without publishing it: @out (device-readable, in
 * guest RAM), then @in_len device-writable bytes at @in_addr.  libqos
 * hands out descriptors without recycling them: start over when the
 * queue is idle.
 */
static void hmm_chain(QVirtioHMM *h, HMMElem *e, int q, const void *out,
                      size_t out_len, uint64_t in_addr, size_t in_len)
{
    QTestState *qts = global_qtest;
    QVirtQueue *vq = h->vq[q];

    if (!h->inflight[q]) {
        vq->free_head = 0;
        vq->num_free = vq->size;
    }
    e->q = q;
    e->out_len = out_len;
    e->in_len = in_len;
    e->out_addr = out_len ? guest_alloc(h->alloc, out_len) : 0;
    e->in_addr = in_addr;
    if (out_len) {
        qtest_memwrite(qts, e->out_addr, out, out_len);
        e->head = qvirtqueue_add(qts, vq, e->out_addr, out_len, false, true);
        qvirtqueue_add(qts, vq, e->in_addr, in_len, true, false);
    } else {
        e->head = qvirtqueue_add(qts, vq, e->in_addr, in_len, true, false);
    }
    h->inflight[q]++;
}

/* Device-writable bytes in guest RAM, poisoned so that unwritten data shows */
static uint64_t hmm_in_buf(QVirtioHMM *h, size_t in_len)
{
    uint64_t addr = guest_alloc(h->alloc, in_len);

    qtest_memset(global_qtest, addr, 0xa5, in_len);
    return addr;
}

void hmm_submit(QVirtioHMM *h, HMMElem *e, int q, const void *out,
                size_t out_len, size_t in_len)
{
    hmm_chain(h, e, q, out, out_len, hmm_in_buf(h, in_len), in_len);
    qvirtqueue_kick(global_qtest, h->vdev, h->vq[q], e->head);
}

void hmm_submit_at(QVirtioHMM *h, HMMElem *e, int q, const void *out,
                   size_t out_len, uint64_t in_addr, size_t in_len)
{
    hmm_chain(h, e, q, out, out_len, in_addr, in_len);
    qvirtqueue_kick(global_qtest, h->vdev, h->vq[q], e->head);
}

void hmm_queue(QVirtioHMM *h, HMMElem *e, int q, const void *out,
               size_t out_len, size_t in_len)
{
    hmm_chain(h, e, q, out, out_len, hmm_in_buf(h, in_len), in_len);
    hmm_publish(h, q, e->head);
}

void hmm_publish(QVirtioHMM *h, int q, uint32_t head)
{
    QTestState *qts = global_qtest;
    QVirtQueue *vq = h->vq[q];
    uint16_t idx = qtest_readw(qts, vq->avail + 2);

    /* as qvirtqueue_kick() does, without the notification */
    qtest_writew(qts, vq->avail + 4 + 2 * (idx % vq->size), head);
    qtest_writew(qts, vq->avail + 2, idx + 1);
}

/* Polls so far: the benchmark reports how many a request needs */
unsigned long hmm_polls;
bool hmm_no_clock;

/* Is the next used element of @q there yet?  Then it must be @e. */
bool hmm_poll(QVirtioHMM *h, HMMElem *e, uint32_t *len)
{
    uint32_t idx;

    hmm_polls++;
    if (!hmm_no_clock) {
        qtest_clock_step(global_qtest, 100);
    }
    if (!qvirtqueue_get_buf(global_qtest, h->vq[e->q], &idx, len)) {
        return false;
    }
    g_assert_cmpint(idx, ==, e->head);
    h->inflight[e->q]--;
    return true;
}

/* Nothing comes back for a while (a stalled job) */
void hmm_assert_pending(QVirtioHMM *h, HMMElem *e)
{
    uint32_t len;
    int i;

    for (i = 0; i < 50; i++) {
        g_assert_false(hmm_poll(h, e, &len));
        g_usleep(1000);
    }
}

/*
 * Wait for @e, copy its writable part without the tail into @in, return
 * the status and the tail count in *@count.
 */
uint32_t hmm_wait(QVirtioHMM *h, HMMElem *e, void *in, uint32_t *count)
{
    gint64 start = g_get_monotonic_time();
    struct virtio_hmm_tail tail;
    uint32_t len;

    while (!hmm_poll(h, e, &len)) {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
    }
    g_assert_cmpint(len, ==, e->in_len);
    if (in && e->in_len > TAIL) {
        qtest_memread(global_qtest, e->in_addr, in, e->in_len - TAIL);
    }
    qtest_memread(global_qtest, e->in_addr + e->in_len - TAIL, &tail, TAIL);
    if (count) {
        *count = le32_to_cpu(tail.count);
    }
    if (e->out_len) {
        guest_free(h->alloc, e->out_addr);
    }
    guest_free(h->alloc, e->in_addr);
    return le32_to_cpu(tail.status);
}

uint32_t hmm_do(QVirtioHMM *h, int q, const void *out, size_t out_len,
                void *in, size_t in_len, uint32_t *count)
{
    HMMElem e;

    hmm_submit(h, &e, q, out, out_len, in_len);
    return hmm_wait(h, &e, in, count);
}

struct virtio_hmm_head mkhead(uint16_t type, uint32_t asid)
{
    struct virtio_hmm_head head = {
        .type = cpu_to_le16(type),
        .asid = cpu_to_le32(asid),
        .tag = cpu_to_le64(0x1000 + type),
    };
    return head;
}

/* Requests */

uint32_t hmm_as_req(QVirtioHMM *h, uint16_t type, uint32_t asid,
                    uint32_t *count)
{
    struct virtio_hmm_head head = mkhead(type, asid);

    return hmm_do(h, REQQ, &head, sizeof(head), NULL, TAIL, count);
}

uint32_t hmm_create_as(QVirtioHMM *h, uint32_t asid)
{
    return hmm_as_req(h, VIRTIO_HMM_T_CREATE_AS, asid, NULL);
}

uint32_t hmm_destroy_as(QVirtioHMM *h, uint32_t asid, uint32_t *count)
{
    return hmm_as_req(h, VIRTIO_HMM_T_DESTROY_AS, asid, count);
}

uint32_t hmm_map(QVirtioHMM *h, uint32_t asid, uint64_t va,
                 uint32_t nr, const uint64_t *pte)
{
    size_t len = sizeof(struct virtio_hmm_req_map) + nr * sizeof(uint64_t);
    g_autofree uint8_t *buf = g_malloc0(len);
    struct virtio_hmm_req_map *m = (void *)buf;
    uint64_t *ent = (uint64_t *)(m + 1);
    uint32_t i, count, st;

    m->head = mkhead(VIRTIO_HMM_T_MAP, asid);
    m->va = cpu_to_le64(va);
    m->nr_pages = cpu_to_le32(nr);
    for (i = 0; i < nr; i++) {
        ent[i] = cpu_to_le64(pte[i]);
    }
    st = hmm_do(h, REQQ, buf, len, NULL, TAIL, &count);
    if (st == VIRTIO_HMM_S_OK) {
        g_assert_cmpint(count, ==, nr);
    }
    return st;
}

/* Map @nr pages of guest RAM from @gpa with @flags */
void hmm_map_ram(QVirtioHMM *h, uint32_t asid, uint64_t va,
                 uint64_t gpa, uint32_t nr, uint64_t flags)
{
    g_autofree uint64_t *pte = g_new(uint64_t, nr);
    uint32_t i;

    for (i = 0; i < nr; i++) {
        pte[i] = (gpa + i * PAGE) | VIRTIO_HMM_PTE_VALID | flags;
    }
    g_assert_cmpint(hmm_map(h, asid, va, nr, pte), ==, VIRTIO_HMM_S_OK);
}

uint32_t hmm_unmap(QVirtioHMM *h, uint32_t asid, uint64_t va,
                   uint64_t length, uint32_t perm, uint32_t *count)
{
    struct virtio_hmm_req_unmap u = {
        .head = mkhead(VIRTIO_HMM_T_UNMAP, asid),
        .va = cpu_to_le64(va),
        .length = cpu_to_le64(length),
        .perm = cpu_to_le32(perm),
    };

    return hmm_do(h, REQQ, &u, offsetof(typeof(u), tail), NULL, TAIL, count);
}

uint32_t hmm_query(QVirtioHMM *h, uint32_t asid, uint64_t va,
                   uint32_t nr, uint64_t *pte)
{
    struct virtio_hmm_req_query q = {
        .head = mkhead(VIRTIO_HMM_T_QUERY, asid),
        .va = cpu_to_le64(va),
        .nr_pages = cpu_to_le32(nr),
    };
    uint32_t i, st;

    st = hmm_do(h, REQQ, &q, sizeof(q), pte, nr * sizeof(uint64_t) + TAIL,
                NULL);
    for (i = 0; i < nr; i++) {
        pte[i] = le64_to_cpu(pte[i]);
    }
    return st;
}

uint64_t hmm_query1(QVirtioHMM *h, uint32_t asid, uint64_t va)
{
    uint64_t pte;

    g_assert_cmpint(hmm_query(h, asid, va, 1, &pte), ==, VIRTIO_HMM_S_OK);
    return pte;
}

uint32_t hmm_copy(QVirtioHMM *h, uint16_t dir, uint32_t nr,
                  const uint64_t *src, const uint64_t *dst,
                  uint32_t *count)
{
    size_t len = sizeof(struct virtio_hmm_req_copy) +
                 nr * sizeof(struct virtio_hmm_copy_entry);
    g_autofree uint8_t *buf = g_malloc0(len);
    struct virtio_hmm_req_copy *c = (void *)buf;
    struct virtio_hmm_copy_entry *ent = (void *)(c + 1);
    uint32_t i;

    c->head = mkhead(VIRTIO_HMM_T_COPY, 0);
    c->head.flags = cpu_to_le16(dir);
    c->nr = cpu_to_le32(nr);
    for (i = 0; i < nr; i++) {
        ent[i].src = cpu_to_le64(src[i]);
        ent[i].dst = cpu_to_le64(dst[i]);
    }
    return hmm_do(h, REQQ, buf, len, NULL, TAIL, count);
}

void hmm_copy1(QVirtioHMM *h, uint16_t dir, uint64_t src, uint64_t dst)
{
    uint32_t count;

    g_assert_cmpint(hmm_copy(h, dir, 1, &src, &dst, &count), ==,
                    VIRTIO_HMM_S_OK);
    g_assert_cmpint(count, ==, 1);
}

uint32_t hmm_fault_reply(QVirtioHMM *h, uint64_t tag, uint32_t asid,
                         uint32_t action, uint32_t *count)
{
    struct {
        struct virtio_hmm_req_fault_reply r;
        struct virtio_hmm_reply_entry e;
    } QEMU_PACKED req = {
        .r.head = mkhead(VIRTIO_HMM_T_FAULT_REPLY, 0),
        .r.nr = cpu_to_le32(1),
        .e.tag = cpu_to_le64(tag),
        .e.asid = cpu_to_le32(asid),
        .e.action = cpu_to_le32(action),
    };

    return hmm_do(h, REQQ, &req, sizeof(req), NULL, TAIL, count);
}

void hmm_get_stats(QVirtioHMM *h, struct virtio_hmm_stats *st)
{
    struct virtio_hmm_head head = mkhead(VIRTIO_HMM_T_GET_STATS, 0);
    uint64_t *p = (uint64_t *)st;
    size_t i;

    g_assert_cmpint(hmm_do(h, REQQ, &head, sizeof(head), st,
                           sizeof(*st) + TAIL, NULL), ==, VIRTIO_HMM_S_OK);
    for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
        p[i] = le64_to_cpu(p[i]);
    }
}

/* Jobs */

struct virtio_hmm_job_rw mkjob(uint16_t type, uint32_t asid,
                               uint64_t tag, uint64_t va,
                               uint64_t length)
{
    struct virtio_hmm_job_rw j = {
        .head = mkhead(type, asid),
        .va = cpu_to_le64(va),
        .length = cpu_to_le64(length),
    };

    j.head.tag = cpu_to_le64(tag);
    return j;
}

void hmm_submit_read(QVirtioHMM *h, HMMElem *e, uint32_t asid,
                     uint64_t tag, uint64_t va, uint64_t length)
{
    struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_READ, asid, tag, va,
                                       length);

    hmm_submit(h, e, JOBQ, &j, sizeof(j), length + TAIL);
}

uint32_t hmm_job_read(QVirtioHMM *h, uint32_t asid, uint64_t va,
                      void *buf, uint64_t length, uint32_t *count)
{
    HMMElem e;

    hmm_submit_read(h, &e, asid, 1, va, length);
    return hmm_wait(h, &e, buf, count);
}

uint32_t hmm_job_write(QVirtioHMM *h, uint32_t asid, uint64_t va,
                       const void *data, uint64_t length)
{
    struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_WRITE, asid, 2, va,
                                       length);
    g_autofree uint8_t *buf = g_malloc(sizeof(j) + length);
    uint32_t count, st;

    memcpy(buf, &j, sizeof(j));
    memcpy(buf + sizeof(j), data, length);
    st = hmm_do(h, JOBQ, buf, sizeof(j) + length, NULL, TAIL, &count);
    if (st == VIRTIO_HMM_S_OK) {
        g_assert_cmpint(count, ==, length);
    }
    return st;
}

uint32_t hmm_job_fill(QVirtioHMM *h, uint32_t asid, uint64_t va,
                      uint64_t length, uint64_t pattern)
{
    struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_FILL, asid, 3, va,
                                       length);

    j.pattern = cpu_to_le64(pattern);
    return hmm_do(h, JOBQ, &j, sizeof(j), NULL, TAIL, NULL);
}

uint32_t hmm_job_copy(QVirtioHMM *h, uint32_t asid, uint64_t dst,
                      uint64_t src, uint64_t length)
{
    struct virtio_hmm_job_rw j = mkjob(VIRTIO_HMM_T_JOB_COPY, asid, 4, src,
                                       length);

    j.va2 = cpu_to_le64(dst);
    return hmm_do(h, JOBQ, &j, sizeof(j), NULL, TAIL, NULL);
}

struct virtio_hmm_job_atomic mkatomic(uint32_t asid, uint64_t va,
                                      uint32_t op, uint32_t size,
                                      uint64_t operand,
                                      uint64_t compare)
{
    struct virtio_hmm_job_atomic a = {
        .head = mkhead(VIRTIO_HMM_T_JOB_ATOMIC, asid),
        .va = cpu_to_le64(va),
        .operand = cpu_to_le64(operand),
        .compare = cpu_to_le64(compare),
        .op = cpu_to_le32(op),
        .size = cpu_to_le32(size),
    };
    return a;
}

uint32_t hmm_job_atomic(QVirtioHMM *h, uint32_t asid, uint64_t va,
                        uint32_t op, uint32_t size, uint64_t operand,
                        uint64_t compare, uint64_t *old)
{
    struct virtio_hmm_job_atomic a = mkatomic(asid, va, op, size, operand,
                                              compare);
    struct virtio_hmm_atomic_result res = { 0 };
    uint32_t st;

    st = hmm_do(h, JOBQ, &a, sizeof(a), &res, sizeof(res) + TAIL, NULL);
    *old = le64_to_cpu(res.old);
    return st;
}

uint32_t hmm_job_chase(QVirtioHMM *h, uint32_t asid, uint64_t va,
                       uint32_t next_off, uint32_t value_off,
                       uint32_t value_size, uint32_t max_nodes,
                       struct virtio_hmm_chase_result *res)
{
    struct virtio_hmm_job_chase c = {
        .head = mkhead(VIRTIO_HMM_T_JOB_CHASE, asid),
        .va = cpu_to_le64(va),
        .next_offset = cpu_to_le32(next_off),
        .value_offset = cpu_to_le32(value_off),
        .value_size = cpu_to_le32(value_size),
        .max_nodes = cpu_to_le32(max_nodes),
    };
    uint32_t st;

    st = hmm_do(h, JOBQ, &c, sizeof(c), res, sizeof(*res) + TAIL, NULL);
    res->sum = le64_to_cpu(res->sum);
    res->nodes = le64_to_cpu(res->nodes);
    res->last = le64_to_cpu(res->last);
    return st;
}

/* Fault queue: one buffer in, one record out */
void hmm_wait_fault(QVirtioHMM *h, HMMElem *fe,
                    struct virtio_hmm_fault *rec)
{
    gint64 start = g_get_monotonic_time();
    uint32_t len;

    while (!hmm_poll(h, fe, &len)) {
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
    }
    g_assert_cmpint(len, ==, sizeof(*rec));
    qtest_memread(global_qtest, fe->in_addr, rec, sizeof(*rec));
    guest_free(h->alloc, fe->in_addr);
}

void hmm_add_fault_buf(QVirtioHMM *h, HMMElem *fe)
{
    hmm_submit(h, fe, FAULTQ, NULL, 0, sizeof(struct virtio_hmm_fault));
}

void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = seed + i * 7 + (i >> 8);
    }
}

QVirtioPCIDevice *hmm_pci(QVirtioHMM *h)
{
    g_assert_nonnull(h->pdev);
    return container_of(h->vdev, QVirtioPCIDevice, vdev);
}

uint64_t hmm_common_cfg_gpa(QVirtioHMM *h, unsigned int off)
{
    QVirtioPCIDevice *d = hmm_pci(h);

    g_assert_false(d->bar.is_io);
    return d->bar.addr + d->common_cfg_offset + off;
}

uint8_t hmm_status(QVirtioHMM *h)
{
    return h->vdev->bus->get_status(h->vdev);
}

void hmm_wait_status(QVirtioHMM *h, uint8_t mask, uint8_t value)
{
    gint64 start = g_get_monotonic_time();

    while ((hmm_status(h) & mask) != value) {
        if (!hmm_no_clock) {
            qtest_clock_step(global_qtest, 100);
        }
        g_assert(g_get_monotonic_time() - start <= HMM_TIMEOUT_US);
    }
}

uint32_t hmm_msix_point(QVirtioHMM *h, uint16_t entry, uint64_t addr,
                        uint32_t data)
{
    QPCIDevice *pdev = hmm_pci(h)->pdev;
    uint64_t off = pdev->msix_table_off + entry * PCI_MSIX_ENTRY_SIZE;

    qpci_io_writel(pdev, pdev->msix_table_bar,
                   off + PCI_MSIX_ENTRY_LOWER_ADDR, addr);
    qpci_io_writel(pdev, pdev->msix_table_bar,
                   off + PCI_MSIX_ENTRY_UPPER_ADDR, addr >> 32);
    qpci_io_writel(pdev, pdev->msix_table_bar,
                   off + PCI_MSIX_ENTRY_DATA, data);
    qpci_io_writel(pdev, pdev->msix_table_bar,
                   off + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    return entry;
}

QObject *hmm_qom_get(const char *path, const char *property)
{
    QDict *rsp = qtest_qmp(global_qtest,
                           "{'execute': 'qom-get', 'arguments': "
                           "{'path': %s, 'property': %s}}", path, property);
    QObject *ret;

    g_assert(qdict_haskey(rsp, "return"));
    ret = qdict_get(rsp, "return");
    qobject_ref(ret);
    qobject_unref(rsp);
    return ret;
}

uint64_t hmm_qom_get_uint(const char *path, const char *property)
{
    QObject *o = hmm_qom_get(path, property);
    QNum *n = qobject_to(QNum, o);
    uint64_t v;

    g_assert(n);
    g_assert(qnum_get_try_uint(n, &v));
    qobject_unref(o);
    return v;
}

static char *bios_path;

static void remove_bios(void)
{
    if (bios_path) {
        unlink(bios_path);
    }
}

const char *hmm_make_bios(void)
{
    static const uint8_t reset[] = { 0xea, 0x00, 0x7c, 0x00, 0x00 };
    g_autofree uint8_t *rom = NULL;
    int fd;

    if (bios_path) {
        return bios_path;
    }
    rom = g_malloc(64 * KiB);
    memset(rom, 0xf4, 64 * KiB);                        /* hlt */
    memcpy(rom + 64 * KiB - 16, reset, sizeof(reset));  /* F000:FFF0 */
    fd = g_file_open_tmp("virtio-hmm-bios-XXXXXX", &bios_path, NULL);
    g_assert(fd >= 0);
    g_assert(write(fd, rom, 64 * KiB) == 64 * KiB);
    close(fd);
    atexit(remove_bios);
    return bios_path;
}
