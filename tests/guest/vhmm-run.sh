#!/bin/sh
# Run one virtio-hmm test program (kselftest TAP) with the driver loaded:
#   vhmm-run.sh PROGRAM [ARGS...]
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
exec "$@"
