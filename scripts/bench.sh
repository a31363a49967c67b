#!/bin/bash
# make bench: one guest with the kernel's test_hmm and a virtio-hmm device
# loaded together; hmm-bench runs the same operations on the same buffers
# against both; scripts/bench-report.py prints the table and writes
# build/bench.json. Absolute numbers are TCG numbers; the ratios are what
# one boot measures fairly. Then scripts/bench-qtest.sh times the QEMU
# device's request handling through qtest, a second table in the report
# and the "qtest" key of build/bench.json.
set -euo pipefail
STEP=bench
. "$(dirname "$0")/common.sh"

RUNS=${RUNS:-5}
log=$BUILD/logs/bench.log
mkdir -p "$BUILD/logs"
log "booting a guest with test_hmm and virtio-hmm ($RUNS runs a point; log $log)"
"$TOP/kvm/run-vm" --quiet --timeout 900 --mem 2G --hmm mode=private,vram-size=256M --log "$log" -- \
	"modprobe test_hmm && modprobe virtio_hmm && hmm-bench -r $RUNS test_hmm=/dev/hmm_dmirror0 virtio-hmm=/dev/virtio_hmm0"
log "the QEMU device through qtest ($RUNS runs a point; log $BUILD/logs/bench-qtest.log)"
RUNS=$RUNS "$TOP/scripts/bench-qtest.sh" >/dev/null	# its BENCH lines: the table below
"$TOP/scripts/bench-report.py" --qtest "$BUILD/logs/bench-qtest.log" \
	"$log.out" "$BUILD/bench.json"
