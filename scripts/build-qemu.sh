#!/bin/bash
# Build QEMU 7.2 (Debian's patched source) with the virtio-hmm device.
#
# The source is fetched with `apt-get source qemu` into build/src/qemu/ and
# reused while Debian's version is unchanged. qemu-device/integrate.sh adds
# the device, then an out-of-tree build in build/qemu/ is configured once
# and rebuilt incrementally by ninja.
set -euo pipefail
STEP=qemu
. "$(dirname "$0")/common.sh"
lock qemu

dl=$SRC/qemu
out=$BUILD/qemu
mkdir -p "$dl" "$out"

# Which Debian version would apt fetch? (empty when offline: keep the cache)
want=$(cd "$dl" && apt-get source --print-uris qemu 2>/dev/null |
	sed -n "s/.* qemu_\([^ ]*\)\.dsc .*/\1/p" | head -n 1)
have=$(cat "$dl/.version" 2>/dev/null || true)
tree=$(ls -d "$dl"/qemu-*/ 2>/dev/null | head -n 1 || true)

if [ -z "$tree" ] || { [ -n "$want" ] && [ "$want" != "$have" ]; }; then
	[ -n "$want" ] || die "cannot ask apt for the qemu source; run 'make deps' (needs deb-src)"
	log "fetching Debian qemu $want source"
	rm -rf "$dl" "$out"
	mkdir -p "$dl" "$out"
	(cd "$dl" && run_logged "$dl/apt-source.log" apt-get source -q qemu)
	echo "$want" >"$dl/.version"
	tree=$(ls -d "$dl"/qemu-*/ | head -n 1)
fi
tree=${tree%/}

"$TOP/qemu-device/integrate.sh" "$tree"

CONFIGURE_FLAGS=(
	--target-list=x86_64-softmmu
	--without-default-features
	--enable-kvm --enable-fdt=system
	# kvm/run-vm --share: virtio-9p (needs libcap-ng-dev; xattrs from glibc)
	--enable-virtfs --enable-attr --enable-cap-ng
	--disable-docs --disable-werror --disable-user --disable-install-blobs
)
if [ ! -f "$out/build.ninja" ] || [ "$(cat "$out/.configure-flags" 2>/dev/null)" != "${CONFIGURE_FLAGS[*]}" ]; then
	log "configuring (log: $out/configure.log)"
	(cd "$out" && run_logged "$out/configure.log" "$tree/configure" \
		--meson=/usr/bin/meson "${CONFIGURE_FLAGS[@]}")
	echo "${CONFIGURE_FLAGS[*]}" >"$out/.configure-flags"
fi

log "ninja (log: $out/ninja.log)"
targets=(qemu-system-x86_64)
[ -e "$tree/tests/qtest/virtio-hmm" ] && targets+=(tests/qtest/qos-test)
(cd "$out" && run_logged "$out/ninja.log" ninja -j"$JOBS" "${targets[@]}")
log "$(grep -cE '^\[[0-9]+/' "$out/ninja.log" || true) build steps; $out/qemu-system-x86_64"
