#!/bin/sh
# Baseline: the kernel's own hmm-tests against the kernel's own test_hmm.ko.
# Proves that the guest kernel config and the rig are sound.
#
# test_hmm's device-coherent mirrors (hmm_dmirror2, 3) need 256 MiB each of
# reserved physical memory: boot with "memmap=256M!ADDR" twice and the two
# ADDRs become spm_addr_dev0/1. Without them those variants skip.
#
# VHMM_INJECT (test-only): "fail" skips loading test_hmm so that hmm-tests
# fails, "hang" never returns, "panic" crashes the guest kernel.
spm=
n=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	memmap=256M!*) spm="$spm spm_addr_dev$n=${arg#memmap=256M!}"; n=$((n + 1)) ;;
	esac
done

case "${VHMM_INJECT:-}" in
hang) echo "injected hang"; while :; do sleep 1000; done ;;
panic) echo "injected panic"; echo c >/proc/sysrq-trigger ;;
fail) echo "injected failure: test_hmm not loaded" ;;
*) modprobe test_hmm $spm || exit 1 ;;
esac
# anon_write_hugetlbfs and hmm_cow_in_device want huge pages
echo 16 >/proc/sys/vm/nr_hugepages
exec hmm-tests
