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
phase -t roundtrip
phase -t migrate -s 65536
phase -t migrate -s 2097152'
log "one guest, hmm-bench -m on virtio-hmm with the request events traced (log $log)"
"$TOP/kvm/run-vm" --quiet --timeout 900 --mem 1G --hmm mode=private,vram-size=256M --log "$log" -- "$cmd"
"$TOP/scripts/profile-report.py" "$log.out"
