/*
 * virtio-hmm: recoverable faults and the device's counters
 *
 * A job that faults with VIRTIO_HMM_F_REPLAYABLE_FAULTS stalls: it moves
 * to s->stalled and a fault record to s->fault_records, both under
 * s->lock; virtio-hmm.c posts the records into faultq buffers from the
 * BQL side.  FAULT_REPLY moves stalled jobs back to s->jobs (RETRY) or
 * completes them (CANCEL).  At most max_stalled_jobs jobs stall and at
 * most as many records wait for buffers.
 *
 * The counters are the executor's (virtio-hmm-internal.h); GET_STATS and
 * the read-only QOM property "stats" read them.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or
 * (at your option) any later version.  See the COPYING file in the
 * top-level directory.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "virtio-hmm-internal.h"
#include "trace.h"

void hmm_stall_locked(VirtIOHMM *s, VirtIOHMMReq *req)
{
    VirtIOHMMFaultRecord *f;

    /*
     * Each stalled job needs at most one record: more waiting records than
     * that are stale ones of retried jobs, which a driver that keeps
     * retrying without adding faultq buffers would otherwise pile up.
     */
    if (s->nr_stalled >= s->max_stalled_jobs ||
        s->nr_records >= s->max_stalled_jobs) {
        req->status = VIRTIO_HMM_S_NOSPC;
        hmm_complete_locked(s, req);
        return;
    }
    QTAILQ_INSERT_TAIL(&s->stalled, req, next);
    s->nr_stalled++;
    trace_virtio_hmm_job_stall(req->tag, req->asid, s->nr_stalled);

    f = g_new0(VirtIOHMMFaultRecord, 1);
    f->rec.tag = cpu_to_le64(req->tag);
    f->rec.va = cpu_to_le64(req->fault_va);
    f->rec.asid = cpu_to_le32(req->asid);
    f->rec.access = cpu_to_le32(req->fault_access);
    f->rec.present = cpu_to_le32(req->fault_present);
    s->stats.faults++;
    s->inject_records++;
    if (s->inject_drop_fault &&
        s->inject_records % s->inject_drop_fault == 0) {
        /* lost: the job stays stalled until a FAULT_REPLY names it */
        trace_virtio_hmm_inject("drop-fault", s->inject_records);
        g_free(f);
        return;
    }
    if (s->inject_dup_fault && s->inject_records % s->inject_dup_fault == 0) {
        VirtIOHMMFaultRecord *dup = g_memdup2(f, sizeof(*f));

        trace_virtio_hmm_inject("dup-fault", s->inject_records);
        QSIMPLEQ_INSERT_TAIL(&s->fault_records, dup, next);
        s->nr_records++;
    }
    QSIMPLEQ_INSERT_TAIL(&s->fault_records, f, next);
    s->nr_records++;
    qemu_bh_schedule(s->bh);
}

void hmm_drop_records_locked(VirtIOHMM *s, uint32_t asid)
{
    VirtIOHMMFaultRecord *f, *tmp;

    QSIMPLEQ_FOREACH_SAFE(f, &s->fault_records, next, tmp) {
        if (asid == UINT32_MAX || le32_to_cpu(f->rec.asid) == asid) {
            QSIMPLEQ_REMOVE(&s->fault_records, f, VirtIOHMMFaultRecord, next);
            s->nr_records--;
            g_free(f);
        }
    }
}

