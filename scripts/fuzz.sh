#!/bin/bash
# make fuzz: QEMU's generic fuzzer (libFuzzer with ASan and UBSan) against
# a private and a coherent virtio-hmm device: it writes fuzzer bytes to the
# devices' PCI/virtio registers and into guest memory that the devices
# read (rings, descriptors, requests).
#
# The kept inputs in tests/fuzz/regressions/ (each once a crash or a hang)
# are replayed first; then the fuzzer runs FUZZ_TIME seconds (default 600).
# A new crash input lands in build/fuzz/: add it to tests/fuzz/regressions/
# with the fix.
set -euo pipefail
STEP=fuzz
. "$(dirname "$0")/common.sh"

bin=$BUILD/qemu-fuzz/qemu-fuzz-x86_64
[ -x "$bin" ] || die "$bin missing; run scripts/build-fuzz.sh"
FUZZ_TIME=${FUZZ_TIME:-600}
out=$BUILD/fuzz
mkdir -p "$out/corpus"

export QEMU_FUZZ_ARGS="-L /usr/share/seabios -L /usr/share/qemu -nodefaults -nic none \
 -device virtio-hmm-pci,vram-size=4M -device virtio-hmm-pci,mode=coherent,vram-size=4M"
export QEMU_FUZZ_OBJECTS="virtio*"
export ASAN_OPTIONS=detect_leaks=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

regressions=("$TOP"/tests/fuzz/regressions/*)
if [ -e "${regressions[0]}" ]; then
	log "replaying ${#regressions[@]} kept inputs"
	"$bin" --fuzz-target=generic-fuzz "${regressions[@]}" >"$out/regressions.log" 2>&1 ||
		{ tail -n 40 "$out/regressions.log"; die "a kept input fails again; log $out/regressions.log"; }
fi

log "fuzzing for ${FUZZ_TIME}s (log $out/fuzz.log)"
if ! "$bin" --fuzz-target=generic-fuzz -max_total_time="$FUZZ_TIME" \
	-artifact_prefix="$out/" -print_final_stats=1 "$out/corpus" >"$out/fuzz.log" 2>&1; then
	grep -E 'ERROR|SUMMARY|Test unit written' "$out/fuzz.log" | head -n 20
	die "the fuzzer found a failure; log $out/fuzz.log"
fi
log "$(grep -E '^stat::number_of_executed_units' "$out/fuzz.log" | sed 's/.*: *//') executions, $(ls "$out/corpus" | wc -l) corpus inputs, no failure"
