/* tests/lite/include/criterion/logging.h — cr_log_info lives in criterion.h in the lite
 * runner (see there); this header exists so that the suites include what Criterion's own
 * layout asks for. No state, no concurrency rules. */
#ifndef TALC_TEST_LITE_LOGGING_H
#define TALC_TEST_LITE_LOGGING_H
#include "criterion.h"
#endif
