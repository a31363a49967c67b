#!/bin/bash
# Build the guest initramfs: busybox-static, kvm/init, the kernel's modules
# (test_hmm.ko) and the project's modules, hmm-tests and the project's guest
# test programs and scripts.
#
# usage: mkinitramfs.sh [OUTPUT.cpio]   (default build/initramfs.cpio, or
#        build/initramfs-debug.cpio with FLAVOUR=debug)
set -euo pipefail
STEP=initramfs
. "$(dirname "$0")/../scripts/common.sh"

case "${1:-}" in
-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
-*) echo "mkinitramfs.sh: unknown option $1 (usage: mkinitramfs.sh [OUTPUT.cpio])" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "mkinitramfs.sh: one OUTPUT at most (usage: mkinitramfs.sh [OUTPUT.cpio])" >&2; exit 2; }
output=${1:-$INITRAMFS}
kbuild=$KOUT
krel=$(cat "$kbuild/include/config/kernel.release")
root=$(mktemp -d "$BUILD/initramfs.XXXXXX")
trap 'rm -rf "$root" "$root.cpio"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,proc,sys,dev,tmp,etc,root,lib/modules}

cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$TOP/kvm/init" "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"

# kernel modules: the in-tree ones, then ours under extra/
cp -a "$kbuild/staging/lib/modules/$krel" "$root/lib/modules/"
rm -f "$root/lib/modules/$krel"/{build,source}
mkdir -p "$root/lib/modules/$krel/extra"
for ko in "$MODOUT"/*.ko; do
	[ -e "$ko" ] && cp "$ko" "$root/lib/modules/$krel/extra/"
done
depmod -b "$root" "$krel"

# test programs and scripts
for f in "$BUILD"/guest-bin/*; do
	[ -e "$f" ] && cp -a "$f" "$root/usr/local/bin/"
done
for f in "$TOP"/tests/guest/*.sh; do
	[ -e "$f" ] && install -m 0755 "$f" "$root/usr/local/bin/"
done

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) >"$root.cpio"
mv "$root.cpio" "$output"
log "$output ($(du -h "$output" | cut -f1), kernel $krel)"
