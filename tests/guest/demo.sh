#!/bin/sh
# In-guest part of `make demo`: load virtio-hmm, show the devices, and run
# the shared-virtual-memory demo (vhmm-demo.c).
echo "== guest kernel"
uname -r
echo "== HMM support in this kernel"
zcat /proc/config.gz | grep -E '^CONFIG_(ZONE_DEVICE|DEVICE_PRIVATE|HMM_MIRROR)=' | sed 's/^/  /'
echo "== loading the driver"
modprobe virtio_hmm || { echo "modprobe virtio_hmm failed"; exit 1; }
dmesg | grep -E 'virtio_hmm[0-9]+:' | sed 's/^/  /'
for d in /sys/class/virtio_hmm/virtio_hmm*; do
	[ -e "$d" ] || { echo "  no virtio-hmm device"; exit 1; }
	echo "  /dev/${d##*/}: $(cat "$d/mode") device memory"
done
echo "== shared virtual memory demo"
vhmm-demo
status=$?
echo "== statistics (debugfs): the driver's, then the device's own"
for d in /sys/kernel/debug/virtio_hmm/*; do
	echo "  ${d##*/}: driver"
	sed 's/^/    /' "$d/stats"
	echo "  ${d##*/}: device"
	sed 's/^/    /' "$d/device_stats"
done
exit $status
