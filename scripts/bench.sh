#!/bin/bash
# make bench: BOOTS guests (default 3), one after the other, each with the
# kernel's test_hmm and a virtio-hmm device loaded together; in each,
# hmm-bench runs the same operations on the same buffers against both,
# the devices taking turns sample by sample. scripts/bench-report.py takes
# each row's ratio (virtio-hmm / test_hmm) per boot and reports the median
# over the boots with its spread, the issue's goals as met or missed, and
# writes build/bench.json with every boot's values. Absolute numbers are
# TCG numbers; ratios within one boot are what is fair to compare. Then
# scripts/bench-qtest.sh times the QEMU device's request handling through
# qtest, a second table in the report and the "qtest" key of the JSON.
#
# BOOTS=N (default 3), RUNS=N samples a point in each boot (default 5),
# BENCH_ARGS: extra hmm-bench arguments (-t GROUP, -s BYTES).
set -euo pipefail
STEP=bench
. "$(dirname "$0")/common.sh"

RUNS=${RUNS:-5}
BOOTS=${BOOTS:-3}
BENCH_ARGS=${BENCH_ARGS:-}
mkdir -p "$BUILD/logs"
outs=()
for b in $(seq 1 "$BOOTS"); do
	log=$BUILD/logs/bench-boot$b.log
	log "boot $b of $BOOTS: test_hmm and virtio-hmm, $RUNS runs a point (log $log)"
	t0=$SECONDS
	"$TOP/kvm/run-vm" --quiet --timeout 1800 --mem 2G --hmm mode=private,vram-size=256M --log "$log" -- \
		"modprobe test_hmm && modprobe virtio_hmm && hmm-bench -r $RUNS $BENCH_ARGS test_hmm=/dev/hmm_dmirror0 virtio-hmm=/dev/virtio_hmm0"
	log "boot $b done in $((SECONDS - t0))s"
	outs+=("$log.out")
done
log "the QEMU device through qtest ($RUNS runs a point; log $BUILD/logs/bench-qtest.log)"
RUNS=$RUNS "$TOP/scripts/bench-qtest.sh" >/dev/null	# its BENCH lines: the table below
"$TOP/scripts/bench-report.py" --qtest "$BUILD/logs/bench-qtest.log" \
	--json "$BUILD/bench.json" "${outs[@]}"
