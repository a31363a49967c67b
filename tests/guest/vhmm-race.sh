#!/bin/sh
# The race test (tests/guest/vhmm-race.c) as TAP: two processes, three
# threads each, racing on the same 32 pages of each process (issue 13's
# reproduction), on a private device for VHMM_RACE_TIME seconds (default
# 40) and on a coherent one for half of that. `make stress` runs it for
# STRESS_TIME (scripts/stress.sh).
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
t=${VHMM_RACE_TIME:-40}
echo "TAP version 13"
echo "1..2"
n=0
failed=0
run() {
	name=$1; shift
	n=$((n + 1))
	if vhmm-race "$@"; then
		echo "ok $n race-$name"
	else
		echo "not ok $n race-$name"
		failed=1
		# the driver's and the device's counters, for the report
		for f in /sys/kernel/debug/virtio_hmm/*/stats \
			 /sys/kernel/debug/virtio_hmm/*/device_stats; do
			[ -r "$f" ] && sed "s|^|# ${f#/sys/kernel/debug/virtio_hmm/}: |" "$f"
		done
	fi
}
run private -m private -t "$t" -p 2 -T 3 -n 32
run coherent -m coherent -t $((t / 2 + 1)) -p 2 -T 3 -n 32
# non-zero when a run failed: scripts/stress.sh reports it
exit $failed
