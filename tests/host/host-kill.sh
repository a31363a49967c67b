#!/bin/sh
# In the host VM (L1): QEMU with a backend=host device is killed with -9;
# the module must end with no device page in use and unload cleanly.
. /usr/local/bin/host-lib.sh
modprobe vhmm_host || exit 1
echo "1..5"
qemu=$(qemu_wrapper)
# a paused machine is enough: realize registers the device memory
$qemu -S -nodefaults -vga none -display none -accel tcg -m 64M \
	-device virtio-hmm-pci,backend=host,vram-size=16M &
pid=$!
n=0
while [ "$(hstat device_pages)" != 4096 ] && [ $n -lt 300 ] && kill -0 $pid; do
	sleep 0.1
	n=$((n + 1))
done
if [ "$(hstat device_pages)" = 4096 ] && [ "$(hstat open_files)" = 1 ]; then
	echo "ok 1 device-memory-registered # 16 MiB in host device memory"
else
	sed 's/^/# /' "$STATS"
	echo "not ok 1 device-memory-registered"
fi
kill -9 $pid
wait $pid
[ $? -eq 137 ] && echo "ok 2 killed" || echo "not ok 2 killed"
no_leak 3 kill
unload 4
# without the module, realize fails with a clear error
if timeout 20 $qemu -S -nodefaults -vga none -display none -accel tcg -m 64M \
	-device virtio-hmm-pci,backend=host 2>/tmp/err </dev/null; then
	echo "not ok 5 no-module-error # QEMU started without /dev/vhmm_host"
elif grep -q "'backend=host' needs the vhmm_host host module loaded" /tmp/err; then
	echo "ok 5 no-module-error # $(cat /tmp/err)"
else
	sed 's/^/# /' /tmp/err
	echo "not ok 5 no-module-error"
fi
