#!/bin/bash
# Build libvhmm (lib/, public header include/vhmm.h) into build/lib/:
#   libvhmm.a                      static, what the guest programs link
#   libvhmm.so.1.0 (+ .so.1, .so)  shared, soname libvhmm.so.1, symbols
#                                  versioned by lib/libvhmm.map
#   pkgconfig/vhmm.pc              for an installation under PREFIX
#   pkgconfig/vhmm-uninstalled.pc  for this build tree (pkg-config picks it
#                                  when PKG_CONFIG_PATH=build/lib/pkgconfig)
#   vhmm                           the CLI (tools/vhmm/), linked with the
#                                  shared library, for host-side tests
# The static guest CLI is built by build-guest-bin.sh.
#
# usage: build-lib.sh [install DESTDIR]   (install: PREFIX, default /usr/local)
set -euo pipefail
STEP=lib
. "$(dirname "$0")/common.sh"
lock lib

out=$BUILD/lib
mkdir -p "$out/pkgconfig"
CC=${CC:-gcc}
AR=${AR:-ar}
PREFIX=${PREFIX:-/usr/local}
version=$(sed -n 's/^#define VHMM_VERSION_MAJOR[[:space:]]*//p' "$TOP/include/vhmm.h").$(sed -n 's/^#define VHMM_VERSION_MINOR[[:space:]]*//p' "$TOP/include/vhmm.h")
major=${version%%.*}
CFLAGS=(-O2 -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden -I "$TOP/include")

# pc PREFIX LIBDIR INCLUDEDIR RPATH-FLAGS: a pkg-config file
pc() {
	sed -e "s|@PREFIX@|$1|" -e "s|@LIBDIR@|$2|" -e "s|@INCLUDEDIR@|$3|" \
		-e "s|@VERSION@|$version|" -e "s|@RPATH@|$4|" "$TOP/lib/vhmm.pc.in"
}

if [ "${1:-}" = install ]; then
	dest=${2:?usage: build-lib.sh install DESTDIR}
	install -d "$dest$PREFIX"/{lib/pkgconfig,include}
	install -m 0644 "$out/libvhmm.a" "$dest$PREFIX/lib/"
	install -m 0644 "$TOP/include/vhmm.h" "$dest$PREFIX/include/"
	install -m 0755 "$out/libvhmm.so.$version" "$dest$PREFIX/lib/"
	ln -sf "libvhmm.so.$version" "$dest$PREFIX/lib/libvhmm.so.$major"
	ln -sf "libvhmm.so.$major" "$dest$PREFIX/lib/libvhmm.so"
	pc "$PREFIX" '${prefix}/lib' '${prefix}/include' '' >"$dest$PREFIX/lib/pkgconfig/vhmm.pc"
	log "installed into $dest$PREFIX"
	exit 0
fi

# stale OUTPUT INPUT...: OUTPUT is missing or older than an input
stale() {
	local o=$1 f; shift
	[ -e "$o" ] || return 0
	for f in "$@"; do [ "$f" -nt "$o" ] && return 0; done
	return 1
}

srcs=("$TOP/lib/vhmm.c" "$TOP/include/vhmm.h" "$TOP/include/linux/virtio_hmm.h" \
	"$TOP/include/linux/virtio_hmm_ioctl.h" "$TOP/lib/libvhmm.map" "$0")
if stale "$out/libvhmm.so.$version" "${srcs[@]}" || stale "$out/libvhmm.a" "${srcs[@]}"; then
	log "cc lib/vhmm.c"
	$CC "${CFLAGS[@]}" -c "$TOP/lib/vhmm.c" -o "$out/vhmm.o"
	rm -f "$out/libvhmm.a"
	$AR rcs "$out/libvhmm.a" "$out/vhmm.o"
	$CC -shared -Wl,-soname,"libvhmm.so.$major" \
		-Wl,--version-script="$TOP/lib/libvhmm.map" -Wl,--no-undefined \
		-o "$out/libvhmm.so.$version" "$out/vhmm.o"
	ln -sf "libvhmm.so.$version" "$out/libvhmm.so.$major"
	ln -sf "libvhmm.so.$major" "$out/libvhmm.so"
fi

# pkg-config files: installed layout, and this tree (with an rpath)
pc "$PREFIX" '${prefix}/lib' '${prefix}/include' '' >"$out/pkgconfig/vhmm.pc"
pc "$TOP" "$out" "$TOP/include" '-Wl,-rpath,${libdir} ' >"$out/pkgconfig/vhmm-uninstalled.pc"

# the CLI against the shared library, found through pkg-config
export PKG_CONFIG_PATH=$out/pkgconfig
if stale "$out/vhmm" "$TOP/tools/vhmm/vhmm.c" "$out/libvhmm.so.$version" "$TOP/include/vhmm.h"; then
	log "cc tools/vhmm/vhmm.c (shared)"
	# shellcheck disable=SC2046 # pkg-config prints words
	$CC -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -I "$TOP/include" "$TOP/tools/vhmm/vhmm.c" \
		$(pkg-config --cflags --libs vhmm) -o "$out/vhmm"
fi
log "built $out: libvhmm.a libvhmm.so.$version vhmm (libvhmm $version)"
