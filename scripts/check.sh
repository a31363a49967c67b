#!/bin/bash
# Run every test layer and print one summary line: "N passed, N failed, N skipped".
# Exit status 1 if anything failed.
#
# usage: check.sh [LAYER...]    (default: demo unit qtest rig guest docs libvirt host)
#   demo   `make demo` as a newcomer runs it: no logs folder yet; it must
#          print "demo: OK"
#   unit   host-side unit tests (tests/unit/)
#   qtest  QEMU device tests through qtest (qemu-device/tests/)
#   rig    the launcher reports hangs, panics and exit statuses
#   guest  in-guest suites (hmm-tests baseline, ...)
#   docs   the commands of README.md and docs/*.md marked as checked
#          (tests/docs/): run-vm, vhmm, --share, QMP, direct QEMU, a shell
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

# make demo on a fresh clone: build/logs does not exist yet. The demo writes
# its console log into a folder that does not exist either.
layer_demo() {
	local logdir=$LOGS/demo-logs rc t0=$SECONDS
	rm -rf "$logdir"
	LOGDIR=$logdir "$TOP/scripts/demo.sh" >"$LOGS/demo.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && tr -d '\r' <"$LOGS/demo.out" | grep -qx 'demo: OK'; then
		pass
		echo "  demo: OK ($((SECONDS - t0))s, log $LOGS/demo.out)"
	else
		fail demo "exit status $rc, no 'demo: OK' line ($LOGS/demo.out)"
		tail -n 15 "$LOGS/demo.out" | sed 's/^/    | /'
	fi
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
	local rc kept
	# without --log: a failed run keeps build/logs/vm-<pid>.log and says
	# where it is
	"$RUNVM" --quiet -- 'exit 3' 2>"$LOGS/rig-status.err"
	rc=$?
	kept=$(sed -n 's/.*console: \([^)]*vm-[0-9]*\.log\)).*/\1/p' "$LOGS/rig-status.err")
	[ $rc -eq 3 ] && pass || fail rig/exit-status "expected 3, got $rc"
	[ -n "$kept" ] && [ -s "$kept" ] && pass ||
		fail rig/failed-run-keeps-log "no console log named in $LOGS/rig-status.err"
	[ -z "$kept" ] || mv "$kept" "$kept.out" "$LOGS/" 2>/dev/null

	# usage errors name the option, exit 2, boot nothing
	"$RUNVM" --hmm 2>"$LOGS/rig-usage.err"
	rc=$?
	[ $rc -eq 2 ] && grep -q -- '--hmm needs a value' "$LOGS/rig-usage.err" && pass ||
		fail rig/usage-error "expected exit 2 and '--hmm needs a value', got $rc"

	"$RUNVM" --quiet --timeout 15 --log "$LOGS/rig-hang.log" -- 'sleep 1000' 2>"$LOGS/rig-hang.err"
	rc=$?
	[ $rc -eq 124 ] && grep -q 'timed out' "$LOGS/rig-hang.err" && pass ||
		fail rig/hang "expected a timeout (124), got $rc"

	"$RUNVM" --quiet --log "$LOGS/rig-panic.log" -- 'echo c >/proc/sysrq-trigger' 2>"$LOGS/rig-panic.err"
	rc=$?
	[ $rc -eq 125 ] && grep -q 'kernel panic' "$LOGS/rig-panic.err" && pass ||
		fail rig/panic "expected a reported panic (125), got $rc"

	# the command's output on stdout; without --log, a run that succeeded
	# leaves no log behind
	local before after
	before=$(ls "$BUILD/logs" | grep -c '^vm-[0-9]*\.log')
	"$RUNVM" -- 'ls /dev/console && cat /proc/version' >"$LOGS/rig-devices.out" 2>"$LOGS/rig-devices.err"
	rc=$?
	after=$(ls "$BUILD/logs" | grep -c '^vm-[0-9]*\.log')
	[ $rc -eq 0 ] && grep -q 'Linux version 6\.1' "$LOGS/rig-devices.out" && pass ||
		fail rig/boot "guest did not boot the 6.1 kernel (exit $rc)"
	[ $rc -eq 0 ] && [ "$after" -le "$before" ] && pass ||
		fail rig/success-removes-log "exit $rc, vm-*.log files: $before before, $after after"
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

# The documented commands (tests/docs/doc-test.py), TAP per block
layer_docs() {
	local rc
	"$TOP/tests/docs/doc-test.py" --logs "$LOGS/docs" >"$LOGS/docs.tap" 2>"$LOGS/docs.err"
	rc=$?
	tap_results docs "$LOGS/docs.tap"
	[ $rc -eq 0 ] || sed 's/^/    /' "$LOGS/docs.err"
	echo "  docs: $(tail -n 1 "$LOGS/docs.err" | sed 's/^# //'), log $LOGS/docs.tap"
}

layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(demo unit qtest rig guest docs libvirt host)
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
