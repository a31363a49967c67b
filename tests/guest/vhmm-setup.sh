#!/bin/sh
# Shared guest setup for the virtio-hmm suites (sourced): load the driver
# and point /dev/hmm_dmirror0..3 at the virtio-hmm devices the way
# hmm-tests numbers test_hmm's: private devices first (0, 1), then
# coherent ones (2, 3).
vhmm_setup() {
	modprobe virtio_hmm || { echo "modprobe virtio_hmm failed"; return 1; }
	priv=0 coh=2
	for d in /sys/class/virtio_hmm/virtio_hmm*; do
		[ -e "$d" ] || { echo "no virtio-hmm device"; return 1; }
		n=${d##*/}
		case "$(cat "$d/mode")" in
		private) ln -sf "/dev/$n" "/dev/hmm_dmirror$priv"; priv=$((priv + 1)) ;;
		coherent) ln -sf "/dev/$n" "/dev/hmm_dmirror$coh"; coh=$((coh + 1)) ;;
		esac
	done
	ls -l /dev/hmm_dmirror* | sed 's/^/# /'
}
