# virtio-hmm: thin entry point; the work is done by the scripts named here.
#
#   make deps     install the Debian packages the build and tests need (root)
#   make          build QEMU, the guest kernel, the modules and the initramfs
#   make lib      libvhmm (static, shared, pkg-config) and the vhmm CLI
#   make check    run every test layer; last line "N passed, N failed, N skipped"
#   make check-debug  the guest suites on a KASAN/lockdep/DEBUG_VM kernel
#   make check-host   the host layer alone: host module, L1 qtests, L2 guest
#   make host-module [KDIR=...]  the host module for your own kernel (default:
#                 the running one's headers); host-module-install installs it
#   make demo     boot a guest with virtio-hmm devices and show it working
#   make shell    the demo's guest with a shell on the console
#   make bench    virtio-hmm against test_hmm and memcpy in BOOTS=3 boots, and the
#                 device's request rates through qtest; tables + build/bench.json
#   make profile  where a round trip goes: each ioctl split into device requests
#                 and guest work, from the driver's trace events
#   make fuzz     the device's structure-aware fuzzer (ASan/UBSan), FUZZ_TIME=600 s
#   make stress   the guest stress test for STRESS_TIME=600 s (FLAVOUR=debug: KASAN)
#   make clean    remove build/ except the downloaded sources

BUILD ?= $(CURDIR)/build
export BUILD

.PHONY: all deps qemu kernel modules lib guest-bin unit initramfs check check-debug demo bench profile fuzz stress shell clean distclean

all: qemu kernel modules lib guest-bin unit initramfs

deps:
	scripts/deps.sh

qemu:
	scripts/build-qemu.sh

kernel:
	scripts/build-kernel.sh

modules: kernel
	scripts/build-modules.sh

# libvhmm (lib/, include/vhmm.h): static and shared, pkg-config, host CLI
lib:
	scripts/build-lib.sh

guest-bin: kernel lib
	scripts/build-guest-bin.sh

# host-side unit tests (they read lib/test_hmm_uapi.h from the kernel source)
unit: kernel lib
	scripts/build-unit.sh

initramfs: kernel modules guest-bin
	kvm/mkinitramfs.sh

check: all
	scripts/check.sh

# the host module in a host VM, with an L2 guest on backend=host (also part
# of make check)
.PHONY: check-host
check-host: all
	scripts/check.sh host

# the host module (backend=host) for a kernel of your own, checked for the
# options it needs first (docs/host-module.md)
KDIR ?= /lib/modules/$(shell uname -r)/build
.PHONY: host-module host-module-install
host-module:
	scripts/build-host-module.sh "$(KDIR)"

host-module-install:
	scripts/build-host-module.sh --install "$(KDIR)"

# the guest suites on the debug kernel (KASAN, lockdep, DEBUG_VM)
check-debug: all
	FLAVOUR=debug scripts/build-kernel.sh
	FLAVOUR=debug scripts/build-modules.sh
	FLAVOUR=debug kvm/mkinitramfs.sh
	FLAVOUR=debug scripts/check.sh guest

demo: all
	scripts/demo.sh

bench: all
	scripts/bench.sh

profile: all
	scripts/profile.sh

stress: all
	scripts/stress.sh

fuzz: qemu
	scripts/build-fuzz.sh
	scripts/fuzz.sh

# a shell in the demo's guest (its devices, driver loaded) on the console;
# `exit` powers the guest off, Ctrl-A X quits QEMU
shell: all
	scripts/demo.sh --shell

clean:
	find $(BUILD) -mindepth 1 -maxdepth 1 ! -name src -exec rm -rf {} +

distclean:
	rm -rf $(BUILD)
