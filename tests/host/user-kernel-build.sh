#!/bin/bash
# On the build machine: `make host-module KDIR=...`, the host module for a
# user's own kernel (scripts/build-host-module.sh and
# scripts/check-host-kernel.sh). A missing tree and a kernel without the
# options the module needs fail with a message per missing option; the
# project's own 6.1 tree (the kernel the host VM boots) builds and
# installs. TAP.
#
# usage: user-kernel-build.sh KERNEL_BUILD_TREE
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
ktree=${1:?usage: user-kernel-build.sh KERNEL_BUILD_TREE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BUILD=$tmp/build
n=0 failed=0

# result OK NAME [NOTE]: one TAP line, OK is 0 for a pass
result() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n $2${3:+ # $3}"
	else
		echo "not ok $n $2"
		failed=1
	fi
}

echo "1..4"

# 1. no tree: say what to install
make -s -C "$top" host-module KDIR="$tmp/none" >"$tmp/out" 2>&1
rc=$?
grep -q "no kernel build tree at $tmp/none" "$tmp/out" &&
	grep -q "apt-get install linux-headers" "$tmp/out"
ok=$?
[ $rc -ne 0 ] && [ $ok -eq 0 ]
result $? no-tree "$(head -n 1 "$tmp/out")"
[ $ok -eq 0 ] || sed 's/^/# /' "$tmp/out"

# 2. a kernel configured without three of the options: each is named, with
# what it is for, and nothing is built
fake=$tmp/kernel-without
mkdir -p "$fake/include/config"
: >"$fake/Makefile"
echo 6.1.0-fake >"$fake/include/config/kernel.release"
sed -e 's/^CONFIG_DEVICE_PRIVATE=y/# CONFIG_DEVICE_PRIVATE is not set/' \
	-e '/^CONFIG_GET_FREE_REGION=y/d' -e '/^CONFIG_HMM_MIRROR=y/d' \
	"$ktree/.config" >"$fake/.config"
make -s -C "$top" host-module KDIR="$fake" >"$tmp/out" 2>&1
rc=$?
named=$(grep -c -E '^check-host-kernel: CONFIG_(DEVICE_PRIVATE|GET_FREE_REGION|HMM_MIRROR) is not set: .+' "$tmp/out")
[ $rc -ne 0 ] && [ "$named" -eq 3 ] &&
	grep -q "lacks 3 option(s) that vhmm_host needs" "$tmp/out" &&
	[ ! -e "$BUILD/host-module/6.1.0-fake" ]
result $? missing-options "$(grep -c 'is not set' "$tmp/out") options named"
sed 's/^/# /' "$tmp/out"

# 3. the project's kernel: the module builds, for that kernel
release=$(cat "$ktree/include/config/kernel.release")
make -s -C "$top" host-module KDIR="$ktree" >"$tmp/out" 2>&1
rc=$?
ko=$(tail -n 1 "$tmp/out")
[ $rc -eq 0 ] && [ -f "$ko" ] &&
	modinfo -F vermagic "$ko" | grep -q "^$release "
result $? builds "$ko"
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/out"

# 4. installed where modprobe looks, with depmod's index
make -s -C "$top" host-module-install KDIR="$ktree" \
	INSTALL_MOD_PATH="$tmp/root" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && [ -f "$tmp/root/lib/modules/$release/extra/vhmm_host.ko" ] &&
	grep -q '^extra/vhmm_host.ko:' "$tmp/root/lib/modules/$release/modules.dep"
result $? install "lib/modules/$release/extra/vhmm_host.ko"
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/out"
exit $failed
