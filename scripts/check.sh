#!/bin/bash
# Run every test layer and print one summary line: "N passed, N failed, N skipped".
# Exit status 1 if anything failed.
#
# usage: check.sh [LAYER...]    (default: unit qtest rig guest libvirt host)
#   unit   host-side unit tests (tests/unit/)
#   qtest  QEMU device tests through qtest (qemu-device/tests/)
#   rig    the launcher reports hangs, panics and exit statuses
#   guest  in-guest suites (hmm-tests baseline, ...)
#   libvirt  guests defined and started through a private libvirtd
#   host   the host module and backend=host in a host VM (L1), and an L2
#          guest's hmm-tests on backend=host
#
# CHECK_INJECT=hang|panic|fail (test-only) breaks the guest baseline on
# purpose, to show that make check catches it. VM_TIMEOUT bounds each guest.
set -uo pipefail
STEP=check
. "$(dirname "$0")/common.sh"

LOGS=${CHECK_LOGS:-$BUILD/logs/check${FLAVOUR:+-$FLAVOUR}}
rm -rf "$LOGS"
mkdir -p "$LOGS"
RUNVM=$TOP/kvm/run-vm
passed=0 failed=0 skipped=0
failures=()

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "  FAIL $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "  SKIP $1: $2"; }

# tap_results NAME FILE [noplan]: count the TAP lines of a kselftest run in FILE.
# Results missing from the plan ("1..N") count as failures. A test that
# printed "SKIP" and then "ok" (the 6.1 harness does that when a fixture
# setup skips) counts as skipped, not passed.
tap_results() {
	local name=$1 file=$2 check_plan=${3:-plan} plan n=0 line t skipped_in_block=
	plan=$(tr -d '\r' <"$file" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -n 1)
	while IFS= read -r line; do
		case "$line" in
		"#  RUN "*) skipped_in_block= ;;
		"#"*"  SKIP  "*) skipped_in_block=$(echo "${line#*SKIP}" | sed 's/^ *//') ;;
		"ok "*"# SKIP"*)
			t=${line#ok [0-9]* }
			skip "$name/${t%% # SKIP*}" "${t#* # SKIP }"; n=$((n + 1)) ;;
		"ok "*)
			t=${line#ok [0-9]* }
			if [ -n "$skipped_in_block" ]; then
				skip "$name/$t" "$skipped_in_block"
			else
				pass
			fi
			skipped_in_block=
			n=$((n + 1)) ;;
		"not ok "*)
			t=${line#not ok [0-9]* }
			fail "$name/$t"; skipped_in_block=; n=$((n + 1)) ;;
		esac
	done < <(tr -d '\r' <"$file" | grep -E '^((not )?ok [0-9]+ |#  RUN |#.*  SKIP  )')
	if [ "$check_plan" != plan ]; then
		:
	elif [ -z "$plan" ]; then
		fail "$name" "no TAP plan in the output ($file)"
	elif [ "$n" -lt "$plan" ]; then
		fail "$name" "only $n of $plan results reported ($file)"
	fi
}

# guest_suite NAME RUNVM-ARGS... -- COMMAND: boot a guest, run a kselftest
# binary or script in it and count its TAP results. A guest that fails
# (hang, panic, kernel report, no status) is one more failure, with the
# launcher's message.
guest_suite() {
	local name=$1; shift
	local log=$LOGS/$name.log rc t0=$SECONDS
	"$RUNVM" --quiet --log "$log" "$@" 2>"$LOGS/$name.err"
	rc=$?
	case $rc in
	124|125)	# the guest itself failed: say how, count what it reported
		fail "$name" "$(sed -n 's/^run-vm: FAILED: //p' "$LOGS/$name.err")"
		tap_results "$name" "$log.out" noplan ;;
	*)
		tap_results "$name" "$log.out"
		if [ $rc -ne 0 ] && ! tr -d '\r' <"$log.out" | grep -q '^not ok '; then
			fail "$name" "exited with status $rc"
		fi ;;
	esac
	[ $rc -eq 0 ] || sed 's/^/    /' "$LOGS/$name.err"
	echo "  $name: $((SECONDS - t0))s, log $log"
}

layer_unit() {
	local t found=0
	for t in "$BUILD"/unit/*; do
		[ -x "$t" ] || continue
		found=1
		"$t" >"$LOGS/unit-${t##*/}.log" 2>&1
		tap_results "unit/${t##*/}" "$LOGS/unit-${t##*/}.log"
	done
	[ $found -eq 1 ] || skip unit "no host-side unit tests are built yet (tests/unit/ is empty)"
}

layer_qtest() {
	local qos=$BUILD/qemu/tests/qtest/qos-test
	local qemu=$BUILD/qtest/qemu-system-x86_64
	if [ ! -e "$TOP/qemu-device/tests" ]; then
		skip qtest "the virtio-hmm device has no qtests yet (qemu-device/tests/ missing)"
		return
	fi
	# qos machines want Debian's firmware and no default NIC (no e1000
	# option ROM is shipped); libqtest takes the target from the file
	# name, so the wrapper keeps the binary's name.
	mkdir -p "${qemu%/*}"
	printf '#!/bin/sh\nexec %s -L /usr/share/seabios -L /usr/share/qemu -nic none "$@"\n' \
		"$BUILD/qemu/qemu-system-x86_64" >"$qemu"
	chmod +x "$qemu"
	# -r runs every test below the device node (-p only goes one level deep)
	QTEST_QEMU_BINARY=$qemu \
		QTEST_QEMU_STORAGE_DAEMON_BINARY=/bin/false \
		timeout 600 "$qos" --tap -k -m quick -r /x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-hmm-pci \
		>"$LOGS/qtest.log" 2>&1
	local rc=$?
	tap_results qtest "$LOGS/qtest.log"
	[ $rc -eq 0 ] || fail qtest "qos-test exited with status $rc ($LOGS/qtest.log)"
}

