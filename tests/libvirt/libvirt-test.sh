#!/bin/bash
# virtio-hmm guests under libvirt: start a private libvirtd
# (kvm/libvirt/private-libvirtd), then for each variant render a domain
# (kvm/libvirt/mkdomain), validate it against libvirt's schema, define it,
# start it, wait (bounded) until the guest has run virtio-hmm's own suite and
# the domain has shut off by itself, check the result, undefine it; stop the
# daemon at the end. Prints TAP for these steps on stdout; the guest suite's
# own TAP is in LOGS/libvirt-VARIANT.log.out (scripts/check.sh counts both).
#
# usage: libvirt-test.sh [--logs DIR] [VARIANT...]
#   vram      devices on <qemu:commandline>, device memory from vram-size=
#   memfd     guest RAM a shared memfd (<memoryBacking>), each device's
#             memory a shared memory-backend-memfd (memdev=)
#   anon      each device's memory a private anonymous memory-backend-ram
#             (memdev=)
#   override  devices through <qemu:override> on virtio-rng stand-ins
# Default: all four. VM_TIMEOUT (default 300) bounds each guest.
# Every guest has the vhmm-tests suite's devices: private, coherent 64M,
# private 4M.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
export BUILD
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
DAEMON=$TOP/kvm/libvirt/private-libvirtd
MKDOMAIN=$TOP/kvm/libvirt/mkdomain
STATE=${LIBVIRT_STATE:-$BUILD/libvirt}
timeout_s=${VM_TIMEOUT:-300}
logs=$BUILD/logs/libvirt

[ "${1:-}" = --logs ] && { logs=$2; shift 2; }
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(vram memfd anon override)
mkdir -p "$logs"

# shellcheck disable=SC2054 # commas separate device properties
devices=(--hmm mode=private --hmm mode=coherent,vram-size=64M --hmm mode=private,vram-size=4M)
# the suite skips what a missing device would test: make sure all are there
# shellcheck disable=SC2016 # expanded in the guest
guest_cmd='modprobe virtio_hmm && m=$(cat /sys/class/virtio_hmm/*/mode | sort | tr "\n" " ")
[ "$m" = "coherent private private " ] || { echo "# virtio-hmm devices: ${m:-none}; expected coherent private private"; exit 1; }
exec vhmm-suite.sh'

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n $1"
	shift
	[ $# -gt 0 ] && printf 'libvirt-test: %s\n' "$@" >&2
}
vsh() { timeout 60 virsh -q -c "$("$DAEMON" uri)" "$@"; }
daemon_up() { "$DAEMON" status >/dev/null 2>&1; }

# steps VARIANT: how many TAP lines a variant prints: xml, define, start,
# guest result, undefine; vram also reads the device's stats through
# virsh qemu-monitor-command as docs/user-guide.md shows (QMP and HMP);
# memfd, anon and override check the QEMU command line libvirt built
steps() {
	case "$1" in
	vram|memfd|anon|override) echo 6 ;;
	*) return 1 ;;
	esac
}
plan=2
for v in "${variants[@]}"; do
	steps "$v" >/dev/null || { echo "libvirt-test: unknown variant $v" >&2; exit 2; }
	plan=$((plan + $(steps "$v")))
	: >"$logs/libvirt-$v.log"
	: >"$logs/libvirt-$v.log.out"
done
echo "1..$plan"

# one run at a time per daemon directory; private-libvirtd takes the same
# lock, so it is told that this run holds it
lockfile=$(dirname "$STATE")/.$(basename "$STATE").lock
mkdir -p "$(dirname "$lockfile")"
exec {lock_fd}>"$lockfile"
if ! flock -w 900 "$lock_fd"; then
	echo "libvirt-test: $lockfile held for 15 minutes" >&2
	exit 1
fi
export VHMM_LIBVIRT_LOCKED=$lock_fd

