#!/bin/bash
# Add the virtio-hmm device to a Debian QEMU 7.2 source tree.
#
# The device files stay in this directory; the QEMU tree gets symlinks to
# them and one line each in hw/virtio/Kconfig, hw/virtio/meson.build,
# meson.build (trace-events), tests/qtest/meson.build and
# tests/qtest/fuzz/meson.build, plus the device
# name in hw/virtio/virtio.c. Editing a file here is then an incremental
# rebuild for ninja. Idempotent.
#
# usage: integrate.sh QEMU_SOURCE_TREE
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tree=${1:?usage: integrate.sh QEMU_SOURCE_TREE}
cd "$tree"

# link PATH_IN_TREE TARGET: a symlink, replaced if it points elsewhere
link() {
	[ "$(readlink "$1" 2>/dev/null)" = "$2" ] || ln -sfn "$2" "$1"
}

# add_line FILE LINE [BEFORE_REGEX]: add LINE once, before the first line
# matching BEFORE_REGEX or at the end
add_line() {
	grep -qxF "$2" "$1" && return
	if [ -n "${3:-}" ]; then
		sed -i "0,/$3/s//$(printf '%s' "$2" | sed 's/[\/&]/\\&/g')\n&/" "$1"
		grep -qxF "$2" "$1" || { echo "integrate: anchor '$3' not in $1" >&2; exit 1; }
	else
		printf '%s\n' "$2" >>"$1"
	fi
}

# The device model: hw/virtio/virtio-hmm/ is this directory.
link hw/virtio/virtio-hmm "$here"
add_line hw/virtio/Kconfig "source virtio-hmm/Kconfig"
add_line hw/virtio/meson.build "subdir('virtio-hmm')" \
	"^virtio_ss.add_all(when: 'CONFIG_VIRTIO_PCI'"
# Its state header, included as "hw/virtio/virtio-hmm.h".
link include/hw/virtio/virtio-hmm.h "$here/virtio-hmm.h"
# Its trace points: a trace-events group of their own (trace/meson.build
# makes trace/trace-hw_virtio_virtio_hmm.h from every listed subdir).
add_line meson.build "    'hw/virtio/virtio-hmm'," "^    'hw\/virtio',$"

# The shared wire-format header, included as "standard-headers/linux/virtio_hmm.h".
link include/standard-headers/linux/virtio_hmm.h "$repo/include/linux/virtio_hmm.h"
# The host module's uapi (backend=host), a Linux header with ioctls.
link linux-headers/linux/vhmm_host.h "$repo/include/linux/vhmm_host.h"
# virtio_init() asserts that the device id has a name in virtio.c's table.
add_line hw/virtio/virtio.c '#include "standard-headers/linux/virtio_hmm.h"' \
	"^#include CONFIG_DEVICES"
add_line hw/virtio/virtio.c '    [VIRTIO_ID_HMM] = "virtio-hmm",' \
	'^    \[VIRTIO_ID_GPIO\] = "virtio-gpio"$'

# qtests (tests/qtest/virtio-hmm-test.c and its libqos driver)
if [ -d "$here/tests" ]; then
	link tests/qtest/virtio-hmm "$here/tests"
	# after the qos_test_ss source set is complete, before qos-test uses it
	add_line tests/qtest/meson.build "subdir('virtio-hmm')" "^tpmemu_files = "
fi

# The structure-aware fuzz targets (tests/fuzz/virtio_hmm_fuzz.c), with the
# libqos driver linked in (only qos-test has it otherwise) and tests/qtest
# on the include path for its header.  Built only with --enable-fuzzing.
if [ -f "$here/tests/fuzz/virtio_hmm_fuzz.c" ]; then
	link tests/qtest/fuzz/virtio_hmm_fuzz.c "$here/tests/fuzz/virtio_hmm_fuzz.c"
	add_line tests/qtest/fuzz/meson.build \
		"specific_fuzz_ss.add(when: 'CONFIG_VIRTIO_HMM', if_true: [files('virtio_hmm_fuzz.c', '../virtio-hmm/virtio-hmm.c'), declare_dependency(include_directories: include_directories('..'))])" \
		"^specific_fuzz_ss.add(files('generic_fuzz.c'))"
fi
