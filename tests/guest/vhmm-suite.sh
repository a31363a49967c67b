#!/bin/sh
# The project's own suite (vhmm-tests) against virtio-hmm devices.
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
exec vhmm-tests
