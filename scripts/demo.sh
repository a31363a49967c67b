#!/bin/bash
# make demo: boot a guest with two virtio-hmm devices and show them working.
# make shell (demo.sh --shell): the same guest, driver loaded, with a shell
# on the console instead of the demo.
#
# LOGDIR (default build/logs) is where the console log goes; make check's
# demo layer points it at a folder that does not exist yet, as on a fresh
# clone.
set -euo pipefail
STEP=demo
. "$(dirname "$0")/common.sh"
LOGDIR=${LOGDIR:-$BUILD/logs}

devs=()
if "$BUILD/qemu/qemu-system-x86_64" -device help 2>/dev/null | grep -q '"virtio-hmm-pci"'; then
	devs=(--hmm "" --hmm "")
else
	log "this QEMU has no virtio-hmm-pci device yet: booting without it"
fi
if [ "${1:-}" = --shell ]; then
	log "booting a guest (TCG) with a shell; 'exit' powers it off, Ctrl-A X quits QEMU"
	exec "$TOP/kvm/run-vm" --interactive "${devs[@]}" -- \
		'modprobe virtio_hmm && vhmm list'
fi
log "booting a guest (TCG); console log in $LOGDIR/demo.log"
exec "$TOP/kvm/run-vm" --log "$LOGDIR/demo.log" "${devs[@]}" -- demo.sh