uint32_t hmm_fault_reply(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_req_fault_reply r;
    g_autofree struct virtio_hmm_reply_entry *ent = NULL;
    uint32_t nr, i, matched = 0;

    if (req->out_size < sizeof(r) || !hmm_req_read(req, 0, &r, sizeof(r)) ||
        req->flags || r.reserved) {
        return VIRTIO_HMM_S_INVAL;
    }
    nr = le32_to_cpu(r.nr);
    if (!nr) {
        return VIRTIO_HMM_S_INVAL;
    }
    if (nr > HMM_MAX_COPY_PAGES) {
        return VIRTIO_HMM_S_RANGE;
    }
    if (req->out_size != sizeof(r) + (size_t)nr * sizeof(*ent) ||
        req->in_size != HMM_TAIL_SIZE) {
        return VIRTIO_HMM_S_INVAL;
    }
    ent = g_new(struct virtio_hmm_reply_entry, nr);
    hmm_req_read(req, sizeof(r), ent, (size_t)nr * sizeof(*ent));
    for (i = 0; i < nr; i++) {
        if (le32_to_cpu(ent[i].action) > VIRTIO_HMM_REPLY_CANCEL) {
            return VIRTIO_HMM_S_INVAL;
        }
    }

    qemu_mutex_lock(&s->lock);
    for (i = 0; i < nr; i++) {
        uint64_t tag = le64_to_cpu(ent[i].tag);
        uint32_t asid = le32_to_cpu(ent[i].asid);
        uint32_t action = le32_to_cpu(ent[i].action);
        VirtIOHMMReq *job, *tmp;
        int n = 0;

        QTAILQ_FOREACH_SAFE(job, &s->stalled, next, tmp) {
            if (job->tag != tag || job->asid != asid) {
                continue;
            }
            QTAILQ_REMOVE(&s->stalled, job, next);
            s->nr_stalled--;
            n++;
            if (action == VIRTIO_HMM_REPLY_RETRY) {
                s->stats.retries++;
                QTAILQ_INSERT_TAIL(&s->jobs, job, next);
            } else {
                s->stats.cancels++;
                job->status = VIRTIO_HMM_S_CANCELED;
                hmm_complete_locked(s, job);
            }
        }
        trace_virtio_hmm_fault_reply(tag, asid, action, n);
        matched += n > 0;
    }
    qemu_mutex_unlock(&s->lock);
    req->count = matched;
    return VIRTIO_HMM_S_OK;
}

uint32_t hmm_get_stats(VirtIOHMM *s, VirtIOHMMReq *req)
{
    struct virtio_hmm_stats le;
    const uint64_t *src = (const uint64_t *)&s->stats;
    uint64_t *dst = (uint64_t *)&le;
    size_t i;

    if (req->out_size != sizeof(struct virtio_hmm_head) ||
        req->in_size != sizeof(le) + HMM_TAIL_SIZE || req->flags) {
        return VIRTIO_HMM_S_INVAL;
    }
    QEMU_BUILD_BUG_ON(sizeof(le) % sizeof(uint64_t));
    for (i = 0; i < sizeof(le) / sizeof(uint64_t); i++) {
        dst[i] = cpu_to_le64(src[i]);
    }
    trace_virtio_hmm_get_stats(s->stats.requests);
    hmm_req_write(req, 0, &le, sizeof(le));
    return VIRTIO_HMM_S_OK;
}

/*
 * The read-only QOM property "stats" (QMP qom-get): the GET_STATS counters,
 * a struct of uint64 members named as in struct virtio_hmm_stats. The
 * executor owns the counters, so they are copied with the worker paused
 * and idle (the inline path runs under the BQL, which the caller holds).
 */
static const struct {
    const char *name;
    size_t offset;
} hmm_stats_fields[] = {
#define HMM_STAT(f) { #f, offsetof(struct virtio_hmm_stats, f) }
    HMM_STAT(requests), HMM_STAT(errors), HMM_STAT(maps), HMM_STAT(unmaps),
    HMM_STAT(faults), HMM_STAT(retries), HMM_STAT(cancels),
    HMM_STAT(pages_to_dev), HMM_STAT(pages_from_dev),
    HMM_STAT(pages_dev_to_dev), HMM_STAT(job_bytes), HMM_STAT(atomics),
    HMM_STAT(address_spaces), HMM_STAT(mapped_pages),
#undef HMM_STAT
};
QEMU_BUILD_BUG_ON(ARRAY_SIZE(hmm_stats_fields) * sizeof(uint64_t) !=
                  sizeof(struct virtio_hmm_stats));

static void virtio_hmm_get_stats_prop(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    VirtIOHMM *s = VIRTIO_HMM(obj);
    struct virtio_hmm_stats st;
    size_t i;

    hmm_pause(s);
    st = s->stats;
    hmm_resume(s);

    if (!visit_start_struct(v, name, NULL, 0, errp)) {
        return;
    }
    for (i = 0; i < ARRAY_SIZE(hmm_stats_fields); i++) {
        uint64_t val;

        memcpy(&val, (uint8_t *)&st + hmm_stats_fields[i].offset,
               sizeof(val));
        if (!visit_type_uint64(v, hmm_stats_fields[i].name, &val, errp)) {
            goto out;
        }
    }
    visit_check_struct(v, errp);
out:
    visit_end_struct(v, NULL);
}

void hmm_stats_class_init(ObjectClass *klass)
{
    object_class_property_add(klass, "stats", "VirtIOHMMStats",
                              virtio_hmm_get_stats_prop, NULL, NULL, NULL);
    object_class_property_set_description(klass, "stats",
        "device statistics (GET_STATS counters), read-only");
}
