#!/bin/sh
# The vhmm CLI (tools/vhmm/) on a private and a coherent device, and the
# driver's trace events (guest-driver/vhmm_trace.h) through tracefs. Prints
# TAP; every check asserts an exit status and the output.
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1

n=0
out=/tmp/vhmm-cli.out
# check NAME COMMAND...: one result; the command's output is in $out
check() {
	name=$1; shift
	n=$((n + 1))
	if "$@" >"$out" 2>&1; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		sed 's/^/# /' "$out"
	fi
}

# run_expect STATUS PATTERN COMMAND...: COMMAND exits with STATUS and
# prints a line matching the extended regex PATTERN
run_expect() {
	want=$1 pattern=$2; shift 2
	"$@" >"$out.cmd" 2>&1
	rc=$?
	cat "$out.cmd"
	[ "$rc" -eq "$want" ] || { echo "exit status $rc, expected $want"; return 1; }
	grep -Eq -- "$pattern" "$out.cmd" || { echo "no line matching '$pattern'"; return 1; }
}

# devices by mode, from the CLI's own listing
vhmm list >/tmp/vhmm-list 2>&1
priv=$(awk '$2 == "private" { sub("/dev/virtio_hmm", "", $1); print $1; exit }' /tmp/vhmm-list)
coh=$(awk '$2 == "coherent" { sub("/dev/virtio_hmm", "", $1); print $1; exit }' /tmp/vhmm-list)

check "list shows a private device" run_expect 0 \
	'^/dev/virtio_hmm[0-9]+ +private +[0-9]+[KMG]? +[0-9]+[KMG]? +4096 .*atomics.*replayable_faults' cat /tmp/vhmm-list
check "list shows the 64M coherent device" run_expect 0 \
	'^/dev/virtio_hmm[0-9]+ +coherent +64M ' cat /tmp/vhmm-list

for mode in private coherent; do
	if [ $mode = private ]; then dev=$priv; else dev=$coh; fi
	check "$mode: info" run_expect 0 "^mode: $mode\$" vhmm info "$dev"
	check "$mode: info by path" run_expect 0 "^device: /dev/virtio_hmm$dev\$" \
		vhmm info "/dev/virtio_hmm$dev"
	check "$mode: selftest" run_expect 0 '^# selftest: 0 of 6 failed$' \
		vhmm selftest "$dev"
	check "$mode: selftest reports no failure" sh -c "! grep -q '^not ok' $out.cmd"
	check "$mode: stats count the selftest's faults" run_expect 0 \
		'^faults: [1-9][0-9]*$' vhmm stats "$dev"
	check "$mode: migrate round trip" run_expect 0 '^data intact$' \
		vhmm migrate -p 64 "$dev"
	# live statistics: a header and one line per sample, then exit
	check "$mode: stats -w samples" sh -c \
		"vhmm stats -w 0.2 -n 3 $dev >$out.w && cat $out.w &&
		 [ \$(wc -l <$out.w) -eq 4 ] && head -n 1 $out.w | grep -q '^time .*devmem_used' &&
		 tail -n 1 $out.w | grep -q '(+'"
done

check "no such device: exit 1" run_expect 1 'No such file or directory' vhmm info 63
check "not a device: exit 1" run_expect 1 'Inappropriate ioctl' vhmm info /dev/null
check "unknown command: exit 2" run_expect 2 '^usage:' vhmm frobnicate

# ---- trace events ----
T=/sys/kernel/tracing
[ -e $T/events ] || mount -t tracefs nodev $T
ev=$T/events/virtio_hmm
check "tracefs lists the driver's events" sh -c \
	"ls $ev && for e in vhmm_fault vhmm_fault_resolve vhmm_migrate_to_dev vhmm_migrate_to_ram vhmm_invalidate; do [ -d $ev/\$e ] || exit 1; done"

# trace_sum EVENT: sum of npages= of EVENT's lines in the trace
trace_sum() {
	grep " $1: " $T/trace | sed -n 's/.* npages=\([0-9]*\).*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }'
}

echo 1 >$ev/enable
echo >$T/trace
vhmm migrate -p 32 "$priv" >/dev/null 2>&1
echo 0 >$ev/enable
to_dev=$(trace_sum vhmm_migrate_to_dev)
to_ram=$(trace_sum vhmm_migrate_to_ram)
check "migrate: vhmm_migrate_to_dev counts 32 pages" sh -c \
	"grep ' vhmm_migrate_to_dev: ' $T/trace; [ $to_dev -eq 32 ]"
check "migrate: vhmm_migrate_to_ram counts 32 pages" sh -c \
	"grep ' vhmm_migrate_to_ram: ' $T/trace; [ $to_ram -eq 32 ]"
check "migrate: the munmap invalidates the device mapping" sh -c \
	"grep -E ' vhmm_invalidate: .*event=unmap unmap=0x[0-9a-f]+-0x[0-9a-f]+' $T/trace"

echo 1 >$ev/enable
echo >$T/trace
vhmm selftest "$priv" >/dev/null 2>&1
echo 0 >$ev/enable
check "selftest: device faults are traced" sh -c \
	"grep -m 3 ' vhmm_fault: .*access=write' $T/trace"
check "selftest: every fault is answered" sh -c \
	"f=\$(grep -c ' vhmm_fault: ' $T/trace); r=\$(grep -c ' vhmm_fault_resolve: ' $T/trace);
	 echo \"\$f faults, \$r resolutions\"; [ \$f -gt 0 ] && [ \$f -eq \$r ] &&
	 grep -m 3 ' vhmm_fault_resolve: .* retry err=0' $T/trace"
check "selftest: migration events" sh -c \
	"grep -q ' vhmm_migrate_to_dev: ' $T/trace && grep -q ' vhmm_migrate_to_ram: ' $T/trace"

echo "1..$n"
