// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-hmm guest driver: the one place that instantiates the trace events
 * declared in vhmm_trace.h.
 */
#define CREATE_TRACE_POINTS
#include "vhmm_trace.h"
