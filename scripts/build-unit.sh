#!/bin/bash
# Build the host-side unit tests: every tests/unit/NAME.c becomes
# build/unit/NAME, linked with tests/unit/NAME/*.c when that directory
# exists (tests that compare several translation units), and with the
# pkg-config modules named in tests/unit/NAME.pkg (build/lib/pkgconfig
# first, so vhmm is the uninstalled libvhmm of this tree). Each prints TAP.
set -euo pipefail
STEP=unit
. "$(dirname "$0")/common.sh"

ksrc=$SRC/linux/linux-source-6.1
out=$BUILD/unit
mkdir -p "$out"
CC=${CC:-gcc}
for src in "$TOP"/tests/unit/*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	extra=()
	[ -d "$TOP/tests/unit/$name" ] && extra=("$TOP/tests/unit/$name"/*.c)
	if [ -f "$TOP/tests/unit/$name.pkg" ]; then
		# shellcheck disable=SC2046 # module names and flags are words
		read -ra pkg < <(PKG_CONFIG_PATH=$BUILD/lib/pkgconfig \
			pkg-config --cflags --libs $(cat "$TOP/tests/unit/$name.pkg"))
		extra+=("${pkg[@]}")
	fi
	log "cc tests/unit/$name.c"
	$CC -O2 -g -Wall -Werror -I "$TOP/include" -I "$ksrc" -I "$TOP/tests/unit" \
		"$src" "${extra[@]}" -o "$out/$name"
done
