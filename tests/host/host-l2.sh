#!/bin/sh
# In the host VM (L1): boot an L2 guest under TCG whose two private
# virtio-hmm devices use backend=host, run the kernel's hmm-tests in it
# (tests/guest/hmm-vhmm.sh), sample the L2 QEMU's VmPin meanwhile, then
# check that nothing is left in the host module and that it unloads.
# backend=host serves private device memory only; the two coherent devices
# that hmm-tests' device_coherent variants use keep device memory in QEMU's
# RAM, so that the whole upstream suite runs in L2, as in L1. The suite is
# hmm-tests-nested: the same source with a 150 s per-test timeout instead
# of 30 s (tests/lib/nested_timeout.h), as nested TCG is that much slower.
# TAP: hmm-tests', then this script's own plan.
. /usr/local/bin/host-lib.sh
modprobe vhmm_host || exit 1
vmpin_watch /tmp/vmpin &
watcher=$!
run-l2 --mem 1G --timeout "${L2_TIMEOUT:-1500}" \
	--hmm mode=private,backend=host --hmm mode=private,backend=host \
	--hmm mode=coherent,vram-size=64M --hmm mode=coherent,vram-size=64M \
	-- HMM_TESTS=hmm-tests-nested hmm-vhmm.sh
rc=$?
kill $watcher
wait $watcher 2>/dev/null
echo "# host module after L2:"
sed 's/^/#   /' "$STATS"
echo "1..4"
vmpin_report 1 /tmp/vmpin l2
# the device really used host device memory
moved=$(hstat migrated_to_device) copies=$(hstat copies)
if [ "$moved" -gt 0 ] && [ "$copies" -gt 0 ]; then
	echo "ok 2 l2-used-host-module # $moved pages moved to device memory, $copies copies"
else
	echo "not ok 2 l2-used-host-module"
fi
no_leak 3 l2
unload 4
exit $rc
