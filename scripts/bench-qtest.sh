#!/bin/bash
# Host-side micro-benchmark of the QEMU virtio-hmm device's request
# handling through qtest: requests per second for MAP, UNMAP, COPY (both
# directions) and GET_STATS (the floor: qtest round trips, next to no
# device work). The "bench" qos test is registered only with -m perf, so
# scripts/check.sh qtest (-m quick) never runs it. One BENCH line a point,
# the same format as hmm-bench's; the log is build/logs/bench-qtest.log.
#
# usage: bench-qtest.sh    (RUNS=N: runs a point, default 5)
set -euo pipefail
STEP=bench-qtest
. "$(dirname "$0")/common.sh"

RUNS=${RUNS:-5}
qos=$BUILD/qemu/tests/qtest/qos-test
qemu=$BUILD/qtest/qemu-system-x86_64
log=$BUILD/logs/bench-qtest.log
test=/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-hmm-pci/virtio-hmm/virtio-hmm-tests/bench

[ -x "$qos" ] || die "no $qos: run scripts/build-qemu.sh"
# not while scripts/build-qemu.sh relinks QEMU or qos-test
lock qemu
mkdir -p "$BUILD/logs" "${qemu%/*}"
# the wrapper of layer_qtest in scripts/check.sh: Debian's firmware, no
# default NIC, and the binary's name (libqtest takes the target from it)
printf '#!/bin/sh\nexec %s -L /usr/share/seabios -L /usr/share/qemu -nic none "$@"\n' \
	"$BUILD/qemu/qemu-system-x86_64" >"$qemu"
chmod +x "$qemu"

log "qos-test -m perf, $RUNS runs a point (log $log)"
if ! VHMM_BENCH_RUNS=$RUNS QTEST_QEMU_BINARY=$qemu \
	QTEST_QEMU_STORAGE_DAEMON_BINARY=/bin/false \
	timeout 600 "$qos" --tap -m perf -p "$test" >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "the benchmark failed; full log: $log"
fi
grep -q '^BENCH ' "$log" ||
	die "no BENCH lines in $log (a qos-test without the bench test? run scripts/build-qemu.sh)"
grep '^BENCH ' "$log"
