#!/bin/sh
# In-guest part of `make demo`: show what the guest sees.
echo "== guest kernel"
uname -a
echo "== HMM support in this kernel"
zcat /proc/config.gz | grep -E '^CONFIG_(ZONE_DEVICE|DEVICE_PRIVATE|HMM_MIRROR|TEST_HMM)=' | sed 's/^/  /'
echo "== PCI devices (vendor:device class)"
for d in /sys/bus/pci/devices/*; do
	echo "  ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class")"
done
echo "== virtio devices"
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d" ] || { echo "  none"; break; }
	echo "  ${d##*/}: virtio device id $(cat "$d/device")"
done
echo "== memory"
head -n 3 /proc/meminfo
