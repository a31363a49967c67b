#!/bin/bash
# Build the out-of-tree kernel modules (guest-driver/, host-module/) against
# the guest kernel in build/linux. Each is copied to build/mod/<dir>/ first
# (mtimes kept, so kbuild stays incremental) to keep the source tree clean;
# the .ko files are collected in build/modules/ (build/modules-debug/ for
# FLAVOUR=debug).
set -euo pipefail
STEP=modules
. "$(dirname "$0")/common.sh"
lock modules$FLAVOUR

kbuild=$KOUT
mkdir -p "$MODOUT"
built=0
for dir in guest-driver host-module; do
	[ -f "$TOP/$dir/Kbuild" ] || continue
	work=$BUILD/mod${FLAVOUR:+-$FLAVOUR}/$dir
	mkdir -p "$work"
	rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' \
		--exclude='.*.cmd' --exclude='Module.symvers' --exclude='modules.order' \
		"$TOP/$dir/" "$work/"
	log "$dir"
	make -s -C "$kbuild" M="$work" VHMM_INCLUDE="$TOP/include" -j"$JOBS" modules
	cp "$work"/*.ko "$MODOUT/"
	built=$((built + 1))
done
log "$built module directories built"
