#!/bin/bash
# make fuzz: the structure-aware virtio-hmm fuzzer (libFuzzer with ASan and
# UBSan; qemu-device/tests/fuzz/virtio_hmm_fuzz.c) against a mode=private
# and a mode=coherent device: fuzzer bytes become well-formed chains of
# every request and job, with invalid values, odd descriptor layouts, MMIO
# and device-BAR addresses, queue and device resets interleaved.
#
#   FUZZ_TIME=600                 seconds of fuzzing
#   FUZZ_TARGET=virtio-hmm-reset-fuzz
#                                 or virtio-hmm-fuzz (fork per input:
#                                 isolated, about 10x slower), or
#                                 generic-fuzz (QEMU's generic fuzzer on the
#                                 same two devices' registers and memory)
#   FUZZ_GENERIC_TIME=0           seconds of generic-fuzz afterwards
#
# First the kept inputs of tests/fuzz/regressions/ (each once a crash or a
# hang; the fuzz target is the first part of the name) are replayed, then the
# fuzzer starts from build/fuzz/corpus-TARGET plus the seeds that
# tests/fuzz/gen-seeds.py writes from the qtests' scenarios.  Afterwards the
# corpus is replayed once through the fork-based target, so an input whose
# effect depends on an earlier input of the no-fork target shows too.  A
# crash or hang input lands in build/fuzz/: make it a qtest and a file in
# tests/fuzz/regressions/ with the fix.  The last line gives executions,
# executions per second, corpus size and crashes; the exit status is
# non-zero on any crash.
set -euo pipefail
STEP=fuzz
. "$(dirname "$0")/common.sh"

bin=$BUILD/qemu-fuzz/qemu-fuzz-x86_64
[ -x "$bin" ] || die "$bin missing; run scripts/build-fuzz.sh"
FUZZ_TIME=${FUZZ_TIME:-600}
FUZZ_TARGET=${FUZZ_TARGET:-virtio-hmm-reset-fuzz}
FUZZ_GENERIC_TIME=${FUZZ_GENERIC_TIME:-0}
out=$BUILD/fuzz
mkdir -p "$out"

# quarantine_size_mb: ASan keeps freed memory for a while; the no-fork
# target frees a lot per input
export ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=64
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
# generic-fuzz: its machine; the virtio-hmm targets build theirs
export QEMU_FUZZ_ARGS="-L /usr/share/seabios -L /usr/share/qemu -nodefaults -nic none \
 -device virtio-hmm-pci,vram-size=4M -device virtio-hmm-pci,mode=coherent,vram-size=4M"
export QEMU_FUZZ_OBJECTS="virtio*"

# replay TARGET LOG FILE...: run the inputs once each
replay() {
	local target=$1 logf=$2; shift 2
	"$bin" --fuzz-target="$target" -timeout=60 "$@" >"$logf" 2>&1
}

# crash_files: the artifacts libFuzzer wrote (the fork-based target keeps
# going after a child's crash, so the files are what counts)
crash_files() {
	find "$out" -maxdepth 1 -type f \( -name '*crash-*' -o -name '*timeout-*' \
		-o -name '*oom-*' -o -name '*leak-*' \) -newer "$out/.start" 2>/dev/null
}

touch "$out/.start"
shopt -s nullglob
kept=("$TOP"/tests/fuzz/regressions/*)
if [ ${#kept[@]} -gt 0 ]; then
	log "replaying ${#kept[@]} kept inputs"
	for f in "${kept[@]}"; do
		target=$(basename "$f" | sed -E 's/^(virtio-hmm-reset-fuzz|virtio-hmm-fuzz|generic-fuzz)-.*/\1/')
		[ "$target" != "$(basename "$f")" ] || die "$f: the name must start with its fuzz target"
		replay "$target" "$out/regressions.log" -artifact_prefix="$out/regression-" "$f" ||
			{ tail -n 40 "$out/regressions.log"; die "a kept input fails again: $f (log $out/regressions.log)"; }
		[ -z "$(crash_files)" ] ||
			{ tail -n 40 "$out/regressions.log"; die "a kept input fails again: $f (log $out/regressions.log)"; }
	done
fi

corpus=$out/corpus-$FUZZ_TARGET
seeds=$out/seeds
mkdir -p "$corpus"
rm -rf "$seeds"
python3 "$TOP/tests/fuzz/gen-seeds.py" "$seeds"
dirs=("$corpus")
[[ $FUZZ_TARGET == virtio-hmm-* ]] && dirs+=("$seeds")

log "$FUZZ_TARGET for ${FUZZ_TIME}s (log $out/fuzz.log; load: $(cut -d' ' -f1-3 /proc/loadavg))"
rc=0
"$bin" --fuzz-target="$FUZZ_TARGET" -max_total_time="$FUZZ_TIME" -timeout=60 \
	-artifact_prefix="$out/" -print_final_stats=1 "${dirs[@]}" >"$out/fuzz.log" 2>&1 || rc=$?
execs=$(grep -E '^stat::number_of_executed_units' "$out/fuzz.log" | tail -n 1 | sed 's/.*: *//')
speed=$(grep -E '^stat::average_exec_per_sec' "$out/fuzz.log" | tail -n 1 | sed 's/.*: *//')
cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov:' "$out/fuzz.log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 edges, \2 features/')
nfiles=$(find "$corpus" -type f | wc -l)

if [[ $FUZZ_TARGET == virtio-hmm-reset-fuzz ]] && [ "$rc" -eq 0 ]; then
	log "replaying the corpus through virtio-hmm-fuzz (fork per input)"
	replay virtio-hmm-fuzz "$out/corpus-replay.log" -artifact_prefix="$out/" \
		-runs=0 "$corpus" || rc=$?
fi
if [ "$FUZZ_GENERIC_TIME" -gt 0 ] && [ "$rc" -eq 0 ] && [ -z "$(crash_files)" ]; then
	log "generic-fuzz for ${FUZZ_GENERIC_TIME}s (log $out/generic.log)"
	mkdir -p "$out/corpus-generic-fuzz"
	"$bin" --fuzz-target=generic-fuzz -max_total_time="$FUZZ_GENERIC_TIME" -timeout=60 \
		-artifact_prefix="$out/" -print_final_stats=1 "$out/corpus-generic-fuzz" \
		>"$out/generic.log" 2>&1 || rc=$?
fi

crashes=$(crash_files | wc -l)
summary="$FUZZ_TARGET: ${execs:-0} executions in ${FUZZ_TIME}s (${speed:-0}/s), corpus $nfiles inputs, ${cov:-no coverage line}, $crashes crashes"
if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
	grep -hE 'ERROR|SUMMARY|did not settle|Test unit written|runtime error' \
		"$out"/fuzz.log "$out"/corpus-replay.log "$out"/generic.log 2>/dev/null | head -n 20 || true
	crash_files
	log "$summary"
	die "the fuzzer found a failure; logs in $out"
fi
log "$summary"
