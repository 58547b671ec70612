/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * cu_main: the main() of every unit-test program.  A test file defines
 * its suites in a CU_SuiteInfo table and ends with CU_MAIN(table).
 * Exits non-zero on any failure.
 */
#ifndef UPGATE_CU_MAIN_H
#define UPGATE_CU_MAIN_H

#include <CUnit/Basic.h>
#include <stdlib.h>

static inline int
cu_run(CU_SuiteInfo *suites)
{
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return EXIT_FAILURE;
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		CU_cleanup_registry();
		return EXIT_FAILURE;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define CU_MAIN(suites) \
	int main(void) { return cu_run(suites); }

#endif
