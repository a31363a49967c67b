#!/bin/bash
# Build the static programs that run inside the guest: the kernel's own
# hmm-tests (from the same linux-source as the guest kernel) and the
# project's guest test programs (tests/guest/*.c, kselftest harness),
# benchmarks (tests/bench/*.c) and host-module tests (tests/host/*.c, run
# in the host VM, whose initramfs includes the guest one).
set -euo pipefail
STEP=guest-bin
. "$(dirname "$0")/common.sh"
lock guest-bin

ksrc=$SRC/linux/linux-source-6.1
khdr=$BUILD/linux/staging/usr/include
out=$BUILD/guest-bin
mkdir -p "$out"
CC=${CC:-gcc}
CFLAGS=(-static -O2 -g -Wall -I "$khdr")
# libvhmm (scripts/build-lib.sh), linked after each program's source
LIBVHMM=$BUILD/lib/libvhmm.a
[ -f "$LIBVHMM" ] || die "$LIBVHMM missing; run 'make lib'"

# stale OUTPUT SOURCE: true when OUTPUT is missing or older than a file it
# was built from, or was built from another SOURCE (a build/ copied from
# another checkout: its .d files name that checkout's files)
stale() {
	[ -f "$1" ] && [ -f "$1.d" ] || return 0
	[ "$LIBVHMM" -nt "$1" ] && return 0
	grep -qF "$2" "$1.d" || return 0
	local f
	for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$1.d"); do
		[ "$f" -nt "$1" ] && return 0
	done
	return 1
}

# build OUTPUT SOURCE [extra flags...]
build() {
	local output=$1 source=$2; shift 2
	stale "$output" "$source" || return 0
	log "cc ${source#"$TOP"/}"
	$CC "${CFLAGS[@]}" -MMD -MF "$output.d" "$@" "$source" "$LIBVHMM" -lrt -lpthread -o "$output"
}

# upstream selftest, unmodified: it includes <lib/test_hmm_uapi.h> and
# <mm/gup_test.h> relative to the top of the kernel tree
build "$out/hmm-tests" "$ksrc/tools/testing/selftests/vm/hmm-tests.c" -I "$ksrc"
# the same source for the nested (L2) run, with a longer per-test timeout
# (tests/lib/nested_timeout.h says why)
build "$out/hmm-tests-nested" "$ksrc/tools/testing/selftests/vm/hmm-tests.c" -I "$ksrc" \
	-I "$ksrc/tools/testing/selftests" -include "$TOP/tests/lib/nested_timeout.h"

# the vhmm CLI (tools/vhmm/), static, for the initramfs
build "$out/vhmm" "$TOP/tools/vhmm/vhmm.c" -I "$TOP/include" -Wno-unused-parameter

for src in "$TOP"/tests/guest/*.c "$TOP"/tests/bench/*.c "$TOP"/tests/host/*.c; do
	[ -e "$src" ] || continue
	build "$out/$(basename "$src" .c)" "$src" -I "$TOP/include" -I "$TOP/tests/lib" -I "$ksrc/tools/testing/selftests"
done
