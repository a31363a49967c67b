#!/bin/sh
# The kernel's unmodified hmm-tests against virtio-hmm: boot with two
# private and two coherent devices (see suites). HMM_TESTS names another
# build of it (hmm-tests-nested: a longer per-test timeout, for L2).
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
# anon_write_hugetlbfs and hmm_cow_in_device want huge pages
echo 16 >/proc/sys/vm/nr_hugepages
exec "${HMM_TESTS:-hmm-tests}"