cleanup() {
	"$DAEMON" stop 2>>"$logs/libvirt-daemon.err"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# report NAME REASON: why a guest failed, its last console lines and logs
report() {
	local name=$1 console=$logs/libvirt-$1.log
	echo "libvirt-test: $name: FAILED: $2" >&2
	echo "libvirt-test: $name: last console lines:" >&2
	tail -n 25 "$console" 2>/dev/null | sed 's/^/  | /' >&2
	if [ -s "$console.out" ]; then
		echo "libvirt-test: $name: last lines of the command's output:" >&2
		tail -n 10 "$console.out" | sed 's/^/  | /' >&2
	fi
	echo "libvirt-test: $name: console $console, output $console.out," \
		"QEMU log $STATE/log/qemu/vhmm-$name.log, daemon log $STATE/log/libvirtd.log" >&2
}

# monitor_stats DOMAIN: the first device's request count, read as
# docs/user-guide.md says (virsh qemu-monitor-command): each QMP reading's
# count goes into $logs/libvirt-vram.qmp; once one was non-zero, the HMP
# form's answer goes into $logs/libvirt-vram.hmp. (guest_result runs in a
# command substitution: files, not variables, carry what it saw.)
monitor_stats() {
	local out v qmp=$logs/libvirt-vram.qmp hmp=$logs/libvirt-vram.hmp
	out=$(vsh qemu-monitor-command "$1" --pretty '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/hmm0", "property": "stats"}}' 2>/dev/null) || return
	v=$(sed -n 's/^ *"requests": \([0-9]*\).*/\1/p' <<<"$out")
	[ -n "$v" ] && echo "$v" >>"$qmp"
	if [ ! -s "$hmp" ] && [ "${v:-0}" -gt 0 ]; then
		vsh qemu-monitor-command "$1" --hmp 'qom-get /machine/peripheral/hmm0 stats' >"$hmp" 2>&1
	fi
}

# guest_result NAME: wait until the domain has shut off by itself, then
# judge the guest as kvm/run-vm does. Prints the reason on failure.
guest_result() {
	local name=$1 dom=vhmm-$1 console=$logs/libvirt-$1.log state status
	local deadline=$((SECONDS + timeout_s))
	while :; do
		state=$(vsh domstate "$dom" 2>&1)
		[ "$state" = "shut off" ] && break
		[ "$name" = vram ] && [ "$state" = running ] && monitor_stats "$dom"
		if ! daemon_up; then
			# its guest would reboot into the suite again and again
			"$DAEMON" stop 2>>"$logs/libvirt-daemon.err"
			echo "libvirtd died while the guest ran; guest killed"
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			vsh destroy "$dom" >/dev/null 2>&1
			echo "guest did not finish within ${timeout_s}s (state: $state); destroyed"
			return 1
		fi
		sleep 0.5
	done
	status=$(sed -n 's/^virtio-hmm-rig: exit status \([0-9]*\).*/\1/p' "$console" | tail -n 1)
	if grep -q "Kernel panic - not syncing" "$console"; then
		echo "guest kernel panic: $(grep -m1 'Kernel panic' "$console" | sed 's/^\[[^]]*\] //')"
	elif [ -z "$status" ]; then
		echo "guest stopped without reporting an exit status"
	elif grep -qE '(BUG:|WARNING:|Oops|Call Trace:|UBSAN:|KASAN:|possible circular locking|INFO: task .* blocked)' "$console"; then
		echo "guest kernel report: $(grep -m1 -E '(BUG:|WARNING:|Oops|UBSAN:|KASAN:|possible circular|INFO: task)' "$console" | sed 's/^\[[^]]*\] //')"
	elif [ "$status" != 0 ]; then
		echo "guest command exited with status $status"
	else
		return 0
	fi
	return 1
}

# argv_has NAME PATTERN...: QEMU's command line, as libvirt logged it,
# matches every extended regular expression
argv_has() {
	local qlog=$STATE/log/qemu/vhmm-$1.log argv p
	shift
	# the last start's command line: "LC_ALL=C \", one argument a line
	argv=$(awk '/^LC_ALL=/ { argv = ""; on = 1 }
		on { argv = argv " " $0; if ($0 !~ /\\$/) on = 0 }
		END { print argv }' "$qlog" 2>/dev/null)
	for p in "$@"; do
		grep -qE -- "$p" <<<"$argv" || { echo "QEMU command line in $qlog lacks /$p/"; return 1; }
	done
}

run_variant() {
	local v=$1 dom=vhmm-$1 xml=$logs/libvirt-$1.xml opts=() why t0 i
	rm -f "$logs/libvirt-$v.qmp" "$logs/libvirt-$v.hmp"
	case "$v" in
	memfd|anon) opts=(--memdev "$v") ;;
	override) opts=(--override) ;;
	esac
	if ! daemon_up; then
		# every step of the variant fails, with one reason
		for ((i = 0; i < $(steps "$v"); i++)); do
			not_ok "$v: step $((i + 1)): libvirtd is not running"
		done
		return
	fi
	"$MKDOMAIN" --name "$dom" --console "$logs/libvirt-$v.log" \
		--output "$logs/libvirt-$v.log.out" "${devices[@]}" "${opts[@]}" \
		-- "$guest_cmd" >"$xml" 2>"$logs/libvirt-$v.xml.err"
	if virt-xml-validate "$xml" domain >"$logs/libvirt-$v.validate" 2>&1; then
		ok "$v: domain XML validates against libvirt's schema"
	else
		not_ok "$v: domain XML validates against libvirt's schema" \
			"$(cat "$logs/libvirt-$v.xml.err" "$logs/libvirt-$v.validate")"
	fi

	# a domain of that name left by an earlier run (the daemon's state is
	# fresh, but stay safe): away with it
	vsh destroy "$dom" >/dev/null 2>&1
	vsh undefine "$dom" >/dev/null 2>&1
	if why=$(vsh define "$xml" 2>&1); then
		ok "$v: domain defined"
	else
		not_ok "$v: domain defined" "$why"
	fi

	t0=$SECONDS
	if why=$(vsh start "$dom" 2>&1); then
		ok "$v: domain started"
		if why=$(guest_result "$v"); then
			ok "$v: guest ran the suite and the domain shut off by itself ($((SECONDS - t0))s)"
		else
			not_ok "$v: guest ran the suite and the domain shut off by itself"
			report "$v" "$why"
		fi
	else
		not_ok "$v: domain started" "$why"
		not_ok "$v: guest ran the suite and the domain shut off by itself" "not started"
	fi

	case "$v" in
	vram)
		# the suite runs requests on hmm0: a reading taken while it ran
		# counts them (stats restart at a device reset, so take the largest)
		local most
		most=$(sort -n "$logs/libvirt-vram.qmp" 2>/dev/null | tail -n 1)
		if [ "${most:-0}" -gt 0 ] && grep -qE '"requests": [1-9]' "$logs/libvirt-vram.hmp" 2>/dev/null; then
			ok "$v: virsh qemu-monitor-command reads the device's stats (QMP and HMP; requests up to $most)"
		else
			not_ok "$v: virsh qemu-monitor-command reads the device's stats (QMP and HMP)" \
				"largest request count through QMP: ${most:-none} ($logs/libvirt-vram.qmp); HMP: $(tr '\n' ' ' <"$logs/libvirt-vram.hmp" 2>/dev/null | cut -c1-200)"
		fi ;;
	memfd)
		if why=$(argv_has "$v" \
			'"qom-type":"memory-backend-memfd","id":"pc.ram","share":true' \
			'memory-backend-memfd,id=hmm-mem0,size=64M,share=on' \
			'virtio-hmm-pci,id=hmm0,[^ ]*memdev=hmm-mem0' \
			'virtio-hmm-pci,id=hmm1,[^ ]*mode=coherent,memdev=hmm-mem1' \
			'virtio-hmm-pci,id=hmm2,[^ ]*memdev=hmm-mem2'); then
			ok "$v: guest RAM and device memory are shared memfds"
		else
			not_ok "$v: guest RAM and device memory are shared memfds" "$why"
		fi ;;
	anon)
		if why=$(argv_has "$v" \
			'"qom-type":"memory-backend-ram","id":"pc.ram","size"' \
			'memory-backend-ram,id=hmm-mem0,size=64M,share=off' \
			'virtio-hmm-pci,id=hmm0,[^ ]*memdev=hmm-mem0' \
			'virtio-hmm-pci,id=hmm1,[^ ]*mode=coherent,memdev=hmm-mem1' \
			'memory-backend-ram,id=hmm-mem2,size=4M,share=off' \
			'virtio-hmm-pci,id=hmm2,[^ ]*memdev=hmm-mem2'); then
			ok "$v: device memory is private anonymous memory"
		else
			not_ok "$v: device memory is private anonymous memory" "$why"
		fi ;;
	override)
		if why=$(argv_has "$v" \
			'"id":"ua-hmm0","bus":"pci.0","addr":"0x10","driver":"virtio-hmm-pci","mode":"private"' \
			'"id":"ua-hmm1",[^}]*"driver":"virtio-hmm-pci","mode":"coherent","vram-size":67108864' \
			'"id":"ua-hmm2",[^}]*"driver":"virtio-hmm-pci","mode":"private","vram-size":4194304'); then
			ok "$v: libvirt turned the overridden devices into virtio-hmm-pci"
		else
			not_ok "$v: libvirt turned the overridden devices into virtio-hmm-pci" "$why"
		fi ;;
	esac

	if why=$(vsh undefine "$dom" 2>&1) && ! vsh list --all --name 2>/dev/null | grep -qx "$dom"; then
		ok "$v: domain undefined"
	else
		not_ok "$v: domain undefined" "$why"
	fi
}

