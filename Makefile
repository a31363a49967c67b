# virtio-hmm: thin entry point; the work is done by the scripts named here.
#
#   make deps     install the Debian packages the build and tests need (root)
#   make          build QEMU, the guest kernel, the modules and the initramfs
#   make check    run every test layer; last line "N passed, N failed, N skipped"
#   make demo     boot a guest with virtio-hmm devices and show it working
#   make clean    remove build/ except the downloaded sources

BUILD ?= $(CURDIR)/build
export BUILD

.PHONY: all deps qemu kernel modules guest-bin initramfs check demo shell clean distclean

all: qemu kernel modules guest-bin initramfs

deps:
	scripts/deps.sh

qemu:
	scripts/build-qemu.sh

kernel:
	scripts/build-kernel.sh

modules: kernel
	scripts/build-modules.sh

guest-bin: kernel
	scripts/build-guest-bin.sh

initramfs: kernel modules guest-bin
	kvm/mkinitramfs.sh $(BUILD)/initramfs.cpio

check: all
	scripts/check.sh

demo: all
	scripts/demo.sh

# an interactive guest shell on the serial console (Ctrl-A X quits)
shell: all
	kvm/run-vm --interactive

clean:
	find $(BUILD) -mindepth 1 -maxdepth 1 ! -name src -exec rm -rf {} +

distclean:
	rm -rf $(BUILD)
