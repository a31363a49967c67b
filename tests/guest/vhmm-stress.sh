#!/bin/sh
# The stress test (vhmm-stress) on each kind of device, as TAP: private
# memory for VHMM_STRESS_TIME seconds (default 25), coherent memory for
# a third of that. `make stress` runs it for longer (scripts/stress.sh).
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
t=${VHMM_STRESS_TIME:-25}
echo "TAP version 13"
echo "1..2"
n=0
failed=0
run() {
	name=$1; shift
	n=$((n + 1))
	if vhmm-stress "$@"; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=1
	fi
}
run private -m private -t "$t" -p 3 -T 3
run coherent -m coherent -t $((t / 3 + 1)) -p 2 -T 3
# non-zero when a run failed: scripts/stress.sh reports it
exit $failed
