#!/bin/sh
# In the host VM (L1): the virtio-hmm qtests with backend=host, QEMU's
# VmPin sampled while they run, then no device page left and a clean
# rmmod. TAP: qos-test's, then this script's own plan.
. /usr/local/bin/host-lib.sh
modprobe vhmm_host || exit 1
qemu=$(qemu_wrapper)
vmpin_watch /tmp/vmpin &
watcher=$!
QTEST_VIRTIO_HMM_BACKEND=host QTEST_QEMU_BINARY=$qemu \
	QTEST_QEMU_STORAGE_DAEMON_BINARY=/bin/false \
	qos-test --tap -k -m quick -r /x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-hmm-pci
rc=$?
kill $watcher
wait $watcher 2>/dev/null
echo "# host module after the qtests:"
sed 's/^/#   /' "$STATS"
echo "1..3"
vmpin_report 1 /tmp/vmpin qtest
no_leak 2 qtest
unload 3
exit $rc
