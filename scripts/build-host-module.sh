#!/bin/bash
# Build the host module (host-module/, vhmm_host.ko) for a kernel of your
# own, the one QEMU with backend=host will run on: by default the running
# kernel, through its headers. scripts/check-host-kernel.sh first checks
# that the kernel has the options the module needs.
#
# usage: build-host-module.sh [--install] [KDIR]
#   KDIR       the kernel's build tree (default /lib/modules/$(uname -r)/build)
#   --install  then install it (make modules_install, which runs depmod:
#              /lib/modules/RELEASE/extra/vhmm_host.ko, under
#              $INSTALL_MOD_PATH if set), so that `modprobe vhmm_host`
#              finds it
#
# The module is built in build/host-module/RELEASE/ (a copy of
# host-module/, so the source tree stays clean); the last line printed is
# the path of the .ko.
set -euo pipefail
STEP=host-module
. "$(dirname "$0")/common.sh"

install=0
if [ "${1:-}" = --install ]; then
	install=1
	shift
fi
case "${1:-}" in
-h|--help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
-*) die "unknown option $1 (--help)" ;;
esac
kdir=${1:-/lib/modules/$(uname -r)/build}

"$TOP/scripts/check-host-kernel.sh" "$kdir" || exit 1
[ -f "$kdir/include/config/kernel.release" ] && [ -f "$kdir/Module.symvers" ] ||
	die "$kdir is configured but not prepared for modules: run 'make modules_prepare' (or build the kernel) there"
release=$(cat "$kdir/include/config/kernel.release")
work=$BUILD/host-module/$release
mkdir -p "$work"
rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
	--exclude='.*.cmd' --exclude='Module.symvers' --exclude='modules.order' \
	"$TOP/host-module/" "$work/"
log "building vhmm_host.ko for $release against $kdir"
make -s -C "$kdir" M="$work" VHMM_INCLUDE="$TOP/include" -j"$JOBS" modules
if [ $install -eq 1 ]; then
	make -s -C "$kdir" M="$work" ${INSTALL_MOD_PATH:+INSTALL_MOD_PATH="$INSTALL_MOD_PATH"} \
		modules_install
	log "installed; load it with: modprobe vhmm_host"
fi
echo "$work/vhmm_host.ko"