# The launcher must turn each way a guest can go wrong into a failure.
layer_rig() {
	local rc
	"$RUNVM" --quiet --log "$LOGS/rig-status.log" -- 'exit 3' 2>"$LOGS/rig-status.err"
	rc=$?
	[ $rc -eq 3 ] && pass || fail rig/exit-status "expected 3, got $rc"

	"$RUNVM" --quiet --timeout 15 --log "$LOGS/rig-hang.log" -- 'sleep 1000' 2>"$LOGS/rig-hang.err"
	rc=$?
	[ $rc -eq 124 ] && grep -q 'timed out' "$LOGS/rig-hang.err" && pass ||
		fail rig/hang "expected a timeout (124), got $rc"

	"$RUNVM" --quiet --log "$LOGS/rig-panic.log" -- 'echo c >/proc/sysrq-trigger' 2>"$LOGS/rig-panic.err"
	rc=$?
	[ $rc -eq 125 ] && grep -q 'kernel panic' "$LOGS/rig-panic.err" && pass ||
		fail rig/panic "expected a reported panic (125), got $rc"

	"$RUNVM" --quiet --log "$LOGS/rig-devices.log" -- 'ls /dev/console && cat /proc/version' 2>"$LOGS/rig-devices.err"
	rc=$?
	[ $rc -eq 0 ] && grep -q 'Linux version 6\.1' "$LOGS/rig-devices.log.out" && pass ||
		fail rig/boot "guest did not boot the 6.1 kernel (exit $rc)"
}

# In-guest suites, one a line in tests/guest/suites:
#   NAME  RUN-VM ARGUMENTS -- COMMAND IN THE GUEST
layer_guest() {
	local inject=${CHECK_INJECT:+VHMM_INJECT=$CHECK_INJECT } name args cmd line
	while IFS= read -r line; do
		case "$line" in ''|\#*) continue ;; esac
		name=${line%%[[:space:]]*}
		args=${line#"$name"}; args=${args%% -- *}
		cmd=${line#* -- }
		# shellcheck disable=SC2086 # the arguments are words by design
		guest_suite "$name" $args -- "$inject$cmd"
	done <"$TOP/tests/guest/suites"
}

# virtio-hmm guests as libvirt domains (tests/libvirt/libvirt-test.sh,
# docs/libvirt.md): its own steps' TAP, then each guest's suite.
layer_libvirt() {
	local rc f
	if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null; then
		skip libvirt "needs root and Debian's libvirt-daemon (make deps)"
		return
	fi
	"$TOP/tests/libvirt/libvirt-test.sh" --logs "$LOGS" >"$LOGS/libvirt.tap" 2>"$LOGS/libvirt.err"
	rc=$?
	tap_results libvirt "$LOGS/libvirt.tap"
	for f in "$LOGS"/libvirt-*.log.out; do
		[ -e "$f" ] || continue
		f=${f##*/}
		tap_results "${f%.log.out}" "$LOGS/$f"
	done
	[ $rc -eq 0 ] || sed 's/^/    /' "$LOGS/libvirt.err"
	echo "  libvirt: $(tail -n 1 "$LOGS/libvirt.err" | sed 's/^# //'), log $LOGS/libvirt.tap"
}

# The host module (host-module/) and QEMU's backend=host, in a host VM (L1)
# booted from kvm/mkhostinitramfs.sh's initramfs (tests/host/): the build of
# the module for a user's kernel (on the build machine), the module's
# kselftests, the qtests with backend=host (QEMU's VmPin sampled), kill -9
# and rmmod, and an L2 guest's hmm-tests on backend=host (nested TCG).
layer_host() {
	local initrd=$BUILD/host-initramfs.cpio
	if [ ! -e "$MODOUT/vhmm_host.ko" ]; then
		skip host "host-module/ is not built (build/modules/vhmm_host.ko)"
		return
	fi
	# make host-module KDIR=...: the module for a user's own kernel
	"$TOP/tests/host/user-kernel-build.sh" "$KOUT" >"$LOGS/host-user-build.log" 2>&1
	tap_results host-user-build "$LOGS/host-user-build.log"
	if ! "$TOP/kvm/mkhostinitramfs.sh" "$initrd" >"$LOGS/host-initramfs.log" 2>&1; then
		fail host "cannot build the host initramfs ($LOGS/host-initramfs.log)"
		return
	fi
	guest_suite host-module --initrd "$initrd" --mem 3G -- \
		'modprobe vhmm_host && vhmm-host-tests'
	guest_suite host-qtest --initrd "$initrd" --mem 3G --timeout 900 -- host-qtest.sh
	guest_suite host-kill --initrd "$initrd" --mem 3G -- host-kill.sh
	guest_suite host-l2 --initrd "$initrd" --mem 3G --timeout 2400 -- host-l2.sh
}

layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(unit qtest rig guest libvirt host)
for l in "${layers[@]}"; do
	t0=$SECONDS
	log "layer $l"
	"layer_$l"
	log "layer $l done in $((SECONDS - t0))s"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "logs: $LOGS"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
