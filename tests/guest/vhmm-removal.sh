#!/bin/sh
# Removal in the middle of the stress test (vhmm-stress -r), as TAP:
# rmmod is refused while processes hold the device open; the driver is
# unbound and bound again twice (a virtio reset each time) while they
# run: every page comes back to system memory with its data, the
# processes go on (their ioctls fail with ENODEV meanwhile, their CPU
# accesses see the right data) and reopen the device when it is back;
# the PCI device is then removed and found again by a rescan, which
# frees the virtio device under the open files (unbind keeps it): with
# KASAN (make check-debug) any use of it after remove is a report; once
# they are gone, rmmod unloads the driver.
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
echo "TAP version 13"
echo "1..9"
n=0
t() {	# t STATUS NAME
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; fi
}
drv=/sys/bus/virtio/drivers/virtio_hmm
dev=$(basename "$(readlink /sys/class/virtio_hmm/virtio_hmm0/device)")
secs=${VHMM_STRESS_TIME:-40}
echo "# device virtio_hmm0 is $dev; stress for $secs s"

vhmm-stress -r -d 0 -t "$secs" -p 2 -T 3 >/tmp/stress.out 2>&1 &
pid=$!
sleep $((secs / 5))

rmmod virtio_hmm 2>/tmp/rmmod.err
rc=$?
sed 's/^/# /' /tmp/rmmod.err
[ $rc -ne 0 ] && [ -d /sys/module/virtio_hmm ]
t $? "rmmod refused while the device is open"

unbind_bind() {	# unbind, check the device is gone, bind after $1 s
	echo "$dev" >"$drv/unbind" && [ ! -e /sys/class/virtio_hmm/virtio_hmm0 ]
	t $? "unbind $2"
	sleep "$1"
	echo "$dev" >"$drv/bind" && [ -e /sys/class/virtio_hmm/virtio_hmm0 ]
	t $? "bind $2"
}
sleep $((secs / 8))
unbind_bind $((secs / 8)) "mid-stress"
sleep $((secs / 8))
unbind_bind 0 "mid-stress, at once"

# the PCI function behind the virtio device, and back by a rescan
sleep $((secs / 8))
pci=$(basename "$(dirname "$(readlink -f /sys/class/virtio_hmm/virtio_hmm0/device)")")
echo 1 >"/sys/bus/pci/devices/$pci/remove" &&
	[ ! -e "/sys/bus/pci/devices/$pci" ] &&
	[ ! -e /sys/class/virtio_hmm/virtio_hmm0 ]
t $? "PCI remove of $pci mid-stress"
sleep $((secs / 10))
echo 1 >/sys/bus/pci/rescan && [ -e /sys/class/virtio_hmm/virtio_hmm0 ]
t $? "PCI rescan finds the device again"

wait $pid
rc=$?
cat /tmp/stress.out
enodev=$(sed -n 's/^# expected ENODEV (device gone): \([0-9]*\),.*/\1/p' /tmp/stress.out)
echo "# stress exit status $rc, ENODEV seen ${enodev:-none}"
[ $rc -eq 0 ] && [ "${enodev:-0}" -gt 0 ]
t $? "stress through removals: no mismatch, only ENODEV"

rmmod virtio_hmm && [ ! -d /sys/module/virtio_hmm ] && modprobe virtio_hmm
t $? "rmmod once the device is closed"
