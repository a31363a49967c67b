#!/bin/bash
# Build the 6.1 guest kernel from Debian's linux-source-6.1.
#
# tinyconfig + kvm/guest.config, built out of tree in build/linux/. The source is unpacked once per Debian
# version; the kernel is rebuilt only when the version or a fragment changes.
#
# FLAVOUR=debug adds kvm/debug.config and builds into build/linux-debug.
set -euo pipefail
STEP=kernel
. "$(dirname "$0")/common.sh"
lock kernel$FLAVOUR

out=$KOUT
fragments=("$TOP/kvm/guest.config")
[ -z "$FLAVOUR" ] || fragments+=("$TOP/kvm/$FLAVOUR.config")
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || die "$tarball missing; run 'make deps'"

want=$(dpkg-query -W -f='${Version}' linux-source-6.1)
ksrc=$SRC/linux/linux-source-6.1
if [ "$(cat "$SRC/linux/.version" 2>/dev/null)" != "$want" ]; then
	log "unpacking linux-source-6.1 $want"
	rm -rf "$SRC/linux"
	mkdir -p "$SRC/linux"
	run_logged "$SRC/linux/tar.log" tar -C "$SRC/linux" -xJf "$tarball"
	echo "$want" >"$SRC/linux/.version"
fi

stamp="$want $(cat "${fragments[@]}" | sha256sum | cut -c1-16)"
if [ -f "$out/arch/x86/boot/bzImage" ] && [ "$(cat "$out/.vhmm-stamp" 2>/dev/null)" = "$stamp" ]; then
	log "up to date: $out/arch/x86/boot/bzImage"
	exit 0
fi

mkdir -p "$out"
log "configuring: tinyconfig + ${fragments[*]##*/}"
make -s -C "$ksrc" O="$out" tinyconfig >/dev/null
"$ksrc/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}" >"$out/merge.log"
make -s -C "$ksrc" O="$out" olddefconfig >/dev/null

# A symbol whose dependencies are not met is dropped silently by Kconfig
# (TEST_HMM without RUNTIME_TESTING_MENU, for one). Refuse such a config.
# A later fragment overrides an earlier one ("# CONFIG_X is not set" too).
bad=0
declare -A want=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) want[${line%%=*}]=$line ;;
	"# CONFIG_"*" is not set") line=${line#\# }; unset "want[${line%% *}]" ;;
	esac
done < <(cat "${fragments[@]}")
for sym in "${!want[@]}"; do
	line=${want[$sym]}
	grep -qxF "$line" "$out/.config" || { echo "  wanted $line, got: $(grep "^$sym=" "$out/.config" || echo 'not set')" >&2; bad=1; }
done
[ $bad -eq 0 ] || die "kernel config does not hold the fragment (see above)"

log "building bzImage and modules (log: $out/build.log)"
run_logged "$out/build.log" make -C "$ksrc" O="$out" -j"$JOBS" bzImage modules
rm -rf "$out/staging"
make -s -C "$ksrc" O="$out" INSTALL_MOD_PATH="$out/staging" modules_install >/dev/null
make -s -C "$ksrc" O="$out" INSTALL_HDR_PATH="$out/staging/usr" headers_install >/dev/null
echo "$stamp" >"$out/.vhmm-stamp"
log "built $(cat "$out/include/config/kernel.release"): $out/arch/x86/boot/bzImage"
