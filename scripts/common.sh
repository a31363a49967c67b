# Shared helpers for the build scripts. Source it; do not run it.
# shellcheck shell=bash

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
SRC=$BUILD/src
JOBS=${JOBS:-$(nproc)}

# Kernel flavour: "" (the default guest kernel) or "debug" (kvm/debug.config
# on top: KASAN, lockdep, DEBUG_VM). Each flavour has its own kernel,
# modules and initramfs.
FLAVOUR=${FLAVOUR:-}
KOUT=$BUILD/linux${FLAVOUR:+-$FLAVOUR}
MODOUT=$BUILD/modules${FLAVOUR:+-$FLAVOUR}
INITRAMFS=$BUILD/initramfs${FLAVOUR:+-$FLAVOUR}.cpio

# The build wants Debian's python3 and meson, not a pyenv shim first on PATH.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

log() { printf '[%s] %s\n' "${STEP:-build}" "$*"; }
die() { printf '[%s] error: %s\n' "${STEP:-build}" "$*" >&2; exit 1; }

# debian_version PKG: the version apt would fetch for source/binary package PKG.
debian_version() {
	apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }'
}

# run_logged LOGFILE CMD...: run CMD with its output in LOGFILE, print a
# progress dot every 20 s, and show the tail of the log if it fails.
run_logged() {
	local logfile=$1; shift
	"$@" >"$logfile" 2>&1 &
	local pid=$! t=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1; t=$((t + 1))
		[ $((t % 20)) -eq 0 ] && log "... ${t}s ($(tail -n 1 "$logfile" | cut -c1-100))"
	done
	if ! wait "$pid"; then
		tail -n 30 "$logfile" >&2
		die "'$*' failed; full log: $logfile"
	fi
}

# lock NAME: hold an exclusive lock on build/.NAME.lock until the script
# exits, so that two builds of the same part never run at once.
lock() {
	mkdir -p "$BUILD"
	exec {lock_fd}>"$BUILD/.$1.lock"
	flock "$lock_fd"
}
