#!/bin/sh
# Check that a kernel has what the host module (host-module/, vhmm_host.ko)
# needs, from its build tree's configuration. One line per missing option,
# saying what the module uses it for; exit status 1 if any is missing.
#
# usage: check-host-kernel.sh KDIR
#   KDIR  the kernel's build tree: a build directory, or the headers of a
#         distribution kernel (Debian: /lib/modules/RELEASE/build, from the
#         linux-headers-RELEASE package)
set -u
kdir=${1:?usage: check-host-kernel.sh KDIR}

if [ ! -f "$kdir/Makefile" ]; then
	echo "check-host-kernel: no kernel build tree at $kdir" >&2
	echo "  install your kernel's headers (Debian: apt-get install linux-headers-\$(uname -r))," >&2
	echo "  or name the tree of a kernel you built: KDIR=/path/to/its/build/directory" >&2
	exit 1
fi
config=$kdir/.config
[ -f "$config" ] || config=$kdir/include/config/auto.conf
if [ ! -f "$config" ]; then
	echo "check-host-kernel: $kdir has no .config (nor include/config/auto.conf): not a configured kernel tree" >&2
	exit 1
fi

release=$(cat "$kdir/include/config/kernel.release" 2>/dev/null || echo unknown)
missing=0

# need OPTION WHY: OPTION must be y
need() {
	if ! grep -q "^CONFIG_$1=y" "$config"; then
		echo "check-host-kernel: CONFIG_$1 is not set: $2" >&2
		missing=$((missing + 1))
	fi
}

need MODULES "the kernel cannot load modules"
need MMU_NOTIFIER "the module follows QEMU's address space with an MMU interval notifier"
need HMM_MIRROR "the module reaches guest RAM with hmm_range_fault() (a hidden option: a driver that uses HMM selects it, e.g. DRM_AMDGPU_USERPTR, DRM_NOUVEAU_SVM or TEST_HMM)"
need SPARSEMEM_VMEMMAP "ZONE_DEVICE needs it"
need MEMORY_HOTPLUG "ZONE_DEVICE needs it"
need MEMORY_HOTREMOVE "ZONE_DEVICE needs it"
need ZONE_DEVICE "device memory gets struct pages with memremap_pages()"
need DEVICE_PRIVATE "device memory is MEMORY_DEVICE_PRIVATE pages (Debian 12's kernel leaves this off)"
need GET_FREE_REGION "device memory needs a free physical range, request_free_mem_region() (DEVICE_PRIVATE selects it)"
need MIGRATION "pages move into device memory and back with migrate_vma_*()"
need DEVICE_MIGRATION "migrate_vma_*() (on with MIGRATION and ZONE_DEVICE)"

if [ "$missing" -gt 0 ]; then
	echo "check-host-kernel: the kernel in $kdir ($release) lacks $missing option(s) that vhmm_host needs;" >&2
	echo "  build a kernel with them (docs/host-module.md, section 1)" >&2
	exit 1
fi
grep -q '^CONFIG_MODULE_UNLOAD=y' "$config" ||
	echo "check-host-kernel: note: CONFIG_MODULE_UNLOAD is not set: the module cannot be unloaded" >&2
grep -q '^CONFIG_DEBUG_FS=y' "$config" ||
	echo "check-host-kernel: note: CONFIG_DEBUG_FS is not set: no /sys/kernel/debug/vhmm_host/stats (VHMM_HOST_IOC_STATS still works)" >&2
case $release in
6.1|6.1.*|unknown) ;;
*) echo "check-host-kernel: note: vhmm_host is written and tested for Linux 6.1; $release may differ in the mm APIs it uses" >&2 ;;
esac
echo "check-host-kernel: $kdir ($release) has every option vhmm_host needs"
