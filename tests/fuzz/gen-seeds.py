#!/usr/bin/env python3
"""Write seed inputs for the virtio-hmm fuzz targets.

Each seed is one scenario of the qtests (qemu-device/tests/*.c), encoded in
the input format of qemu-device/tests/fuzz/virtio_hmm_fuzz.c (described in
tests/fuzz/README.md): a sequence of 24-byte operations, some followed by
fixed-size entries.  The fuzzer mutates from there, so it starts with
address spaces, mappings, jobs that run, stall and resume, copies into and
out of device memory, on both devices.

usage: gen-seeds.py OUTDIR
"""
import os
import struct
import sys

PAGE = 4096

# FuzzOp.op (enum order in virtio_hmm_fuzz.c)
(CREATE_AS, DESTROY_AS, MAP, UNMAP, QUERY, COPY, FAULT_REPLY, GET_STATS,
 JOB_RW, JOB_ATOMIC, JOB_CHASE, FAULT_BUFS, QUEUE_RESET, DEVICE_RESET, RAW,
 MEMWRITE, SWITCH, SETTLE, RUNSTATE) = range(19)

# FuzzOp.layout
L_IN_SPLIT, L_IN_AT, L_OUT_AT, L_SWAP, L_SHORT, L_NO_KICK = \
    0x04, 0x08, 0x10, 0x20, 0x40, 0x80

# PTE flag bits (include/linux/virtio_hmm.h)
VALID, READ, WRITE, ATOMIC = 1, 2, 4, 8
RW = VALID | READ | WRITE

# selectors: fuzz_gpa() 0: data page, 9: the device's common configuration,
# 13: the coherent device's memory BAR; fuzz_va() 0: the job window
GPA_DATA, GPA_NOWHERE, GPA_DEVCFG, GPA_OWN_CFG, GPA_SHM = 0, 7, 8, 9, 13
VA_WIN, VA_TOP, VA_PT = 0, 5, 6
DEVMEM = 0x80                   # FuzzPte.sel: a device memory page
VIRTIO_PCI_COMMON_STATUS = 0x14
JOBQ = 1
TO_DEV, FROM_DEV, DEV_TO_DEV = 0, 1, 2
REPLY_RETRY, REPLY_CANCEL = 0, 1
T_JOB_READ, T_JOB_WRITE, T_JOB_FILL, T_JOB_COPY = 0, 1, 2, 3


def va(page, off=0):
    """x for fuzz_va(VA_WIN): page of the window; offsets need sel 4"""
    return page + off


def op(code, layout=0, asid=0, flags=0, sel_a=0, sel_b=0, n=0, x=0, y=0):
    return struct.pack('<BBBBBBHQQ', code, layout, asid, flags, sel_a,
                       sel_b, n & 0xffff, x & (2**64 - 1), y & (2**64 - 1))


def create(asid=0):
    return op(CREATE_AS, asid=asid)


def destroy(asid=0):
    return op(DESTROY_AS, asid=asid)


def pte(sel, idx, flags):
    return struct.pack('<BBH', sel, flags, idx)


def map_ram(page, gpa_pages, flags=RW, asid=0, tag=0):
    ents = b''.join(pte(GPA_DATA, g, flags) for g in gpa_pages)
    return op(MAP, asid=asid, sel_a=VA_WIN, n=(tag << 8) | len(gpa_pages),
              x=page) + ents


def map_dev(page, dev_pages, flags=RW, asid=0):
    ents = b''.join(pte(DEVMEM, d, flags) for d in dev_pages)
    return op(MAP, asid=asid, sel_a=VA_WIN, n=len(dev_pages), x=page) + ents


def unmap(page, pages, perm=0, asid=0, layout=0):
    return op(UNMAP, layout=layout, asid=asid, sel_a=VA_WIN, sel_b=0,
              n=perm, x=page, y=pages)


def query(page, nr, asid=0):
    return op(QUERY, asid=asid, sel_a=VA_WIN, n=nr, x=page)


def job(kind, page, pages=0, small=0, page2=0, pattern=0, asid=0, tag=1,
        layout=0):
    """READ/WRITE/FILL/COPY: small bytes (1..4096) or whole pages"""
    mode = 1 if pages else 0
    length = (pages if pages else small - 1) << 40
    return op(JOB_RW, layout=layout, asid=asid, sel_a=VA_WIN, sel_b=VA_WIN,
              n=(tag << 8) | (mode << 2) | kind,
              x=page | (page2 << 32), y=length | (pattern & 0xffffffffff))


def atomic(page, aop, size8, operand, asid=0, tag=2):
    return op(JOB_ATOMIC, asid=asid, sel_a=VA_WIN,
              n=(tag << 8) | ((1 if size8 else 0) << 4) | aop, x=page,
              y=operand)


