#!/bin/bash
# make profile: where a virtio-hmm round trip goes, from the guest's side.
# One guest; the driver's request events (vhmm_req_submit, vhmm_req_done,
# vhmm_req_wake) and hmm-bench's trace_marker lines around every ioctl are
# traced while hmm-bench runs op_roundtrip and the migrations of 64 KiB
# and 2 MiB on virtio-hmm; scripts/profile-report.py splits each ioctl into
# requests (submit -> done: the kick, the device, its notification and the
# interrupt) and the guest's own work (everything else), per phase and per
# request type. docs/architecture.md ("Where a round trip goes") has what
# it showed. RUNS=N (default 3) samples a point.
#
# FLAVOUR=bench (kvm/bench.config: the function graph tracer) also times
# the functions that one ioctl calls, for virtio-hmm's vhmm_fops_ioctl()
# and test_hmm's dmirror_fops_unlocked_ioctl() side by side, on one vCPU
# (a task that sleeps may wake on another vCPU, which the graph cannot
# follow): where the guest's share goes, and what test_hmm pays for the
# same migration.
set -euo pipefail
STEP=profile
. "$(dirname "$0")/common.sh"

RUNS=${RUNS:-3}
log=$BUILD/logs/profile.log
mkdir -p "$BUILD/logs"
# shellcheck disable=SC2016 # expanded in the guest
cmd='T=/sys/kernel/tracing
[ -e $T/events ] || mount -t tracefs nodev $T
modprobe virtio_hmm
echo 16384 >$T/buffer_size_kb
for e in vhmm_req_submit vhmm_req_done vhmm_req_wake; do echo 1 >$T/events/virtio_hmm/$e/enable; done
phase() {
	echo 0 >$T/tracing_on; echo >$T/trace; echo 1 >$T/tracing_on
	hmm-bench -m -r '"$RUNS"' "$@" virtio-hmm=/dev/virtio_hmm0 >/dev/null || exit 1
	echo 0 >$T/tracing_on
	echo "=== phase $*"; cat $T/trace
}
graph() {
	echo 0 >$T/tracing_on; echo nop >$T/current_tracer; echo >$T/trace
	echo vhmm_fops_ioctl >$T/set_graph_function || exit 1
	echo 6 >$T/max_graph_depth
	echo 0 >$T/options/funcgraph-irqs; echo 1 >$T/options/funcgraph-tail
	echo function_graph >$T/current_tracer; echo 1 >$T/tracing_on
	hmm-bench -r '"$RUNS"' "$@" virtio-hmm=/dev/virtio_hmm0 >/dev/null || exit 1
	echo 0 >$T/tracing_on
	echo "=== graph $*"; cat $T/trace
	echo nop >$T/current_tracer
}
phase -t roundtrip
phase -t migrate -s 65536
phase -t migrate -s 2097152'
smp=2
if [ "$FLAVOUR" = bench ]; then
	smp=1
	# shellcheck disable=SC2016 # expanded in the guest
	cmd="$cmd"'
graph -t migrate -s 65536
graph -t migrate -s 2097152
graph -t roundtrip'
fi
log "one guest, hmm-bench -m on virtio-hmm with the request events traced${FLAVOUR:+, kernel flavour $FLAVOUR} (log $log)"
"$TOP/kvm/run-vm" --quiet --timeout 1800 --mem 2G --smp "$smp" --hmm mode=private,vram-size=256M --log "$log" -- "$cmd"
"$TOP/scripts/profile-report.py" "$log.out"
