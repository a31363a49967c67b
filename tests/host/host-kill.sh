#!/bin/sh
# In the host VM (L1): QEMU with a backend=host device is killed with -9;
# the module must end with no device page in use and unload cleanly. And
# realize fails with a clear error when the device memory does not fit in
# the module's, or the module is not loaded.
. /usr/local/bin/host-lib.sh
modprobe vhmm_host || exit 1
echo "1..6"
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
# more device memory than the module has (4 chunks of 256 MiB by default)
if timeout 20 $qemu -S -nodefaults -vga none -display none -accel tcg -m 64M \
	-device virtio-hmm-pci,backend=host,vram-size=2G 2>/tmp/err </dev/null; then
	echo "not ok 4 vram-size-too-big # QEMU started with 2 GiB on a 1 GiB module"
elif grep -q "'vram-size' (2 GiB) is more than the vhmm_host module's free device memory: 1 GiB of 1 GiB" /tmp/err &&
	[ "$(hstat device_pages)" = 0 ] && [ "$(hstat open_files)" = 0 ]; then
	echo "ok 4 vram-size-too-big # $(cat /tmp/err)"
else
	sed 's/^/# /' /tmp/err "$STATS"
	echo "not ok 4 vram-size-too-big"
fi
unload 5
# without the module, realize fails with a clear error
if timeout 20 $qemu -S -nodefaults -vga none -display none -accel tcg -m 64M \
	-device virtio-hmm-pci,backend=host 2>/tmp/err </dev/null; then
	echo "not ok 6 no-module-error # QEMU started without /dev/vhmm_host"
elif grep -q "'backend=host' needs the vhmm_host host module loaded" /tmp/err; then
	echo "ok 6 no-module-error # $(cat /tmp/err)"
else
	sed 's/^/# /' /tmp/err
	echo "not ok 6 no-module-error"
fi
