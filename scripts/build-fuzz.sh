#!/bin/bash
# Build QEMU's libFuzzer target (qemu-fuzz-x86_64) with clang, ASan and
# UBSan, from the same integrated source tree as build/qemu, into
# build/qemu-fuzz/. Incremental like build-qemu.sh.
set -euo pipefail
STEP=fuzz-build
. "$(dirname "$0")/common.sh"
lock qemu-fuzz

tree=$(ls -d "$SRC"/qemu/qemu-*/ 2>/dev/null | head -n 1)
[ -n "$tree" ] || die "no QEMU source yet; run 'make qemu' first"
tree=${tree%/}
"$TOP/qemu-device/integrate.sh" "$tree"

out=$BUILD/qemu-fuzz
mkdir -p "$out"
FLAGS=(
	--cc=clang --cxx=clang++ --enable-fuzzing --enable-sanitizers
	--target-list=x86_64-softmmu --without-default-features
	--enable-fdt=system --disable-docs --disable-werror --disable-user
	--disable-install-blobs
)
if [ ! -f "$out/build.ninja" ] || [ "$(cat "$out/.configure-flags" 2>/dev/null)" != "${FLAGS[*]}" ]; then
	log "configuring (log: $out/configure.log)"
	(cd "$out" && run_logged "$out/configure.log" "$tree/configure" --meson=/usr/bin/meson "${FLAGS[@]}")
	echo "${FLAGS[*]}" >"$out/.configure-flags"
fi
log "ninja qemu-fuzz-x86_64 (log: $out/ninja.log)"
(cd "$out" && run_logged "$out/ninja.log" ninja -j"$JOBS" qemu-fuzz-x86_64)
log "$out/qemu-fuzz-x86_64"
