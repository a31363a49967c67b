#!/bin/sh
# run-l2: inside a host VM (L1), boot an L2 guest with our QEMU under TCG
# and run a command in it; a busybox-sh cousin of kvm/run-vm (acpi=noirq:
# see there).
#
# usage: run-l2 [--hmm PROPS]... [--mem SIZE] [--timeout SECS] [--qemu-arg ARG]... -- COMMAND
# Prints the command's output, exits with its status; 124 on a timeout,
# 125 when L2 dies without reporting a status (the L2 console is printed).
mem=512M timeout=600 devs= extra=
while [ $# -gt 0 ]; do
	case "$1" in
	--hmm) devs="$devs -device virtio-hmm-pci${2:+,$2}"; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--qemu-arg) extra="$extra $2"; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
cmd=$(printf '%s' "$*" | base64 -w0)
console=/tmp/l2-console.$$ out=/tmp/l2-out.$$
start=$(date +%s)
# shellcheck disable=SC2086 # $devs and $extra are lists of words
timeout "$timeout" qemu-system-x86_64 -nodefaults -no-reboot -display none \
	-vga none -nic none -L /usr/share/seabios -L /usr/share/qemu \
	-accel tcg -cpu max -m "$mem" -smp 1 \
	-kernel /l2/bzImage -initrd /l2/initramfs.cpio \
	-serial "file:$console" -serial "file:$out" $devs $extra \
	-append "console=ttyS0 panic=-1 oops=panic acpi=noirq vhmm.cmd=$cmd" </dev/null
qrc=$?
tr -d '\r' <"$out"
status=$(sed -n 's/^virtio-hmm-rig: exit status \([0-9]*\).*/\1/p' "$console" | tail -n 1)
echo "run-l2: L2 ran $(($(date +%s) - start))s"
if [ $qrc -eq 124 ] || [ -z "$status" ]; then
	[ $qrc -eq 124 ] && echo "run-l2: L2 timed out after ${timeout}s" || echo "run-l2: L2 died without a status (qemu exit $qrc)"
	tail -n 20 "$console"
	[ $qrc -eq 124 ] && exit 124
	exit 125
fi
exit "$status"
