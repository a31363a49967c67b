#!/bin/bash
# make demo: boot a guest with two virtio-hmm devices and show them working.
set -euo pipefail
STEP=demo
. "$(dirname "$0")/common.sh"

devs=()
if "$BUILD/qemu/qemu-system-x86_64" -device help 2>/dev/null | grep -q '"virtio-hmm-pci"'; then
	devs=(--hmm "" --hmm "")
else
	log "this QEMU has no virtio-hmm-pci device yet: booting without it"
fi
log "booting a guest (TCG); console log in $BUILD/logs/demo.log"
exec "$TOP/kvm/run-vm" --log "$BUILD/logs/demo.log" "${devs[@]}" -- demo.sh
