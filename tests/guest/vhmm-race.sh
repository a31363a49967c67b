#!/bin/sh
# The race test (vhmm-race): two processes x three threads on the same 32
# pages each, on a private and a coherent device, as TAP. VHMM_RACE_TIME
# seconds (default 40) on the private device, half of that on the coherent
# one; `make stress` runs it longer (scripts/stress.sh).
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
t=${VHMM_RACE_TIME:-40}
echo "TAP version 13"
echo "1..2"
n=0
run() {
	name=$1; shift
	n=$((n + 1))
	if vhmm-race "$@"; then
		echo "ok $n $name: 0 wrong words"
	else
		echo "not ok $n $name: wrong words or errors (above)"
	fi
}
run private -m private -t "$t" -p 2 -T 3 -n 32
run coherent -m coherent -t $((t / 2 + 1)) -p 2 -T 3 -n 32
