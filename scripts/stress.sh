#!/bin/bash
# A long run of the guest stress test (tests/guest/vhmm-stress.c) and of
# the race test (tests/guest/vhmm-race.c): one guest with a private and a
# coherent device, STRESS_TIME seconds (default 600) of each on the private
# one and a third (the race test: a half) of that on the coherent one. With
# FLAVOUR=debug it runs on the KASAN/lockdep kernel. Exit status and
# console checks as for any guest suite (kvm/run-vm).
set -euo pipefail
STEP=stress
. "$(dirname "$0")/common.sh"

t=${STRESS_TIME:-600}
mkdir -p "$BUILD/logs"
log "vhmm-stress for ${t}s (+$((t / 3 + 1))s coherent), then vhmm-race for ${t}s (+$((t / 2 + 1))s coherent), log $BUILD/logs/stress${FLAVOUR:+-$FLAVOUR}.log"
exec "$TOP/kvm/run-vm" --timeout $((t * 5 + 300)) \
	--log "$BUILD/logs/stress${FLAVOUR:+-$FLAVOUR}.log" --mem 1G \
	--hmm mode=private --hmm mode=coherent,vram-size=64M \
	-- "VHMM_STRESS_TIME=$t vhmm-stress.sh && VHMM_RACE_TIME=$t vhmm-race.sh"
