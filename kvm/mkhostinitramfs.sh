#!/bin/bash
# Build the initramfs of a "host" VM (L1): the guest initramfs plus our
# QEMU, its shared libraries and firmware, the qtest binary, and an L2
# guest (kernel + initramfs) with the in-L1 launcher run-l2. The kernel
# reads concatenated cpio archives, so this is the guest cpio followed by a
# second one with the payload.
#
# usage: mkhostinitramfs.sh [OUTPUT.cpio]   (default build/host-initramfs.cpio)
set -euo pipefail
STEP=host-initramfs
. "$(dirname "$0")/../scripts/common.sh"

case "${1:-}" in
-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
-*) echo "mkhostinitramfs.sh: unknown option $1 (usage: mkhostinitramfs.sh [OUTPUT.cpio])" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "mkhostinitramfs.sh: one OUTPUT at most" >&2; exit 2; }
output=${1:-$BUILD/host-initramfs.cpio}
[ -f "$INITRAMFS" ] || die "$INITRAMFS missing; run 'make'"
root=$(mktemp -d "$BUILD/host-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/local/bin,l2,usr/share/seabios,usr/share/qemu}

bins=("$BUILD/qemu/qemu-system-x86_64")
[ -x "$BUILD/qemu/tests/qtest/qos-test" ] && bins+=("$BUILD/qemu/tests/qtest/qos-test")
for b in "${bins[@]}"; do
	strip --strip-unneeded -o "$root/usr/local/bin/${b##*/}" "$b"
	# shared libraries, at the paths the dynamic linker looks for them
	for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
		mkdir -p "$root/$(dirname "$lib")"
		cp -L "$lib" "$root/$lib"
	done
done
cp /usr/share/seabios/bios-256k.bin "$root/usr/share/seabios/"
cp /usr/share/qemu/{linuxboot_dma.bin,kvmvapic.bin} "$root/usr/share/qemu/"
cp "$KOUT/arch/x86/boot/bzImage" "$root/l2/bzImage"
cp "$INITRAMFS" "$root/l2/initramfs.cpio"
install -m 0755 "$TOP/tests/host/run-l2.sh" "$root/usr/local/bin/run-l2"
# the host-side test scripts (the host module's test binary comes with the
# guest cpio, from build/guest-bin/); user-kernel-build.sh runs on the
# build machine
for f in "$TOP"/tests/host/*.sh; do
	case "${f##*/}" in
	run-l2.sh|user-kernel-build.sh) ;;
	*) install -m 0755 "$f" "$root/usr/local/bin/" ;;
	esac
done

(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) >"$root.payload"
cat "$INITRAMFS" "$root.payload" >"$root.cpio"
rm -f "$root.payload"
mv "$root.cpio" "$output"
log "$output ($(du -h "$output" | cut -f1))"
