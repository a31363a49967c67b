/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Force-included (-include) when building hmm-tests-nested: the kernel's
 * hmm-tests.c, unchanged, with the kselftest harness's per-test timeout
 * raised from 30 s to VHMM_NESTED_TIMEOUT. Only for the L2 guest of the
 * host layer (tests/host/host-l2.sh), where nested TCG makes every
 * instruction tens of times slower: a test that needs 25 s in L2 is not
 * hung, and how long it takes is for benchmarks, not for pass/fail.
 *
 * The 6.1 harness defines TEST_TIMEOUT_DEFAULT unconditionally, and
 * TEST_F() expands it where a test is defined: redefining it after the
 * harness header (whose include guard makes hmm-tests.c's own #include a
 * no-op) changes the timeout of every TEST_F.
 */
#ifndef VHMM_NESTED_TIMEOUT_H
#define VHMM_NESTED_TIMEOUT_H

#include "kselftest_harness.h"

#define VHMM_NESTED_TIMEOUT	150

#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT	VHMM_NESTED_TIMEOUT

#endif
