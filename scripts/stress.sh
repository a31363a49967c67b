#!/bin/bash
# Long runs of the guest stress tests: tests/guest/vhmm-stress.c (every
# byte against a shadow copy) and tests/guest/vhmm-race.c (threads racing
# on the same pages, issue 13), each in one guest with a private and a
# coherent device, STRESS_TIME seconds (default 600) on the private one and
# a fraction of that on the coherent one. With FLAVOUR=debug they run on the
# KASAN/lockdep kernel. Exit status and console checks as for any guest
# suite (kvm/run-vm); non-zero when either run failed.
set -euo pipefail
STEP=stress
. "$(dirname "$0")/common.sh"

t=${STRESS_TIME:-600}
sfx=${FLAVOUR:+-$FLAVOUR}
mkdir -p "$BUILD/logs"
rc=0
log "vhmm-stress for ${t}s (+$((t / 3 + 1))s coherent), log $BUILD/logs/stress$sfx.log"
"$TOP/kvm/run-vm" --timeout $((t * 3 + 300)) \
	--log "$BUILD/logs/stress$sfx.log" --mem 1G \
	--hmm mode=private --hmm mode=coherent,vram-size=64M \
	-- "VHMM_STRESS_TIME=$t vhmm-stress.sh" || rc=1
log "vhmm-race for ${t}s (+$((t / 2 + 1))s coherent), log $BUILD/logs/stress-race$sfx.log"
"$TOP/kvm/run-vm" --timeout $((t * 3 + 300)) \
	--log "$BUILD/logs/stress-race$sfx.log" --mem 1G \
	--hmm mode=private --hmm mode=coherent,vram-size=64M \
	-- "VHMM_RACE_TIME=$t vhmm-race.sh" || rc=1
exit $rc
