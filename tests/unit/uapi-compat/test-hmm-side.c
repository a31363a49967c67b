// SPDX-License-Identifier: GPL-2.0
/* The kernel's own test_hmm uapi, as hmm-tests.c sees it. */
#include <lib/test_hmm_uapi.h>
#include "uapi-desc.h"

const struct uapi_desc uapi_test_hmm = DESC_INIT("lib/test_hmm_uapi.h");
