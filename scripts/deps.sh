#!/bin/bash
# Install every Debian package that the build and the tests need.
# Idempotent: re-running it only installs what is missing. Needs root.
#
# Sources come from Debian bookworm, so a deb-src entry for the same
# archive as the binary packages is added when none exists.
set -euo pipefail

PACKAGES=(
	# toolchain and source download
	build-essential dpkg-dev pkg-config python3 python3-venv xz-utils
	# QEMU 7.2 build (scripts/build-qemu.sh)
	meson ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev
	# virtio-9p for kvm/run-vm --share (xattrs come from glibc)
	libcap-ng-dev
	# QEMU firmware at run time
	seabios qemu-system-data
	# Linux 6.1 guest kernel and out-of-tree modules
	linux-source-6.1 bc bison flex libelf-dev libssl-dev kmod rsync cpio
	# guest userspace
	busybox-static
	# the QMP example of docs/user-guide.md (make check's docs layer)
	socat
	# libvirt layer: the daemon and its QEMU driver run by hand, no
	# libvirt-daemon-system (it pulls in systemd-sysv); xmllint for
	# virt-xml-validate (docs/libvirt.md)
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libxml2-utils
	# make fuzz: QEMU built with clang, libFuzzer and ASan/UBSan
	clang libclang-rt-14-dev
)

if [ "$(id -u)" != 0 ]; then
	echo "deps: must run as root (it calls apt-get)" >&2
	exit 1
fi

SRC_LIST=/etc/apt/sources.list.d/virtio-hmm-src.sources
need_update=0
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "deps: adding bookworm deb-src entries in $SRC_LIST"
	cat > "$SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	need_update=1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done

# apt-get source needs fresh source indexes even when nothing is missing.
if [ ! -d /var/lib/apt/lists ] || ! ls /var/lib/apt/lists/*_source_Sources* >/dev/null 2>&1; then
	need_update=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_update -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi

echo "deps: apt-get update"
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "deps: done"
