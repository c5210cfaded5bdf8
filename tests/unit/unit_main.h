/* unit_main: the main() of a unit test file, which runs the tests it is
 * given, in order, as one cmocka group:
 *
 *   UNIT_TEST_MAIN(cmocka_unit_test(test_a),
 *                  cmocka_unit_test_setup_teardown(test_b, up, down))
 *
 * Include it after <cmocka.h>. */
#ifndef HUSK_TESTS_UNIT_MAIN_H
#define HUSK_TESTS_UNIT_MAIN_H

#define UNIT_TEST_MAIN(...)                                          \
	int main(void)                                               \
	{                                                            \
		const struct CMUnitTest tests[] = { __VA_ARGS__ };   \
		return cmocka_run_group_tests(tests, NULL, NULL);    \
	}

#endif
