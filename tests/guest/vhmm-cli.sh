#!/bin/sh
# The vhmm CLI (tools/vhmm/) on a private and a coherent device, and the
# driver's trace events (guest-driver/vhmm_trace.h) through tracefs. Prints
# TAP; every check asserts an exit status and the output.
#
# The boot (tests/guest/suites) also has a private device whose memory is
# always full (x-inject-vram-full, 8M), a 4M private device, and one without
# replayable faults, which the driver refuses.
# (the counter is not "n": vhmm_setup uses that name)
tests=0
out=/tmp/vhmm-cli.out
# check NAME COMMAND...: one result; the command's output is in $out
check() {
	name=$1; shift
	tests=$((tests + 1))
	if "$@" >"$out" 2>&1; then
		echo "ok $tests $name"
	else
		echo "not ok $tests $name"
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

# ---- before the driver is loaded ----
check "list before modprobe: exit 1, says to load the driver" run_expect 1 \
	'driver is not loaded: modprobe virtio_hmm' vhmm list
check "list before modprobe: names the devices without a driver" run_expect 1 \
	'^vhmm: virtio[0-9]+: a virtio-hmm device, no driver bound' vhmm list
check "info before modprobe: exit 1, says to load the driver" run_expect 1 \
	'driver is not loaded: modprobe virtio_hmm' vhmm info

. /usr/local/bin/vhmm-setup.sh
vhmm_setup >/dev/null || exit 1

# devices by mode and size, from the CLI's own listing
vhmm list >/tmp/vhmm-list 2>/tmp/vhmm-list.err
priv=$(awk '$2 == "private" { sub("/dev/virtio_hmm", "", $1); print $1; exit }' /tmp/vhmm-list)
coh=$(awk '$2 == "coherent" { sub("/dev/virtio_hmm", "", $1); print $1; exit }' /tmp/vhmm-list)

full=$(awk '$2 == "private" && $3 == "8M" { sub("/dev/virtio_hmm", "", $1); print $1; exit }' /tmp/vhmm-list)
small=$(awk '$2 == "private" && $3 == "4M" { sub("/dev/virtio_hmm", "", $1); print $1; exit }' /tmp/vhmm-list)

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

check "list shows the refused device and why" run_expect 0 \
	'^virtio[0-9]+: refused by the driver: the device does not offer replayable_faults' \
	cat /tmp/vhmm-list
check "list exits 1 when a device was refused" sh -c \
	"vhmm list >/dev/null 2>&1; [ \$? -eq 1 ]"
# the columns line up: every line of the table is as long as the header
# up to FEATURES
check "list: aligned columns" sh -c \
	"grep '^/dev/' /tmp/vhmm-list | awk -v h=\"\$(head -n 1 /tmp/vhmm-list)\" \
	 '{ if (index(h, \"FEATURES\") != index(\$0, \$6)) { print \"misaligned: \" \$0; bad = 1 } } END { exit bad }'"

# ---- migrate tells what happened ----
check "migrate, device memory full: exit 1" run_expect 1 \
	'^0 of 64 pages to device memory in [0-9.]+ s, 0 back' vhmm migrate -p 64 "$full"
check "migrate, device memory full: says so" run_expect 1 \
	'^vhmm: only 0 of 64 pages reached device memory' vhmm migrate -p 64 "$full"
check "migrate, device memory full: data intact" run_expect 1 \
	'^data intact$' vhmm migrate -p 64 "$full"
# 2048 pages into 4M (1024 pages): the count is the driver's
before=$(vhmm stats "$small" | sed -n 's/^pages_to_dev: //p')
vhmm migrate -p 2048 "$small" >/tmp/vhmm-mig 2>&1
rc=$?
after=$(vhmm stats "$small" | sed -n 's/^pages_to_dev: //p')
moved=$(sed -n 's/^\([0-9]*\) of 2048 pages to device memory.*/\1/p' /tmp/vhmm-mig)
check "migrate 2048 pages into 4M: exit 1 with the count" sh -c \
	"cat /tmp/vhmm-mig; [ $rc -eq 1 ] && grep -q '^vhmm: only $moved of 2048 pages reached device memory' /tmp/vhmm-mig"
check "migrate 2048 pages into 4M: the count is what the driver moved" sh -c \
	"echo 'printed $moved, driver counted $before -> $after'
	 [ -n '$moved' ] && [ '$moved' -gt 0 ] && [ '$moved' -le 1024 ] && [ \$(($after - $before)) -eq '$moved' ]"

# ---- usage errors name the argument and exit 2 ----
check "migrate -p 0: exit 2, names -p" run_expect 2 '^vhmm migrate: -p 0: ' vhmm migrate -p 0
check "migrate -p abc: exit 2, names -p" run_expect 2 '^vhmm migrate: -p abc: ' vhmm migrate -p abc
check "migrate -p: exit 2, needs a value" run_expect 2 'option -p needs a value' vhmm migrate -p
check "stats -w 0: exit 2, names -w" run_expect 2 '^vhmm stats: -w 0: ' vhmm stats -w 0
check "stats -x: exit 2, names -x" run_expect 2 '^vhmm stats: unknown option -x' vhmm stats -x
check "info 0 extra: exit 2, names it" run_expect 2 "unexpected argument 'extra'" vhmm info 0 extra
check "info foo: exit 2, not a device" run_expect 2 "'foo' is not a device" vhmm info foo
check "info --help: exit 0, the command's usage" run_expect 0 '^usage: vhmm info \[DEV\]' vhmm info --help
check "migrate -h: exit 0" run_expect 0 '^usage: vhmm migrate ' vhmm migrate -h
check "unknown command: exit 2, names it" run_expect 2 "unknown command 'frobnicate'" vhmm frobnicate
check "no such device: exit 1" run_expect 1 'No such file or directory' vhmm info 63
check "no such device: lists the present ones" run_expect 1 \
	'^vhmm: present: virtio_hmm[0-9]+, virtio_hmm[0-9]+' vhmm info virtio_hmm63
check "not a device: exit 1" run_expect 1 'Inappropriate ioctl' vhmm info /dev/null

# ---- stats ----
check "stats -n 2 without -w: two samples a second apart" sh -c \
	"vhmm stats -n 2 $priv >$out.n && cat $out.n && [ \$(wc -l <$out.n) -eq 3 ] &&
	 sed -n 3p $out.n | grep -q '^1\.0 '"
check "stats -w: aligned columns" sh -c \
	"vhmm stats -w 0.2 -n 3 $priv >$out.w && cat $out.w &&
	 [ \$(awk '{ print length(\$0) }' $out.w | sort -u | wc -l) -eq 1 ]"
check "debugfs stats and device_stats: 'name: count' lines" sh -c \
	"for f in /sys/kernel/debug/virtio_hmm/virtio_hmm$priv/stats /sys/kernel/debug/virtio_hmm/virtio_hmm$priv/device_stats; do
	   echo \"== \$f\"; cat \$f; grep -vqE '^[a-z_]+: [0-9]+\$' \$f && exit 1; [ \$(wc -l <\$f) -gt 5 ] || exit 1; done; exit 0"

# ---- trace events ----
T=/sys/kernel/tracing
[ -e $T/events ] || mount -t tracefs nodev $T
ev=$T/events/virtio_hmm
check "tracefs lists the driver's events" sh -c \
	"ls $ev && for e in vhmm_fault vhmm_fault_resolve vhmm_migrate_to_dev vhmm_migrate_to_ram vhmm_invalidate vhmm_map vhmm_req_submit vhmm_req_done vhmm_req_wake; do [ -d $ev/\$e ] || exit 1; done"

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
# every request submitted came back: the same req= in submit and done, in
# that order, then wake for those the submitter slept on; a copy among them
check "migrate: every request is traced submit, done (and wake)" sh -c \
	"grep -q ' vhmm_req_submit: .*type=copy' $T/trace &&
	 awk '/ vhmm_req_(submit|done|wake): / { for (i = 1; i <= NF; i++) if (\$i ~ /^req=/) r = \$i;
	        e = \$0; sub(/: dev=.*/, \"\", e); sub(/.* /, \"\", e); seq[r] = seq[r] e \",\" }
	      END { n = 0; for (r in seq) { n++; if (seq[r] !~ /^(vhmm_req_submit,vhmm_req_done,(vhmm_req_wake,)?)+\$/) { print r, seq[r]; bad = 1 } }
	            print n \" requests\"; exit (bad || n < 3) }' $T/trace && grep -q ' vhmm_req_wake: ' $T/trace"

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

echo "1..$tests"