t_start=$SECONDS
# --idle-exit: should this script be killed outright, the daemon goes away
# by itself once no guest runs
if "$DAEMON" start --idle-exit 600 2>"$logs/libvirt-daemon.err"; then
	ok "libvirtd: a private daemon starts and answers"
else
	not_ok "libvirtd: a private daemon starts and answers" "$(cat "$logs/libvirt-daemon.err")"
fi

for v in "${variants[@]}"; do
	run_variant "$v"
done

"$DAEMON" stop 2>>"$logs/libvirt-daemon.err"
# this run's QEMUs are the ones writing its console files
left=
for c in /proc/[0-9]*/cmdline; do
	tr '\0' ' ' 2>/dev/null <"$c" | grep -qF -- "path=$logs/libvirt-" &&
		left="$left ${c//[!0-9]/}"
done
if daemon_up; then
	not_ok "libvirtd: stopped, no guest left running" "libvirtd still runs"
elif [ -n "$left" ]; then
	not_ok "libvirtd: stopped, no guest left running" "QEMU still runs: pid$left"
else
	ok "libvirtd: stopped, no guest left running"
fi
trap - EXIT
echo "# libvirt layer: ${#variants[@]} guests in $((SECONDS - t_start))s, $failed failed" >&2
[ $failed -eq 0 ]
