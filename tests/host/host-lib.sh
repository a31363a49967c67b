# Helpers for the scripts that run in the host VM (L1); sourced.
# shellcheck shell=sh

STATS=/sys/kernel/debug/vhmm_host/stats

# hstat NAME: one counter of the host module
hstat() {
	sed -n "s/^$1 //p" "$STATS"
}

# A qtest-style wrapper: libqtest takes the target from the binary's name,
# and the firmware lives under /usr/share here.
qemu_wrapper() {
	mkdir -p /tmp/qemu-wrap
	printf '#!/bin/sh\nexec /usr/local/bin/qemu-system-x86_64 -L /usr/share/seabios -L /usr/share/qemu -nic none -vga none "$@"\n' \
		>/tmp/qemu-wrap/qemu-system-x86_64
	chmod +x /tmp/qemu-wrap/qemu-system-x86_64
	echo /tmp/qemu-wrap/qemu-system-x86_64
}

# vmpin_watch FILE: until killed, record "PID VmPin-kB" of every QEMU
# process, five times a second, one line per sample, in FILE
vmpin_watch() {
	while :; do
		for s in /proc/[0-9]*/status; do
			case "$(awk '/^Name:/ { print $2 }' "$s" 2>/dev/null)" in
			qemu-system-x86*) ;;
			*) continue ;;
			esac
			pin=$(awk '/^VmPin:/ { print $2 }' "$s" 2>/dev/null)
			[ -n "$pin" ] && echo "${s#/proc/} $pin"
		done >>"$1"
		sleep 0.2
	done
}

# vmpin_report N FILE WHAT: TAP result N from the samples in FILE
vmpin_report() {
	samples=$(wc -l <"$2")
	pinned=$(awk '$2 != 0' "$2" | wc -l)
	if [ "$samples" -gt 0 ] && [ "$pinned" -eq 0 ]; then
		echo "ok $1 vmpin-$3 # $samples samples of QEMU's VmPin, all 0 kB"
	else
		echo "# $samples samples, $pinned with pinned memory:"
		awk '$2 != 0' "$2" | head -n 5 | sed 's/^/#   /'
		echo "not ok $1 vmpin-$3"
	fi
}

# no_leak N WHAT: TAP result N: no device page in use, no file open
no_leak() {
	pages=$(hstat device_pages) leaked=$(hstat leaked_pages) files=$(hstat open_files)
	if [ "$pages" = 0 ] && [ "$leaked" = 0 ] && [ "$files" = 0 ]; then
		echo "ok $1 no-leak-$2"
	else
		echo "# device_pages=$pages leaked_pages=$leaked open_files=$files"
		echo "not ok $1 no-leak-$2"
	fi
}

# unload N: TAP result N: rmmod works and the module reports 0 leaked
unload() {
	if rmmod vhmm_host && dmesg | grep -q 'vhmm_host: unloading: .* 0 leaked'; then
		echo "ok $1 rmmod"
	else
		dmesg | grep vhmm_host | tail -n 3 | sed 's/^/# /'
		echo "not ok $1 rmmod"
	fi
}
