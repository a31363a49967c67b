#!/bin/sh
# libvhmm's own tests (libvhmm-tests.c) against virtio-hmm devices.
. /usr/local/bin/vhmm-setup.sh
vhmm_setup || exit 1
exec libvhmm-tests