def chase(page, next_off, value_off, size_sel, max_nodes, asid=0, tag=3):
    return op(JOB_CHASE, asid=asid, sel_a=VA_WIN, sel_b=size_sel,
              n=(tag << 8) | max_nodes, x=page,
              y=next_off | (value_off << 12))


def pointer(data_page, off, to_page):
    """a CHASE pointer in data page @data_page at @off: VA of window page"""
    return op(MEMWRITE, sel_a=1, sel_b=VA_WIN, x=data_page * PAGE + off,
              y=to_page)


def memwrite(data_page, off, data):
    return op(MEMWRITE, n=len(data), x=data_page * PAGE + off) + data


def copy(direction, entries, layout=0):
    ents = b''.join(struct.pack('<BBHH', s, d, si, di)
                    for (s, si, d, di) in entries)
    return op(COPY, layout=layout, sel_a=direction, n=len(entries)) + ents


def reply(entries):
    ents = b''.join(struct.pack('<BBBB', t, a, act, 0)
                    for (t, a, act) in entries)
    return op(FAULT_REPLY, n=len(entries)) + ents


def stats(layout=0, sel_b=0, y=0):
    return op(GET_STATS, layout=layout, sel_b=sel_b, y=y)


SEEDS = {
    # virtio-hmm-test.c: address spaces, map, query, unmap
    'as-map-query-unmap': (
        create(0) + create(0) + map_ram(0, [0, 1, 2, 3]) + query(0, 4) +
        unmap(1, 2, perm=WRITE) + query(0, 4) + unmap(0, 32) +
        stats() + destroy(0) + destroy(0)),
    # jobs: read, write, fill, copy on guest RAM
    'jobs-rw': (
        create(0) + map_ram(0, [0, 1, 2, 3]) +
        job(T_JOB_READ, 0, small=64) + job(T_JOB_WRITE, 1, small=200) +
        job(T_JOB_FILL, 2, pages=1, pattern=0x1122334455) +
        job(T_JOB_COPY, 0, pages=1, page2=3) + job(T_JOB_READ, 0, pages=4)),
    # atomics (virtio-hmm-test.c, engine-test.c)
    'atomics': (
        create(0) + map_ram(0, [4], RW | ATOMIC) + map_ram(1, [5], RW) +
        atomic(0, 0, True, 5) + atomic(0, 1, False, 7) +
        atomic(0, 2, True, 7) + atomic(1, 0, True, 1)),
    # CHASE over a list spread over three pages (engine-test.c)
    'chase': (
        create(0) + map_ram(0, [6, 7, 8], VALID | READ) +
        pointer(6, 0, 1) + pointer(7, 0, 2) + memwrite(8, 0, b'\0' * 8) +
        memwrite(6, 8, struct.pack('<Q', 11)) +
        chase(0, 0, 8, 3, 10) + chase(0, 0, 4090, 3, 10) +
        chase(0, 0, 8, 5, 10)),
    # a job faults, its record goes out, RETRY after MAP (test_fault_*)
    'fault-retry': (
        create(0) + op(FAULT_BUFS, n=1) + job(T_JOB_READ, 9, small=8, tag=5) +
        map_ram(9, [9], VALID | READ) + reply([(5, 0, REPLY_RETRY)])),
    'fault-cancel-destroy': (
        create(0) + job(T_JOB_WRITE, 10, small=16, tag=6) +
        job(T_JOB_READ, 11, small=16, tag=7) + op(FAULT_BUFS, n=3) +
        reply([(6, 0, REPLY_CANCEL), (9, 0, REPLY_RETRY)]) + destroy(0)),
    # the copy engine, then device memory mapped (test_copy_*)
    'copy-devmem': (
        copy(TO_DEV, [(GPA_DATA, 0, 0, 1), (GPA_DATA, 1, 0, 2)]) +
        copy(DEV_TO_DEV, [(0, 1, 0, 3)]) +
        copy(FROM_DEV, [(0, 3, GPA_DATA, 12)]) +
        create(0) + map_dev(0, [1, 2, 3]) + job(T_JOB_READ, 0, pages=3) +
        atomic(0, 0, True, 1)),
    # mode=coherent: device memory also at BAR 2
    'coherent': (
        op(SWITCH, n=1) + create(1) +
        copy(TO_DEV, [(GPA_DATA, 2, 0, 5)]) + map_dev(0, [5], asid=1) +
        job(T_JOB_READ, 0, pages=1, asid=1) +
        op(MAP, asid=1, sel_a=VA_WIN, n=1, x=1) + pte(GPA_SHM, 6, RW) +
        job(T_JOB_WRITE, 1, small=32, asid=1) +
        copy(FROM_DEV, [(0, 6, GPA_SHM, 7)])),
    # reentry-test.c / issue 13 #15: a writable tail on the device's own
    # device_status, so the completion resets the device
    'mmio-descriptor': (
        create(0) + stats(layout=L_IN_AT, sel_b=GPA_OWN_CFG,
                          y=VIRTIO_PCI_COMMON_STATUS) +
        create(0) + map_ram(0, [0]) +
        job(T_JOB_READ, 0, small=8, layout=L_IN_AT) + stats()),
    'mmio-targets': (
        create(0) + map_ram(0, [0]) +
        op(GET_STATS, layout=L_IN_AT, sel_b=GPA_DEVCFG) +
        op(GET_STATS, layout=L_IN_AT, sel_b=GPA_NOWHERE) +
        op(GET_STATS, layout=L_OUT_AT, sel_b=GPA_SHM) +
        op(MAP, sel_a=VA_WIN, n=2, x=2) + pte(GPA_NOWHERE, 0, RW) +
        pte(GPA_DEVCFG, 0, RW) + job(T_JOB_READ, 2, pages=2)),
    # queue-reset-test.c: a job stalled before a jobq reset
    'queue-reset': (
        create(0) + job(T_JOB_READ, 12, small=8, tag=0x51) +
        op(QUEUE_RESET, n=JOBQ) + map_ram(12, [0], VALID | READ) +
        reply([(0x51, 0, REPLY_RETRY)]) + op(FAULT_BUFS, n=2) +
        op(QUEUE_RESET, n=2) + op(QUEUE_RESET, n=0) + stats()),
    'device-reset': (
        create(0) + create(1) + map_ram(0, [0, 1]) +
        job(T_JOB_READ, 20, small=8) + op(DEVICE_RESET) + stats() +
        create(0) + op(SWITCH, n=1) + op(DEVICE_RESET) + op(SWITCH, n=0) +
        query(0, 2)),
    # runstate-test.c: quiescent while the VM is stopped, kicks then seen
    'runstate': (
        create(0) + map_ram(0, [0, 1]) + op(FAULT_BUFS, n=1) +
        job(T_JOB_READ, 13, small=8, tag=8) + op(RUNSTATE) +
        job(T_JOB_READ, 0, pages=2) + stats() + op(UNMAP, sel_b=1) +
        op(RUNSTATE) + map_ram(13, [2], VALID | READ) +
        reply([(8, 0, REPLY_RETRY)]) + op(RUNSTATE) + destroy(0) +
        op(DEVICE_RESET) + op(RUNSTATE) + stats()),
    # mmu-test.c: page tables across boundaries, UNMAP to the top
    'map-limit': b''.join(
        op(MAP, sel_a=VA_PT, n=16, x=i) +
        b''.join(pte(GPA_DATA, j, RW) for j in range(16))
        for i in range(4)) + (
        op(UNMAP, sel_a=VA_PT, sel_b=1, x=0) + stats() +
        op(MAP, sel_a=VA_TOP, n=1, x=0) + pte(GPA_DATA, 0, RW)),
    # malformed requests (virtio-hmm-test.c's table)
    'malformed': (
        create(0) + op(RAW, x=0x99, n=4) + b'\0' * 4 +
        op(RAW, x=0x03, n=8, sel_b=2) + b'\xff' * 8 +
        op(MAP, flags=0x10, y=1 << 20, n=1) + pte(GPA_DATA, 0, RW) +
        op(QUERY, flags=0x10, y=0xffffffff) +
        op(CREATE_AS, asid=0x80) + op(CREATE_AS, asid=0x81) +
        op(CREATE_AS, asid=0xff) + op(CREATE_AS, flags=0xf1) +
        op(MAP, sel_a=4, x=5, n=1) + pte(GPA_DATA, 0, RW) +
        op(MAP, n=1) + pte(GPA_DATA, 0, 0xff) +
        op(COPY, sel_a=3, n=1) + b'\0' * 6 +
        op(JOB_ATOMIC, n=0xff, x=1) + op(JOB_CHASE, sel_b=0x84, y=-1) +
        op(UNMAP, sel_b=2, y=123)),
    # descriptor layouts: split, swapped, short, not kicked
    'layouts': (
        create(0) + map_ram(0, [0, 1]) +
        job(T_JOB_READ, 0, small=100, layout=0x03 | L_IN_SPLIT) +
        job(T_JOB_WRITE, 0, small=100, layout=0x02) +
        job(T_JOB_READ, 0, small=100, layout=L_SWAP) +
        job(T_JOB_READ, 0, small=100, layout=L_SHORT) +
        op(GET_STATS, layout=L_NO_KICK) + op(GET_STATS, layout=L_NO_KICK) +
        stats() + op(SETTLE, x=1000)),
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, 'seed-' + name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
